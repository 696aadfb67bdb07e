//go:build integration

package monitors_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// cluster is one test's view of the throwaway cluster, with a servers
// session of its own and a cAdvisor install folder of its own.
type cluster struct {
	t        *testing.T
	env      *clustertest.Cluster
	session  string
	cadvisor servers.CAdvisorSource
}

func newCluster(t *testing.T) *cluster {
	env := clustertest.Env(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	session := "mon-it-" + hex.EncodeToString(b)
	c := &cluster{t: t, env: env, session: session, cadvisor: servers.CAdvisorSource{
		LocalPath: env.CAdvisorBin,
		Path:      "$HOME/.hpcorch-test/" + session + "/bin/cadvisor",
	}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		srv := c.servers()
		for _, k := range []servers.Kind{servers.KindService, servers.KindMonitor} {
			list, _ := srv.List(ctx, k)
			for _, svc := range list {
				_ = srv.StopService(ctx, svc.ID)
			}
		}
		_, _, _ = srv.Executor().Run(ctx, "rm -rf \"$HOME\"/.hpcorch-test/"+session, nil)
	})
	return c
}

// servers returns a Servers over a new SSH connection, as a new process
// would have.
func (c *cluster) servers() *servers.Servers {
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
	return servers.New(client, slurm.New(client, slurm.Options{}), servers.Options{
		Session: c.session, CAdvisor: c.cadvisor,
	})
}

// eventually calls check every interval until it reports true, failing the
// test with its last message when ctx ends first.
func eventually(ctx context.Context, t *testing.T, interval time.Duration, check func() (bool,
	string)) {
	t.Helper()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, msg := check()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up: %s", msg)
		case <-tick.C:
		}
	}
}

// serviceOn starts the bare mini HTTP service with cAdvisor on node.
func serviceOn(ctx context.Context, t *testing.T, srv *servers.Servers,
	node string) *servers.Service {
	t.Helper()
	r, err := recipes.Load("mini_http_bare")
	require.NoError(t, err)
	r.Service.Resources.NodeList = node
	svc, err := srv.StartService(ctx, r)
	require.NoError(t, err)
	_, err = srv.WaitReady(ctx, svc.ID)
	require.NoError(t, err, "%s", svc.ID)
	got, err := srv.CheckServiceStatus(ctx, svc.ID)
	require.NoError(t, err)
	require.NotZero(t, got.CAdvisorPort, "%s reported no cAdvisor port", svc.ID)
	require.NotEmpty(t, got.CgroupID)
	require.Equal(t, node, got.Node)
	return got
}

func monitorRecipe(t *testing.T, a, b *servers.Service) *recipe.Recipe {
	t.Helper()
	yaml := fmt.Sprintf(`
service:
  name: prometheus
  command: prometheus
  monitoring_targets:
    - service_id: %s
      job_name: svc-a-cadvisor
    - service_id: %s
      job_name: svc-b-cadvisor
  scrape_interval: 5s
  retention: 1d
  resources:
    time: "00:20:00"
    mem: 512M
    cpus_per_task: 1
    nodelist: node3
  ports: [9090]
`, a.ID, b.ID)
	r, err := recipe.Decode(strings.NewReader(yaml), "it-monitor.yaml")
	require.NoError(t, err)
	return r
}

// vectorFor runs q and returns its samples, failing on errors.
func vectorFor(ctx context.Context, t *testing.T, m *monitors.Monitors, id, q string) model.Vector {
	t.Helper()
	res, err := m.QueryMetrics(ctx, id, q)
	require.NoError(t, err, q)
	v, ok := res.Value.(model.Vector)
	require.True(t, ok, "%s gave %T", q, res.Value)
	return v
}

// TestClusterMonitor follows the reference's Quick Start through the Go
// API: two services with cAdvisor on node1 and node2, a monitor on node3,
// the reference's queries, a target added and removed live, a report, and
// the monitor found and stopped by a second process.
func TestClusterMonitor(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	srv := c.servers()
	a := serviceOn(ctx, t, srv, "node1")
	b := serviceOn(ctx, t, srv, "node2")
	t.Logf("services: %s on %s (cAdvisor %d, %s), %s on %s (cAdvisor %d, %s)",
		a.ID, a.Node, a.CAdvisorPort, a.CgroupID, b.ID, b.Node, b.CAdvisorPort, b.CgroupID)

	metricsDir := t.TempDir()
	mons := monitors.New(srv, monitors.Options{MetricsDir: metricsDir})
	defer mons.Close()
	mon, err := mons.StartMonitor(ctx, monitorRecipe(t, a, b))
	require.NoError(t, err)
	require.Regexp(t, `^prometheus_[0-9a-f]{8}$`, mon.ID)

	readyCtx, readyCancel := context.WithTimeout(ctx, 3*time.Minute)
	mon, err = mons.WaitReady(readyCtx, mon.ID)
	readyCancel()
	require.NoError(t, err)
	require.Equal(t, "node3", mon.Node)
	require.NotZero(t, mon.Port)
	t.Logf("monitor %s ready at %s", mon.ID, mon.Endpoint)

	st, err := mons.CheckMonitorStatus(ctx, mon.ID)
	require.NoError(t, err)
	require.Equal(t, "running", st.Status)
	require.Equal(t, []string{"node3"}, st.Nodes)
	require.False(t, st.StartedAt.IsZero())
	ep, err := mons.MonitorEndpoint(ctx, mon.ID)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("http://node3:%d", mon.Port), ep)

	// Both targets up, each with hpcorch's labels.
	for job, svc := range map[string]*servers.Service{"svc-a-cadvisor": a, "svc-b-cadvisor": b} {
		v := vectorFor(ctx, t, mons, mon.ID, `up{job="`+job+`"}`)
		require.Len(t, v, 1, job)
		require.Equal(t, model.SampleValue(1), v[0].Value, job)
		require.Equal(t, model.LabelValue(svc.ID), v[0].Metric["hpcorch_service"])
		require.Equal(t, model.LabelValue(svc.JobID), v[0].Metric["job_id"])
		require.Equal(t, model.LabelValue(svc.Node), v[0].Metric["node"])
		require.Equal(t, model.LabelValue(svc.CgroupID), v[0].Metric["hpcorch_cgroup"])
		require.Equal(t, model.LabelValue(svc.Node), v[0].Metric["instance"],
			"instance is the node's name")
		require.Equal(t, model.LabelValue(fmt.Sprintf("%s:%d", svc.Node, svc.CAdvisorPort)),
			v[0].Metric["address"])
	}

	// The reference's filter on the node's host name.
	for _, svc := range []*servers.Service{a, b} {
		q := fmt.Sprintf(`container_memory_usage_bytes{instance=%q}`, svc.Node)
		v := vectorFor(ctx, t, mons, mon.ID, q)
		require.NotEmpty(t, v, q)
		for _, s := range v {
			require.Equal(t, model.LabelValue(svc.ID), s.Metric["hpcorch_service"], q)
		}
	}

	// The reference's queries, each with data for both services: memory,
	// CPU rate, and the filter on one service's container (its cgroup,
	// since Apptainer-less jobs have no name label).
	require.NotEmpty(t, vectorFor(ctx, t, mons, mon.ID, "container_memory_usage_bytes"))
	for _, svc := range []*servers.Service{a, b} {
		sel := fmt.Sprintf(`hpcorch_service=%q,id=%q`, svc.ID, svc.CgroupID)
		mem := vectorFor(ctx, t, mons, mon.ID, `container_memory_usage_bytes{`+sel+`}`)
		require.Len(t, mem, 1, svc.ID)
		require.Greater(t, float64(mem[0].Value), 0.0)

		q := `sum(rate(container_cpu_usage_seconds_total{` + sel + `}[1m]))`
		eventually(ctx, t, 2*time.Second, func() (bool, string) {
			res, err := mons.QueryMetrics(ctx, mon.ID, q)
			require.NoError(t, err)
			return !res.NoData(), q + " has no data yet"
		})
	}
	for _, q := range []string{
		"rate(container_cpu_usage_seconds_total[1m])",
		"rate(container_cpu_usage_seconds_total[5m])",
		`container_memory_usage_bytes{job=~".*cadvisor"}`,
	} {
		res, err := mons.QueryMetrics(ctx, mon.ID, q)
		require.NoError(t, err, q)
		require.False(t, res.NoData(), q)
	}

	// Metric names, grouped.
	groups, err := mons.ListAvailableMetrics(ctx, mon.ID)
	require.NoError(t, err)
	prefixes := map[string]bool{}
	for _, g := range groups {
		prefixes[g.Prefix] = true
	}
	require.True(t, prefixes["container_memory"], "%v", prefixes)
	require.True(t, prefixes["up"])

	// A metrics file with its provenance.
	path, err := mons.CollectMetricsToFile(ctx, mon.ID, "up", "up.json")
	require.NoError(t, err)
	f, err := monitors.ReadMetricsFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(f.PrometheusVersion, "2."), f.PrometheusVersion)
	require.Equal(t, mon.ID, f.MonitorID)

	// A target added live, scraped, then removed, without a restart.
	extra := recipe.Target{Host: a.Node, Port: recipe.Port(a.CAdvisorPort),
		JobName: "extra-cadvisor"}
	require.NoError(t, mons.AddTarget(ctx, mon.ID, extra))
	eventually(ctx, t, time.Second, func() (bool, string) {
		v := vectorFor(ctx, t, mons, mon.ID, `up{job="extra-cadvisor"}`)
		return len(v) == 1 && v[0].Value == 1, fmt.Sprintf("extra target not up: %v", v)
	})
	require.NoError(t, mons.RemoveTarget(ctx, mon.ID, "extra-cadvisor"))
	eventually(ctx, t, time.Second, func() (bool, string) {
		ts, err := mons.Targets(ctx, mon.ID)
		require.NoError(t, err)
		for _, x := range ts {
			if x.Job == "extra-cadvisor" {
				return false, "extra target still scraped"
			}
		}
		return true, ""
	})

	// A report with series for both services.
	rep, err := mons.ConstructReport(ctx, mon.ID, "report.json")
	require.NoError(t, err)
	byService := map[string]monitors.ServiceReport{}
	for _, s := range rep.Services {
		byService[s.Service] = s
	}
	for _, svc := range []*servers.Service{a, b} {
		s, ok := byService[svc.ID]
		require.True(t, ok, "no report for %s: %+v", svc.ID, rep.Services)
		require.Greater(t, s.Availability.UpSeconds, 0.0)
		for _, ms := range s.Metrics {
			if ms.Name == "cpu" || ms.Name == "memory_usage" {
				require.NotEmpty(t, ms.Points, "%s %s", svc.ID, ms.Name)
				require.Equal(t, "cgroup", ms.Scope)
			}
		}
	}
	page, err := os.ReadFile(rep.HTMLPath)
	require.NoError(t, err)
	require.Contains(t, string(page), "<svg")

	// Without the password, Prometheus refuses.
	hc := &http.Client{Transport: &http.Transport{DialContext: srv.Executor().DialContext}}
	for _, auth := range []string{"", "wrong"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/api/v1/query?query=up",
			nil)
		require.NoError(t, err)
		if auth != "" {
			req.SetBasicAuth(monitors.User, auth)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "password %q", auth)
	}

	// A second process finds the monitor, queries it and stops it.
	srv2 := c.servers()
	mons2 := monitors.New(srv2, monitors.Options{})
	defer mons2.Close()
	list, err := mons2.ListRunningMonitors(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, mon.ID, list[0].ID)
	v := vectorFor(ctx, t, mons2, mon.ID, `up{job="svc-b-cadvisor"}`)
	require.Len(t, v, 1)
	services, err := srv2.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Len(t, services, 2, "the monitor is not a service")

	require.NoError(t, mons2.StopMonitor(ctx, mon.ID))
	eventually(ctx, t, 500*time.Millisecond, func() (bool, string) {
		list, err := mons2.ListRunningMonitors(ctx)
		require.NoError(t, err)
		return len(list) == 0, fmt.Sprintf("still listed: %+v", list)
	})
	_, err = mons.QueryMetrics(ctx, mon.ID, "up")
	require.Error(t, err, "the first process sees it gone")
	services, err = srv2.ListRunningServices(ctx)
	require.NoError(t, err)
	require.Len(t, services, 2, "stopping the monitor leaves the services")
}

// TestClusterMonitorInContainer runs the monitor under Apptainer: the test
// image (busybox) with the cluster's Prometheus binary and its libc bound
// in, since no registry is reachable. It scrapes itself and one cAdvisor.
func TestClusterMonitorInContainer(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	srv := c.servers()
	a := serviceOn(ctx, t, srv, "node1")
	yaml := fmt.Sprintf(`
service:
  name: prometheus
  command: /opt/prom/prometheus
  monitoring_targets:
    - service_id: %s
      job_name: svc-cadvisor
  scrape_interval: 5s
  container:
    image_path: %s
    bind_mounts:
      - %s:/opt/prom/prometheus:ro
      - /lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro
      - /lib64:/lib64:ro
  resources:
    time: "00:10:00"
    mem: 512M
    nodelist: node2
  ports: [9090]
`, a.ID, c.env.TestImage, c.env.PrometheusBin)
	r, err := recipe.Decode(strings.NewReader(yaml), "it-container-monitor.yaml")
	require.NoError(t, err)

	mons := monitors.New(srv, monitors.Options{MetricsDir: t.TempDir()})
	defer mons.Close()
	mon, err := mons.StartMonitor(ctx, r)
	require.NoError(t, err)
	id := mon.ID
	t.Cleanup(func() { _ = mons.StopMonitor(context.Background(), id) })
	readyCtx, readyCancel := context.WithTimeout(ctx, 3*time.Minute)
	mon, err = mons.WaitReady(readyCtx, id)
	readyCancel()
	if err != nil {
		logs, _ := srv.ServiceLogs(ctx, id, 30)
		t.Fatalf("%v\njob output:\n%s", err, logs)
	}
	require.Equal(t, "node2", mon.Node)

	for _, job := range []string{"prometheus", "svc-cadvisor"} {
		v := vectorFor(ctx, t, mons, mon.ID, `up{job="`+job+`"}`)
		require.Len(t, v, 1, job)
		require.Equal(t, model.SampleValue(1), v[0].Value, job)
	}
	require.NoError(t, mons.StopMonitor(ctx, mon.ID))
}
