package sshx

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults applied by Dial to zero Config fields.
const (
	// DefaultPort is the SSH port.
	DefaultPort = 22
	// DefaultKeepaliveInterval is OpenSSH's usual ServerAliveInterval.
	DefaultKeepaliveInterval = 15 * time.Second
	// DefaultKeepaliveCountMax is OpenSSH's ServerAliveCountMax default.
	DefaultKeepaliveCountMax = 3
	// DefaultMaxSessions stays below sshd's MaxSessions default of 10.
	DefaultMaxSessions = 8
	// DefaultConnectTimeout bounds the TCP dial and the handshake.
	DefaultConnectTimeout = 30 * time.Second
)

// HostKeyPolicy says what to do with a server whose host key is not in
// known_hosts. The zero value is HostKeyStrict.
type HostKeyPolicy int

const (
	// HostKeyStrict refuses unknown hosts with ErrHostUnknown and changed
	// keys with ErrHostKeyChanged, like StrictHostKeyChecking=yes.
	HostKeyStrict HostKeyPolicy = iota

	// HostKeyAcceptNew trusts a host seen for the first time and records
	// its key in the first KnownHostsFiles entry (trust on first use),
	// like StrictHostKeyChecking=accept-new. Changed keys still fail.
	HostKeyAcceptNew

	// HostKeyInsecureIgnore accepts any host key. It allows
	// man-in-the-middle attacks; use it only for throwaway test servers.
	HostKeyInsecureIgnore
)

// String returns the policy's name.
func (p HostKeyPolicy) String() string {
	switch p {
	case HostKeyStrict:
		return "strict"
	case HostKeyAcceptNew:
		return "accept-new"
	case HostKeyInsecureIgnore:
		return "insecure-ignore"
	}
	return "HostKeyPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Config describes how to reach and log in to an SSH server. Zero fields
// take the documented defaults; Dial copies the Config, so later changes to
// it have no effect on a Client.
type Config struct {
	// Host is the server's name or address. It is required.
	Host string
	// Port is the server's port; 0 means 22.
	Port int
	// User is the login name; "" means the local user's name.
	User string

	// IdentityFiles lists private key files to offer, in order. A leading
	// "~/" is expanded. When empty, ~/.ssh/id_ed25519, id_ecdsa and id_rsa
	// are offered if they exist. A certificate next to a key
	// ("KEY-cert.pub") is offered before the key.
	IdentityFiles []string
	// Passphrase, if set, is called once per encrypted key, at Dial, with
	// the key's path. Without it, encrypted keys are skipped and the
	// reason (ErrPassphraseRequired) is reported if login fails.
	// Passphrases are never logged or stored; decrypted keys stay in
	// memory for redials.
	Passphrase func(keyPath string) ([]byte, error)
	// KeyboardInteractive, if set, answers keyboard-interactive prompts
	// (such as one-time codes). It is called during each connection's
	// login, so once per connection, not per command.
	KeyboardInteractive ssh.KeyboardInteractiveChallenge
	// Password is offered with the "password" method when non-empty. It is
	// never logged.
	Password string
	// UseAgent offers the keys of the ssh-agent at $SSH_AUTH_SOCK, after
	// the identity files.
	UseAgent bool
	// IdentitiesOnly limits the agent's keys to those of IdentityFiles
	// (matched by public key, also through KEY.pub for keys that could not
	// be decrypted), like OpenSSH's IdentitiesOnly. It keeps an agent with
	// many keys from using up the server's MaxAuthTries.
	IdentitiesOnly bool

	// KnownHostsFiles lists known_hosts files; empty means
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. Files that do not
	// exist are skipped. HostKeyAcceptNew records keys in the first one.
	KnownHostsFiles []string
	// HostKeyPolicy says what to do with unknown hosts; the zero value is
	// HostKeyStrict.
	HostKeyPolicy HostKeyPolicy

	// ProxyJump, if set, is the hop to reach Host through (ssh -J). The
	// hop may itself have a ProxyJump, forming a chain. Host keys are
	// checked on every hop. A hop with a nil Passphrase,
	// KeyboardInteractive or Logger uses this Config's.
	ProxyJump *Config

	// KeepaliveInterval is how often to check a quiet connection; 0 means
	// 15s, a negative value turns keepalives off. After KeepaliveCountMax
	// unanswered intervals the connection is closed as lost.
	KeepaliveInterval time.Duration
	// KeepaliveCountMax is the number of unanswered intervals tolerated;
	// 0 means 3.
	KeepaliveCountMax int
	// MaxSessions caps concurrent commands on the connection; 0 means 8,
	// below sshd's default MaxSessions of 10. Further commands wait.
	MaxSessions int
	// ConnectTimeout bounds the TCP dial and the SSH handshake; 0 means
	// 30s.
	ConnectTimeout time.Duration

	// Logger receives connection events; nil discards them. Commands,
	// passphrases and passwords are never logged.
	Logger *slog.Logger
}

// addr returns the server's address as host:port.
func (c *Config) addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// withDefaults validates c and returns a copy with defaults applied,
// inheriting callbacks from parent for jump hops.
func (c Config) withDefaults(parent *Config, depth int) (Config, error) {
	if depth > maxJumpDepth {
		return Config{}, fmt.Errorf("sshx: ProxyJump chain longer than %d hops", maxJumpDepth)
	}
	if c.Host == "" {
		return Config{}, errors.New("sshx: Config.Host is empty")
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 0 || c.Port > 65535 {
		return Config{}, fmt.Errorf("sshx: Config.Port %d out of range", c.Port)
	}
	if c.User == "" {
		c.User = localUser()
	}
	if c.User == "" {
		return Config{}, errors.New("sshx: Config.User is empty and the local user is unknown")
	}
	if c.HostKeyPolicy < HostKeyStrict || c.HostKeyPolicy > HostKeyInsecureIgnore {
		return Config{}, fmt.Errorf("sshx: unknown %v", c.HostKeyPolicy)
	}
	if c.MaxSessions < 0 || c.KeepaliveCountMax < 0 || c.ConnectTimeout < 0 {
		return Config{}, errors.New("sshx: negative MaxSessions, KeepaliveCountMax or ConnectTimeout")
	}

	if parent != nil {
		if c.Passphrase == nil {
			c.Passphrase = parent.Passphrase
		}
		if c.KeyboardInteractive == nil {
			c.KeyboardInteractive = parent.KeyboardInteractive
		}
		if c.Logger == nil {
			c.Logger = parent.Logger
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.KeepaliveCountMax == 0 {
		c.KeepaliveCountMax = DefaultKeepaliveCountMax
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	c.IdentityFiles = expandAll(c.IdentityFiles)
	c.KnownHostsFiles = expandAll(c.KnownHostsFiles)
	if len(c.KnownHostsFiles) == 0 {
		c.KnownHostsFiles = []string{expandHome("~/.ssh/known_hosts"), globalKnownHosts}
	}

	if c.ProxyJump != nil {
		hop, err := c.ProxyJump.withDefaults(&c, depth+1)
		if err != nil {
			return Config{}, err
		}
		c.ProxyJump = &hop
	}
	return c, nil
}

const maxJumpDepth = 8

// globalKnownHosts is the system-wide known_hosts file OpenSSH also reads.
const globalKnownHosts = "/etc/ssh/ssh_known_hosts"

// Target describes where a Client logs in, enough to build an equivalent
// OpenSSH command line (for example to print an `ssh -L` for a tunnel).
type Target struct {
	// User, Host and Port are the login.
	User string
	Host string
	Port int
	// IdentityFiles are the usable private keys (decrypted or not).
	IdentityFiles []string
	// KnownHostsFiles are the known_hosts files checked.
	KnownHostsFiles []string
	// ProxyJump is the jump chain in ssh -J form ("u@h:p,u2@h2:p2"), or "".
	ProxyJump string
}

// SSHArgs returns OpenSSH arguments that log in to the same place, ending
// with the destination; append "-N", "-L", ... as needed before it is
// used, or after it for a remote command.
func (t Target) SSHArgs() []string {
	var args []string
	if t.Port != 0 && t.Port != DefaultPort {
		args = append(args, "-p", strconv.Itoa(t.Port))
	}
	for _, f := range t.IdentityFiles {
		args = append(args, "-i", f)
	}
	if len(t.KnownHostsFiles) > 0 {
		args = append(args, "-o", "UserKnownHostsFile="+strings.Join(t.KnownHostsFiles, " "))
	}
	if t.ProxyJump != "" {
		args = append(args, "-J", t.ProxyJump)
	}
	return append(args, t.User+"@"+t.Host)
}

// jumpSpec renders a Config chain in ssh -J form, outermost hop first.
func jumpSpec(c *Config) string {
	if c == nil {
		return ""
	}
	hop := c.User + "@" + c.Host
	if c.Port != DefaultPort && c.Port != 0 {
		hop += ":" + strconv.Itoa(c.Port)
	}
	if outer := jumpSpec(c.ProxyJump); outer != "" {
		return outer + "," + hop
	}
	return hop
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// homeDir returns the local home folder, or "" if unknown.
func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

// expandHome replaces a leading "~" or "~/" with the local home folder.
func expandHome(p string) string {
	if p == "~" {
		return homeDir()
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(), p[2:])
	}
	return p
}

func expandAll(ps []string) []string {
	var out []string
	for _, p := range ps {
		if p != "" {
			out = append(out, expandHome(p))
		}
	}
	return out
}
