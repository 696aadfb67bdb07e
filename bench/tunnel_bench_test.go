//go:build integration

package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// tunnelBenchScript runs in a job on a compute node: a sink on the port
// given as argument (reads a stream to EOF, then answers with the byte
// count) and an HTTP/1.1 file server on the next port.
const tunnelBenchScript = `
import functools, http.server, socket, sys, threading

port = int(sys.argv[1])

def sink(c):
    with c:
        n = 0
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            n += len(b)
        c.sendall(str(n).encode())

def serve_sink():
    s = socket.create_server(("0.0.0.0", port), backlog=128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=sink, args=(c,), daemon=True).start()

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass

threading.Thread(target=serve_sink, daemon=True).start()
h = functools.partial(Handler, directory=".")
http.server.ThreadingHTTPServer(("0.0.0.0", port + 1), h).serve_forever()
`

// tunnelBenchTotal is what each throughput measurement sends, per path.
const tunnelBenchTotal = 256 << 20

// tunnelBenchRequests is how many requests each latency iteration sends
// per path, so that a run of one iteration (-benchtime 1x, as make bench
// runs) still averages many.
const tunnelBenchRequests = 200

// tunnelBenchLimit bounds the setup's waits.
const tunnelBenchLimit = 90 * time.Second

// tunnelPaths are the two ways to the same servers on the node: hpcorch's
// tunnel and an `ssh -N -L` process, both through the login node's sshd.
type tunnelPaths struct {
	tunnelSink, tunnelHTTP   string // local addresses of tunnel.Open
	opensshSink, opensshHTTP string // local addresses of ssh -L
	opensshSessionHTTP       string // ssh -L running a remote command
	opensshGCMSink           string // ssh -L with x/crypto's cipher
}

// BenchmarkTunnel compares tunnel with OpenSSH's `ssh -N -L` in one run,
// to the same python servers in a job on node2: throughput of one stream and
// of 50 streams (256 MiB through per path and iteration), and the latency of
// small HTTP requests (tunnelBenchRequests per path and iteration), on a
// kept-alive connection and on a new connection each. Each iteration
// measures both paths, alternating which goes first. The "ratio" metric
// is tunnel over OpenSSH: throughput targets ≥ 0.9, latency ≤ 1.2.
//
//	go test -tags integration -run '^$' -bench Tunnel -benchtime 3x ./bench/
//
// The ciphers are each side's defaults: x/crypto picks aes128-gcm,
// OpenSSH chacha20-poly1305. The "same-cipher" throughput runs compare with
// an ssh -L that uses aes128-gcm too, which isolates the forwarding itself.
func BenchmarkTunnel(b *testing.B) {
	p := tunnelBenchSetup(b)

	thr := func(streams int, sameCipher bool) func(*testing.B) {
		return func(b *testing.B) {
			ssh := p.opensshSink
			if sameCipher {
				ssh = p.opensshGCMSink
			}
			tunnelBenchThroughput(b, [2]string{p.tunnelSink, ssh}, streams)
		}
	}
	b.Run("throughput-1-stream", thr(1, false))
	b.Run("throughput-50-streams", thr(50, false))
	b.Run("throughput-1-stream-same-cipher", thr(1, true))
	b.Run("throughput-50-streams-same-cipher", thr(50, true))
	lat := func(openssh string, keepAlive bool) func(*testing.B) {
		return func(b *testing.B) { tunnelBenchLatency(b, p.tunnelHTTP, openssh, keepAlive) }
	}
	b.Run("http-latency-keepalive", lat(p.opensshHTTP, true))
	b.Run("http-latency-new-conn", lat(p.opensshHTTP, false))
	b.Run("http-latency-keepalive-session", lat(p.opensshSessionHTTP, true))
	b.Run("http-latency-new-conn-session", lat(p.opensshSessionHTTP, false))
}

// tunnelBenchThroughput measures the sinks at addrs: the tunnel's first.
func tunnelBenchThroughput(b *testing.B, addrs [2]string, streams int) {
	var elapsed [2]time.Duration
	for i := range b.N {
		for k := range 2 {
			path := (i + k) % 2
			d, err := tunnelBenchSend(addrs[path], streams, tunnelBenchTotal)
			if err != nil {
				b.Fatalf("%s: %v", []string{"tunnel", "openssh"}[path], err)
			}
			elapsed[path] += d
		}
	}

	mb := float64(b.N) * tunnelBenchTotal / (1 << 20)
	tun, ssh := mb/elapsed[0].Seconds(), mb/elapsed[1].Seconds()
	b.ReportMetric(tun, "tunnel-MiB/s")
	b.ReportMetric(ssh, "openssh-MiB/s")
	b.ReportMetric(tun/ssh, "ratio")
	b.ReportMetric(0, "ns/op")
}

// tunnelBenchSend sends total bytes to the sink at addr over streams
// connections, and returns the time until the sink confirmed all of them.
func tunnelBenchSend(addr string, streams, total int) (time.Duration, error) {
	per := total / streams
	chunk := make([]byte, 1<<20)
	start := time.Now()

	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for range streams {
		wg.Go(func() { errs <- tunnelBenchStream(addr, chunk, per) })
	}
	wg.Wait()
	d := time.Since(start)

	close(errs)
	for err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}

func tunnelBenchStream(addr string, chunk []byte, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		return err
	}

	for left := n; left > 0; left -= len(chunk) {
		if _, err := c.Write(chunk[:min(left, len(chunk))]); err != nil {
			return err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	ack, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(ack) != strconv.Itoa(n) {
		return fmt.Errorf("sink at %s got %q bytes of %d", addr, ack, n)
	}
	return nil
}

// tunnelBenchLatency compares the latency of GET /small through the
// tunnel's local address and through OpenSSH's.
func tunnelBenchLatency(b *testing.B, tunnelHTTP, opensshHTTP string, keepAlive bool) {
	clients := [2]*http.Client{}
	urls := [2]string{"http://" + tunnelHTTP + "/small", "http://" + opensshHTTP + "/small"}
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
		defer clients[i].CloseIdleConnections()
		// Warm up: the first connection of each path.
		if _, err := tunnelBenchGet(clients[i], urls[i]); err != nil {
			b.Fatal(err)
		}
	}

	var elapsed [2]time.Duration
	b.ResetTimer()
	for i := range b.N * tunnelBenchRequests {
		for k := range 2 {
			path := (i + k) % 2
			d, err := tunnelBenchGet(clients[path], urls[path])
			if err != nil {
				b.Fatalf("%s: %v", []string{"tunnel", "openssh"}[path], err)
			}
			elapsed[path] += d
		}
	}

	n := float64(b.N * tunnelBenchRequests)
	tun := float64(elapsed[0].Microseconds()) / n
	ssh := float64(elapsed[1].Microseconds()) / n
	b.ReportMetric(tun, "tunnel-µs/req")
	b.ReportMetric(ssh, "openssh-µs/req")
	b.ReportMetric(tun/ssh, "ratio")
	b.ReportMetric(0, "ns/op")
}

func tunnelBenchGet(c *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return time.Since(start), err
}

// tunnelBenchSetup starts the servers in a job on node2, opens tunnels to
// them and starts ssh -N -L to the same ports. Everything ends with b.
func tunnelBenchSetup(b *testing.B) *tunnelPaths {
	c := clustertest.Env(b)
	ctx, cancel := context.WithTimeout(context.Background(), tunnelBenchLimit)
	defer cancel()

	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            c.SSHHost,
		Port:            c.SSHPort,
		User:            c.User,
		IdentityFiles:   []string{c.KeyFile},
		KnownHostsFiles: []string{c.KnownHosts},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close() })
	run := func(cmd string) string {
		ctx, cancel := context.WithTimeout(context.Background(), tunnelBenchLimit)
		defer cancel()
		out, stderr, err := client.Run(ctx, cmd, nil)
		if err != nil {
			b.Fatalf("%s: %v: %s", cmd, err, stderr)
		}
		return string(out)
	}

	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		b.Fatal(err)
	}
	port := 30000 + 2*int(n.Int64())
	dir := fmt.Sprintf("hpcorch-tunnel-bench-%d", port)
	run("mkdir -p " + sshx.Quote(dir))
	b.Cleanup(func() { run("rm -rf " + sshx.Quote(dir)) })
	err = client.Put(ctx, dir+"/bench.py", strings.NewReader(tunnelBenchScript), 0o644)
	if err != nil {
		b.Fatal(err)
	}
	run("head -c 512 /dev/zero > " + sshx.Quote(dir+"/small"))

	wrap := fmt.Sprintf("cd %s && exec python3 bench.py %d", sshx.Quote(dir), port)
	jobID := strings.TrimSpace(run(sshx.QuoteAll("sbatch", "--parsable", "-w", "node2",
		"-J", "hpcorch-tunnel-bench", "-o", "/dev/null", "--wrap", wrap)))
	b.Cleanup(func() { run(sshx.QuoteAll("scancel", jobID)) })

	sink := net.JoinHostPort("node2", strconv.Itoa(port))
	web := net.JoinHostPort("node2", strconv.Itoa(port+1))
	p := &tunnelPaths{}
	for _, x := range []struct {
		remote string
		local  *string
	}{{sink, &p.tunnelSink}, {web, &p.tunnelHTTP}} {
		opts := tunnel.Options{RedialTimeout: tunnelBenchLimit}
		tn, err := tunnel.Open(ctx, client, x.remote, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tn.Close() })
		if err := tn.WaitReady(ctx); err != nil {
			b.Fatalf("job %s: %v", jobID, err)
		}
		*x.local = tn.Addr().String()
	}

	p.opensshSink, p.opensshHTTP = tunnelBenchFreeAddr(b), tunnelBenchFreeAddr(b)
	tunnelBenchOpenSSH(ctx, b, c, nil, nil, p.opensshSink+":"+sink, p.opensshHTTP+":"+web)
	p.opensshGCMSink = tunnelBenchFreeAddr(b)
	gcm := []string{"-c", "aes128-gcm@openssh.com"}
	tunnelBenchOpenSSH(ctx, b, c, gcm, nil, p.opensshGCMSink+":"+sink)
	// Until a connection has run a session, sshd holds back forwarded data
	// that does not fill a packet for about 40 ms (see RESULTS.md); an
	// ssh -L that runs a remote command is OpenSSH at its best.
	p.opensshSessionHTTP = tunnelBenchFreeAddr(b)
	tunnelBenchOpenSSH(ctx, b, c, nil, []string{"cat"}, p.opensshSessionHTTP+":"+web)
	return p
}

// tunnelBenchOpenSSH runs `ssh -L` with the options and forwards given,
// until b ends, and waits until the forwards accept connections. It runs
// the remote command given, or none (-N); the command's standard input
// stays open until b ends, so that a `cat` lasts as long as ssh.
func tunnelBenchOpenSSH(ctx context.Context, b *testing.B, c *clustertest.Cluster,
	opts, remote []string, forwards ...string) {
	args := []string{"-F", c.SSHConfig, "-o", "ExitOnForwardFailure=yes"}
	if len(remote) == 0 {
		args = append(args, "-N")
	}
	args = append(args, opts...)
	for _, f := range forwards {
		args = append(args, "-L", f)
	}
	args = append(args, "minicluster")
	cmd := exec.Command("ssh", append(args, remote...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-exited
	})

	// The forwards listen once ssh has logged in.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, f := range forwards {
		local := strings.Join(strings.SplitN(f, ":", 3)[:2], ":")
		for {
			if conn, err := net.Dial("tcp", local); err == nil {
				conn.Close()
				break
			}
			select {
			case err := <-exited:
				b.Fatalf("ssh -L exited: %v: %s", err, stderr.String())
			case <-ctx.Done():
				b.Fatalf("ssh -L %s: not listening: %s", f, stderr.String())
			case <-tick.C:
			}
		}
	}
}

func tunnelBenchFreeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
