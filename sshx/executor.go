package sshx

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
)

// Executor runs commands, writes files and dials TCP addresses on the
// cluster side: the login node for Client, this machine for Local.
// It is the one seam through which every other hpcorch package reaches a
// cluster. Implementations are safe for concurrent use.
type Executor interface {
	// Run runs cmd with the remote user's shell (bash -c for Local).
	// stdin may be nil. A command that ran and exited non-zero returns its
	// output and an *ExitError; any other error is a transport failure.
	Run(ctx context.Context, cmd string, stdin io.Reader) (stdout, stderr []byte, err error)

	// Put writes the contents of r to path on the cluster side with the
	// given permission bits, creating or truncating it. The parent folder
	// must exist. path may start with "~/" or "$HOME/", expanded remotely.
	Put(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error

	// DialContext connects to addr as seen from the cluster side.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ExitError reports a command that ran and exited with a non-zero status,
// or was ended by a signal.
type ExitError struct {
	// Code is the exit status, or -1 when the command ended by a signal.
	Code int
	// Signal names the signal that ended the command ("TERM"), if any.
	Signal string
	// Stderr holds the command's standard error output.
	Stderr []byte
}

// Error gives the status (or signal) and the first line of Stderr.
func (e *ExitError) Error() string {
	msg := firstLine(e.Stderr)
	if e.Signal != "" {
		return fmt.Sprintf("sshx: command killed by signal %s: %s", e.Signal, msg)
	}
	if msg == "" {
		return fmt.Sprintf("sshx: command exited with status %d", e.Code)
	}
	return fmt.Sprintf("sshx: command exited with status %d: %s", e.Code, msg)
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
