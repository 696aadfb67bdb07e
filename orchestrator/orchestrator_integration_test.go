//go:build integration

package orchestrator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// The reference's queries; each must answer for every monitored service.
var referenceQueries = []string{
	`up{job=~".*cadvisor"}`,
	`container_memory_usage_bytes`,
	`rate(container_cpu_usage_seconds_total[5m])`,
	`rate(container_network_receive_bytes_total[5m])`,
}

// metricsDeadline bounds the wait for series: cAdvisor publishes every
// 10 s and rates need two samples.
const metricsDeadline = 3 * time.Minute

// longCtx is a context for a whole cluster test: it ends with the test, or
// after ten minutes.
func longCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clusterConfig writes a config.yaml for the throwaway cluster, as a user
// would, and returns its path.
func clusterConfig(t *testing.T, c *clustertest.Cluster) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`hpc:
  hostname: %s
  port: %d
  username: %s
  key_filename: %s
  known_hosts: %s
metrics_dir: %s
`, c.SSHHost, c.SSHPort, c.User, c.KeyFile, c.KnownHosts, filepath.Join(dir, "metrics"))
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// openCluster opens an Orchestrator on the cluster with base's settings,
// and stops every job of its session when the test ends.
func openCluster(t *testing.T, c *clustertest.Cluster, base Config) *Orchestrator {
	t.Helper()
	cfg, err := LoadConfig(clusterConfig(t, c))
	require.NoError(t, err)
	base.CAdvisor = servers.CAdvisorSource{LocalPath: c.CAdvisorBin}
	o, err := OpenConfig(testCtx(t), cfg, base)
	require.NoError(t, err)
	t.Cleanup(func() {
		if base.Session != "" {
			stopSession(o, base.Session)
		}
		require.NoError(t, o.Close())
	})
	return o
}

// stopSession cancels every job tagged with session.
func stopSession(o *Orchestrator, session string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := servers.New(o.Executor(), o.Scheduler(), servers.Options{Session: session})
	for _, k := range []servers.Kind{servers.KindService, servers.KindMonitor} {
		list, _ := srv.List(ctx, k)
		for _, s := range list {
			_ = srv.StopService(ctx, s.ID)
		}
	}
}

// pinned is a catalog recipe bound to node.
func pinned(t *testing.T, name, node string) *recipe.Recipe {
	t.Helper()
	r, err := recipes.Load(name)
	require.NoError(t, err)
	r.Service.Resources.NodeList = node
	return r
}

// monitorRecipe is the catalog's bare Prometheus on node, scraping the
// cAdvisor of each service.
func monitorRecipe(t *testing.T, node string, svcs ...*servers.Service) *recipe.Recipe {
	t.Helper()
	r := pinned(t, "mini_prometheus", node)
	for _, s := range svcs {
		r.Service.MonitoringTargets = append(r.Service.MonitoringTargets, recipe.Target{
			ServiceID: s.ID, JobName: s.Name + "-cadvisor", Port: recipe.DefaultCAdvisorPort})
	}
	return r
}

// untilCovered repeats a query until it has series for every service.
func untilCovered(t *testing.T, o *Orchestrator, monID, q string, svcIDs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(longCtx(t), metricsDeadline)
	defer cancel()
	var missing []string
	for {
		res, err := o.Monitors.QueryMetrics(ctx, monID, q)
		require.NoError(t, err, q)
		missing = missingServices(res, svcIDs)
		if len(missing) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no series for %v within %s", q, missing, metricsDeadline)
		case <-time.After(2 * time.Second):
		}
	}
}

// missingServices returns the IDs with no series in res.
func missingServices(res *monitors.QueryResult, ids []string) []string {
	found := map[string]bool{}
	for _, line := range strings.Split(res.String(), "\n") {
		for _, id := range ids {
			if strings.Contains(line, monitors.LabelService+`="`+id+`"`) {
				found[id] = true
			}
		}
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// TestClusterQuickStart runs the reference's Quick Start through the Go
// API: two services with cAdvisor on two nodes (Apptainer and bare), a
// monitor on a third, a tunnel to it, the reference's queries for both
// services, metrics, a metrics file, a report, and stopping everything.
func TestClusterQuickStart(t *testing.T) {
	c := clustertest.Env(t)
	session := "it-orch-" + randomHex()
	o := openCluster(t, c, Config{Session: session})
	ctx := longCtx(t)
	node1, node2, node3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	// Step 1: two services, both ready, with progress reported.
	ctr, err := o.Servers.StartService(ctx, pinned(t, "mini_http_container", node1))
	require.NoError(t, err)
	bare, err := o.Servers.StartService(ctx, pinned(t, "mini_http_bare", node2))
	require.NoError(t, err)
	var reports atomic.Int32
	count := func(Progress) { reports.Add(1) }
	ctrReady, err := o.WaitReady(ctx, ctr.ID, count)
	require.NoError(t, err)
	bareReady, err := o.WaitReady(ctx, bare.ID, count)
	require.NoError(t, err)
	require.GreaterOrEqual(t, reports.Load(), int32(2))
	require.Equal(t, node1, ctrReady.Node)
	require.Equal(t, node2, bareReady.Node)
	require.NotZero(t, ctrReady.CAdvisorPort)
	require.NotZero(t, bareReady.CAdvisorPort)

	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	require.True(t, st.Connection.OK)
	require.Equal(t, "ssh", st.Connection.Executor)
	require.Equal(t, "slurm", st.Connection.Scheduler)
	require.Equal(t, fmt.Sprintf("%s@%s:%d", c.User, c.SSHHost, c.SSHPort), st.Connection.Login)
	require.Len(t, st.Services, 2)
	require.Equal(t, ctr.ID, st.Services[0].ID)
	require.Equal(t, slurm.StateRunning, st.Services[0].State)
	require.Equal(t, node1, st.Services[0].Node)
	require.Equal(t, bare.ID, st.Services[1].ID)
	require.Equal(t, node2, st.Services[1].Node)
	require.Empty(t, st.Monitors)

	// Steps 2 and 3: Prometheus on the third node, monitoring both.
	mon, err := o.Monitors.StartMonitor(ctx, monitorRecipe(t, node3, ctrReady, bareReady))
	require.NoError(t, err)
	monReady, err := o.WaitReady(ctx, mon.ID, nil)
	require.NoError(t, err)
	require.Equal(t, node3, monReady.Node)

	st, err = o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.Monitors, 1)
	require.Equal(t, mon.ID, st.Monitors[0].ID)
	var show strings.Builder
	require.NoError(t, o.ShowMonitorsStatus(ctx, &show))
	require.Contains(t, show.String(), "| "+mon.ID+" |    RUNNING |")
	require.Contains(t, show.String(), fmt.Sprintf("http://%s:%d", node3, monReady.Port))

	// Step 4: a tunnel, and requests through it.
	tun, err := o.OpenTunnel(ctx, mon.ID, 0, 0)
	require.NoError(t, err)
	require.Contains(t, o.SSHCommand(tun), fmt.Sprintf("-L %d:%s:%d -N %s@%s -p %d",
		tun.Port(), node3, monReady.Port, c.User, c.SSHHost, c.SSHPort))
	require.Contains(t, o.SSHCommand(tun), "UserKnownHostsFile="+c.KnownHosts)
	user, pw, err := o.Monitors.Credentials(ctx, mon.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status(t, tun.URL()+"/-/ready", "", ""))
	require.Equal(t, http.StatusOK, status(t, tun.URL()+"/-/ready", user, pw))

	// Step 6: the reference's queries answer for both services.
	for _, q := range referenceQueries {
		untilCovered(t, o, mon.ID, q, ctr.ID, bare.ID)
	}
	groups, err := o.Monitors.ListAvailableMetrics(ctx, mon.ID)
	require.NoError(t, err)
	require.Contains(t, metricNames(groups), "container_memory_usage_bytes")

	file, err := o.Monitors.CollectMetricsToFile(ctx, mon.ID, "up", "up.json")
	require.NoError(t, err)
	mf, err := monitors.ReadMetricsFile(file)
	require.NoError(t, err)
	require.False(t, mf.NoData)
	require.Equal(t, mon.ID, mf.MonitorID)

	rep := reportCovering(t, o, mon.ID, ctr.ID, bare.ID)
	require.FileExists(t, rep.HTMLPath)

	// Step 8: stop everything; nothing of the session stays active.
	require.NoError(t, o.Monitors.StopMonitor(ctx, mon.ID))
	require.NoError(t, o.Servers.StopService(ctx, ctr.ID))
	require.NoError(t, o.Servers.StopService(ctx, bare.ID))
	require.Eventually(t, func() bool {
		st, err := o.SystemStatus(ctx)
		return err == nil && len(st.Services) == 0 && len(st.Monitors) == 0
	}, time.Minute, 500*time.Millisecond)
}

// TestClusterBenchmarkSession: StartBenchmarkSession brings up a service,
// its monitor and a tunnel, all ready; another process finds the session
// and stops it.
func TestClusterBenchmarkSession(t *testing.T) {
	c := clustertest.Env(t)
	mr, err := recipes.Load("mini_prometheus")
	require.NoError(t, err)
	o := openCluster(t, c, Config{MonitorRecipe: mr})
	ctx := longCtx(t)

	s, err := o.StartBenchmarkSession(ctx, pinned(t, "mini_http_bare", c.Nodes[0]))
	require.NoError(t, err)
	t.Cleanup(func() { stopSession(o, s.ID) })
	require.True(t, strings.HasPrefix(s.ID, SessionPrefix), s.ID)
	require.Equal(t, s.ID, s.Service.Session)
	require.Equal(t, slurm.StateRunning, s.Service.State)
	require.Equal(t, slurm.StateRunning, s.Monitor.State)

	user, pw, err := o.Monitors.Credentials(ctx, s.Monitor.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status(t, s.PrometheusURL+"/-/ready", user, pw))
	untilCovered(t, o, s.Monitor.ID, `up`, s.Service.ID)

	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	var found *SessionStatus
	for i := range st.Sessions {
		if st.Sessions[i].ID == s.ID {
			found = &st.Sessions[i]
		}
	}
	require.NotNil(t, found, "the session is listed")
	require.Equal(t, []string{s.Service.ID}, found.Services)
	require.Equal(t, []string{s.Monitor.ID}, found.Monitors)
	require.Equal(t, s.PrometheusURL, found.PrometheusURL)

	// A second Orchestrator, as another process, stops the session.
	o2 := openCluster(t, c, Config{})
	require.NoError(t, o2.StopBenchmarkSession(ctx, s.ID))
	for _, id := range []string{s.Service.ID, s.Monitor.ID} {
		svc, err := o2.Servers.CheckServiceStatus(ctx, id)
		require.NoError(t, err)
		require.Contains(t, []slurm.State{slurm.StateCancelled, slurm.StateCompleting},
			svc.State, id)
	}
}

// reportCovering builds a report until it covers every service (a young
// monitor may not have samples in its window yet).
func reportCovering(t *testing.T, o *Orchestrator, monID string,
	ids ...string) *monitors.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(longCtx(t), metricsDeadline)
	defer cancel()
	for {
		rep, err := o.Monitors.ConstructReport(ctx, monID, "report.json")
		require.NoError(t, err)
		covered := map[string]bool{}
		for _, s := range rep.Services {
			covered[s.Service] = true
		}
		all := true
		for _, id := range ids {
			all = all && covered[id]
		}
		if all {
			return rep
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the report never covered %v", ids)
		case <-time.After(3 * time.Second):
		}
	}
}

// status GETs url, with basic auth when user is set, and returns the
// status code.
func status(t *testing.T, url, user, pw string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func metricNames(groups []monitors.MetricGroup) []string {
	var names []string
	for _, g := range groups {
		names = append(names, g.Names...)
	}
	return names
}
