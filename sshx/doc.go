// Package sshx runs commands, writes files and dials TCP addresses on the
// cluster side, through one small interface, Executor.
//
// Two implementations exist: Client, over one long-lived SSH connection to
// a login node (golang.org/x/crypto/ssh), and Local, for this machine.
// Packages such as slurm, servers, monitors and tunnel only see Executor.
//
// # Usage
//
//	cfg, err := sshx.ConfigFromSSHConfig("cluster", "") // ~/.ssh/config
//	if err != nil { ... }
//	c, err := sshx.Dial(ctx, cfg)
//	if err != nil { ... }
//	defer c.Close()
//
//	out, _, err := c.Run(ctx, "squeue --me -h -o %i "+sshx.Quote(name), nil)
//	var xe *sshx.ExitError
//	if errors.As(err, &xe) { ... } // ran, exited non-zero
//
// # Connection
//
// A Client multiplexes commands as sessions on one connection, at most
// Config.MaxSessions (8) at a time, queueing the rest; sessions the server
// refuses (sshd MaxSessions) are retried with backoff. A keepalive notices
// a dead peer (15s × 3 by default, like ServerAliveInterval and
// ServerAliveCountMax) and closes the connection; commands running then
// fail with ErrConnectionLost, and the next call redials. Every call takes
// a context: when it ends, the session or handshake is closed.
//
// # Security
//
// Host keys are checked against known_hosts by default, with the host-key
// algorithms ordered by what known_hosts records, so a known host is not
// reported as changed. An unknown host is ErrHostUnknown and a changed key
// ErrHostKeyChanged, both as a *HostKeyError naming the file (and line) to
// fix. HostKeyAcceptNew trusts hosts seen for the first time; checks are
// off only with HostKeyInsecureIgnore. Passphrases and passwords come from
// the Config, are never logged, and keys are decrypted once at Dial.
// Every value placed in a shell command must go through Quote.
//
// # Stability
//
// The Executor interface and ExitError are the contract the rest of
// hpcorch builds on; they change only with every implementation. Config
// may gain fields whose zero value keeps today's behaviour.
package sshx
