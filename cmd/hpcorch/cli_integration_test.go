//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/recipes"
)

// metricsDeadline bounds the wait for series: cAdvisor publishes every
// 10 s and rates need two samples.
const metricsDeadline = 3 * time.Minute

var (
	buildOnce sync.Once
	binary    string
	buildErr  error

	// goEnv is the go command's cache and module folders, read before
	// any test points HOME elsewhere (they default to folders under it).
	goEnv = readGoEnv("GOCACHE", "GOMODCACHE", "GOPATH")
)

// readGoEnv returns NAME=value for each of the go command's variables.
func readGoEnv(names ...string) []string {
	out, err := exec.Command("go", append([]string{"env"}, names...)...).Output()
	if err != nil {
		return nil
	}
	var env []string
	for i, v := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i < len(names) && v != "" {
			env = append(env, names[i]+"="+v)
		}
	}
	return env
}

// hpcorchBinary builds the hpcorch command once per test run.
func hpcorchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hpcorch-cli-test")
		if err != nil {
			buildErr = err
			return
		}
		afterTests = append(afterTests, func() { _ = os.RemoveAll(dir) })
		binary = filepath.Join(dir, "hpcorch")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Env = append(os.Environ(), goEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary
}

// bin runs the built binary with a config and, when set, a session.
type bin struct {
	t       *testing.T
	path    string
	config  string
	session string
	dir     string
}

func newBin(t *testing.T, config, session string) *bin {
	return &bin{t: t, path: hpcorchBinary(t), config: config, session: session,
		dir: filepath.Dir(config)}
}

func (b *bin) args(args ...string) []string {
	base := []string{"--config", b.config}
	if b.session != "" {
		base = append(base, "--session", b.session)
	}
	return append(base, args...)
}

// run runs one command to its end.
func (b *bin) run(args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path, b.args(args...)...)
	cmd.Dir = b.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(b.t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed and returns its output.
func (b *bin) ok(args ...string) string {
	b.t.Helper()
	r := b.run(args...)
	require.Equal(b.t, exitOK, r.code, "hpcorch %s\nstdout: %s\nstderr: %s",
		strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// start runs --recipe FILE --wait and returns the ID and node.
func (b *bin) start(file string) (id, node string) {
	b.t.Helper()
	out := b.ok("--recipe", file, "--wait")
	m := regexp.MustCompile(`^Service started: (\S+)\n` +
		`Service ready: (\S+) on (\S+)( at http://\S+)?\n$`).FindStringSubmatch(out)
	require.NotNil(b.t, m, out)
	require.Equal(b.t, m[1], m[2])
	return m[1], m[3]
}

// covered repeats --query-metrics --json until every id has a series.
func (b *bin) covered(monID, q string, ids ...string) {
	b.t.Helper()
	deadline := time.Now().Add(metricsDeadline)
	for {
		var ans queryOut
		require.NoError(b.t, json.Unmarshal([]byte(b.ok("--query-metrics", monID, q, "--json")),
			&ans))
		var series []struct {
			Metric map[string]string `json:"metric"`
		}
		require.NoError(b.t, json.Unmarshal(ans.Result, &series))
		missing := []string{}
		for _, id := range ids {
			found := false
			for _, s := range series {
				found = found || s.Metric["hpcorch_service"] == id
			}
			if !found {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no series for %v within %s", q, missing, metricsDeadline)
		}
		time.Sleep(2 * time.Second)
	}
}

// reportCovering repeats --report until it covers n services.
func (b *bin) reportCovering(monID string, n int) string {
	b.t.Helper()
	deadline := time.Now().Add(metricsDeadline)
	want := fmt.Sprintf(", %d service(s)\n", n)
	for {
		out := b.ok("--report", monID, "report.json")
		if strings.HasSuffix(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the report never covered %d services: %s", n, out)
		}
		time.Sleep(3 * time.Second)
	}
}

// pinRecipe writes the catalog recipe name, bound to node, into dir.
func pinRecipe(t *testing.T, dir, name, node string) string {
	t.Helper()
	data, err := recipes.FS.ReadFile("services/" + name + ".yaml")
	require.NoError(t, err)
	text := strings.Replace(string(data), "\n  resources:\n",
		"\n  resources:\n    nodelist: "+node+"\n", 1)
	require.Contains(t, text, "nodelist: "+node)
	path := filepath.Join(dir, name+"_"+node+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// prometheusRecipe writes the catalog's bare Prometheus, on node when not
// "", scraping the cAdvisor of each service ID.
func prometheusRecipe(t *testing.T, dir, node string, ids ...string) string {
	t.Helper()
	data, err := recipes.FS.ReadFile("services/mini_prometheus.yaml")
	require.NoError(t, err)
	var targets strings.Builder
	targets.WriteString("\n  monitoring_targets:\n")
	for i, id := range ids {
		fmt.Fprintf(&targets, "    - service_id: %q\n      job_name: \"svc%d-cadvisor\"\n"+
			"      port: 8080\n", id, i+1)
	}
	text := strings.Replace(string(data), "\n  monitoring_targets: []\n", targets.String(), 1)
	if node != "" {
		text = strings.Replace(text, "\n  resources:\n", "\n  resources:\n    nodelist: "+
			node+"\n", 1)
	}
	require.Contains(t, text, ids[0])
	path := filepath.Join(dir, "prometheus_with_cadvisor.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clusterConfig writes dir/config.yaml for the cluster, with metrics in
// dir/metrics, and returns its path.
func clusterConfig(t *testing.T, c *clustertest.Cluster, dir string) string {
	t.Helper()
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`hpc:
  hostname: %s
  port: %d
  username: %s
  key_filename: %s
  known_hosts: %s
metrics_dir: %s
`, c.SSHHost, c.SSHPort, c.User, c.KeyFile, c.KnownHosts, filepath.Join(dir, "metrics"))),
		0o644))
	return config
}

// TestCLIImages uploads a locally built image to a recipe's image_path,
// then finds it there with --build-image, which builds nothing (the
// cluster reaches no registry).
func TestCLIImages(t *testing.T) {
	c := clustertest.Env(t)
	dir := t.TempDir()
	b := newBin(t, clusterConfig(t, c, dir), "it-img-"+randomHex())
	sub := ".hpcorch-test/img-" + randomHex()
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(c.Home, sub)) })

	file := filepath.Join(dir, "img.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`service:
  name: imgtest
  command: busybox
  container:
    docker_source: docker://busybox:1.36
    image_path: $HOME/`+sub+`/busybox.sif
`), 0o644))
	want := c.Home + "/" + sub + "/busybox.sif"

	require.Equal(t, "Image uploaded: "+want+"\n", b.ok("--upload-image", file, c.TestImage))
	sent, err := os.ReadFile(c.TestImage)
	require.NoError(t, err)
	got, err := os.ReadFile(want)
	require.NoError(t, err)
	require.True(t, bytes.Equal(sent, got), "the uploaded image is the local one")

	require.Equal(t, "Image ready: "+want+"\n", b.ok("--build-image", file))

	r := b.run("--build-image", "mini_http_bare")
	require.Equal(t, exitFail, r.code)
	require.Contains(t, r.stderr, "has no container image")
	r = b.run("--upload-image", file, filepath.Join(dir, "missing.sif"))
	require.Equal(t, exitFail, r.code)
	require.Contains(t, r.stderr, "missing.sif")
}

// TestCLIQuickStart runs the reference's Quick Start with the built
// binary on the cluster, asserting each command's output.
func TestCLIQuickStart(t *testing.T) {
	c := clustertest.Env(t)
	dir := t.TempDir()
	metricsDir := filepath.Join(dir, "metrics")
	config := clusterConfig(t, c, dir)
	b := newBin(t, config, "it-cli-"+randomHex())
	t.Cleanup(func() { b.run("--stop-all-services") })
	node1, node2, node3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	require.Equal(t, "cAdvisor installed: "+c.Home+"/.local/bin/cadvisor\n",
		b.ok("--install-cadvisor", c.CAdvisorBin))

	// Step 1: two services with cAdvisor, on two nodes.
	svc1, n := b.start(pinRecipe(t, dir, "mini_http_container", node1))
	require.Equal(t, node1, n)
	require.True(t, strings.HasPrefix(svc1, "mini-http-container_"), svc1)
	svc2, n := b.start(pinRecipe(t, dir, "mini_http_bare", node2))
	require.Equal(t, node2, n)

	status := b.ok("--status")
	require.Regexp(t, `^Services:\n`, status)
	require.Regexp(t, `(?m)^ +\d+ \| `+svc1+` \|    RUNNING \| +\d+:\d\d \| `+node1+`$`, status)
	require.Regexp(t, `(?m)^ +\d+ \| `+svc2+` +\|    RUNNING \| +\d+:\d\d \| `+node2+`$`, status)

	// Steps 2 and 3: Prometheus on the third node.
	prom, n := b.start(prometheusRecipe(t, dir, node3, svc1, svc2))
	require.Equal(t, node3, n)
	require.Regexp(t, `^prometheus_[0-9a-f]{8}$`, prom)
	status = b.ok("--status")
	require.Len(t, strings.Split(strings.TrimSpace(status), "\n"), 4, status)
	require.Regexp(t, `(?m)^ +\d+ \| `+prom+` +\|    RUNNING \| +\d+:\d\d \| `+node3+`$`, status)
	endpoint := strings.TrimSpace(b.ok("--service-endpoint", prom))
	require.Regexp(t, `^http://`+node3+`:\d+$`, endpoint)
	promPort := endpoint[strings.LastIndex(endpoint, ":")+1:]

	r := b.run("--credentials", svc1)
	require.Equal(t, exitFail, r.code, "a service has no monitor login")
	require.Contains(t, r.stderr, svc1)
	require.Empty(t, r.stdout)

	// Step 4: the tunnel, held by a running hpcorch.
	tunnelToPrometheus(t, b, c, prom, node3, promPort)

	// Step 6: the reference's queries, for both services.
	for _, q := range []string{`up{job=~".*cadvisor"}`, `container_memory_usage_bytes`,
		`rate(container_cpu_usage_seconds_total[5m])`,
		`rate(container_network_receive_bytes_total[5m])`} {
		b.covered(prom, q, svc1, svc2)
	}
	text := b.ok("--query-metrics", prom, `up{job=~".*cadvisor"}`)
	require.Regexp(t, `(?m)^up\{.*hpcorch_service="`+svc1+`".*\} => 1 @\[`, text)
	require.Regexp(t, `(?m)^up\{.*hpcorch_service="`+svc2+`".*\} => 1 @\[`, text)

	metrics := b.ok("--list-available-metrics", prom)
	require.Regexp(t, `^Available metrics \(\d+\):\n`, metrics)
	require.Contains(t, metrics, "\ncontainer_memory (")
	require.Contains(t, metrics, "\n   container_memory_usage_bytes\n")

	require.Equal(t, "Metrics written: "+filepath.Join(metricsDir, "up.json")+"\n",
		b.ok("--collect-metrics", prom, "up", "up.json"))
	require.FileExists(t, filepath.Join(metricsDir, "up.json"))
	require.Equal(t, fmt.Sprintf("Report written: %s (and %s), 2 service(s)\n",
		filepath.Join(metricsDir, "report.json"), filepath.Join(metricsDir, "report.html")),
		b.reportCovering(prom, 2))

	require.Contains(t, b.ok("--logs", svc2, "--lines", "20"), "hpcorch: ")

	// Step 8: cleanup.
	require.Equal(t, "Service stopped: "+prom+"\n", b.ok("--stop-service", prom))
	require.Equal(t, "Service stopped: "+svc1+"\nService stopped: "+svc2+"\n",
		b.ok("--stop-all-services"))
	require.Equal(t, "No services running.\n", b.ok("--stop-all-services"))
	require.Eventually(t, func() bool {
		return b.ok("--status") == "Services:\n   (none)\n"
	}, time.Minute, time.Second)

	r = b.run("--query-metrics", prom, "up")
	require.Equal(t, exitFail, r.code)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	require.Contains(t, r.stderr, "hpcorch: monitors: ")
}

// tunnelToPrometheus runs --create-tunnel in the background, checks its
// box, fetches Prometheus through it with and without the password, and
// ends it with SIGTERM.
func tunnelToPrometheus(t *testing.T, b *bin, c *clustertest.Cluster, prom, node, port string) {
	t.Helper()
	cmd := exec.Command(b.path, b.args("--create-tunnel", prom, "0")...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb syncBuffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var box []string
	rule := strings.Repeat("=", 70)
	timeout := time.After(time.Minute)
	for rules := 0; rules < 3; {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the tunnel ended early: %s", errb.String())
			box = append(box, l)
			if l == rule {
				rules++
			}
		case <-timeout:
			t.Fatalf("no tunnel box after a minute: %q %s", box, errb.String())
		}
	}

	text := strings.Join(box, "\n")
	require.Equal(t, []string{rule, "SSH TUNNEL SETUP", rule}, box[:3])
	m := regexp.MustCompile(`To access ` + node + `:` + port + ` at localhost:(\d+),`).
		FindStringSubmatch(text)
	require.NotNil(t, m, text)
	local := m[1]
	require.Contains(t, text, fmt.Sprintf("  ssh -i %s -L %s:%s:%s -N %s@%s -p %d "+
		"-o UserKnownHostsFile=%s\n", c.KeyFile, local, node, port, c.User, c.SSHHost,
		c.SSHPort, c.KnownHosts))
	require.Contains(t, text, "Then access the service at: http://localhost:"+local+"\n")
	pwFile := c.Home + "/.hpcorch/run/" + prom + "/password"
	require.Contains(t, text, "user hpcorch, password in "+pwFile+
		" on the cluster (hpcorch --credentials "+prom+" prints both).")

	pw, err := os.ReadFile(pwFile)
	require.NoError(t, err)
	require.Equal(t, "hpcorch:"+strings.TrimSpace(string(pw))+"\n", b.ok("--credentials", prom))
	url := "http://localhost:" + local + "/-/ready"
	require.Equal(t, http.StatusUnauthorized, get(t, url, ""))
	require.Equal(t, http.StatusOK, get(t, url, strings.TrimSpace(string(pw))))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for range lines {
	}
	require.NoError(t, cmd.Wait(), "hpcorch --create-tunnel exits 0 on SIGTERM")
	require.Equal(t, "Tunnel closed.\n", errb.String())
}

// get fetches url, as user hpcorch with pw when set, and returns the status.
func get(t *testing.T, url, pw string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if pw != "" {
		req.SetBasicAuth("hpcorch", pw)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestCLILocalMonitor runs the same flow on the local scheduler with the
// built binary: cAdvisor installed from a local file (a stand-in), a bare
// service, Prometheus (the program make cluster-up installs), queries, a
// report, and stopping everything.
func TestCLILocalMonitor(t *testing.T) {
	_, err := exec.LookPath("prometheus")
	require.NoError(t, err, "the prometheus program (make cluster-up installs it)")
	l := newLocalCLI(t)
	b := newBin(t, l.config, "")
	exe, err := os.Executable()
	require.NoError(t, err)
	home := os.Getenv("HOME")

	require.Equal(t, "cAdvisor installed: "+home+"/.local/bin/cadvisor\n",
		b.ok("--install-cadvisor", exe))

	path := l.recipe(t, "web")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data),
		"  ports:", "  enable_cadvisor: true\n  ports:", 1)), 0o644))
	svc, _ := b.start(path)

	prom, _ := b.start(prometheusRecipe(t, l.dir, "", svc))
	status := b.ok("--status")
	require.Regexp(t, `(?m)^ +\d+ \| `+svc+` +\|    RUNNING \|`, status)
	require.Regexp(t, `(?m)^ +\d+ \| `+prom+` +\|    RUNNING \|`, status)

	b.covered(prom, `up{job=~".*cadvisor"}`, svc)
	b.covered(prom, `container_memory_usage_bytes`, svc)
	b.reportCovering(prom, 1)

	require.Equal(t, "Service stopped: "+prom+"\nService stopped: "+svc+"\n",
		b.ok("--stop-all-services"))
	require.Equal(t, "Services:\n   (none)\n", b.ok("--status"))
}
