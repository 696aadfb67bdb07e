package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCtx returns a context that ends when the test does, with a generous
// deadline so that a hang fails instead of blocking the suite.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// isolateHome points HOME at an empty folder and hides any ssh-agent, so
// that defaults (~/.ssh/...) never read the real user's files.
func isolateHome(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return home
}

// newFixture starts a server that accepts a fresh key and returns it with
// a Config that logs in with that key and trusts the server's host keys.
func newFixture(t testing.TB, opts serverOptions) (*testServer, Config) {
	t.Helper()
	isolateHome(t)
	dir := t.TempDir()
	keyPath, pub := writeKey(t, dir, "id_test", "")
	opts.authorized = append(opts.authorized, pub)
	srv := newTestServer(t, opts)

	kh := filepath.Join(dir, "known_hosts")
	writeKnownHosts(t, kh, srv.addr, publicKeys(srv.hostKeys...))
	return srv, Config{
		Host:            srv.host(),
		Port:            srv.port(),
		User:            "tester",
		IdentityFiles:   []string{keyPath},
		KnownHostsFiles: []string{kh},
	}
}

func dialTest(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientRun(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	tests := []struct {
		name       string
		cmd        string
		stdin      io.Reader
		wantOut    string
		wantErr    string
		wantCode   int
		wantSignal string
	}{
		{name: "stdout", cmd: "echo hello", wantOut: "hello\n"},
		{name: "stderr separate", cmd: "echo out; echo err >&2", wantOut: "out\n", wantErr: "err\n"},
		{name: "stdin", cmd: "tr a-z A-Z", stdin: strings.NewReader("abc"), wantOut: "ABC"},
		{name: "no stdin is empty", cmd: "cat; echo done", wantOut: "done\n"},
		{name: "exit code", cmd: "echo oops >&2; exit 3", wantErr: "oops\n", wantCode: 3},
		{name: "signal", cmd: "kill -TERM $$", wantCode: -1, wantSignal: "TERM"},
		{name: "quoted arg", cmd: "printf %s " + Quote("a b'c $HOME"), wantOut: "a b'c $HOME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := c.Run(ctx, tt.cmd, tt.stdin)
			require.Equal(t, tt.wantOut, string(out))
			require.Equal(t, tt.wantErr, string(errOut))
			if tt.wantCode == 0 {
				require.NoError(t, err)
				return
			}
			var xe *ExitError
			require.ErrorAs(t, err, &xe)
			require.Equal(t, tt.wantCode, xe.Code)
			require.Equal(t, tt.wantSignal, xe.Signal)
			require.Equal(t, tt.wantErr, string(xe.Stderr))
			require.True(t, strings.HasPrefix(err.Error(), "sshx: "), err.Error())
		})
	}
}

func TestClientRunLargeStdin(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)

	data := make([]byte, 4<<20)
	_, err := rand.Read(data)
	require.NoError(t, err)
	out, _, err := c.Run(testCtx(t), "cat", bytes.NewReader(data))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, out), "stdin did not round-trip")
}

// TestClientManySessions runs 100 commands at once against a server that
// allows only 3 sessions per connection (BC-29): the semaphore queues them,
// refusals are retried, and every command succeeds with its own output.
func TestClientManySessions(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{maxSessions: 3})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := c.Run(ctx, fmt.Sprintf("echo %d", i), nil)
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()

	for i := range n {
		require.NoError(t, errs[i], "command %d", i)
		require.Equal(t, fmt.Sprintf("%d\n", i), outs[i])
	}
	require.Positive(t, srv.refusals.Load(), "the server never refused a session: "+
		"the retry path was not exercised")
	require.Equal(t, 1, srv.connCount(), "refusals must not cost the connection")
}

// TestClientKeepalive: a peer that stops answering after login (BC-30) is
// noticed by the keepalive, the running command fails with
// ErrConnectionLost, and the next command redials.
func TestClientKeepalive(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	cfg.KeepaliveInterval = 50 * time.Millisecond
	cfg.KeepaliveCountMax = 3
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, "sleep 30", nil)
		errc <- err
	}()
	srv.waitEvent(t, "exec sleep 30")
	srv.stallAll()

	err := <-errc
	require.ErrorIs(t, err, ErrConnectionLost)
	require.NoError(t, ctx.Err(), "Run must end by keepalive, not by the test deadline")
	require.Contains(t, err.Error(), "keepalive")

	out, _, err := c.Run(ctx, "echo back", nil)
	require.NoError(t, err)
	require.Equal(t, "back\n", string(out))
}

// TestClientCancel: ending ctx mid-command returns ctx's error, signals the
// remote command and closes its session, which ends it.
func TestClientCancel(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, "sleep 30", nil)
		errc <- err
	}()
	srv.waitEvent(t, "exec sleep 30")
	cancel()

	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "signal HUP", srv.waitEvent(t, "signal"))
	require.Equal(t, "exit sleep 30 signal HUP", srv.waitEvent(t, "exit sleep 30"))

	// The connection is still good.
	out, _, err := c.Run(testCtx(t), "echo ok", nil)
	require.NoError(t, err)
	require.Equal(t, "ok\n", string(out))
}

// TestDialCancelHandshake: a server that accepts TCP but never speaks SSH
// does not hang Dial past ctx.
func TestDialCancelHandshake(t *testing.T) {
	isolateHome(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := ln.Accept(); err == nil {
			accepted <- nc
		}
	}()

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
			User: "tester", Password: "x"})
		errc <- err
	}()
	nc := <-accepted
	t.Cleanup(func() { nc.Close() })
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
}

func TestClientRedial(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, "sleep 30", nil)
		errc <- err
	}()
	srv.waitEvent(t, "exec sleep 30")
	srv.dropAll()
	err := <-errc
	require.ErrorIs(t, err, ErrConnectionLost)
	require.Contains(t, err.Error(), "while the command was running")

	// The next commands redial transparently, sharing one new connection.
	var wg sync.WaitGroup
	outs := make([]string, 5)
	errs := make([]error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := c.Run(ctx, "echo again", nil)
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 5 {
		require.NoError(t, errs[i])
		require.Equal(t, "again\n", outs[i])
	}
	require.Eventually(t, func() bool { return srv.connCount() == 1 }, 10*time.Second,
		10*time.Millisecond, "the redials must share one connection")
}

// TestClientServerRestart: while the server is down calls fail fast with a
// connect error; once it is back (same address and host keys, as after an
// sshd restart) the next call redials.
func TestClientServerRestart(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)
	_, _, err := c.Run(ctx, "true", nil)
	require.NoError(t, err)

	srv.Close()
	_, _, err = c.Run(ctx, "true", nil)
	require.Error(t, err)
	require.NoError(t, ctx.Err())
	require.Contains(t, err.Error(), "sshx: connect "+srv.addr)

	opts := srv.opts
	opts.addr = srv.addr
	newTestServer(t, opts)
	out, _, err := c.Run(ctx, "echo restarted", nil)
	require.NoError(t, err)
	require.Equal(t, "restarted\n", string(out))
}

func TestClientClose(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c, err := Dial(testCtx(t), cfg)
	require.NoError(t, err)

	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(testCtx(t), "sleep 30", nil)
		errc <- err
	}()
	srv.waitEvent(t, "exec sleep 30")
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	require.ErrorIs(t, <-errc, ErrClosed)

	_, _, err = c.Run(testCtx(t), "true", nil)
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.DialContext(testCtx(t), "tcp", srv.addr)
	require.ErrorIs(t, err, ErrClosed)
}

func TestClientPut(t *testing.T) {
	srv, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)
	require.NoError(t, os.Mkdir(filepath.Join(srv.home, "dir with space"), 0o755))

	tests := []struct {
		name, path, local string
		mode              os.FileMode
	}{
		{"tilde", "~/dir with space/a'b.txt", "dir with space/a'b.txt", 0o640},
		{"home var", "$HOME/run.sh", "run.sh", 0o755},
		{"absolute", filepath.Join(srv.home, "abs;rm -rf x"), "abs;rm -rf x", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Put(ctx, tt.path, strings.NewReader("content of "+tt.name), tt.mode)
			require.NoError(t, err)
			full := filepath.Join(srv.home, tt.local)
			b, err := os.ReadFile(full)
			require.NoError(t, err)
			require.Equal(t, "content of "+tt.name, string(b))
			fi, err := os.Stat(full)
			require.NoError(t, err)
			require.Equal(t, tt.mode, fi.Mode().Perm())
		})
	}

	err := c.Put(ctx, "~/missing/dir/x", strings.NewReader("x"), 0o600)
	var xe *ExitError
	require.ErrorAs(t, err, &xe)
	require.Contains(t, err.Error(), "sshx: put ~/missing/dir/x")

	for _, bad := range []string{"", "~/", "a\x00b"} {
		require.Error(t, c.Put(ctx, bad, strings.NewReader("x"), 0o600), "%q", bad)
	}
}

func TestClientDialContext(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	ctx := testCtx(t)

	echo := startEcho(t)
	nc, err := c.DialContext(ctx, "tcp", echo)
	require.NoError(t, err)
	_, err = nc.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(nc, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	require.NoError(t, nc.Close())

	_, err = c.DialContext(ctx, "tcp", closedPort(t))
	require.ErrorIs(t, err, ErrRemoteNotListening)
	_, err = c.DialContext(ctx, "udp", echo)
	require.Error(t, err)

	out, _, err := c.Run(ctx, "echo still", nil)
	require.NoError(t, err, "a refused dial must not close the connection")
	require.Equal(t, "still\n", string(out))
}

func TestClientDialForwardingDisabled(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{noForwarding: true})
	c := dialTest(t, cfg)
	_, err := c.DialContext(testCtx(t), "tcp", startEcho(t))
	require.ErrorIs(t, err, ErrForwardingDisabled)
}

func TestClientProxyJump(t *testing.T) {
	target, cfg := newFixture(t, serverOptions{})
	bastion := newTestServer(t, serverOptions{authorized: target.opts.authorized})
	kh := cfg.KnownHostsFiles[0]
	writeKnownHosts(t, kh, target.addr, publicKeys(target.hostKeys...),
		knownHostsLine(bastion.addr, bastion.hostKeys[0]))

	cfg.ProxyJump = &Config{Host: bastion.host(), Port: bastion.port(), User: "jumper",
		IdentityFiles: cfg.IdentityFiles, KnownHostsFiles: cfg.KnownHostsFiles}
	c := dialTest(t, cfg)
	out, _, err := c.Run(testCtx(t), "echo through", nil)
	require.NoError(t, err)
	require.Equal(t, "through\n", string(out))
	require.Equal(t, fmt.Sprintf("jumper@%s:%d", bastion.host(), bastion.port()),
		c.Target().ProxyJump)
	require.Equal(t, 1, bastion.connCount())

	// The bastion's host key is checked too.
	writeKnownHosts(t, kh, target.addr, publicKeys(target.hostKeys...))
	_, err = Dial(testCtx(t), cfg)
	var hk *HostKeyError
	require.ErrorAs(t, err, &hk)
	require.ErrorIs(t, err, ErrHostUnknown)
	require.Equal(t, bastion.addr, hk.Host)
}

func TestClientTarget(t *testing.T) {
	_, cfg := newFixture(t, serverOptions{})
	c := dialTest(t, cfg)
	tg := c.Target()
	require.Equal(t, Target{User: "tester", Host: "127.0.0.1", Port: cfg.Port,
		IdentityFiles: cfg.IdentityFiles, KnownHostsFiles: cfg.KnownHostsFiles}, tg)
	require.Equal(t, []string{"-p", fmt.Sprint(cfg.Port), "-i", cfg.IdentityFiles[0],
		"-o", "UserKnownHostsFile=" + cfg.KnownHostsFiles[0], "tester@127.0.0.1"}, tg.SSHArgs())
}

func TestConfigValidation(t *testing.T) {
	isolateHome(t)
	for name, cfg := range map[string]Config{
		"no host":     {},
		"bad port":    {Host: "h", Port: 70000},
		"bad policy":  {Host: "h", HostKeyPolicy: 7},
		"neg session": {Host: "h", MaxSessions: -1},
		"jump loop":   deepJump(12),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Dial(testCtx(t), cfg)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "sshx: "), err.Error())
		})
	}
}

func deepJump(n int) Config {
	c := Config{Host: "h0"}
	for i := 1; i < n; i++ {
		c = Config{Host: fmt.Sprintf("h%d", i), ProxyJump: &c}
	}
	return c
}

// startEcho starts a TCP echo server on loopback and returns its address.
func startEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(nc, nc)
				nc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrClosed, ErrConnectionLost, ErrTooManySessions,
		ErrForwardingDisabled, ErrRemoteNotListening, ErrHostUnknown, ErrHostKeyChanged,
		ErrHostKeyRevoked, ErrPassphraseRequired, ErrBadPassphrase, ErrAuthFailed,
		ErrUnsupportedDirective} {
		require.True(t, strings.HasPrefix(err.Error(), "sshx: "), err.Error())
	}
	require.False(t, errors.Is(ErrHostUnknown, ErrHostKeyChanged))
}
