package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestOpenBytesBothWays(t *testing.T) {
	d := &countingDialer{}
	tn, rec := open(t, d, echoServer(t), Options{})
	waitReady(t, tn)
	require.Equal(t, EventUp, rec.waitFor(t, EventUp).Kind)

	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)

	c := dialLocal(t, tn)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))

	// The probe and this connection.
	require.Equal(t, 2, d.count())
	require.True(t, strings.HasPrefix(tn.URL(), "http://127.0.0.1:"), tn.URL())
	require.Equal(t, strconv.Itoa(tn.Port()), tn.URL()[len("http://127.0.0.1:"):])
}

func TestOpenHalfClose(t *testing.T) {
	t.Run("client closes first", func(t *testing.T) {
		// The server answers only after it has read EOF.
		remote := server(t, func(c *net.TCPConn) {
			n, err := io.Copy(io.Discard, c)
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "got %d bytes", n)
		})
		tn, _ := open(t, &net.Dialer{}, remote, Options{SkipProbe: true})

		c := dialLocal(t, tn)
		_, err := c.Write(make([]byte, 100000))
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())

		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, "got 100000 bytes", string(got))
	})

	t.Run("server closes first", func(t *testing.T) {
		// The server says hello, half-closes, then still reads.
		remote := server(t, func(c *net.TCPConn) {
			_, _ = io.WriteString(c, "hello")
			_ = c.CloseWrite()
			n, err := io.Copy(io.Discard, c)
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "late %d", n) // fails: already half-closed
		})
		tn, _ := open(t, &net.Dialer{}, remote, Options{SkipProbe: true})

		c := dialLocal(t, tn)
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, "hello", string(got))

		// Our direction still flows after the server's EOF.
		_, err = c.Write([]byte("still here"))
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
	})
}

func TestOpenConcurrentStreams(t *testing.T) {
	const streams = 50
	const size = 256 << 10
	d := &countingDialer{}
	tn, rec := open(t, d, echoServer(t), Options{SkipProbe: true})

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			errs <- echoOnce(tn.Addr().String(), size, byte(i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, streams, d.count())
	require.NotContains(t, rec.kinds(), EventConnError)
}

// echoOnce sends size bytes through an echo server and checks them.
func echoOnce(addr string, size int, seed byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()

	data := bytes.Repeat([]byte{seed, seed + 1, seed + 2}, size/3)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(data, got) {
		return fmt.Errorf("stream %d: sent %d bytes, got %d different", seed, len(data), len(got))
	}
	return nil
}

func TestOpenHTTPKeepAlive(t *testing.T) {
	var newConns atomic.Int32
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	tn, _ := open(t, &net.Dialer{}, srv.Listener.Addr().String(), Options{SkipProbe: true})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	for range 100 {
		resp, err := client.Get(tn.URL() + "/x")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, "ok", string(body))
	}
	// 100 requests on one kept-alive connection through the tunnel.
	require.Equal(t, int32(1), newConns.Load())
}

func TestOpenPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	port := taken.Addr().(*net.TCPAddr).Port

	_, err = Open(context.Background(), &net.Dialer{}, "node2:9090",
		Options{LocalAddr: taken.Addr().String()})

	var pe *PortInUseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, port, pe.Port)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.Contains(t, err.Error(), "local port "+strconv.Itoa(port)+" is already in use")
	require.Contains(t, err.Error(), "pick another local port, or 0")
}

func TestOpenBadArguments(t *testing.T) {
	_, err := Open(context.Background(), nil, "node2:9090", Options{})
	require.ErrorContains(t, err, "tunnel: nil Dialer")

	_, err = Open(context.Background(), &net.Dialer{}, "node2", Options{})
	require.ErrorContains(t, err, `tunnel: remote address "node2"`)

	_, err = Open(context.Background(), &net.Dialer{}, "node2:1", Options{LocalAddr: "nohost"})
	require.ErrorContains(t, err, "tunnel: listen on nohost")
}

func TestCloseIdempotentEndsLiveConnections(t *testing.T) {
	tn, err := Open(context.Background(), &net.Dialer{}, echoServer(t), Options{SkipProbe: true})
	require.NoError(t, err)
	c := dialLocal(t, tn)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)

	require.NoError(t, tn.Close())
	require.NoError(t, tn.Close())

	// The live connection ended, and nothing listens any more.
	_, err = c.Read(buf)
	require.Error(t, err)
	_, err = net.Dial("tcp", tn.Addr().String())
	require.Error(t, err)

	// Close sends a last EventDown, once.
	rec := newRecorder()
	tn2, err := Open(context.Background(), &net.Dialer{}, echoServer(t),
		Options{Events: rec.record})
	require.NoError(t, err)
	waitReady(t, tn2)
	require.NoError(t, tn2.Close())
	require.NoError(t, tn2.Close())
	evs := rec.events()
	require.Equal(t, []EventKind{EventUp, EventDown}, rec.kinds())
	require.ErrorIs(t, evs[1].Err, ErrClosed)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	verifyNoLeaks(t)

	remote := echoServer(t)
	tn, err := Open(context.Background(), &net.Dialer{}, remote, Options{Events: func(Event) {}})
	require.NoError(t, err)
	waitReady(t, tn)

	// Live connections of every kind: streaming, idle, and one still dialing.
	c1 := dialLocal(t, tn)
	_, err = c1.Write([]byte("abc"))
	require.NoError(t, err)
	_ = dialLocal(t, tn)

	require.NoError(t, tn.Close())
	_ = c1.Close()
}

func TestCloseWhileDialing(t *testing.T) {
	verifyNoLeaks(t)

	dialing := make(chan struct{}, 1)
	d := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialing <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	tn, err := Open(context.Background(), d, "node2:9090", Options{SkipProbe: true})
	require.NoError(t, err)

	c := dialLocal(t, tn)
	<-dialing
	require.NoError(t, tn.Close())
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	require.ErrorIs(t, tn.WaitReady(context.Background()), ErrClosed)
}

func TestRedialAfterTransientFailures(t *testing.T) {
	remote := echoServer(t)
	var calls atomic.Int32
	var nd net.Dialer
	d := dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		// Calls 1-3 fail as a lost SSH connection does; then it is back.
		if calls.Add(1) <= 3 {
			return nil, fmt.Errorf("sshx: connection lost: %w", io.EOF)
		}
		return nd.DialContext(ctx, network, addr)
	})
	tn, rec := open(t, d, remote, Options{SkipProbe: true, RedialBackoff: 1})

	require.NoError(t, echoOnce(tn.Addr().String(), 3000, 7))
	require.Equal(t, int32(4), calls.Load())

	ev := rec.waitFor(t, EventReconnecting)
	var de *DialError
	require.ErrorAs(t, ev.Err, &de)
	require.ErrorIs(t, ev.Err, io.EOF)
	rec.waitFor(t, EventUp)
	require.Equal(t, []EventKind{EventReconnecting, EventUp}, rec.kinds())
	waitReady(t, tn)
}

func TestRedialGivesUp(t *testing.T) {
	var calls atomic.Int32
	d := dialFunc(func(context.Context, string, string) (net.Conn, error) {
		calls.Add(1)
		return nil, &ssh.OpenChannelError{Reason: ssh.ConnectionFailed,
			Message: "Connection refused"}
	})
	tn, rec := open(t, d, "node2:9090", Options{
		RedialBackoff: 1, RedialTimeout: 50 * time.Millisecond,
	})

	err := tn.WaitReady(context.Background())
	var de *DialError
	require.ErrorAs(t, err, &de)
	require.ErrorIs(t, err, ErrRemoteNotListening)
	require.NotErrorIs(t, err, ErrForwardingDisabled)
	require.Greater(t, de.Attempts, 1)
	require.Equal(t, int(calls.Load()), de.Attempts)
	require.Contains(t, err.Error(), "nothing listens at node2:9090")

	down := rec.waitFor(t, EventDown)
	require.ErrorIs(t, down.Err, ErrRemoteNotListening)
	require.Equal(t, []EventKind{EventReconnecting, EventDown}, rec.kinds())
}

func TestRemoteRefusal(t *testing.T) {
	var calls atomic.Int32
	refusal := &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "open failed"}
	d := dialFunc(func(context.Context, string, string) (net.Conn, error) {
		calls.Add(1)
		return nil, refusal
	})
	tn, rec := open(t, d, "node2:9090", Options{SkipProbe: true})

	// The local client sees a reset, not a clean end: at once, or on read.
	c, err := net.Dial("tcp", tn.Addr().String())
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Read(make([]byte, 1))
	}
	require.True(t, isReset(err), "read: %v", err)

	ev := rec.waitFor(t, EventConnError)
	require.Equal(t, uint64(1), ev.Conn)
	require.ErrorIs(t, ev.Err, ErrForwardingDisabled)
	var oce *ssh.OpenChannelError
	require.ErrorAs(t, ev.Err, &oce)
	require.Equal(t, ssh.Prohibited, oce.Reason)
	require.Contains(t, ev.Err.Error(), "TCP forwarding is disabled on the login node")
	require.Contains(t, ev.Err.Error(), "administratively prohibited")

	require.Equal(t, []EventKind{EventDown, EventConnError}, rec.kinds())
	require.ErrorIs(t, rec.events()[0].Err, ErrForwardingDisabled)

	// Close still says so, though the tunnel was down already.
	require.NoError(t, tn.Close())
	evs := rec.events()
	require.Equal(t, []EventKind{EventDown, EventConnError, EventDown}, rec.kinds())
	require.ErrorIs(t, evs[2].Err, ErrClosed)
	// Permanent: one attempt, no retries.
	require.Equal(t, int32(1), calls.Load())
}

func TestStreamBreakThenNewConnection(t *testing.T) {
	var n atomic.Int32
	remote := server(t, func(c *net.TCPConn) {
		if n.Add(1) == 1 {
			// The first connection dies mid-stream, as over a lost SSH link.
			_, _ = c.Write([]byte("partial"))
			_, _ = c.Read(make([]byte, 1))
			_ = c.SetLinger(0)
			return
		}
		_, _ = io.Copy(c, c)
		_ = c.CloseWrite()
	})
	tn, rec := open(t, &net.Dialer{}, remote, Options{SkipProbe: true})

	c := dialLocal(t, tn)
	buf := make([]byte, 7)
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadAll(c)
	require.True(t, isReset(err), "read after the break: %v", err)

	ev := rec.waitFor(t, EventConnError)
	var se *StreamError
	require.ErrorAs(t, ev.Err, &se)
	require.Equal(t, uint64(1), se.Conn)
	require.ErrorIs(t, ev.Err, syscall.ECONNRESET)
	require.Contains(t, ev.Err.Error(), "tunnel: connection 1 to "+remote+" broke")

	// The listener stays, and the next connection works.
	require.NoError(t, echoOnce(tn.Addr().String(), 1000, 1))
}

func TestLocalClientResetIsNotAnEvent(t *testing.T) {
	got := make(chan struct{})
	remote := server(t, func(c *net.TCPConn) {
		_, _ = c.Read(make([]byte, 1))
		close(got)
		_, _ = io.Copy(io.Discard, c)
	})
	logs := newLogCapture()
	tn, rec := open(t, &net.Dialer{}, remote, Options{SkipProbe: true, Logger: logs.logger()})

	c := dialLocal(t, tn)
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	<-got
	require.NoError(t, c.SetLinger(0))
	require.NoError(t, c.Close())

	// Once the tunnel has handled the reset, no event reports it.
	logs.waitFor(t, "tunnel: local connection failed", "tunnel: connection done")
	require.NoError(t, tn.Close())
	require.NotContains(t, rec.kinds(), EventConnError)
}

func TestWaitReadyContext(t *testing.T) {
	block := make(chan struct{})
	d := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	})
	tn, _ := open(t, d, "node2:9090", Options{})
	defer close(block)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tn.WaitReady(ctx), context.Canceled)
	select {
	case <-tn.Ready():
		t.Fatal("ready without a dial")
	default:
	}
}

func TestSkipProbeReadyOnFirstConnection(t *testing.T) {
	d := &countingDialer{}
	tn, rec := open(t, d, echoServer(t), Options{SkipProbe: true})
	require.Zero(t, d.count())
	select {
	case <-tn.Ready():
		t.Fatal("ready before any dial")
	default:
	}

	require.NoError(t, echoOnce(tn.Addr().String(), 10, 1))
	<-tn.Ready()
	waitReady(t, tn)
	require.Equal(t, EventUp, rec.waitFor(t, EventUp).Kind)
}

func TestEventsAreOrderedAndCloseWaits(t *testing.T) {
	var mu sync.Mutex
	var seen []EventKind
	release := make(chan struct{})
	first := true
	fn := func(ev Event) {
		if first {
			first = false
			<-release // a slow callback must not stall the tunnel
		}
		mu.Lock()
		seen = append(seen, ev.Kind)
		mu.Unlock()
	}
	tn, err := Open(context.Background(), &net.Dialer{}, echoServer(t), Options{Events: fn})
	require.NoError(t, err)
	waitReady(t, tn)
	require.NoError(t, echoOnce(tn.Addr().String(), 100, 1))

	close(release)
	require.NoError(t, tn.Close())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []EventKind{EventUp, EventDown}, seen)
}

func TestEventString(t *testing.T) {
	require.Equal(t, "up", Event{Kind: EventUp}.String())
	require.Equal(t, "conn-error conn 3: boom",
		Event{Kind: EventConnError, Conn: 3, Err: errors.New("boom")}.String())
	require.Equal(t, "EventKind(42)", EventKind(42).String())
}
