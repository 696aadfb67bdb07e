package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait of these tests; none should come near it.
const waitLimit = 10 * time.Second

// dialFunc turns a function into a Dialer.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// countingDialer dials with a net.Dialer and counts the dials.
type countingDialer struct {
	mu sync.Mutex
	n  int
	d  net.Dialer
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.d.DialContext(ctx, network, addr)
}

func (c *countingDialer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// server runs handle for every connection to a loopback listener, until the
// test ends.
func server(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoServer echoes what it reads and half-closes at EOF.
func echoServer(t *testing.T) string {
	return server(t, func(c *net.TCPConn) {
		if _, err := io.Copy(c, c); err == nil {
			_ = c.CloseWrite()
			_, _ = io.Copy(io.Discard, c)
		}
	})
}

// recorder collects a tunnel's events.
type recorder struct {
	ch chan Event

	mu  sync.Mutex
	all []Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 1024)} }

func (r *recorder) record(ev Event) {
	r.mu.Lock()
	r.all = append(r.all, ev)
	r.mu.Unlock()
	select {
	case r.ch <- ev:
	default:
	}
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.all...)
}

func (r *recorder) kinds() []EventKind {
	var ks []EventKind
	for _, ev := range r.events() {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// waitFor returns the next event of kind k, failing t after waitLimit.
func (r *recorder) waitFor(t *testing.T, k EventKind) Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-r.ch:
			if ev.Kind == k {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event; got %v", k, r.events())
		}
	}
}

// open opens a tunnel for the test and closes it at the end.
func open(t *testing.T, d Dialer, remote string, opts Options) (*Tunnel, *recorder) {
	t.Helper()
	rec := newRecorder()
	if opts.Events == nil {
		opts.Events = rec.record
	}
	tn, err := Open(context.Background(), d, remote, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tn.Close()) })
	return tn, rec
}

func waitReady(t *testing.T, tn *Tunnel) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, tn.WaitReady(ctx))
}

func dialLocal(t *testing.T, tn *Tunnel) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", tn.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
	return c.(*net.TCPConn)
}

// isReset reports whether err is what a reader sees when the peer reset.
func isReset(err error) bool {
	return err != nil && !errors.Is(err, io.EOF)
}

// verifyNoLeaks checks, after every other cleanup of t, that t left no
// goroutine behind.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// logCapture keeps the messages of a logger's records.
type logCapture struct {
	ch chan string
}

func newLogCapture() *logCapture { return &logCapture{ch: make(chan string, 1024)} }

func (lc *logCapture) logger() *slog.Logger {
	return slog.New(captureHandler{lc})
}

// waitFor waits for a record with one of msgs, failing t after waitLimit.
func (lc *logCapture) waitFor(t *testing.T, msgs ...string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case m := <-lc.ch:
			if slices.Contains(msgs, m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no log record %q", msgs)
		}
	}
}

type captureHandler struct{ lc *logCapture }

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h captureHandler) WithGroup(string) slog.Handler            { return h }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.lc.ch <- r.Message:
	default:
	}
	return nil
}
