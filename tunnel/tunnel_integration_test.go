//go:build integration

package tunnel_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// serverScript runs in a job on a compute node: an echo server on the port
// given as argument (echoing until EOF, then half-closing) and an HTTP file
// server on the next port, serving the current folder.
const serverScript = `
import functools, http.server, socket, sys, threading

port = int(sys.argv[1])

def echo(c):
    with c:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)

def serve_echo():
    s = socket.create_server(("0.0.0.0", port), backlog=128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

threading.Thread(target=serve_echo, daemon=True).start()
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=".")
http.server.ThreadingHTTPServer(("0.0.0.0", port + 1), h).serve_forever()
`

// blobSize is the size of the file the HTTP server serves.
const blobSize = 64 << 20

// waitLimit bounds every wait of these tests.
const waitLimit = 90 * time.Second

type fixture struct {
	c        *clustertest.Cluster
	client   *sshx.Client
	node     string
	echoAddr string // node:port, as the login node resolves it
	httpAddr string
	blobSum  string // sha256sum of blob, hex
}

func TestIntegration(t *testing.T) {
	f := setup(t)

	t.Run("bytes both ways", f.testBytesBothWays)
	t.Run("50 concurrent streams", f.testConcurrentStreams)
	t.Run("http client without listener", f.testHTTPClient)
	t.Run("connection cut mid-stream", f.testCutMidStream)
	t.Run("forwarding refused", f.testForwardingRefused)
}

// setup logs in and starts the servers in a job on node2.
func setup(t *testing.T) *fixture {
	c := clustertest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	f := &fixture{c: c, node: "node2", client: dial(t, c.SSHPort)}

	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	require.NoError(t, err)
	port := 20000 + 2*int(n.Int64())
	f.echoAddr = net.JoinHostPort(f.node, strconv.Itoa(port))
	f.httpAddr = net.JoinHostPort(f.node, strconv.Itoa(port+1))

	// A folder in the shared home with the script and a blob to serve.
	dir := fmt.Sprintf("hpcorch-tunnel-test-%d", port)
	script := dir + "/server.py"
	run(t, f.client, "mkdir -p "+sshx.Quote(dir))
	t.Cleanup(func() { run(t, f.client, "rm -rf "+sshx.Quote(dir)) })
	require.NoError(t, f.client.Put(ctx, script, strings.NewReader(serverScript), 0o644))
	run(t, f.client, fmt.Sprintf("cd %s && head -c %d /dev/urandom > blob",
		sshx.Quote(dir), blobSize))
	sum := run(t, f.client, "cd "+sshx.Quote(dir)+" && sha256sum blob")
	f.blobSum = strings.Fields(sum)[0]

	wrap := fmt.Sprintf("cd %s && exec python3 server.py %d", sshx.Quote(dir), port)
	jobID := strings.TrimSpace(run(t, f.client, sshx.QuoteAll("sbatch", "--parsable",
		"-w", f.node, "-J", "hpcorch-tunnel-test", "-o", "/dev/null", "--wrap", wrap)))
	t.Cleanup(func() { run(t, f.client, sshx.QuoteAll("scancel", jobID)) })
	t.Logf("job %s on %s, echo at %s, http at %s", jobID, f.node, f.echoAddr, f.httpAddr)

	// Wait until both servers answer, through the login node.
	for _, addr := range []string{f.echoAddr, f.httpAddr} {
		tn, err := tunnel.Open(ctx, f.client, addr, tunnel.Options{RedialTimeout: waitLimit})
		require.NoError(t, err)
		require.NoError(t, tn.WaitReady(ctx), "server in job %s at %s", jobID, addr)
		require.NoError(t, tn.Close())
	}
	return f
}

func dial(t *testing.T, port int) *sshx.Client {
	t.Helper()
	c := clustertest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            c.SSHHost,
		Port:            port,
		User:            c.User,
		IdentityFiles:   []string{c.KeyFile},
		KnownHostsFiles: []string{c.KnownHosts},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func run(t *testing.T, client *sshx.Client, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	out, stderr, err := client.Run(ctx, cmd, nil)
	require.NoError(t, err, "%s: %s", cmd, stderr)
	return string(out)
}

// open opens a tunnel that is closed at the end of the test, and collects
// its events.
func (f *fixture) open(t *testing.T, addr string) (*tunnel.Tunnel, *events) {
	t.Helper()
	ev := &events{}
	tn, err := tunnel.Open(context.Background(), f.client, addr,
		tunnel.Options{Events: ev.add, RedialTimeout: waitLimit})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tn.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, tn.WaitReady(ctx))
	return tn, ev
}

type events struct {
	mu  sync.Mutex
	all []tunnel.Event
}

func (e *events) add(ev tunnel.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []tunnel.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]tunnel.Event(nil), e.all...)
}

// echo sends data through addr and returns what came back.
func echo(addr string, data []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		return nil, err
	}

	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	return got, errors.Join(err, <-errc)
}

func (f *fixture) testBytesBothWays(t *testing.T) {
	tn, ev := f.open(t, f.echoAddr)

	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	got, err := echo(tn.Addr().String(), data)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "sent %d bytes, got %d different", len(data), len(got))

	for _, e := range ev.list() {
		require.NotEqual(t, tunnel.EventConnError, e.Kind, "%v", e)
	}
}

func (f *fixture) testConcurrentStreams(t *testing.T) {
	tn, ev := f.open(t, f.echoAddr)

	const streams = 50
	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xa5}, 1<<18)
			got, err := echo(tn.Addr().String(), data)
			if err == nil && !bytes.Equal(data, got) {
				err = fmt.Errorf("stream %d: sent %d bytes, got %d different",
					i, len(data), len(got))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, e := range ev.list() {
		require.NotEqual(t, tunnel.EventConnError, e.Kind, "%v", e)
	}
}

func (f *fixture) testHTTPClient(t *testing.T) {
	client := tunnel.HTTPClient(f.client)
	t.Cleanup(client.CloseIdleConnections)

	// The node's name is resolved on the login node.
	resp, err := client.Get("http://" + f.httpAddr + "/server.py")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, serverScript, string(body))
}

func (f *fixture) testCutMidStream(t *testing.T) {
	tn, ev := f.open(t, f.httpAddr)

	// Start a download, read a part of it, then cut the SSH connection.
	plain := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(plain.CloseIdleConnections)
	resp, err := plain.Get(tn.URL() + "/blob")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = io.CopyN(io.Discard, resp.Body, 1<<20)
	require.NoError(t, err)

	killed := cutConnection(t, f.c.SSHPort)
	t.Logf("killed sshd processes %v", killed)

	// The live stream ends with an error, not with the whole file.
	n, err := io.Copy(io.Discard, resp.Body)
	require.Error(t, err, "read %d more bytes of %d", n, blobSize)
	require.Less(t, n+1<<20, int64(blobSize))
	t.Logf("download ended after %d more bytes: %v", n, err)

	// The listener stays, and a new connection goes through a new SSH
	// connection.
	got, err := get(plain, tn.URL()+"/server.py")
	require.NoError(t, err)
	require.Equal(t, serverScript, got)
	t.Logf("events: %v", ev.list())
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (f *fixture) testForwardingRefused(t *testing.T) {
	require.NotZero(t, f.c.SSHNoFwdPort, "HPCORCH_SSH_NOFWD_PORT in the cluster's env file")
	nofwd := dial(t, f.c.SSHNoFwdPort)

	ev := &events{}
	tn, err := tunnel.Open(context.Background(), nofwd, f.echoAddr,
		tunnel.Options{Events: ev.add})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tn.Close()) })

	// The probe reports the refusal, clearly and at once (no retries).
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err = tn.WaitReady(ctx)
	require.ErrorIs(t, err, tunnel.ErrForwardingDisabled)
	require.ErrorIs(t, err, sshx.ErrForwardingDisabled)
	var oce *ssh.OpenChannelError
	require.ErrorAs(t, err, &oce)
	require.Equal(t, ssh.Prohibited, oce.Reason)
	var de *tunnel.DialError
	require.ErrorAs(t, err, &de)
	require.Equal(t, 1, de.Attempts)
	require.Contains(t, err.Error(), "TCP forwarding is disabled on the login node")
	t.Logf("refusal: %v", err)

	// A client of the tunnel sees a reset, and the events name the
	// connection and the refusal.
	c, err := net.Dial("tcp", tn.Addr().String())
	if err == nil {
		require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	require.Error(t, err)
	require.NotErrorIs(t, err, io.EOF)

	require.Eventually(t, func() bool {
		for _, e := range ev.list() {
			if e.Kind == tunnel.EventConnError && e.Conn == 1 {
				return errors.Is(e.Err, tunnel.ErrForwardingDisabled)
			}
		}
		return false
	}, waitLimit, 10*time.Millisecond, "events: %v", ev.list())
}

// cutConnection kills the sshd processes that serve this test process's
// connections to the login node's port, as a network cut or a login node
// restart would end them. It returns their pids.
func cutConnection(t *testing.T, sshPort int) []int {
	t.Helper()
	me := strconv.Itoa(os.Getpid())

	// Our side: the local ports of our connections to sshPort.
	var ports []string
	for _, line := range ss(t, fmt.Sprintf("( dport = :%d )", sshPort)) {
		fields := strings.Fields(line)
		if len(fields) >= 4 && strings.Contains(line, "pid="+me+",") {
			_, p, err := net.SplitHostPort(fields[2])
			require.NoError(t, err)
			ports = append(ports, p)
		}
	}
	require.NotEmpty(t, ports, "no connection of pid %s to port %d", me, sshPort)

	// Their side: the sshd processes holding the other end.
	pidRE := regexp.MustCompile(`\("sshd",pid=(\d+),`)
	var pids []int
	for _, p := range ports {
		for _, line := range ss(t, fmt.Sprintf("( sport = :%d and dport = :%s )", sshPort, p)) {
			for _, m := range pidRE.FindAllStringSubmatch(line, -1) {
				pid, err := strconv.Atoi(m[1])
				require.NoError(t, err)
				pids = append(pids, pid)
			}
		}
	}
	require.NotEmpty(t, pids, "no sshd process for local ports %v", ports)
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			require.NoError(t, err, "kill %d", pid)
		}
	}
	return pids
}

// ss lists established TCP sockets matching filter, with their processes.
func ss(t *testing.T, filter string) []string {
	t.Helper()
	out, err := exec.Command("ss", "-tnpH", "state", "established", filter).Output()
	require.NoError(t, err, "ss %s", filter)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
