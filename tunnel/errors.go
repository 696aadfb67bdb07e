package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hpcorch/hpcorch/sshx"
	"golang.org/x/crypto/ssh"
)

var (
	// ErrClosed is returned by operations on a closed Tunnel, and carried
	// by the EventDown that Close sends.
	ErrClosed = errors.New("tunnel: closed")

	// ErrForwardingDisabled matches (with errors.Is) a dial that the SSH
	// server refused as "administratively prohibited": TCP forwarding is
	// off on the login node (sshd AllowTcpForwarding no). It is permanent.
	// It is sshx.ErrForwardingDisabled, so either name matches, whatever
	// the Dialer.
	ErrForwardingDisabled = sshx.ErrForwardingDisabled

	// ErrRemoteNotListening matches (with errors.Is) a dial that the SSH
	// server tried and that the remote host refused: nothing listens at
	// the remote address yet. Dials retry it until their deadline. It is
	// sshx.ErrRemoteNotListening.
	ErrRemoteNotListening = sshx.ErrRemoteNotListening
)

// DialError reports that one connection to the remote address could not be
// opened, after every attempt the retry policy allowed. errors.Is matches
// it against ErrForwardingDisabled and ErrRemoteNotListening, and
// errors.As reaches the Dialer's own error (for an SSH refusal, an
// *ssh.OpenChannelError).
type DialError struct {
	// Addr is the remote address, as given to Open.
	Addr string
	// Attempts counts the dials tried.
	Attempts int
	// Elapsed is the time from the first attempt to the last failure.
	Elapsed time.Duration
	// Err is the last attempt's error.
	Err error
}

// Error says what failed and, for a refusal, what to do about it.
func (e *DialError) Error() string {
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" (%d attempts in %s)", e.Attempts, e.Elapsed.Round(time.Millisecond))
	}

	switch classify(e.Err).cause {
	case causeProhibited:
		return fmt.Sprintf("tunnel: the SSH server refused to forward to %s: "+
			"TCP forwarding is disabled on the login node (sshd AllowTcpForwarding); "+
			"ask the site's admins or use a login node that allows it: %v", e.Addr, e.Err)
	case causeNotListening:
		return fmt.Sprintf("tunnel: nothing listens at %s%s; is the service up on "+
			"that node and port? %v", e.Addr, tries, e.Err)
	}
	return fmt.Sprintf("tunnel: dial %s%s: %v", e.Addr, tries, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *DialError) Unwrap() error { return e.Err }

// Is reports whether the failure is the one target names:
// ErrForwardingDisabled or ErrRemoteNotListening.
func (e *DialError) Is(target error) bool {
	switch target {
	case ErrForwardingDisabled:
		return classify(e.Err).cause == causeProhibited
	case ErrRemoteNotListening:
		return classify(e.Err).cause == causeNotListening
	}
	return false
}

// StreamError reports that a forwarded connection broke after it was
// opened: the remote side failed while bytes were in flight, most often
// because the SSH connection was lost. The local client saw a reset.
type StreamError struct {
	// Conn numbers the connection, as in Event.Conn.
	Conn uint64
	// Addr is the remote address.
	Addr string
	// Err is what the copy failed with.
	Err error
}

// Error names the connection, the remote address and the cause.
func (e *StreamError) Error() string {
	return fmt.Sprintf("tunnel: connection %d to %s broke: %v", e.Conn, e.Addr, e.Err)
}

// Unwrap returns the copy's error.
func (e *StreamError) Unwrap() error { return e.Err }

// PortInUseError reports that the local address to listen on is taken.
// errors.Is matches it against syscall.EADDRINUSE.
type PortInUseError struct {
	// Addr is the local address that was asked for.
	Addr string
	// Port is its port.
	Port int
	// Err is the listen error.
	Err error
}

// Error names the port and suggests another one, or 0.
func (e *PortInUseError) Error() string {
	return fmt.Sprintf("tunnel: local port %d is already in use (listen on %s): "+
		"pick another local port, or 0 for a free one", e.Port, e.Addr)
}

// Unwrap returns the listen error.
func (e *PortInUseError) Unwrap() error { return e.Err }

type cause int

const (
	causeOther cause = iota
	causeProhibited
	causeNotListening
)

type verdict struct {
	cause     cause
	transient bool
}

// classify says why a dial failed and whether trying again may help.
func classify(err error) verdict {
	switch {
	case errors.Is(err, sshx.ErrForwardingDisabled):
		return verdict{cause: causeProhibited}
	case errors.Is(err, sshx.ErrRemoteNotListening):
		return verdict{cause: causeNotListening, transient: true}
	case errors.Is(err, sshx.ErrConnectionLost):
		return verdict{transient: true}
	case errors.Is(err, sshx.ErrClosed):
		return verdict{}
	}

	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		switch oce.Reason {
		case ssh.Prohibited:
			return verdict{cause: causeProhibited}
		case ssh.ConnectionFailed:
			return verdict{cause: causeNotListening, transient: true}
		case ssh.ResourceShortage:
			return verdict{transient: true}
		}
		return verdict{}
	}

	// A Dialer that turned the refusal into text of its own.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "administratively prohibited"):
		return verdict{cause: causeProhibited}
	case strings.Contains(msg, "connect failed"):
		return verdict{cause: causeNotListening, transient: true}
	}

	return verdict{transient: isTransient(err)}
}

// isTransient reports errors of a connection that broke or could not be
// made for now: the next attempt may get through.
func isTransient(err error) bool {
	var temp interface{ Temporary() bool }
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &temp) && temp.Temporary():
		return true
	}
	return false
}
