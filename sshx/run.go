package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Session-open retry schedule for refusals past sshd's MaxSessions: channel
// close is asynchronous, so a slot freed here may not be free there yet.
const (
	sessionRetryBase = 100 * time.Millisecond
	sessionRetryCap  = 2 * time.Second
	sessionRetryMax  = 10
)

// Run runs cmd with the remote user's login shell and returns its output.
// stdin, if not nil, is copied to the command's standard input, then closed.
// A non-zero exit returns the output and an *ExitError. A connection that
// breaks while cmd runs returns ErrConnectionLost; the next call redials.
// When ctx ends, the remote command is sent SIGHUP, its session is closed
// and Run returns ctx's error with no output.
//
// Run does not wait for stdin to be read to its end: once the command
// exits, a stdin whose Read blocks keeps a goroutine until Read returns.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (
	stdout, stderr []byte, err error) {

	if err := c.acquire(ctx); err != nil {
		return nil, nil, err
	}
	defer c.release()

	sess, cn, err := c.newSession(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer sess.Close()

	var outBuf, errBuf bytes.Buffer
	sess.Stdout, sess.Stderr = &outBuf, &errBuf
	var stdinW io.WriteCloser
	if stdin != nil {
		if stdinW, err = sess.StdinPipe(); err != nil {
			return nil, nil, fmt.Errorf("sshx: run: %w", err)
		}
	}

	type outcome struct {
		started bool
		err     error
	}
	done := make(chan outcome, 1)
	ok := c.spawn(func() {
		if err := sess.Start(cmd); err != nil {
			done <- outcome{err: err}
			return
		}
		if stdinW != nil {
			go copyStdin(stdinW, stdin)
		}
		done <- outcome{started: true, err: sess.Wait()}
	})
	if !ok {
		return nil, nil, fmt.Errorf("sshx: run: %w", ErrClosed)
	}

	select {
	case o := <-done:
		if !o.started {
			return nil, nil, c.runError(cn, "starting a command", o.err)
		}
		return c.result(cn, outBuf.Bytes(), errBuf.Bytes(), o.err)
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGHUP)
		_ = sess.Close()
		return nil, nil, fmt.Errorf("sshx: run: %w", ctx.Err())
	}
}

func copyStdin(w io.WriteCloser, r io.Reader) {
	_, _ = io.Copy(w, r)
	_ = w.Close()
}

// result maps the end of a session to Run's return values.
func (c *Client) result(cn *conn, stdout, stderr []byte, err error) ([]byte, []byte, error) {
	if err == nil {
		return stdout, stderr, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		xe := &ExitError{Code: ee.ExitStatus(), Signal: ee.Signal(), Stderr: stderr}
		if xe.Signal != "" {
			xe.Code = -1
		}
		return stdout, stderr, xe
	}
	return stdout, stderr, c.runError(cn, "the command was running", err)
}

// runError maps a session failure that is not an exit status.
func (c *Client) runError(cn *conn, op string, err error) error {
	if c.lost(cn) {
		return c.lostError(op, cn)
	}
	return fmt.Errorf("sshx: run: %w", err)
}

func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sshx: run: waiting for a session slot: %w", ctx.Err())
	case <-c.life.Done():
		return fmt.Errorf("sshx: run: %w", ErrClosed)
	}
}

func (c *Client) release() { <-c.sem }

// newSession opens a session, retrying refusals with backoff and redialing
// once if the connection turns out to be broken (nothing has run yet).
func (c *Client) newSession(ctx context.Context) (*ssh.Session, *conn, error) {
	delay := sessionRetryBase
	redialed := false
	for attempt := 1; ; attempt++ {
		cn, err := c.connection(ctx)
		if err != nil {
			return nil, nil, err
		}
		sess, err := c.openSession(ctx, cn)
		if err == nil {
			return sess, cn, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("sshx: open session: %w", ctx.Err())
		}

		if mapped, retry := sessionOpenError(err); mapped != nil {
			if !retry || attempt >= sessionRetryMax {
				return nil, nil, mapped
			}
			c.log.Debug("sshx: session refused, retrying", "attempt", attempt, "err", err)
			if err := c.sleep(ctx, jitter(delay)); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", mapped, err)
			}
			delay = min(delay*2, sessionRetryCap)
			continue
		}

		cn.kill(fmt.Errorf("open session: %w", err))
		if redialed {
			return nil, nil, c.lostError("opening a session", cn)
		}
		redialed = true
	}
}

// openSession opens a session on cn, giving up when ctx ends (a session
// that opens later is closed).
func (c *Client) openSession(ctx context.Context, cn *conn) (*ssh.Session, error) {
	type res struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan res)
	abandon := make(chan struct{})
	ok := c.spawn(func() {
		s, err := cn.client.NewSession()
		select {
		case ch <- res{s, err}:
		case <-abandon:
			if s != nil {
				s.Close()
			}
		}
	})
	if !ok {
		return nil, ErrClosed
	}
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		close(abandon)
		return nil, ctx.Err()
	}
}

// sleep waits d, or until ctx ends or the Client closes.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.life.Done():
		return ErrClosed
	}
}

// jitter spreads d by ±20% so that refused sessions do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// Put writes r to path on the server with `cat`, then sets mode. The file
// is created with umask 077, so it is never readable by others before the
// chmod. A leading "~/" or "$HOME/" is expanded by the remote shell.
func (c *Client) Put(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	target, err := shellPath(path)
	if err != nil {
		return err
	}
	if r == nil {
		r = strings.NewReader("")
	}
	cmd := fmt.Sprintf("umask 077 && cat > %s && chmod %04o %s", target, mode.Perm(), target)
	if _, _, err := c.Run(ctx, cmd, r); err != nil {
		return fmt.Errorf("sshx: put %s: %w", path, err)
	}
	return nil
}

// shellPath quotes a remote path, leaving a leading "~/" or "$HOME/" for the
// shell to expand.
func shellPath(path string) (string, error) {
	if path == "" || strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("sshx: invalid path %q", path)
	}
	for _, prefix := range []string{"~/", "$HOME/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			if rest == "" {
				return "", fmt.Errorf("sshx: path %q names a folder, not a file", path)
			}
			return `"$HOME"/` + Quote(rest), nil
		}
	}
	return Quote(path), nil
}

// DialContext opens a TCP connection to addr from the server (direct-tcpip,
// like ssh -L). A refusal by the server is ErrForwardingDisabled; nothing
// listening at addr is ErrRemoteNotListening, which is worth retrying while
// a service starts. Neither closes the SSH connection. The returned
// net.Conn's addresses are zero and it closes with the Client.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("sshx: dial %s: unsupported network %q", addr, network)
	}

	for attempt := 0; ; attempt++ {
		cn, err := c.connection(ctx)
		if err != nil {
			return nil, err
		}
		nc, err := cn.client.DialContext(ctx, network, addr)
		if err == nil {
			return nc, nil
		}
		if mapped, ok := dialOpenError(addr, err); ok {
			return nil, mapped
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sshx: dial %s: %w", addr, ctx.Err())
		}
		if !c.lost(cn) {
			return nil, fmt.Errorf("sshx: dial %s: %w", addr, err)
		}
		if attempt > 0 {
			return nil, c.lostError("dialing "+addr, cn)
		}
	}
}
