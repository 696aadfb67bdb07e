package sshx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Client is an Executor over one long-lived SSH connection to a login node.
// Commands are multiplexed as sessions on it, at most Config.MaxSessions at
// a time; a broken connection is redialed by the next call. A Client is
// safe for concurrent use. Close releases it.
type Client struct {
	cfg  Config // defaulted copy
	plan *hopPlan
	log  *slog.Logger
	sem  chan struct{}

	// life ends at Close; it aborts dials and waits.
	life context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	cur     *conn      // the current connection, possibly dead
	dialing *dialState // non-nil while a redial is in progress
	closed  bool

	wg        sync.WaitGroup
	closeOnce sync.Once

	warmUps atomic.Int64 // connections whose warm-up command started
}

var _ Executor = (*Client)(nil)

// hopPlan is one hop of the route to the server, prepared at Dial.
type hopPlan struct {
	cfg   *Config
	creds *credentials
	jump  *hopPlan
}

// conn is one SSH connection and the jump connections under it.
type conn struct {
	client *ssh.Client
	hops   []*ssh.Client

	dead  chan struct{} // closed once the connection is unusable
	once  sync.Once
	cause error // why it died; read only after dead is closed
}

// kill closes the connection, recording the first cause.
func (cn *conn) kill(cause error) {
	cn.once.Do(func() {
		cn.cause = cause
		close(cn.dead)
		cn.client.Close()
		for i := len(cn.hops) - 1; i >= 0; i-- {
			cn.hops[i].Close()
		}
	})
}

func (cn *conn) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// dialState lets concurrent callers wait for one redial.
type dialState struct {
	done chan struct{}
	err  error
}

// Dial connects and logs in to the server cfg describes, checking its host
// key, and returns a Client holding the connection. Keys are loaded (and
// passphrases asked for) before any network traffic. ctx bounds the
// connection attempt only; it is not kept.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	dc, err := cfg.withDefaults(nil, 0)
	if err != nil {
		return nil, err
	}

	life, stop := context.WithCancel(context.Background())
	c := &Client{
		cfg:  dc,
		plan: newPlan(&dc),
		log:  dc.Logger.With(hostAttr(dc.addr())),
		sem:  make(chan struct{}, dc.MaxSessions),
		life: life,
		stop: stop,
	}

	cn, err := c.connect(ctx)
	if err == nil {
		err = c.adopt(cn)
	}
	if err != nil {
		stop()
		return nil, err
	}
	return c, nil
}

func newPlan(cfg *Config) *hopPlan {
	p := &hopPlan{cfg: cfg, creds: loadCredentials(cfg)}
	if cfg.ProxyJump != nil {
		p.jump = newPlan(cfg.ProxyJump)
	}
	return p
}

// Target returns where the Client logs in.
func (c *Client) Target() Target {
	t := Target{
		User:            c.cfg.User,
		Host:            c.cfg.Host,
		Port:            c.cfg.Port,
		KnownHostsFiles: c.cfg.KnownHostsFiles,
		ProxyJump:       jumpSpec(c.cfg.ProxyJump),
	}
	for _, id := range c.plan.creds.ids {
		if !isCert(id.signer) {
			t.IdentityFiles = append(t.IdentityFiles, id.path)
		}
	}
	return t
}

func isCert(s ssh.Signer) bool {
	_, ok := s.PublicKey().(*ssh.Certificate)
	return ok
}

// Close closes the connection, ends every command still running with an
// error and waits for the Client's goroutines. It is idempotent and always
// returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		cn := c.cur
		c.mu.Unlock()

		c.stop()
		if cn != nil {
			cn.kill(ErrClosed)
		}
		c.wg.Wait()
	})
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// spawn runs f in a goroutine that Close waits for, unless the Client is
// closed.
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// connection returns a live connection, redialing if the last one died.
// Concurrent callers share one redial.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if cn := c.cur; cn != nil && !cn.isDead() {
			c.mu.Unlock()
			return cn, nil
		}
		if ds := c.dialing; ds != nil {
			c.mu.Unlock()
			select {
			case <-ds.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("sshx: waiting for reconnect: %w", ctx.Err())
			}
			if ds.err != nil && !isContextError(ds.err) {
				return nil, ds.err
			}
			continue
		}
		ds := &dialState{done: make(chan struct{})}
		c.dialing = ds
		c.mu.Unlock()

		c.log.Info("sshx: reconnecting")
		cn, err := c.connect(ctx)
		if err == nil {
			err = c.adopt(cn)
		}

		c.mu.Lock()
		c.dialing = nil
		c.mu.Unlock()
		ds.err = err
		close(ds.done)
		if err != nil {
			return nil, err
		}
		return cn, nil
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// adopt makes cn the current connection and starts watching it.
func (c *Client) adopt(cn *conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cn.kill(ErrClosed)
		return ErrClosed
	}
	c.cur = cn
	c.wg.Add(2)
	go c.watch(cn)
	go c.keepalive(cn)
	c.log.Info("sshx: connected", "server", string(cn.client.ServerVersion()))
	return nil
}

// watch marks cn dead when the server or the network ends it.
func (c *Client) watch(cn *conn) {
	defer c.wg.Done()
	err := cn.client.Wait()
	if !cn.isDead() {
		c.log.Warn("sshx: connection closed", "err", err)
	}
	cn.kill(fmt.Errorf("connection closed: %w", err))
}

// keepalive sends keepalive@openssh.com every interval with its own timer,
// one request at a time: a request with no reply would block every later
// one behind it inside x/crypto. After CountMax intervals with the request
// unanswered it closes the connection, which unblocks everything on it.
func (c *Client) keepalive(cn *conn) {
	defer c.wg.Done()
	interval, countMax := c.cfg.KeepaliveInterval, c.cfg.KeepaliveCountMax
	if interval < 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()

	var reply chan error // non-nil while a request is outstanding
	misses := 0
	for {
		select {
		case <-cn.dead:
			return
		case err := <-reply:
			reply, misses = nil, 0
			if err != nil {
				cn.kill(fmt.Errorf("keepalive: %w", err))
				return
			}
		case <-tick.C:
			if reply != nil {
				misses++
				if misses >= countMax {
					waited := interval * time.Duration(countMax)
					c.log.Warn("sshx: no keepalive reply, closing connection", "waited", waited)
					cn.kill(fmt.Errorf("no reply to keepalive within %s", waited))
					return
				}
				continue
			}
			ch := make(chan error, 1)
			reply = ch
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
				ch <- err
			}()
		}
	}
}

// lost reports whether cn is broken, asking the server if it is not known
// yet: a request on a dead connection fails at once.
func (c *Client) lost(cn *conn) bool {
	if cn.isDead() {
		return true
	}
	if _, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		cn.kill(fmt.Errorf("probe: %w", err))
		return true
	}
	return false
}

// lostError is the error for an operation cut by the connection's end.
func (c *Client) lostError(op string, cn *conn) error {
	if c.isClosed() {
		return fmt.Errorf("sshx: %s: %w", op, ErrClosed)
	}
	<-cn.dead
	return fmt.Errorf("%w while %s: %w", ErrConnectionLost, op, cn.cause)
}

// connect dials and logs in through every hop.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()

	var hops []*ssh.Client
	client, err := dialHop(ctx, c.plan, &hops)
	if err != nil {
		for i := len(hops) - 1; i >= 0; i-- {
			hops[i].Close()
		}
		if c.life.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	c.warmUp(ctx, client)
	return &conn{client: client, hops: hops, dead: make(chan struct{})}, nil
}

// warmUp starts the command `true` on a new connection and waits until the
// server has accepted it, or ctx ends.
//
// OpenSSH's sshd turns on TCP_NODELAY for a connection only when it starts
// a session's command or shell. Until then, on a connection used only to
// forward (DialContext, a tunnel), answers written in small pieces wait for
// Nagle's algorithm and the client's delayed ACK: about 40 ms each, every
// time (see bench/NOTES.md). One trivial command costs about two round
// trips at connect and makes every later forwarded answer prompt. A server
// that refuses sessions, or a forced command that hangs, only costs that
// wait: a warm-up failure is logged at debug and never fails the dial.
func (c *Client) warmUp(ctx context.Context, client *ssh.Client) {
	started := make(chan error, 1)
	ok := c.spawn(func() {
		s, err := client.NewSession()
		if err != nil {
			started <- err
			return
		}
		defer s.Close()
		err = s.Start("true")
		started <- err
		if err == nil {
			_ = s.Wait() // ends with the command, or with the connection
		}
	})
	if !ok {
		return
	}

	select {
	case err := <-started:
		if err != nil {
			c.log.Debug("sshx: warm-up command failed", "err", err)
			return
		}
		c.warmUps.Add(1)
	case <-ctx.Done():
		c.log.Debug("sshx: warm-up command unanswered", "err", ctx.Err())
	}
}

// dialHop connects to p's server, through its jump hops if any, appending
// the jump clients to hops.
func dialHop(ctx context.Context, p *hopPlan, hops *[]*ssh.Client) (*ssh.Client, error) {
	addr := p.cfg.addr()
	var raw net.Conn
	var err error
	if p.jump != nil {
		jc, jerr := dialHop(ctx, p.jump, hops)
		if jerr != nil {
			return nil, jerr
		}
		*hops = append(*hops, jc)
		raw, err = jc.DialContext(ctx, "tcp", addr)
		if mapped, ok := dialOpenError(addr, err); ok {
			err = mapped
		}
		if err != nil {
			return nil, fmt.Errorf("sshx: connect %s via %s: %w", addr, p.jump.cfg.addr(), err)
		}
	} else {
		d := net.Dialer{KeepAlive: DefaultKeepaliveInterval}
		raw, err = d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("sshx: connect %s: %w", addr, err)
		}
	}
	return handshake(ctx, p, raw, addr)
}

// handshake runs the SSH handshake and login on raw, closing raw when ctx
// ends first.
func handshake(ctx context.Context, p *hopPlan, raw net.Conn, addr string) (*ssh.Client, error) {
	hk, err := newHostKeyCheck(p.cfg, addr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	at := &authAttempt{}
	defer at.close()
	cc := &ssh.ClientConfig{
		User:              p.cfg.User,
		Auth:              p.creds.methods(p.cfg, at),
		AuthCallback:      at.record,
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: hk.algorithms,
	}
	if len(cc.Auth) == 0 {
		raw.Close()
		return nil, &AuthError{User: p.cfg.User, Host: addr, Skipped: p.creds.skipped}
	}

	stop := context.AfterFunc(ctx, func() { raw.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(raw, addr, cc)
	if !stop() {
		if sc != nil {
			sc.Close()
		}
		return nil, fmt.Errorf("sshx: connect %s: handshake: %w", addr, ctx.Err())
	}
	if err != nil {
		raw.Close()
		return nil, handshakeError(p, at, addr, err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// handshakeError returns the typed error inside a failed handshake.
func handshakeError(p *hopPlan, at *authAttempt, addr string, err error) error {
	var hkErr *HostKeyError
	if errors.As(err, &hkErr) {
		return hkErr
	}
	if errors.Is(err, ErrHostKeyRevoked) {
		if inner := errors.Unwrap(err); inner != nil {
			return inner // drop x/crypto's "handshake failed" prefix
		}
		return err
	}
	if ae := authError(p.cfg, p.creds, at, err); ae != nil {
		return ae
	}
	return fmt.Errorf("sshx: connect %s: %w", addr, err)
}
