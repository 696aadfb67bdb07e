package orchestrator

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// OpenTunnel forwards a port on this machine's loopback to a service's
// port on its node, through the Executor (one SSH connection, no ssh
// process), and waits until the service's port answers. localPort 0 picks
// a free port; remotePort 0 means the port the service bound. id is a
// service or monitor ID, or its job id.
//
// The tunnel lives until it is closed, or until Close closes o.
func (o *Orchestrator) OpenTunnel(ctx context.Context, id string, localPort, remotePort int) (
	*tunnel.Tunnel, error) {
	t, err := o.StartTunnel(ctx, id, localPort, remotePort, tunnel.Options{})
	if err != nil {
		return nil, err
	}
	if err := t.WaitReady(ctx); err != nil {
		o.untrack(t)
		_ = t.Close()
		return nil, fmt.Errorf("orchestrator: tunnel to %s (%s): %w", id, t.Remote(), err)
	}
	return t, nil
}

// StartTunnel is OpenTunnel without the wait: it returns as soon as the
// local port listens, while the tunnel's first dial of the service's port
// goes on. opts.Events (see tunnel.Event) then tells whether the port
// answers, and opts.RedialTimeout how long a connection waits for a port
// that does not; opts.LocalAddr is set from localPort, and opts.Logger
// defaults to o's.
func (o *Orchestrator) StartTunnel(ctx context.Context, id string, localPort, remotePort int,
	opts tunnel.Options) (*tunnel.Tunnel, error) {
	if err := o.checkOpen(); err != nil {
		return nil, err
	}
	svc, err := o.Servers.CheckServiceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	remote, err := remoteAddr(svc, remotePort)
	if err != nil {
		return nil, err
	}

	opts.LocalAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort))
	if opts.Logger == nil {
		opts.Logger = o.log
	}
	t, err := tunnel.Open(ctx, o.exec, remote, opts)
	if err != nil {
		return nil, fmt.Errorf("orchestrator: tunnel to %s (%s): %w", svc.ID, remote, err)
	}
	if err := o.track(t); err != nil {
		_ = t.Close()
		return nil, err
	}
	o.log.Info("tunnel open", "service", svc.ID, "remote", remote, "local", t.Addr().String())
	return t, nil
}

// remoteAddr is node:port for a service, with port overriding its own.
func remoteAddr(svc *servers.Service, port int) (string, error) {
	if svc.Node == "" {
		return "", fmt.Errorf("orchestrator: %s is %s and has no node yet: %w",
			svc.ID, svc.State, servers.ErrNotRunning)
	}
	if !svc.State.Active() {
		return "", fmt.Errorf("orchestrator: %s has ended (%s): %w",
			svc.ID, svc.State, servers.ErrNotRunning)
	}
	if port == 0 {
		port = svc.Port
	}
	if port == 0 {
		return "", fmt.Errorf("orchestrator: %s has no known port yet; give the "+
			"remote port: %w", svc.ID, servers.ErrNoPort)
	}
	return net.JoinHostPort(svc.Node, strconv.Itoa(port)), nil
}

// track records t so that Close closes it.
func (o *Orchestrator) track(t *tunnel.Tunnel) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.tunnels[t] = struct{}{}
	return nil
}

// untrack forgets t.
func (o *Orchestrator) untrack(t *tunnel.Tunnel) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.tunnels, t)
}

// SSHCommand returns the OpenSSH command line that forwards the same local
// port to the same remote address as t, in the form the reference tool
// prints (ssh -i KEY -L LOCAL:NODE:PORT -N USER@LOGIN -p PORT), with the
// known_hosts file and jump hosts added when the config names them. It
// returns "" when o's Executor is not an SSH connection.
func (o *Orchestrator) SSHCommand(t *tunnel.Tunnel) string {
	if o.target == nil || o.target.Host == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(t.Remote())
	if err != nil {
		return ""
	}
	p, _ := strconv.Atoi(port)
	return SSHCommand(*o.target, t.Port(), host, p)
}

// SSHCommand returns the OpenSSH command line that forwards localPort to
// remoteHost:remotePort through the login node target names.
func SSHCommand(target sshx.Target, localPort int, remoteHost string, remotePort int) string {
	st := tunnel.SSHTarget{User: target.User, Host: target.Host}
	if target.Port != 0 && target.Port != sshx.DefaultPort {
		st.Port = target.Port
	}
	if len(target.IdentityFiles) > 0 {
		st.KeyFile = target.IdentityFiles[0]
	}
	cmd := tunnel.SSHCommand(st, localPort, remoteHost, remotePort)

	var extra []string
	if files := target.KnownHostsFiles; !defaultKnownHosts(files) {
		extra = append(extra, "-o", sshx.Quote("UserKnownHostsFile="+strings.Join(files, " ")))
	}
	if target.ProxyJump != "" {
		extra = append(extra, "-J", sshx.Quote(target.ProxyJump))
	}
	if len(extra) == 0 {
		return cmd
	}
	return cmd + " " + strings.Join(extra, " ")
}

// defaultKnownHosts reports whether files are only the known_hosts files
// OpenSSH reads anyway, so the command needs no -o UserKnownHostsFile.
func defaultKnownHosts(files []string) bool {
	home, _ := os.UserHomeDir()
	for _, f := range files {
		if f != "/etc/ssh/ssh_known_hosts" && (home == "" ||
			f != filepath.Join(home, ".ssh", "known_hosts")) {
			return false
		}
	}
	return true
}
