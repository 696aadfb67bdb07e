package servers

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// localEnv is one "cluster" on this machine: a local scheduler state
// folder and a run root, which several Servers (as several processes
// would) share.
type localEnv struct {
	t        *testing.T
	stateDir string
	runRoot  string
}

func newLocalEnv(t *testing.T) *localEnv {
	t.Helper()
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("busybox is needed to serve HTTP in local jobs: make cluster-up " +
				"installs busybox-static")
		}
		t.Skip("busybox is needed to serve HTTP in local jobs")
	}
	dir := t.TempDir()
	return &localEnv{t: t, stateDir: filepath.Join(dir, "state"),
		runRoot: filepath.Join(dir, "run")}
}

// servers returns a new Servers on the env, with its own scheduler value,
// closed when the test ends.
func (e *localEnv) servers(opts Options) *Servers {
	sched := slurm.NewLocal(slurm.LocalOptions{StateDir: e.stateDir, KillWait: 2 * time.Second})
	e.t.Cleanup(func() { _ = sched.Close() })
	opts.RunRoot = e.runRoot
	return New(&sshx.Local{}, sched, opts)
}

// decode parses a recipe written in the test.
func decode(t *testing.T, yaml string) *recipe.Recipe {
	t.Helper()
	r, err := recipe.Decode(strings.NewReader(yaml), t.Name()+".yaml")
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

// httpRecipe is busybox httpd serving dir on ${HPCORCH_PORT}.
func httpRecipe(t *testing.T, name string, port int, dir string) *recipe.Recipe {
	t.Helper()
	return decode(t, fmt.Sprintf(`
service:
  name: %s
  command: busybox
  args: ["httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", %q]
  ports: [%d]
  health_check:
    type: http
    path: /index.html
    expect: hello
    timeout: 30s
    interval: 1s
`, name, dir, port))
}

func wwwDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello\n"), 0o644))
	return dir
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

// TestLocalLifecycle starts a bare service, waits until it is ready, finds
// it from a second Servers (another process), and stops it.
func TestLocalLifecycle(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	a := env.servers(Options{Session: "t1"})
	port := freePort(t)

	svc, err := a.StartService(ctx, httpRecipe(t, "web", port, wwwDir(t)))
	require.NoError(t, err)
	require.Regexp(t, `^web_[0-9a-f]{8}$`, svc.ID)
	require.Equal(t, KindService, svc.Kind)
	require.Equal(t, filepath.Join(env.runRoot, svc.ID), svc.RunDir)
	for name, want := range map[string]fs.FileMode{
		env.runRoot: 0o700, svc.RunDir: 0o700, filepath.Join(svc.RunDir, "service.json"): 0o600,
	} {
		fi, err := os.Stat(name)
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode().Perm(), "%s holds the recipe's environment", name)
	}

	rd, err := a.WaitReady(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, port, rd.Service.Port)
	var phases []Phase
	for _, p := range rd.Phases {
		phases = append(phases, p.Phase)
	}
	require.Equal(t, []Phase{PhasePending, PhaseRunning, PhasePort, PhaseHealth}, phases)

	// A second Servers, as a new process would have, sees it.
	b := env.servers(Options{Session: "t1"})
	list, err := b.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	got := list[0]
	require.Equal(t, svc.ID, got.ID)
	require.Equal(t, svc.JobID, got.JobID)
	require.Equal(t, "web", got.Name)
	require.Equal(t, "t1", got.Session)
	require.Equal(t, slurm.StateRunning, got.State)
	require.Equal(t, port, got.Port)
	require.Equal(t, []int{port}, got.Ports)
	require.NotEmpty(t, got.Node)
	require.NotEmpty(t, got.CgroupID)

	byJob, err := b.CheckServiceStatus(ctx, svc.JobID)
	require.NoError(t, err)
	require.Equal(t, svc.ID, byJob.ID)

	ep, err := b.ServiceEndpoint(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, "http://"+net.JoinHostPort(got.Node, strconv.Itoa(port)), ep)
	require.Equal(t, "hello\n", httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)))

	host, err := b.ServiceHost(ctx, svc.JobID)
	require.NoError(t, err)
	require.Equal(t, got.Node, host)

	logs, err := b.ServiceLogs(ctx, svc.ID, 50)
	require.NoError(t, err)
	require.Contains(t, logs, "hpcorch: starting busybox")

	st, err := b.ReadRunFile(ctx, svc.ID, "status.env")
	require.NoError(t, err)
	require.Contains(t, string(st), "PORT="+strconv.Itoa(port)+"\n")
	_, err = b.ReadRunFile(ctx, svc.ID, "nope.txt")
	require.ErrorIs(t, err, fs.ErrNotExist)

	// Another session's Servers neither lists it nor finds it, by ID or
	// job id, and cannot stop it; one with no session finds it.
	other := env.servers(Options{Session: "t2"})
	list, err = other.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
	for _, id := range []string{svc.ID, svc.JobID} {
		_, err = other.CheckServiceStatus(ctx, id)
		var se *SessionError
		require.ErrorAs(t, err, &se, id)
		require.ErrorIs(t, err, ErrNotFound)
		require.Equal(t, "t1", se.Session)
		require.Contains(t, err.Error(), svc.ID+" (job "+svc.JobID+
			") belongs to session t1, not t2")
		require.ErrorIs(t, other.StopService(ctx, id), ErrNotFound)
		_, err = other.ServiceEndpoint(ctx, id)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = other.ServiceLogs(ctx, id, 5)
		require.ErrorAs(t, err, &se, "logs of %s", id)
	}
	still, err := a.CheckServiceStatus(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, slurm.StateRunning, still.State, "another session's stop is refused")
	_, err = env.servers(Options{}).CheckServiceStatus(ctx, svc.JobID)
	require.NoError(t, err)

	require.NoError(t, b.StopService(ctx, svc.ID))
	after, err := a.CheckServiceStatus(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, slurm.StateCancelled, after.State)
	list, err = a.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	// Stopping a finished service is not an error; an unknown one is.
	require.NoError(t, a.StopService(ctx, svc.ID))
	require.ErrorIs(t, a.StopService(ctx, "web_ffffffff"), ErrNotFound)
	require.ErrorIs(t, a.StopService(ctx, "999999"), ErrNotFound)
	for _, id := range []string{"web_ffffffff", "999999"} {
		_, err = a.ServiceLogs(ctx, id, 5)
		require.ErrorIs(t, err, ErrNotFound, "logs of an unknown %s", id)
	}
	_, err = a.ServiceHost(ctx, svc.ID)
	require.ErrorIs(t, err, ErrNotRunning)

	// The job's trap released the port and stopped httpd.
	_, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	require.Error(t, err)
}

// TestLocalSamePort starts two services asking for one port on one node:
// the second gets another, and both answer (BC-22).
func TestLocalSamePort(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	s := env.servers(Options{Session: "port"})
	port := freePort(t)
	www := wwwDir(t)

	var ids []string
	for _, name := range []string{"one", "two"} {
		svc, err := s.StartService(ctx, httpRecipe(t, name, port, www))
		require.NoError(t, err)
		ids = append(ids, svc.ID)
	}
	seen := map[int]bool{}
	for _, id := range ids {
		rd, err := s.WaitReady(ctx, id)
		require.NoError(t, err)
		seen[rd.Service.Port] = true
		httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", rd.Service.Port))
	}
	require.Len(t, seen, 2, "the two services must bind different ports")
	require.True(t, seen[port], "one of them gets the port asked for")

	stopped, err := s.StopAllServices(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, ids, stopped)
}

// TestLocalEarlyExit: a service that dies before it is ready fails
// WaitReady with its log.
func TestLocalEarlyExit(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	s := env.servers(Options{})
	r := decode(t, `
service:
  name: crash
  command: sh
  args: ["-c", "echo 'cannot open database: no such file'; exit 3"]
  ports: [18080]
`)
	svc, err := s.StartService(ctx, r)
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, svc.ID, re.ID)
	require.Contains(t, re.Log, "cannot open database")
	require.Contains(t, err.Error(), "cannot open database")
	require.Equal(t, 3, re.ExitCode.Code)
}

// TestLocalChecks runs each kind of check against a running service.
func TestLocalChecks(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	s := env.servers(Options{})
	svc, err := s.StartService(ctx, httpRecipe(t, "checks", freePort(t), wwwDir(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), svc.ID) })

	rd, err := s.WaitReady(ctx, svc.ID,
		TCPCheck(0),
		HTTPCheck(0, "/index.html", 200, "hello"),
		LogCheck("hpcorch: starting busybox"),
		CommandCheck("sh", "-c", `test -n "$HPCORCH_PORT"`),
	)
	require.NoError(t, err)
	require.Len(t, rd.Phases, 7)

	// A check that cannot pass times out with ErrCheckTimeout.
	_, err = s.WaitReady(ctx, svc.ID,
		HTTPCheck(0, "/index.html", 200, "goodbye").WithTimeout(time.Second))
	require.ErrorIs(t, err, ErrCheckTimeout)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, PhaseHealth, re.Phase)
}

// countingExec counts Puts, to tell an upload from a reuse.
type countingExec struct {
	sshx.Local
	puts atomic.Int32
}

func (c *countingExec) Put(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	c.puts.Add(1)
	return c.Local.Put(ctx, p, r, mode)
}

// fakeCAdvisor writes a script that behaves like cAdvisor for the job:
// it takes -port= and answers /healthz and /metrics. Each run writes its
// arguments, one a line, to the file args beside the installed binary.
func fakeCAdvisor(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cadvisor")
	script := `#!/bin/sh
printf '%s\n' "$@" >"${0%/*}/args"
port=
for a in "$@"; do case $a in -port=*) port=${a#-port=} ;; esac; done
www=$(mktemp -d)
echo ok >"$www/healthz"
echo 'container_cpu_usage_seconds_total{id="/"} 1' >"$www/metrics"
exec busybox httpd -f -p "$port" -h "$www"
`
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	return bin
}

// TestLocalCAdvisor installs cAdvisor by upload, reuses it, and starts it
// beside a service on its own port.
func TestLocalCAdvisor(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	remote := filepath.Join(t.TempDir(), "bin", "cadvisor")
	src := CAdvisorSource{LocalPath: fakeCAdvisor(t), Path: remote}

	ex := &countingExec{}
	sched := slurm.NewLocal(slurm.LocalOptions{StateDir: env.stateDir})
	t.Cleanup(func() { _ = sched.Close() })
	s := New(ex, sched, Options{RunRoot: env.runRoot, CAdvisor: src})

	got, err := s.InstallCAdvisor(ctx)
	require.NoError(t, err)
	require.Equal(t, remote, got)
	require.EqualValues(t, 1, ex.puts.Load(), "first install uploads")

	// A new Servers finds the same binary installed and does not upload.
	ex2 := &countingExec{}
	s2 := New(ex2, sched, Options{RunRoot: env.runRoot, CAdvisor: src})
	_, err = s2.InstallCAdvisor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, ex2.puts.Load(), "second install reuses")

	cport := freePort(t)
	r := decode(t, fmt.Sprintf(`
service:
  name: withcadvisor
  command: busybox
  args: ["httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", %q]
  ports: [%d]
  enable_cadvisor: true
  cadvisor_port: %d
`, wwwDir(t), freePort(t), cport))
	svc, err := s2.StartService(ctx, r)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s2.StopService(context.Background(), svc.ID) })

	rd, err := s2.WaitReady(ctx, svc.ID)
	require.NoError(t, err)
	require.Equal(t, cport, rd.Service.CAdvisorPort)
	require.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", cport)),
		"container_cpu_usage_seconds_total")

	// Flags for nodes without Docker (BC-24): raw cgroups, a 10 s
	// housekeeping, no labels, and the costly metric kinds left out; the
	// filesystem usage the report shows ("disk") stays.
	args, err := os.ReadFile(filepath.Join(filepath.Dir(remote), "args"))
	require.NoError(t, err)
	flags := strings.Split(strings.TrimSpace(string(args)), "\n")
	require.Contains(t, flags, fmt.Sprintf("-port=%d", cport))
	require.Contains(t, flags, "-housekeeping_interval=10s")
	require.Contains(t, flags, "-docker_only=false")
	require.Contains(t, flags, "-store_container_labels=false")
	require.Contains(t, flags, "-disable_metrics=percpu,sched,tcp,udp,advtcp,hugetlb,"+
		"referenced_memory,cpu_topology,cpuset,memory_numa,process,resctrl,perf_event")

	// Stopping the job stops cAdvisor too.
	require.NoError(t, s2.StopService(ctx, svc.ID))
	_, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", cport), time.Second)
	require.Error(t, err)
}

// TestLocalStopAllLeavesMonitors: StopAllServices stops services only.
func TestLocalStopAllLeavesMonitors(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	s := env.servers(Options{Session: "mon"})
	www := wwwDir(t)

	svc, err := s.StartService(ctx, httpRecipe(t, "svc", freePort(t), www))
	require.NoError(t, err)
	mon, err := s.Start(ctx, httpRecipe(t, "mon", freePort(t), www), StartOptions{
		Kind:    KindMonitor,
		Files:   []File{{Name: "conf/prometheus.yml", Data: []byte("global: {}\n")}},
		Command: []string{"busybox", "httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", www},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), mon.ID) })
	require.Equal(t, KindMonitor, mon.Kind)
	for _, id := range []string{svc.ID, mon.ID} {
		_, err := s.WaitReady(ctx, id)
		require.NoError(t, err)
	}
	conf, err := s.ReadRunFile(ctx, mon.ID, "conf/prometheus.yml")
	require.NoError(t, err)
	require.Equal(t, "global: {}\n", string(conf))

	stopped, err := s.StopAllServices(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{svc.ID}, stopped)

	mons, err := s.List(ctx, KindMonitor)
	require.NoError(t, err)
	require.Len(t, mons, 1)
	require.Equal(t, mon.ID, mons[0].ID)
	require.Equal(t, slurm.StateRunning, mons[0].State)
}

// TestStartRejects covers what Start refuses before submitting anything.
func TestStartRejects(t *testing.T) {
	s := dryRunServers(t, Options{})
	ctx := context.Background()
	r := decode(t, "service:\n  name: x\n  command: echo\n")

	_, err := s.Start(ctx, r, StartOptions{Files: []File{{Name: "../escape"}}})
	require.Error(t, err)
	_, err = s.Start(ctx, r, StartOptions{IDPrefix: "bad prefix"})
	require.Error(t, err)
	_, err = s.Start(ctx, r, StartOptions{Command: []string{"echo", "$(id)"}})
	require.Error(t, err)
	_, err = s.Start(ctx, nil, StartOptions{})
	require.Error(t, err)

	bad := New(&sshx.Local{}, slurm.NewLocal(slurm.LocalOptions{StateDir: t.TempDir()}),
		Options{Session: "a|b", RunRoot: "/tmp/x"})
	_, err = bad.StartService(ctx, r)
	require.Error(t, err)
}

// TestLocalFixedPortBusy: a recipe that hard-codes a port another process
// holds keeps it, fails, and WaitReady says why (BC-22).
func TestLocalFixedPortBusy(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	s := env.servers(Options{})

	// The port's holder answers 503, so that only the service's own
	// answer could pass the health check.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	busy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	go func() { _ = busy.Serve(l) }()
	defer busy.Close()
	port := l.Addr().(*net.TCPAddr).Port

	r := decode(t, fmt.Sprintf(`
service:
  name: fixed
  command: busybox
  args: ["httpd", "-f", "-p", "%d", "-h", %q]
  ports: [%d]
  health_check:
    path: /index.html
    timeout: 30s
`, port, wwwDir(t), port))
	svc, err := s.StartService(ctx, r)
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	require.ErrorIs(t, err, ErrPortInUse)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Contains(t, re.Log, fmt.Sprintf("port %d is busy", port))
}

// TestLocalPortTakenBeforeBind: when another process takes the chosen port
// between the job's choice and the service's bind (another user's job, whose
// reservations this one cannot see), the job chooses again and the service
// comes up on a free port (BC-22).
func TestLocalPortTakenBeforeBind(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	s := env.servers(Options{})
	www := wwwDir(t)
	port := freePort(t)

	// The first run plays both parts: a squatter (serving an empty folder)
	// takes the port, then the service fails as a bind would. The second
	// run serves.
	flag := filepath.Join(t.TempDir(), "squatted")
	svc, err := s.StartService(ctx, decode(t, fmt.Sprintf(`
service:
  name: race
  command: sh
  args:
    - -c
    - |
      if [ ! -e %[1]s ]; then
        touch %[1]s
        busybox httpd -f -p "${HPCORCH_PORT}" -h %[4]s &
        sleep 2 # busybox listens in milliseconds; this is ample
        echo "bind: address already in use" >&2
        exit 1
      fi
      exec busybox httpd -f -p "${HPCORCH_PORT}" -h %[2]s
  ports: [%[3]d]
  health_check: {type: http, path: /index.html, expect: hello, timeout: 30s}
`, flag, www, port, t.TempDir())))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), svc.ID) })

	rd, err := s.WaitReady(ctx, svc.ID)
	require.NoError(t, err)
	require.NotEqual(t, port, rd.Service.Port, "the taken port is left to its taker")
	require.Equal(t, "hello\n", httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html",
		rd.Service.Port)))
	logs, err := s.ServiceLogs(ctx, svc.ID, 50)
	require.NoError(t, err)
	require.Contains(t, logs, fmt.Sprintf("port %d was taken on", port))
	require.Equal(t, 2, strings.Count(logs, "hpcorch: starting sh"), logs)
}
