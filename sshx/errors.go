package sshx

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Sentinel errors to branch on with errors.Is. The typed errors below wrap
// them, so errors.Is works on those too.
var (
	// ErrClosed is returned by calls on a Client after Close.
	ErrClosed = errors.New("sshx: client closed")

	// ErrConnectionLost reports that the SSH connection broke while a
	// command or dial was in flight. The next call redials.
	ErrConnectionLost = errors.New("sshx: connection lost")

	// ErrTooManySessions reports that the server kept refusing new
	// sessions on the connection (sshd MaxSessions) after the retries.
	ErrTooManySessions = errors.New("sshx: server refused a new session (too many sessions)")

	// ErrForwardingDisabled reports that the server refused a TCP
	// connection through it (AllowTcpForwarding no). It is permanent.
	ErrForwardingDisabled = errors.New("sshx: TCP forwarding disabled by the server")

	// ErrRemoteNotListening reports that nothing accepted the connection
	// at the address on the cluster side (connection refused). Retrying
	// later may succeed, for example once a job's server is up.
	ErrRemoteNotListening = errors.New("sshx: nothing listening at the remote address")

	// ErrHostUnknown reports a server whose host key is in no known_hosts
	// file. See *HostKeyError for the details.
	ErrHostUnknown = errors.New("sshx: host key unknown")

	// ErrHostKeyChanged reports a server whose host key differs from the
	// one recorded in known_hosts. See *HostKeyError for the file and line.
	ErrHostKeyChanged = errors.New("sshx: host key changed")

	// ErrHostKeyRevoked reports a host key marked @revoked in known_hosts.
	ErrHostKeyRevoked = errors.New("sshx: host key revoked")

	// ErrPassphraseRequired reports an encrypted private key and no
	// Passphrase callback to decrypt it. See *KeyError for the path.
	ErrPassphraseRequired = errors.New("sshx: private key is passphrase protected")

	// ErrBadPassphrase reports a passphrase that does not decrypt the key.
	ErrBadPassphrase = errors.New("sshx: wrong passphrase for private key")

	// ErrAuthFailed reports that the server accepted none of the offered
	// credentials. See *AuthError for what was tried.
	ErrAuthFailed = errors.New("sshx: authentication failed")

	// ErrUnsupportedDirective reports an ssh_config directive that
	// ConfigFromSSHConfig cannot evaluate (such as Match exec or Match user),
	// rather than silently applying or ignoring the block it starts.
	ErrUnsupportedDirective = errors.New("sshx: unsupported ssh_config directive")
)

// HostKeyError reports a host key that known_hosts does not vouch for. It
// wraps ErrHostUnknown when no key is recorded for the host, and
// ErrHostKeyChanged when other keys are.
type HostKeyError struct {
	// Host is the address checked, as "host:port".
	Host string
	// Key is the key the server offered.
	Key ssh.PublicKey
	// Known lists the keys recorded for Host, with file and line. It is
	// empty when the host is unknown.
	Known []knownhosts.KnownKey
	// Files lists the known_hosts files consulted. The first one is where
	// HostKeyAcceptNew records new hosts.
	Files []string
}

// Error says which key the server offered and which file and line to fix.
func (e *HostKeyError) Error() string {
	offered := keyString(e.Key)
	if len(e.Known) == 0 {
		where, file := "no known_hosts file exists", "~/.ssh/known_hosts"
		if len(e.Files) > 0 {
			where, file = "not found in "+strings.Join(e.Files, ", "), Quote(e.Files[0])
		}
		return fmt.Sprintf("sshx: host key for %s is unknown (server offered %s; %s); "+
			"check the fingerprint with the cluster's admins, then add the key with "+
			"`%s >> %s`; or, to trust a host seen for the first time, set "+
			"host_key_policy: accept-new in the hpc section of hpcorch's config",
			e.Host, offered, where, keyscanCommand(e.Host), file)
	}

	known := make([]string, len(e.Known))
	for i, k := range e.Known {
		known[i] = fmt.Sprintf("%s:%d has %s", k.Filename, k.Line, keyString(k.Key))
	}
	first := e.Known[0]
	return fmt.Sprintf("sshx: host key for %s changed (server offered %s; %s); "+
		"if the change is expected, remove line %d of %s",
		e.Host, offered, strings.Join(known, ", "), first.Line, first.Filename)
}

// Unwrap returns ErrHostUnknown or ErrHostKeyChanged.
func (e *HostKeyError) Unwrap() error {
	if len(e.Known) == 0 {
		return ErrHostUnknown
	}
	return ErrHostKeyChanged
}

// KeyError reports a private key file that could not be used. Err is
// ErrPassphraseRequired, ErrBadPassphrase, or the parse or read error.
type KeyError struct {
	// Path is the key file.
	Path string
	// Err says why it could not be used.
	Err error
}

// Error names the key file and the reason.
func (e *KeyError) Error() string {
	return fmt.Sprintf("sshx: key %s: %s", e.Path, strings.TrimPrefix(e.Err.Error(), "sshx: "))
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// AuthError reports that the server accepted none of the offered
// credentials, or that there were none to offer. It wraps ErrAuthFailed and
// every reason a key was skipped (such as a *KeyError wrapping
// ErrPassphraseRequired).
type AuthError struct {
	// User and Host name the login that failed ("host:port").
	User, Host string
	// Tried lists the credentials offered, such as
	// "publickey ssh-ed25519 SHA256:... (/home/u/.ssh/id_ed25519)".
	Tried []string
	// Allowed lists the methods the server said it accepts, when known.
	Allowed []string
	// Skipped holds why configured keys or the agent were not offered.
	Skipped []error
	// ServerVersion is the server's version banner, when known.
	ServerVersion string
	// Hint is advice for a known server quirk, or empty.
	Hint string
	// Err is the underlying x/crypto error, or nil when nothing was offered.
	Err error
}

// Error lists what was tried and skipped.
func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sshx: authentication as %s at %s failed", e.User, e.Host)
	if len(e.Tried) == 0 {
		b.WriteString(": no credentials to offer")
	} else {
		fmt.Fprintf(&b, "; tried %s", strings.Join(e.Tried, ", "))
	}
	if len(e.Allowed) > 0 {
		fmt.Fprintf(&b, "; server accepts %s", strings.Join(e.Allowed, ", "))
	}
	for _, s := range e.Skipped {
		fmt.Fprintf(&b, "; skipped %s", strings.TrimPrefix(s.Error(), "sshx: "))
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; hint: %s", e.Hint)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

// Unwrap returns ErrAuthFailed, Err and the Skipped reasons.
func (e *AuthError) Unwrap() []error {
	errs := []error{ErrAuthFailed}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return append(errs, e.Skipped...)
}

// keyscanCommand is the ssh-keyscan command line that fetches the host
// keys of addr ("host:port").
func keyscanCommand(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "ssh-keyscan " + Quote(addr)
	}
	if port == "22" || port == "" {
		return "ssh-keyscan " + Quote(host)
	}
	return "ssh-keyscan -p " + Quote(port) + " " + Quote(host)
}

// keyString formats a public key as "type SHA256:fingerprint".
func keyString(k ssh.PublicKey) string {
	if k == nil {
		return "<no key>"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// sessionOpenError maps a refused session open. Prohibited and
// ConnectionFailed are what sshd answers past MaxSessions, so both are
// ErrTooManySessions and worth a retry.
func sessionOpenError(err error) (mapped error, retry bool) {
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) {
		return nil, false
	}
	switch oce.Reason {
	case ssh.Prohibited, ssh.ConnectionFailed, ssh.ResourceShortage:
		return fmt.Errorf("%w: %w", ErrTooManySessions, err), true
	}
	return fmt.Errorf("sshx: open session: %w", err), false
}

// dialOpenError maps a refused direct-tcpip channel. ok is false when err
// is not a channel refusal (the connection itself may have failed).
func dialOpenError(addr string, err error) (mapped error, ok bool) {
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) {
		return nil, false
	}
	switch oce.Reason {
	case ssh.Prohibited:
		return fmt.Errorf("%w: dial %s: %w", ErrForwardingDisabled, addr, err), true
	case ssh.ConnectionFailed:
		return fmt.Errorf("%w: dial %s: %w", ErrRemoteNotListening, addr, err), true
	}
	return fmt.Errorf("sshx: dial %s: %w", addr, err), true
}
