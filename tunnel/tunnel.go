package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hpcorch/hpcorch/sshx"
)

// Dialer opens a TCP connection to an address as seen from the cluster
// side. An sshx.Executor is one: its DialContext opens a direct-tcpip
// channel on its one SSH connection. A plain *net.Dialer is one too, which
// is how the tests run without a cluster.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ Dialer = sshx.Executor(nil)

// Defaults for Options fields left at zero.
const (
	DefaultLocalAddr     = "127.0.0.1:0"
	DefaultDialTimeout   = 15 * time.Second
	DefaultRedialBackoff = 100 * time.Millisecond
	DefaultRedialTimeout = 30 * time.Second

	maxRedialBackoff = 2 * time.Second
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// LocalAddr is the address to listen on, host:port. The default,
	// DefaultLocalAddr, is a free port on loopback. A port of 0 picks a free
	// one; Tunnel.Addr says which.
	LocalAddr string

	// Events, if not nil, is called with every Event, in order, from one
	// goroutine of the tunnel: a slow callback delays later events but no
	// stream. It must not call Close. Close waits for it to return.
	Events func(Event)

	// Logger receives the tunnel's log records (dial failures at warn,
	// connections at debug). Nil discards them.
	Logger *slog.Logger

	// DialTimeout bounds one dial attempt. Default DefaultDialTimeout.
	DialTimeout time.Duration

	// RedialBackoff is the wait after the first transient dial failure; it
	// doubles after each further failure, up to 2s. Default
	// DefaultRedialBackoff.
	RedialBackoff time.Duration

	// RedialTimeout is how long one connection keeps retrying transient
	// failures (SSH connection lost, nothing listening yet) before it gives
	// up. Default DefaultRedialTimeout; a negative value means one attempt.
	RedialTimeout time.Duration

	// SkipProbe turns off the check that Open starts: by default the tunnel
	// dials the remote address once, closes that connection, and closes
	// Ready when it got through. With SkipProbe, Ready waits for the first
	// forwarded connection to dial successfully.
	SkipProbe bool
}

func (o Options) withDefaults() Options {
	if o.LocalAddr == "" {
		o.LocalAddr = DefaultLocalAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RedialBackoff <= 0 {
		o.RedialBackoff = DefaultRedialBackoff
	}
	if o.RedialTimeout == 0 {
		o.RedialTimeout = DefaultRedialTimeout
	}
	return o
}

// Tunnel forwards the connections accepted on a local listener to one
// remote address through a Dialer. Its methods are safe for concurrent use.
type Tunnel struct {
	d      Dialer
	remote string
	opts   Options
	ln     net.Listener
	log    *slog.Logger
	events *dispatcher

	// ctx ends when Close starts; every dial and wait of the tunnel uses it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	nextID  atomic.Uint64
	probing atomic.Bool

	mu        sync.Mutex
	closed    bool
	state     EventKind
	conns     map[uint64]*link
	ready     chan struct{}
	readyDone bool
	probeDone chan struct{} // closed when the first probe ends
	probeErr  error

	closeOnce sync.Once
	closeErr  error
}

// Open listens on opts.LocalAddr and forwards every accepted connection to
// remoteAddr (host:port, resolved on the cluster side) through d, until
// Close. ctx bounds Open only, not the tunnel's life.
//
// Unless opts.SkipProbe is set, Open also starts a check that dials
// remoteAddr once; WaitReady and Ready report its outcome.
func Open(ctx context.Context, d Dialer, remoteAddr string, opts Options) (*Tunnel, error) {
	if d == nil {
		return nil, errors.New("tunnel: nil Dialer")
	}
	if _, _, err := net.SplitHostPort(remoteAddr); err != nil {
		return nil, fmt.Errorf("tunnel: remote address %q: %w", remoteAddr, err)
	}
	opts = opts.withDefaults()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.LocalAddr)
	if err != nil {
		return nil, listenError(opts.LocalAddr, err)
	}

	t := &Tunnel{
		d:         d,
		remote:    remoteAddr,
		opts:      opts,
		ln:        ln,
		events:    newDispatcher(opts.Events),
		conns:     map[uint64]*link{},
		ready:     make(chan struct{}),
		probeDone: make(chan struct{}),
	}
	t.log = opts.Logger.With("local", ln.Addr().String(), "remote", remoteAddr)
	t.ctx, t.cancel = context.WithCancel(context.Background())

	t.wg.Go(t.acceptLoop)
	if opts.SkipProbe {
		close(t.probeDone)
	} else {
		t.probe(true)
	}
	t.log.Debug("tunnel: listening")
	return t, nil
}

func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		return &PortInUseError{Addr: addr, Port: port, Err: err}
	}
	return fmt.Errorf("tunnel: listen on %s: %w", addr, err)
}

// Addr returns the local address the tunnel listens on, with the port
// that was picked when Options.LocalAddr asked for port 0.
func (t *Tunnel) Addr() net.Addr { return t.ln.Addr() }

// Port returns the local port the tunnel listens on.
func (t *Tunnel) Port() int {
	if a, ok := t.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Remote returns the remote address given to Open.
func (t *Tunnel) Remote() string { return t.remote }

// URL returns "http://" and the local address, for a tunnel to an HTTP
// service: http://127.0.0.1:PORT.
func (t *Tunnel) URL() string { return "http://" + t.ln.Addr().String() }

// Ready returns a channel that is closed once a dial to the remote address
// has succeeded: the probe Open starts, or the first forwarded connection.
func (t *Tunnel) Ready() <-chan struct{} { return t.ready }

// WaitReady waits until the tunnel is up (Ready is closed). It returns the
// probe's error if the probe gave up first (forwarding disabled, nothing
// listening until Options.RedialTimeout), ErrClosed if the tunnel was
// closed, or ctx's error.
func (t *Tunnel) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	default:
	}

	select {
	case <-t.ready:
		return nil
	case <-t.probeDone:
		select {
		case <-t.ready:
			return nil
		default:
		}
		t.mu.Lock()
		err := t.probeErr
		t.mu.Unlock()
		if err == nil {
			// SkipProbe: wait for a forwarded connection.
			return t.waitReadyOnly(ctx)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tunnel) waitReadyOnly(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	case <-t.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SSHCommand returns the OpenSSH command line that forwards the same local
// port to the same remote address through target, for users who prefer to
// run ssh themselves.
func (t *Tunnel) SSHCommand(target SSHTarget) string {
	host, p, _ := net.SplitHostPort(t.remote)
	port, _ := strconv.Atoi(p)
	return SSHCommand(target, t.Port(), host, port)
}

// Close stops the listener, ends every live connection, waits for the
// tunnel's goroutines and for the Events callback, after a last EventDown
// with ErrClosed. It is idempotent: later calls return what the first
// returned.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		links := make([]*link, 0, len(t.conns))
		for _, l := range t.conns {
			links = append(links, l)
		}
		t.mu.Unlock()

		t.cancel()
		err := t.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		for _, l := range links {
			l.abort()
		}
		t.wg.Wait()

		t.setState(EventDown, ErrClosed, true)
		t.events.close()
		if err != nil {
			t.closeErr = fmt.Errorf("tunnel: close listener: %w", err)
		}
		t.log.Debug("tunnel: closed")
	})
	return t.closeErr
}

// setState records a state change and sends its event; repeating the
// current state sends nothing. Only Close passes final.
func (t *Tunnel) setState(k EventKind, err error, final bool) {
	t.mu.Lock()
	if !final && (t.closed || t.state == k) {
		t.mu.Unlock()
		return
	}
	t.state = k
	if k == EventUp && !t.readyDone {
		t.readyDone = true
		close(t.ready)
	}
	t.mu.Unlock()

	t.events.emit(Event{Kind: k, Time: time.Now(), Err: err})
}

func (t *Tunnel) connError(id uint64, err error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return
	}
	t.events.emit(Event{Kind: EventConnError, Time: time.Now(), Conn: id, Err: err})
}

// probe dials the remote address once in the background, retrying
// transient failures, to find out whether it can be reached. At most one
// probe runs at a time. The caller must be Open or one of the tunnel's
// goroutines, so that the WaitGroup is not at zero.
func (t *Tunnel) probe(first bool) {
	if !t.probing.CompareAndSwap(false, true) {
		if first {
			close(t.probeDone)
		}
		return
	}

	t.wg.Go(func() {
		defer t.probing.Store(false)

		c, err := t.dial(t.ctx)
		if c != nil {
			_ = c.Close()
		}
		if first {
			t.mu.Lock()
			t.probeErr = err
			t.mu.Unlock()
			close(t.probeDone)
		}
	})
}
