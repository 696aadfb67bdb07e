package orchestrator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
)

// The test binary doubles as the programs the local jobs run, so the local
// tests need nothing installed: with HPCORCHTEST_SERVE set it is an HTTP
// service on $HPCORCH_PORT; started with cAdvisor's flags (-port=N) it is a
// stand-in cAdvisor serving /healthz and /metrics.
func TestMain(m *testing.M) {
	if port, ok := cadvisorPort(os.Args[1:]); ok {
		serve(port, cadvisorMetrics)
		return
	}
	if os.Getenv("HPCORCHTEST_SERVE") != "" {
		serve(os.Getenv("HPCORCH_PORT"), serviceMetrics)
		return
	}
	goleak.VerifyTestMain(m)
}

// cadvisorPort finds -port=N among cAdvisor's flags.
func cadvisorPort(args []string) (string, bool) {
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "-port="); ok {
			return p, true
		}
	}
	return "", false
}

const serviceBody = "hello from the orchestrator test service\n"

func serviceMetrics(n int64) string {
	return fmt.Sprintf("# TYPE test_requests_total counter\ntest_requests_total %d\n", n)
}

func cadvisorMetrics(n int64) string {
	return fmt.Sprintf("# TYPE container_cpu_usage_seconds_total counter\n"+
		"container_cpu_usage_seconds_total{id=\"/\"} %d\n"+
		"# TYPE container_memory_usage_bytes gauge\n"+
		"container_memory_usage_bytes{id=\"/\"} %d\n", n, 1<<20+n)
}

// serve answers / and /healthz with serviceBody and /metrics with
// metrics(requests so far), on this host's address, until killed.
func serve(port string, metrics func(int64) string) {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, serviceBody)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, metrics(n.Add(1)))
	})
	err := http.ListenAndServe(net.JoinHostPort(hostAddr(), port), mux)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// hostAddr is the address this host's name resolves to, as the local
// scheduler reports the host name as the jobs' node; loopback otherwise.
func hostAddr() string {
	name, err := os.Hostname()
	if err == nil {
		if addrs, err := net.LookupHost(name); err == nil {
			for _, a := range addrs {
				if ip := net.ParseIP(a); ip != nil && ip.IsLoopback() {
					return a
				}
			}
		}
	}
	return "127.0.0.1"
}

// testCtx is a context that ends with the test, or after two minutes.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// localSetup is a config for local mode in a fresh folder, with HOME
// pointing there too, so run folders and job records stay in the test.
type localSetup struct {
	dir    string
	config string // path of config.yaml
}

func newLocalSetup(t *testing.T) *localSetup {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	require.NoError(t, os.MkdirAll(home, 0o755))
	t.Setenv("HOME", home)

	cfg := fmt.Sprintf("executor: local\nscheduler: local\nstate_dir: %s\nmetrics_dir: %s\n"+
		"slurm:\n  time: \"00:10:00\"\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "metrics"))
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return &localSetup{dir: dir, config: path}
}

// open opens an Orchestrator on the setup, as a new process would, and
// closes it, and its local scheduler (cancelling its jobs), with the test.
func (s *localSetup) open(t *testing.T) *Orchestrator {
	t.Helper()
	cfg, err := LoadConfig(s.config)
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	o, err := OpenConfig(testCtx(t), cfg, Config{CAdvisor: cadvisorSource(exe)})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, o.Close())
		require.NoError(t, o.Scheduler().(*slurm.Local).Close())
	})
	return o
}

// serviceRecipe is a bare service running this test binary as an HTTP
// server with a health check.
func serviceRecipe(t *testing.T, name string) *recipe.Recipe {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	r, err := recipe.Decode(strings.NewReader(fmt.Sprintf(`
service:
  name: %s
  command: %s
  environment:
    HPCORCHTEST_SERVE: "1"
  ports: [%d]
  health_check:
    type: http
    path: /
    expect: hello from the orchestrator test service
    timeout: 60s
    interval: 200ms
`, name, exe, freePort(t))), name+".yaml")
	require.NoError(t, err)
	return r
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testExecutable is this test binary's path.
func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}
