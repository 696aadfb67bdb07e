package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Local is an Executor for this machine: commands run with `bash -c`, Put
// writes a local file and DialContext is a plain TCP dial. It serves users
// without a cluster and tests. The zero value is ready to use and safe for
// concurrent use.
type Local struct {
	// Shell runs the commands with "-c"; "" means "bash".
	Shell string
	// Dir is the commands' working folder; "" means the home folder, as
	// for an SSH login.
	Dir string
	// Env, if not nil, replaces the commands' environment; nil means this
	// process's environment.
	Env []string
}

var _ Executor = (*Local)(nil)

// localWaitDelay bounds how long Run waits for output pipes held open by
// background children after the command itself ended or was killed.
const localWaitDelay = 2 * time.Second

// Run runs cmd with the shell in a new process group. A non-zero exit
// returns the output and an *ExitError. When ctx ends, the whole process
// group is killed and Run returns ctx's error with the output so far.
func (l *Local) Run(ctx context.Context, cmd string, stdin io.Reader) (
	stdout, stderr []byte, err error) {

	shell := l.Shell
	if shell == "" {
		shell = "bash"
	}
	c := exec.CommandContext(ctx, shell, "-c", cmd)
	c.Dir = l.Dir
	if c.Dir == "" {
		c.Dir = homeDir()
	}
	c.Env = l.Env
	c.Stdin = stdin
	var outBuf, errBuf bytes.Buffer
	c.Stdout, c.Stderr = &outBuf, &errBuf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = localWaitDelay

	err = c.Run()
	stdout, stderr = outBuf.Bytes(), errBuf.Bytes()
	if ctx.Err() != nil && err != nil {
		return stdout, stderr, fmt.Errorf("sshx: run: %w", ctx.Err())
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return stdout, stderr, localExitError(xe, stderr)
	}
	if err != nil {
		return stdout, stderr, fmt.Errorf("sshx: run: %w", err)
	}
	return stdout, stderr, nil
}

// localExitError maps a process's end to an *ExitError.
func localExitError(xe *exec.ExitError, stderr []byte) *ExitError {
	e := &ExitError{Code: xe.ExitCode(), Stderr: stderr}
	if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Code = -1
		e.Signal = signalName(ws.Signal())
	}
	return e
}

// signalName names a signal as SSH does ("TERM", not "SIGTERM").
func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGABRT: "ABRT", syscall.SIGALRM: "ALRM", syscall.SIGFPE: "FPE",
		syscall.SIGHUP: "HUP", syscall.SIGILL: "ILL", syscall.SIGINT: "INT",
		syscall.SIGKILL: "KILL", syscall.SIGPIPE: "PIPE", syscall.SIGQUIT: "QUIT",
		syscall.SIGSEGV: "SEGV", syscall.SIGTERM: "TERM", syscall.SIGUSR1: "USR1",
		syscall.SIGUSR2: "USR2", syscall.SIGBUS: "BUS",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return strconv.Itoa(int(s))
}

// Put writes r to path, creating or truncating it with mode. A leading "~/"
// or "$HOME/" is the home folder; a relative path is relative to Dir.
func (l *Local) Put(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	full, err := l.localPath(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sshx: put %s: %w", path, err)
	}
	if r == nil {
		r = strings.NewReader("")
	}

	_, err = io.Copy(f, ctxReader{ctx, r})
	err = errors.Join(err, f.Chmod(mode.Perm()), f.Close())
	if err != nil {
		return fmt.Errorf("sshx: put %s: %w", path, err)
	}
	return nil
}

func (l *Local) localPath(path string) (string, error) {
	if path == "" || strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("sshx: invalid path %q", path)
	}
	for _, prefix := range []string{"~/", "$HOME/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			if rest == "" {
				return "", fmt.Errorf("sshx: path %q names a folder, not a file", path)
			}
			return filepath.Join(homeDir(), rest), nil
		}
	}
	if !filepath.IsAbs(path) {
		dir := l.Dir
		if dir == "" {
			dir = homeDir()
		}
		return filepath.Join(dir, path), nil
	}
	return path, nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (cr ctxReader) Read(p []byte) (int, error) {
	if err := cr.ctx.Err(); err != nil {
		return 0, err
	}
	return cr.r.Read(p)
}

// DialContext dials addr from this machine. A refused connection is
// ErrRemoteNotListening, as for Client.
func (l *Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrRemoteNotListening, addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("sshx: dial %s: %w", addr, err)
	}
	return nc, nil
}
