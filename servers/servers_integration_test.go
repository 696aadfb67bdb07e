//go:build integration

package servers

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// cluster is one test's view of the throwaway cluster: a session of its
// own (so that StopAllServices touches no other test's jobs) and a
// cAdvisor install folder of its own (so that the upload is seen).
type cluster struct {
	t        *testing.T
	env      *clustertest.Cluster
	session  string
	cadvisor CAdvisorSource
}

func newCluster(t *testing.T) *cluster {
	env := clustertest.Env(t)
	session := "it-" + randomHex()
	c := &cluster{t: t, env: env, session: session, cadvisor: CAdvisorSource{
		LocalPath: env.CAdvisorBin,
		Path:      "$HOME/.hpcorch-test/" + session + "/bin/cadvisor",
	}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := c.servers(nil)
		for _, k := range []Kind{KindService, KindMonitor} {
			list, _ := s.List(ctx, k)
			for _, svc := range list {
				_ = s.StopService(ctx, svc.ID)
			}
		}
		_, _, _ = s.exec.Run(ctx, "rm -rf \"$HOME\"/.hpcorch-test/"+session, nil)
		if !t.Failed() {
			// The session's run folders; a failed test keeps them to look at.
			_, _, _ = s.exec.Run(ctx, `for f in "$HOME"/.hpcorch/run/*/service.json; do `+
				`grep -q '"session": "`+session+`"' "$f" && rm -rf "${f%/service.json}"; `+
				`done; true`, nil)
		}
	})
	return c
}

// dial opens a new SSH connection, as a new process would.
func (c *cluster) dial() *sshx.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            c.env.SSHHost,
		Port:            c.env.SSHPort,
		User:            c.env.User,
		IdentityFiles:   []string{c.env.KeyFile},
		KnownHostsFiles: []string{c.env.KnownHosts},
	})
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = client.Close() })
	return client
}

// servers returns a Servers over a new connection; exec, when not nil,
// wraps the connection.
func (c *cluster) servers(wrap func(sshx.Executor) sshx.Executor) *Servers {
	var exec sshx.Executor = c.dial()
	if wrap != nil {
		exec = wrap(exec)
	}
	return New(exec, slurm.New(exec, slurm.Options{}), Options{
		Session:  c.session,
		CAdvisor: c.cadvisor,
	})
}

// putCounter counts uploads.
type putCounter struct {
	sshx.Executor
	puts atomic.Int32
}

func (p *putCounter) Put(ctx context.Context, path string, r io.Reader, m fs.FileMode) error {
	p.puts.Add(1)
	return p.Executor.Put(ctx, path, r, m)
}

// get GETs url from the login node's side, through the Executor.
func get(ctx context.Context, exec sshx.Executor, url string) (int, string, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext:       exec.DialContext,
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func catalog(t *testing.T, name string) *recipe.Recipe {
	t.Helper()
	r, err := recipes.Load(name)
	require.NoError(t, err)
	return r
}

// TestClusterServices runs the two catalog recipes for the throwaway
// cluster, bare and in Apptainer, each with cAdvisor installed by upload
// and then reused, and follows them from a second process.
func TestClusterServices(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// cAdvisor: uploaded once, then found installed by a new process.
	pc := &putCounter{}
	first := c.servers(func(e sshx.Executor) sshx.Executor { pc.Executor = e; return pc })
	bin, err := first.InstallCAdvisor(ctx)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(bin, c.env.Home+"/"), bin)
	require.EqualValues(t, 1, pc.puts.Load(), "the first install uploads")

	pc2 := &putCounter{}
	a := c.servers(func(e sshx.Executor) sshx.Executor { pc2.Executor = e; return pc2 })
	_, err = a.InstallCAdvisor(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, pc2.puts.Load(), "a second install reuses the binary")

	bare, err := a.StartService(ctx, catalog(t, "mini_http_bare"))
	require.NoError(t, err)
	ctr, err := a.StartService(ctx, catalog(t, "mini_http_container"))
	require.NoError(t, err)

	for _, svc := range []*Service{bare, ctr} {
		rd, err := a.WaitReady(ctx, svc.ID)
		require.NoError(t, err, "%s", svc.ID)
		t.Logf("%s ready in %s: %+v", svc.ID, rd.Total, rd.Phases)
	}

	// The other kinds of check, run from the login node and in the job.
	_, err = a.WaitReady(ctx, bare.JobID,
		TCPCheck(0).WithTimeout(time.Minute),
		LogCheck("hpcorch: starting busybox").WithTimeout(time.Minute),
		CommandCheck("sh", "-c", `test "$(hostname)" = "$HPCORCH_HOST"`).WithTimeout(time.Minute),
	)
	require.NoError(t, err)

	// A second process lists both, with what their jobs reported.
	b := c.servers(nil)
	list, err := b.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	cgroup := regexp.MustCompile(`^/slurm_(node\d)/uid_\d+/job_(\d+)$`)
	for _, svc := range list {
		t.Logf("listed: %+v", svc)
		require.Equal(t, slurm.StateRunning, svc.State, svc.ID)
		require.Contains(t, c.env.Nodes, svc.Node)
		require.NotZero(t, svc.Port)
		require.NotZero(t, svc.CAdvisorPort)
		m := cgroup.FindStringSubmatch(svc.CgroupID)
		require.NotNil(t, m, "cgroup %q", svc.CgroupID)
		require.Equal(t, svc.Node, m[1])
		require.Equal(t, svc.JobID, m[2])

		// The port is reachable from the login node.
		ep, err := b.ServiceEndpoint(ctx, svc.ID)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("http://%s:%d", svc.Node, svc.Port), ep)
		code, body, err := get(ctx, b.Executor(), ep+"/")
		require.NoError(t, err)
		require.Less(t, code, 500)
		if svc.ID == ctr.ID {
			require.Contains(t, body, "hello from the hpcorch test image")
		}

		// cAdvisor answers and reports the job's cgroup.
		want := `id="` + svc.CgroupID + `"`
		url := fmt.Sprintf("http://%s:%d/metrics", svc.Node, svc.CAdvisorPort)
		found := false
		bo := newBackoff(500 * time.Millisecond)
		for !found {
			_, metrics, err := get(ctx, b.Executor(), url)
			found = err == nil && strings.Contains(metrics, want)
			if !found {
				require.NoError(t, bo.wait(ctx), "%s never showed %s", url, want)
			}
		}
	}

	logs, err := b.ServiceLogs(ctx, ctr.ID, 20)
	require.NoError(t, err)
	t.Logf("%s output:\n%s", ctr.ID, logs)

	// Stopping from the second process ends both jobs.
	for _, svc := range list {
		require.NoError(t, b.StopService(ctx, svc.JobID))
	}
	bo := newBackoff(200 * time.Millisecond)
	for {
		list, err = a.ListRunningServices(ctx)
		require.NoError(t, err)
		if len(list) == 0 {
			break
		}
		require.NoError(t, bo.wait(ctx), "services still listed: %+v", list)
	}
	require.NoError(t, a.StopService(ctx, bare.ID), "stopping a stopped service")
}

// TestClusterSamePortOneNode starts two services asking for the same port
// on the same node: both work, on different ports (BC-22).
func TestClusterSamePortOneNode(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := c.servers(nil)

	node := c.env.Nodes[0]
	var svcs []*Service
	for range 2 {
		r := catalog(t, "mini_http_bare")
		r.Service.EnableCAdvisor = false
		r.Service.Resources.NodeList = node
		svc, err := s.StartService(ctx, r)
		require.NoError(t, err)
		svcs = append(svcs, svc)
	}
	ports := map[int]bool{}
	for _, svc := range svcs {
		rd, err := s.WaitReady(ctx, svc.ID)
		require.NoError(t, err)
		require.Equal(t, node, rd.Service.Node)
		ports[rd.Service.Port] = true
		code, _, err := get(ctx, s.Executor(),
			"http://"+node+":"+strconv.Itoa(rd.Service.Port)+"/")
		require.NoError(t, err)
		require.Less(t, code, 500)
	}
	require.Len(t, ports, 2, "each service has its own port")
}

// TestClusterPortTakenBeforeBind: on SLURM too, a job whose port was taken
// between its choice and its service's bind runs its script again (the
// copy slurmd keeps) and serves on a free port (BC-22).
func TestClusterPortTakenBeforeBind(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := c.servers(nil)

	flag := "$HOME/.hpcorch-test/" + c.session + "/squatted-$SLURM_JOB_ID"
	r, err := recipe.Decode(strings.NewReader(`
service:
  name: race
  command: sh
  args:
    - -c
    - |
      mkdir -p "${HOME}/.hpcorch-test/`+c.session+`"
      if [ ! -e "`+flag+`" ]; then
        touch "`+flag+`"
        busybox httpd -f -p "${HPCORCH_PORT}" -h /tmp &
        sleep 2 # busybox listens in milliseconds; this is ample
        exit 1
      fi
      exec busybox httpd -f -p "${HPCORCH_PORT}" -h "${HOME}/www"
  ports: [18600]
  health_check: {type: http, path: /index.html, expect: hello, timeout: 60s}
  resources: {nodelist: `+c.env.Nodes[1]+`}
`), "race.yaml")
	require.NoError(t, err)
	svc, err := s.StartService(ctx, r)
	require.NoError(t, err)

	rd, err := s.WaitReady(ctx, svc.ID)
	require.NoError(t, err)
	logs, err := s.ServiceLogs(ctx, svc.ID, 50)
	require.NoError(t, err)
	m := regexp.MustCompile(`port (\d+) was taken on ` + c.env.Nodes[1]).FindStringSubmatch(logs)
	require.NotNil(t, m, logs)
	require.NotEqual(t, m[1], strconv.Itoa(rd.Service.Port), "the taken port is left alone")
	code, body, err := get(ctx, s.Executor(),
		"http://"+c.env.Nodes[1]+":"+strconv.Itoa(rd.Service.Port)+"/index.html")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	require.Contains(t, body, "hello")
}

// TestClusterEarlyExit: a service that exits at once fails WaitReady with
// its log.
func TestClusterEarlyExit(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := c.servers(nil)

	r, err := recipe.Decode(strings.NewReader(`
service:
  name: early-exit
  command: sh
  args: ["-c", "echo 'fatal: config file missing' >&2; exit 4"]
  ports: [18080]
  resources:
    time: "00:05:00"
    mem: 50M
`), "early-exit.yaml")
	require.NoError(t, err)
	svc, err := s.StartService(ctx, r)
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Contains(t, re.Log, "fatal: config file missing")
	require.Equal(t, 4, re.ExitCode.Code, "squeue prints no exit code; sacct or status.env does")
	require.Contains(t, err.Error(), "FAILED (exit 4) before the service was ready")
	require.Contains(t, err.Error(), ": fatal: config file missing\n",
		"the service's last line ends the first line")
	t.Log(err)

	// A job that fails before its service starts (its image is missing)
	// tells its exit code too.
	r, err = recipe.Decode(strings.NewReader(`
service:
  name: early-fail
  container_image: /nonexistent/hpcorch-missing.sif
  command: "true"
  resources:
    time: "00:05:00"
    mem: 50M
`), "early-fail.yaml")
	require.NoError(t, err)
	svc, err = s.StartService(ctx, r)
	require.NoError(t, err)
	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	require.ErrorAs(t, err, &re)
	require.Equal(t, "FAILED", re.State.String(), "%v", err)
	require.NotZero(t, re.ExitCode.Code, "%v", err)
	require.NotContains(t, err.Error(), "(exit 0)")
	t.Log(err)
}

// TestClusterStopAllLeavesMonitors: StopAllServices stops the session's
// services and leaves its monitors running.
func TestClusterStopAllLeavesMonitors(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := c.servers(nil)

	r := catalog(t, "mini_http_bare")
	r.Service.EnableCAdvisor = false
	svc, err := s.StartService(ctx, r)
	require.NoError(t, err)
	mon, err := s.Start(ctx, r, StartOptions{Kind: KindMonitor, IDPrefix: "monitor"})
	require.NoError(t, err)
	for _, id := range []string{svc.ID, mon.ID} {
		_, err := s.WaitReady(ctx, id)
		require.NoError(t, err)
	}

	stopped, err := c.servers(nil).StopAllServices(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{svc.ID}, stopped)

	mons, err := s.List(ctx, KindMonitor)
	require.NoError(t, err)
	require.Len(t, mons, 1)
	require.Equal(t, mon.ID, mons[0].ID)
	require.Equal(t, slurm.StateRunning, mons[0].State)
	require.NoError(t, s.StopService(ctx, mon.ID))
}
