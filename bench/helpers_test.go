//go:build integration

package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/sshx"
)

// benchDial opens an SSH connection to the cluster's login node, closed
// when b ends.
func benchDial(b testing.TB, cl *clustertest.Cluster) *sshx.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            cl.SSHHost,
		Port:            cl.SSHPort,
		User:            cl.User,
		IdentityFiles:   []string{cl.KeyFile},
		KnownHostsFiles: []string{cl.KnownHosts},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close() })
	return client
}

// benchRun runs cmd through exec with its own deadline, failing b on
// error, and returns its standard output.
func benchRun(b testing.TB, exec sshx.Executor, cmd string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, stderr, err := exec.Run(ctx, cmd, nil)
	if err != nil {
		b.Fatalf("%s: %v: %s", cmd, err, stderr)
	}
	return string(out)
}

// benchCancel cancels the jobs ids with one scancel, logging failures:
// cleanup must not hide a benchmark's result.
func benchCancel(b testing.TB, exec sshx.Executor, ids []string) {
	b.Helper()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"scancel"}, ids...)
	if _, stderr, err := exec.Run(ctx, sshx.QuoteAll(args...), nil); err != nil {
		b.Logf("scancel %d jobs: %v: %s", len(ids), err, stderr)
	}
}

// benchHex returns n random bytes as hex, for names that must not clash
// with other runs.
func benchHex(b testing.TB, n int) string {
	b.Helper()
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(buf)
}

// benchRecipe parses a recipe written in a benchmark.
func benchRecipe(b testing.TB, yaml string) *recipe.Recipe {
	b.Helper()
	r, err := recipe.Decode(strings.NewReader(yaml), b.Name()+".yaml")
	if err != nil {
		b.Fatalf("recipe: %v", err)
	}
	return r
}

// benchFreePort returns a local port nothing listens on right now.
func benchFreePort(b testing.TB) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
