package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// acceptLoop accepts local connections until the listener is closed.
func (t *Tunnel) acceptLoop() {
	var wait time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			if !acceptRetryable(err) {
				t.log.Error("tunnel: accept failed, no longer listening", "err", err)
				t.setState(EventDown, err, false)
				return
			}

			// Out of file descriptors and the like: wait, as net/http does.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			t.log.Warn("tunnel: accept failed, retrying", "err", err, "wait", wait)
			if !t.sleep(wait) {
				return
			}
			continue
		}
		wait = 0

		id := t.nextID.Add(1)
		l := &link{local: c}
		if !t.track(id, l) {
			abortConn(c)
			return
		}
		t.wg.Go(func() { t.serve(id, l) })
	}
}

func acceptRetryable(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || (errors.As(err, &ne) && ne.Timeout())
}

// sleep waits for d, or until Close; it reports whether d passed.
func (t *Tunnel) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *Tunnel) track(id uint64, l *link) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[id] = l
	return true
}

func (t *Tunnel) untrack(id uint64) {
	t.mu.Lock()
	delete(t.conns, id)
	t.mu.Unlock()
}

// serve forwards one accepted connection.
func (t *Tunnel) serve(id uint64, l *link) {
	defer t.untrack(id)
	log := t.log.With("conn", id)

	remote, err := t.dial(t.ctx)
	if err != nil {
		l.abort()
		if !errors.Is(err, ErrClosed) {
			log.Warn("tunnel: connection not forwarded", "err", err)
			t.connError(id, err)
		}
		return
	}
	if !l.setRemote(remote) {
		// Close aborted the link while we dialed.
		_ = remote.Close()
		return
	}
	log.Debug("tunnel: forwarding")

	err = l.pipe()
	if err == nil || t.ctx.Err() != nil {
		log.Debug("tunnel: connection done")
		return
	}
	var se *StreamError
	if !errors.As(err, &se) {
		// The local client went away; nothing to report.
		log.Debug("tunnel: local connection failed", "err", err)
		return
	}
	se.Conn, se.Addr = id, t.remote
	log.Warn("tunnel: connection broke", "err", err)
	t.connError(id, err)

	// The SSH connection may be gone: find out, and say so in the events.
	t.probe(false)
}

// dial opens a connection to the remote address, retrying transient
// failures with backoff until Options.RedialTimeout. It records the outcome
// as the tunnel's state.
func (t *Tunnel) dial(ctx context.Context) (net.Conn, error) {
	start := time.Now()
	backoff := t.opts.RedialBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, t.opts.DialTimeout)
		c, err := t.d.DialContext(actx, "tcp", t.remote)
		cancel()
		if err == nil {
			t.setState(EventUp, nil, false)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ErrClosed
		}

		derr := &DialError{Addr: t.remote, Attempts: attempt, Elapsed: time.Since(start), Err: err}
		v := classify(err)
		if !v.transient || t.opts.RedialTimeout < 0 ||
			time.Since(start)+backoff > t.opts.RedialTimeout {
			t.setState(EventDown, derr, false)
			return nil, derr
		}

		t.log.Debug("tunnel: dial failed, retrying", "err", err, "attempt", attempt,
			"wait", backoff)
		t.setState(EventReconnecting, derr, false)
		if !t.sleep(backoff) {
			return nil, ErrClosed
		}
		backoff = min(2*backoff, maxRedialBackoff)
	}
}

// link is one forwarded connection: the accepted local side and, once
// dialed, the remote side.
type link struct {
	local net.Conn

	mu      sync.Mutex
	remote  net.Conn
	aborted bool
}

func (l *link) setRemote(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.aborted {
		return false
	}
	l.remote = c
	return true
}

// abort ends both sides at once; the local client sees a reset.
func (l *link) abort() {
	l.mu.Lock()
	l.aborted = true
	r := l.remote
	l.mu.Unlock()

	abortConn(l.local)
	if r != nil {
		_ = r.Close()
	}
}

// pipe copies both ways until both directions ended. A direction that
// reaches EOF half-closes its destination, so the other one keeps going.
// It returns a *StreamError when the remote side failed, another error when
// the local side did, and nil when both sides finished cleanly.
func (l *link) pipe() error {
	errc := make(chan error, 2)
	go func() { errc <- copyHalf(l.remote, l.local, false) }()
	go func() { errc <- copyHalf(l.local, l.remote, true) }()

	var first error
	for range 2 {
		err := <-errc
		if err != nil && first == nil {
			first = err
			l.abort()
		}
	}

	l.mu.Lock()
	aborted := l.aborted
	l.mu.Unlock()
	if !aborted {
		_ = l.local.Close()
		_ = l.remote.Close()
	}
	return first
}

// copyHalf copies src to dst, then half-closes dst. fromRemote says which
// way the bytes go, to tell whose failure an error is.
func copyHalf(dst, src net.Conn, fromRemote bool) error {
	_, err := io.Copy(dst, src)
	switch {
	case err == nil:
		// A peer that already closed may refuse the EOF; the other
		// direction sees to that.
		_ = closeWrite(dst)
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		// io.Copy ends reads at EOF, so io.EOF is a write to an SSH channel
		// the remote already closed. net.ErrClosed is an abort by the
		// other direction or by Close.
		return nil
	case localFailed(err, dst, src, fromRemote):
		return err
	}
	return &StreamError{Err: err}
}

// localFailed guesses whether err came from the local connection: errors
// of a TCP socket are *net.OpError values naming it.
func localFailed(err error, dst, src net.Conn, fromRemote bool) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) {
		return false
	}
	local := src
	if fromRemote {
		local = dst
	}
	return oe.Source != nil && local.LocalAddr() != nil &&
		oe.Source.String() == local.LocalAddr().String()
}

type closeWriter interface{ CloseWrite() error }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}

// abortConn closes c so that its peer sees a reset, not a clean end.
func abortConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
