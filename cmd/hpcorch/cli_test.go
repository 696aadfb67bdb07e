package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/orchestrator"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// The test binary doubles as the programs local jobs run: with
// HPCORCHTEST_SERVE set it is an HTTP service on $HPCORCH_PORT; started
// with cAdvisor's flags (-port=N) it is a stand-in cAdvisor serving
// container metrics.
func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if port, ok := strings.CutPrefix(a, "-port="); ok {
			serve(port, func(n int) string {
				return fmt.Sprintf("# TYPE container_memory_usage_bytes gauge\n"+
					"container_memory_usage_bytes{id=\"/\"} %d\n", 1<<20+n)
			})
		}
	}
	if os.Getenv("HPCORCHTEST_SERVE") != "" {
		serve(os.Getenv("HPCORCH_PORT"), func(n int) string {
			return fmt.Sprintf("test_requests_total %d\n", n)
		})
	}
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	os.Exit(code)
}

// afterTests are run once every test has ended.
var afterTests []func()

// serve answers / with a greeting and /metrics with metrics(requests so
// far) until the process is killed.
func serve(port string, metrics func(int) string) {
	var mu sync.Mutex
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the cli test service\n")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		body := metrics(n)
		mu.Unlock()
		fmt.Fprint(w, body)
	})
	err := http.ListenAndServe(net.JoinHostPort(loopbackHost(), port), mux)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// loopbackHost is the loopback address this host's name resolves to, as
// the local scheduler names this host as the jobs' node.
func loopbackHost() string {
	if name, err := os.Hostname(); err == nil {
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

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// hpcorch runs the CLI in-process with args.
func hpcorch(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// localCLI is a folder with a local-mode config.yaml; HOME points into it.
type localCLI struct {
	dir, config string
}

func newLocalCLI(t *testing.T) *localCLI {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	require.NoError(t, os.MkdirAll(home, 0o755))
	t.Setenv("HOME", home)
	cfg := fmt.Sprintf("executor: local\nstate_dir: %s\nmetrics_dir: %s\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "metrics"))
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))

	// The jobs outlive each in-process run, as they outlive the hpcorch
	// command; cancel whatever is left when the test ends.
	t.Cleanup(func() {
		l := slurm.NewLocal(slurm.LocalOptions{
			StateDir: filepath.Join(dir, "state", orchestrator.LocalJobsDir)})
		jobs, _ := l.List(context.Background())
		for _, j := range jobs {
			if j.State.Active() {
				_ = l.Cancel(context.Background(), j.ID)
			}
		}
		_ = l.Close()
	})
	return &localCLI{dir: dir, config: path}
}

func (l *localCLI) run(t *testing.T, args ...string) result {
	t.Helper()
	return hpcorch(t, append([]string{"--config", l.config}, args...)...)
}

// recipe writes a service recipe running this test binary as a server.
func (l *localCLI) recipe(t *testing.T, name string) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l2.Addr().(*net.TCPAddr).Port
	require.NoError(t, l2.Close())

	path := filepath.Join(l.dir, name+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`service:
  name: %s
  command: %s
  environment:
    HPCORCHTEST_SERVE: "1"
  ports: [%d]
  resources:
    time: "00:10:00"
  health_check:
    type: http
    path: /
    timeout: 60s
    interval: 200ms
`, name, exe, port)), 0o644))
	return path
}

func TestHelpAndUsageErrors(t *testing.T) {
	r := hpcorch(t, "--help")
	require.Equal(t, exitOK, r.code)
	for _, s := range specs {
		require.Contains(t, r.stdout, "--"+s.name, "the help lists every flag")
	}

	r = hpcorch(t)
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, "hpcorch: no action given; try --status, --recipe FILE or --help\n"+
		"Run hpcorch --help for usage.\n", r.stderr)
	require.Empty(t, r.stdout)

	r = hpcorch(t, "--stauts")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "did you mean --status?")

	r = hpcorch(t, "--json", "--report", "x")
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, `{"error":"--report needs ID FILE"}`+"\n", r.stderr)
}

func TestMissingConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	r := hpcorch(t, "--status")
	require.Equal(t, exitFail, r.code)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	require.Contains(t, r.stderr, "hpcorch: no config.yaml in this folder")
	require.Contains(t, r.stderr, "executor: local")

	r = hpcorch(t, "--config", "elsewhere.yaml", "--status")
	require.Equal(t, exitFail, r.code)
	require.Contains(t, r.stderr, "config file not found: elsewhere.yaml")
}

func TestListRecipes(t *testing.T) {
	r := hpcorch(t, "--list-recipes")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, name := range recipes.List() {
		require.Regexp(t, `(?m)^   `+regexp.QuoteMeta(name)+` +\S`, r.stdout)
	}

	r = hpcorch(t, "--list-recipes", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var infos []recipeInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &infos))
	require.Len(t, infos, len(recipes.List()))
	byName := map[string]recipeInfo{}
	for _, i := range infos {
		byName[i.Name] = i
	}
	require.True(t, byName["prometheus"].Monitor)
	require.True(t, byName["mini_http_bare"].CAdvisor)
	require.Equal(t, "container", byName["mini_http_container"].Kind)
}

func TestDryRun(t *testing.T) {
	l := newLocalCLI(t)
	r := l.run(t, "--recipe", "mini_http_bare", "--dry-run")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "#!/bin/bash\n"), r.stdout)
	require.Contains(t, r.stdout, "#SBATCH --job-name=mini-http-bare_")
	require.Contains(t, r.stdout, "busybox")

	r = l.run(t, "--recipe", "mini_prometheus", "--dry-run")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "#!/bin/bash\n"), r.stdout)
	require.Contains(t, r.stdout, "#SBATCH --job-name=prometheus_")
	require.Contains(t, r.stdout, "\n# ---- prometheus.yml ----\n")
	require.NotContains(t, r.stdout, "password:", "no secret")

	mon := filepath.Join(l.dir, "mon.yaml")
	require.NoError(t, os.WriteFile(mon, []byte("service:\n  name: prometheus\n"+
		"  monitoring_targets:\n    - service_id: web_12345678\n"), 0o644))
	r = l.run(t, "--recipe", mon, "--dry-run")
	require.Equal(t, exitFail, r.code, r.stdout)
	require.Contains(t, r.stderr, "web_12345678")
	require.Contains(t, r.stderr, "not found")

	st := l.run(t, "--status", "--json")
	require.Contains(t, st.stdout, `"services": []`, "a dry run submits nothing")
}

// TestLocalFlow runs the CLI's service commands on the local scheduler:
// start with --wait, --status, --service-endpoint, --logs, --create-tunnel,
// --stop-service, --stop-all-services.
func TestLocalFlow(t *testing.T) {
	l := newLocalCLI(t)

	r := l.run(t, "--recipe", l.recipe(t, "web"), "--wait")
	require.Equal(t, exitOK, r.code, r.stderr)
	m := regexp.MustCompile(`^Service started: (web_[0-9a-f]{8})\nService ready: ` +
		`web_[0-9a-f]{8} on (\S+) at http://(\S+)\n$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	id, node, addr := m[1], m[2], m[3]
	require.Contains(t, r.stderr, "  "+id+": ", "a progress line")

	r = l.run(t, "--recipe", l.recipe(t, "other"))
	require.Equal(t, exitOK, r.code, r.stderr)
	other := strings.TrimPrefix(strings.TrimSpace(r.stdout), "Service started: ")

	r = l.run(t, "--status")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Equal(t, "Services:", lines[0])
	require.Len(t, lines, 3)
	require.Regexp(t, `^ {9}\d \| `+id+` {3}\| {4}RUNNING \| +\d+:\d\d \| `+
		regexp.QuoteMeta(node)+`$`, lines[1])
	require.Regexp(t, `^ {9}\d \| `+other+` \| `, lines[2])

	r = l.run(t, "--status", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st struct {
		Connection orchestrator.Connection `json:"connection"`
		Services   []job                   `json:"services"`
		Monitors   []job                   `json:"monitors"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.True(t, st.Connection.OK)
	require.Equal(t, "local", st.Connection.Executor)
	require.Len(t, st.Services, 2)
	require.Equal(t, id, st.Services[0].ID)
	require.Equal(t, "RUNNING", st.Services[0].State)
	require.Empty(t, st.Services[0].Reason)
	require.Empty(t, st.Monitors)

	r = l.run(t, "--service-endpoint", id)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "http://"+addr+"\n", r.stdout)

	r = l.run(t, "--logs", id, "--lines", "50")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "hpcorch: ")

	var listed struct {
		Services []struct {
			ID    string `json:"id"`
			JobID string `json:"job_id"`
		} `json:"services"`
	}
	r = l.run(t, "--status", "--json")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &listed), r.stdout)
	var jobID string
	for _, s := range listed.Services {
		if s.ID == id {
			jobID = s.JobID
		}
	}
	require.NotEmpty(t, jobID, r.stdout)
	var logs map[string]string
	r = l.run(t, "--logs", jobID, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &logs), r.stdout)
	require.Equal(t, id, logs["id"], "the service ID, given its job id")
	require.Equal(t, jobID, logs["job_id"])
	require.Contains(t, logs["logs"], "hpcorch: ")

	tunnelThrough(t, l, id)

	r = l.run(t, "--stop-service", id)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "Service stopped: "+id+"\n", r.stdout)

	r = l.run(t, "--stop-service", id)
	require.Equal(t, exitOK, r.code, "stopping an ended service is not an error: %s", r.stderr)
	require.Equal(t, "Service "+id+" already ended (CANCELLED)\n", r.stdout)
	r = l.run(t, "--stop-service", id, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"stopped": []`)
	require.Contains(t, r.stdout, `"already_ended": [`)

	r = l.run(t, "--stop-all-services")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "Service stopped: "+other+"\n", r.stdout)

	r = l.run(t, "--stop-all-services")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "No services running.\n", r.stdout)

	r = l.run(t, "--status")
	require.Equal(t, "Services:\n   (none)\n", r.stdout)

	r = l.run(t, "--stop-service", "nope_12345678")
	require.Equal(t, exitFail, r.code)
	require.Equal(t, "hpcorch: servers: service not found: nope_12345678\n", r.stderr)
	r = l.run(t, "--stop-service", "nope_12345678", "--json")
	require.Equal(t, exitFail, r.code)
	require.Equal(t, `{"error":"servers: service not found: nope_12345678"}`+"\n", r.stderr)
	require.Empty(t, r.stdout)

	r = l.run(t, "--query-metrics", id, "up")
	require.Equal(t, exitFail, r.code)
	require.Contains(t, r.stderr, "is a service, not a monitor")
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tunnelThrough runs --create-tunnel ID 0 until its box is printed,
// fetches the service through it, then ends it as Ctrl-C would.
func tunnelThrough(t *testing.T, l *localCLI, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", l.config, "--create-tunnel", id, "0"}, &out, &errb)
	}()

	urlRE := regexp.MustCompile(`Then access the service at: (http://localhost:\d+)\n`)
	var url string
	require.Eventually(t, func() bool {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "no tunnel box; stderr: %s", errb.String())

	box := out.String()
	require.True(t, strings.HasPrefix(box, strings.Repeat("=", 70)+"\nSSH TUNNEL SETUP\n"), box)
	require.Regexp(t, `To access \S+:\d+ at localhost:\d+,`, box)
	require.NotContains(t, box, "ssh -", "no ssh command for the local executor")

	resp, err := http.Get(url + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "hello from the cli test service\n", string(body))

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code)
	case <-time.After(30 * time.Second):
		t.Fatal("--create-tunnel did not end when its context did")
	}
	require.Equal(t, "Tunnel closed.\n", errb.String())
}

// TestTunnelRemoteNotListening: with nothing listening at the remote port,
// --create-tunnel still prints its box at once, says the port does not
// answer, and closes each connection it could not forward with a line.
func TestTunnelRemoteNotListening(t *testing.T) {
	l := newLocalCLI(t)
	r := l.run(t, "--recipe", l.recipe(t, "web"), "--wait")
	require.Equal(t, exitOK, r.code, r.stderr)
	id := strings.Fields(r.stdout)[2]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", l.config, "--create-tunnel", id, "0", dead},
			&out, &errb)
	}()

	urlRE := regexp.MustCompile(`Then access the service at: http://localhost:(\d+)\n`)
	var port string
	require.Eventually(t, func() bool {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			port = m[1]
			return true
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "no tunnel box; stderr: %s", errb.String())
	require.Eventually(t, func() bool {
		return strings.Contains(errb.String(), ":"+dead+" does not answer yet")
	}, 20*time.Second, 20*time.Millisecond, "stderr: %s", errb.String())

	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.ReadAll(c)
	_ = err // closed or reset: either way the connection ends
	require.Eventually(t, func() bool {
		return strings.Contains(errb.String(), "hpcorch: connection 1 to ") &&
			strings.Contains(errb.String(), "nothing listens at")
	}, 20*time.Second, 20*time.Millisecond, "stderr: %s", errb.String())

	cancel()
	require.Equal(t, exitOK, <-done)
	require.True(t, strings.HasSuffix(errb.String(), "Tunnel closed.\n"), errb.String())
}

func TestWaitFailureIsOneLine(t *testing.T) {
	l := newLocalCLI(t)
	path := l.recipe(t, "dies")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	data = bytes.Replace(data, []byte("command: "+exe), []byte("command: \"false\""), 1)
	require.NoError(t, os.WriteFile(path, data, 0o644))

	r := l.run(t, "--recipe", path, "--wait", "--timeout", "1m")
	require.Equal(t, exitFail, r.code)
	require.Regexp(t, `^Service started: dies_[0-9a-f]{8}\n$`, r.stdout)
	last := r.stderr[strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n")+1:]
	require.True(t, strings.HasPrefix(last, "hpcorch: servers: dies_"), r.stderr)
	require.Contains(t, last, "FAILED (exit 1) before the service was ready")
	require.NotContains(t, last, "still")
}

// TestWaitFailureJobStillRunning: when --wait gives up on a job that
// still runs, the message says so and how to stop it.
func TestWaitFailureJobStillRunning(t *testing.T) {
	l := newLocalCLI(t)
	path := l.recipe(t, "slow")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data = bytes.Replace(data, []byte("    path: /\n"),
		[]byte("    path: /\n    expect: nope-never\n"), 1)
	require.NoError(t, os.WriteFile(path, data, 0o644))

	r := l.run(t, "--recipe", path, "--wait", "--timeout", "3s")
	require.Equal(t, exitFail, r.code)
	m := regexp.MustCompile(`^Service started: (slow_[0-9a-f]{8})\n$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	last := r.stderr[strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n")+1:]
	require.Regexp(t, `\(job \d+ is still RUNNING: hpcorch --stop-service `+m[1]+`\)`, last)
	require.Contains(t, last, `the response does not contain "nope-never"`)
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	pr := orchestrator.Progress{ID: "s_1", State: slurm.StatePending, Reason: "Resources"}
	p.report(pr)
	pr.Waited = 2 * time.Second
	p.report(pr) // same state: nothing new off a terminal
	pr.State, pr.Reason, pr.Node, pr.Waited = slurm.StateRunning, "None", "node2", 5*time.Second
	p.report(pr)
	p.done()
	require.Equal(t, "  s_1: PENDING (Resources), waiting 0:00\n"+
		"  s_1: RUNNING on node2, waiting 0:05\n", b.String())

	b.Reset()
	p = newProgress(&b, true)
	p.report(orchestrator.Progress{ID: "s_1", State: slurm.StatePending, Reason: "Priority"})
	p.report(orchestrator.Progress{ID: "s_1", State: slurm.StateRunning, Node: "n1",
		Waited: 61 * time.Second})
	p.done()
	require.Equal(t, "\r  s_1: PENDING (Priority), waiting 0:00"+
		"\r  s_1: RUNNING on n1, waiting 1:01     \n", b.String())
}

func TestTunnelBox(t *testing.T) {
	var b bytes.Buffer
	tunnelBox{Remote: "mel2074:9090", LocalPort: 9090, URL: "http://localhost:9090",
		SSH:   "ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N user1@login.lxp.lu -p 8822",
		Login: "Prometheus asks for a login: user hpcorch, password in /h/p on the cluster.",
	}.write(&b)
	rule := strings.Repeat("=", 70)
	require.Equal(t, rule+`
SSH TUNNEL SETUP
`+rule+`
To access mel2074:9090 at localhost:9090,
hpcorch forwards it now: keep this command running (Ctrl-C closes
the tunnel).

To forward it with OpenSSH instead, run in a separate terminal:

  ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N user1@login.lxp.lu -p 8822

Then access the service at: http://localhost:9090
Prometheus asks for a login: user hpcorch, password in /h/p on the cluster.
`+rule+"\n", b.String())
}

func TestOneLine(t *testing.T) {
	require.Equal(t, "a", oneLine(fmt.Errorf("a")))
	require.Equal(t, "a", oneLine(fmt.Errorf("a\nlog line")))
}

func TestJSONError(t *testing.T) {
	var b bytes.Buffer
	writeJSONError(&b, errors.Join(errors.New("f.yaml:1:1: a"), errors.New("f.yaml:2:1: b")))
	var got jsonError
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	require.Equal(t, jsonError{Error: "f.yaml:1:1: a",
		Errors: []string{"f.yaml:1:1: a", "f.yaml:2:1: b"}}, got)
	require.Equal(t, 1, strings.Count(b.String(), "\n"), "one line")
}

func TestMessage(t *testing.T) {
	require.Equal(t, "a", message(fmt.Errorf("a")))
	joined := errors.Join(errors.New("f.yaml:1:1: name: unknown key"),
		errors.New("f.yaml:2:1: command: unknown key"))
	require.Equal(t, joined.Error(), message(joined), "every error of a recipe")

	re := &servers.ReadyError{ID: "web_1a2b3c4d", JobID: "7", Err: servers.ErrJobEnded,
		Log: "line 1\nline 2"}
	got := message(fmt.Errorf("wait: %w", re))
	require.NotContains(t, got, "\n")
	require.True(t, strings.HasSuffix(got, " (more with hpcorch --logs web_1a2b3c4d)"), got)
}

// TestSessionFromEnvironment: HPCORCH_SESSION scopes every command like
// --session does.
func TestSessionFromEnvironment(t *testing.T) {
	l := newLocalCLI(t)
	r := l.run(t, "--recipe", l.recipe(t, "outside"))
	require.Equal(t, exitOK, r.code, r.stderr)
	outside := strings.TrimPrefix(strings.TrimSpace(r.stdout), "Service started: ")
	r = l.run(t, "--status", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var all struct {
		Services []job `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &all))
	require.Len(t, all.Services, 1)
	outsideJob := all.Services[0].JobID

	// Another session may neither stop nor see it, by ID or job id.
	for _, id := range []string{outside, outsideJob} {
		r = l.run(t, "--session", "S", "--stop-service", id)
		require.Equal(t, exitFail, r.code, r.stdout)
		require.Contains(t, r.stderr, outside+" (job "+outsideJob+
			") belongs to no session, not S")
		r = l.run(t, "--session", "S", "--service-endpoint", id)
		require.Equal(t, exitFail, r.code, r.stdout)
	}
	r = l.run(t, "--status", "--json")
	require.Contains(t, r.stdout, `"state": "RUNNING"`, "still running")

	t.Setenv(SessionEnv, "mine")
	r = l.run(t, "--recipe", l.recipe(t, "inside"))
	require.Equal(t, exitOK, r.code, r.stderr)
	inside := strings.TrimPrefix(strings.TrimSpace(r.stdout), "Service started: ")

	r = l.run(t, "--status", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st struct {
		Services []job `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Len(t, st.Services, 1)
	require.Equal(t, inside, st.Services[0].ID)
	require.Equal(t, "mine", st.Services[0].Session)

	r = l.run(t, "--stop-all-services")
	require.Equal(t, "Service stopped: "+inside+"\n", r.stdout, "only the session's jobs")

	r = l.run(t, "--session", "other", "--status")
	require.Equal(t, "Services:\n   (none)\n", r.stdout, "--session wins over the variable")
}
