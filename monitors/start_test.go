package monitors

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

func monitorRecipe(t *testing.T, yaml string) *recipe.Recipe {
	t.Helper()
	r, err := recipe.Decode(strings.NewReader(yaml), "monitor.yaml")
	require.NoError(t, err)
	return r
}

const twoTargets = `
service:
  name: prometheus
  monitoring_targets:
    - service_id: redis_1a2b3c4d
      job_name: redis-cadvisor
      port: 8080
    - service_id: ollama_5e6f7a8b
      job_name: ollama-cadvisor
    - host: node3
      job_name: specific-node
      port: 9100
  scrape_interval: 5s
  environment:
    PROMETHEUS_RETENTION_TIME: "30d"
  resources:
    time: "00:30:00"
  ports: [9090]
`

// twoServices adds the services twoTargets names: redis reported its
// cAdvisor port and cgroup, ollama its cAdvisor port only.
func twoServices(b *fakeBackend) {
	b.add(servers.Service{ID: "redis_1a2b3c4d", JobID: "41", Kind: servers.KindService,
		State: slurm.StateRunning, Node: "node1", Nodes: []string{"node1"}, CAdvisorPort: 8089,
		CgroupID: "/slurm_node1/uid_2001/job_41"})
	b.add(servers.Service{ID: "ollama_5e6f7a8b", JobID: "43", Kind: servers.KindService,
		State: slurm.StateRunning, Node: "node2", Nodes: []string{"node2"}, CAdvisorPort: 8080})
}

// TestStartMonitorTargetWithoutCAdvisor: a service_id target whose service
// reports no cAdvisor is refused, and nothing is submitted, rather than
// scraping whatever another job runs on the default port of its node.
func TestStartMonitorTargetWithoutCAdvisor(t *testing.T) {
	b := newFakeBackend(t)
	twoServices(b)
	b.set("ollama_5e6f7a8b", func(s *servers.Service) { s.CAdvisorPort = 0 })
	m := newTestMonitors(t, b)

	_, err := m.StartMonitor(ctxT(t), monitorRecipe(t, twoTargets))
	require.ErrorIs(t, err, ErrNoCAdvisor)
	assert.Contains(t, err.Error(), "target service ollama_5e6f7a8b reports no cAdvisor")
	assert.Contains(t, err.Error(), "enable_cadvisor: true")
	assert.Empty(t, b.started, "no job for a monitor that cannot scrape its target")

	// Every faulty target is named at once.
	unknown := strings.Replace(twoTargets, "redis_1a2b3c4d", "redis_ffffffff", 1)
	_, err = m.StartMonitor(ctxT(t), monitorRecipe(t, unknown))
	require.ErrorIs(t, err, ErrNoCAdvisor)
	assert.Contains(t, err.Error(), "redis_ffffffff")
	assert.Contains(t, err.Error(), "ollama_5e6f7a8b reports no cAdvisor")

	// A dry run shows the script, and says that the start would fail.
	out, err := m.DryRun(ctxT(t), monitorRecipe(t, twoTargets))
	require.NoError(t, err)
	require.Len(t, out.Notes, 1)
	assert.Contains(t, out.Notes[0], "ollama_5e6f7a8b reports no cAdvisor: starting the "+
		"monitor would fail")
}

func TestStartMonitor(t *testing.T) {
	b := newFakeBackend(t)
	twoServices(b)
	m := newTestMonitors(t, b)

	mon, err := m.StartMonitor(ctxT(t), monitorRecipe(t, twoTargets))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(mon.ID, "prometheus_"), mon.ID)
	assert.Equal(t, "pending", mon.Status)
	assert.Equal(t, []string{}, mon.Nodes)
	assert.WithinDuration(t, time.Now(), mon.SubmittedAt, time.Minute)

	require.Len(t, b.started, 1)
	o := b.started[0]
	assert.Equal(t, servers.KindMonitor, o.Kind)
	assert.Equal(t, IDPrefix, o.IDPrefix)

	files := map[string]servers.File{}
	for _, f := range o.Files {
		files[f.Name] = f
	}
	require.Contains(t, files, passwordFile)
	assert.Equal(t, os.FileMode(0o600), files[passwordFile].Mode, "the password is private")
	assert.Equal(t, os.FileMode(0o600), files[webConfigFile].Mode)
	pw := strings.TrimSpace(string(files[passwordFile].Data))
	assert.Len(t, pw, 32)
	assert.NotContains(t, string(files[webConfigFile].Data), pw)
	assert.Contains(t, string(files[configFile].Data), "scrape_interval: 5s")

	var rec record
	require.NoError(t, json.Unmarshal(files[recordFile].Data, &rec))
	assert.Equal(t, "30d", rec.Retention, "retention from PROMETHEUS_RETENTION_TIME")
	require.Len(t, rec.Jobs, 3)
	assert.Equal(t, scrapeTarget{Job: "redis-cadvisor", ServiceID: "redis_1a2b3c4d", JobID: "41",
		Host: "node1", Port: 8089, Cgroup: "/slurm_node1/uid_2001/job_41"}, rec.Jobs[0].Targets[0],
		"the reported cAdvisor port wins over the recipe's")
	assert.Equal(t, 8080, rec.Jobs[1].Targets[0].Port, "the reported cAdvisor port")
	assert.Equal(t, "node2", rec.Jobs[1].Targets[0].Host)
	assert.Equal(t, scrapeTarget{Job: "specific-node", Host: "node3", Port: 9100},
		rec.Jobs[2].Targets[0])
	for _, j := range rec.Jobs {
		assert.Contains(t, files, j.File)
	}

	assert.Equal(t, []string{
		"sh", "-c", selfScript, "hpcorch-prometheus", "${HPCORCH_PORT}", "${HPCORCH_NODE}",
		"prometheus",
		"--config.file=${HPCORCH_RUN_DIR}/prometheus.yml",
		"--storage.tsdb.path=${HPCORCH_RUN_DIR}/data",
		"--web.listen-address=0.0.0.0:${HPCORCH_PORT}",
		"--web.config.file=${HPCORCH_RUN_DIR}/web.yml",
		"--storage.tsdb.retention.time=30d",
	}, o.Command)

	// The monitor's password is read back from its run folder.
	b.set(mon.ID, func(s *servers.Service) { s.State = slurm.StateRunning; s.Node = "node3" })
	user, got, err := m.Credentials(ctxT(t), mon.ID)
	require.NoError(t, err)
	assert.Equal(t, User, user)
	assert.Equal(t, pw, got)
	var web struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	require.NoError(t, yaml.Unmarshal(files[webConfigFile].Data, &web))
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(web.Users[User]), []byte(pw)))
}

func TestStartMonitorDefaults(t *testing.T) {
	b := newFakeBackend(t)
	m := newTestMonitors(t, b)
	r := monitorRecipe(t, `
service:
  name: mon
  command: /usr/bin/prometheus
  args: ["--log.level=debug"]
  monitoring_targets: []
`)
	_, err := m.StartMonitor(ctxT(t), r)
	require.NoError(t, err)

	require.Len(t, b.recipes, 1)
	assert.Equal(t, []recipe.Port{DefaultPort}, b.recipes[0].Service.Ports, "a port to choose from")
	assert.Empty(t, r.Service.Ports, "the caller's recipe is not changed")

	cmd := b.started[0].Command
	assert.Equal(t, "/usr/bin/prometheus", cmd[6])
	assert.Equal(t, "--storage.tsdb.retention.time=15d", cmd[len(cmd)-2])
	assert.Equal(t, "--log.level=debug", cmd[len(cmd)-1], "the recipe's args come last")

	var rec record
	require.NoError(t, json.Unmarshal(b.started[0].Files[3].Data, &rec))
	assert.Equal(t, "15s", rec.ScrapeInterval)
	assert.Empty(t, rec.Jobs)
}

func TestStartMonitorRefusals(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       error
		text       string
	}{
		{"not a monitor", "service:\n  name: redis\n  command: redis-server\n", nil,
			"not a monitor"},
		{"unknown service",
			"service:\n  name: prometheus\n  monitoring_targets:\n" +
				"    - service_id: nope_00000000\n",
			servers.ErrNotFound, "nope_00000000"},
		{"reserved job name", "service:\n  name: prometheus\n  monitoring_targets:\n" +
			"    - host: node1\n      job_name: prometheus\n", nil, "hpcorch's own"},
		{"pending service",
			"service:\n  name: prometheus\n  monitoring_targets:\n" +
				"    - service_id: pend_00000000\n",
			servers.ErrNotRunning, "PENDING"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newFakeBackend(t)
			b.add(servers.Service{ID: "pend_00000000", JobID: "9", Kind: servers.KindService,
				State: slurm.StatePending})
			m := newTestMonitors(t, b)

			_, err := m.StartMonitor(ctxT(t), monitorRecipe(t, tc.yaml))
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Contains(t, err.Error(), tc.text)
			assert.Empty(t, b.started, "nothing submitted")
		})
	}
}

// TestSelfScript runs the self-target script as the job runs it.
func TestSelfScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	cmd := exec.Command(sh, "-c", selfScript, "hpcorch-prometheus", "19090", "node3", "sh", "-c",
		`echo "ran $1"`, "x", "ok")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "ran ok\n", string(out), "the rest of the arguments run")

	data, err := os.ReadFile(filepath.Join(dir, selfTargets))
	require.NoError(t, err)
	var groups []targetGroup
	require.NoError(t, json.Unmarshal(data, &groups))
	assert.Equal(t, []targetGroup{{Targets: []string{"localhost:19090"},
		Labels: map[string]string{LabelNode: "node3"}}}, groups)
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temporary file left")
}

func TestSelfScriptNamesNoVariable(t *testing.T) {
	// The job's shell expands $NAME and ${NAME} in command words; the
	// script must reach sh unchanged.
	for i := 0; i < len(selfScript)-1; i++ {
		if selfScript[i] != '$' {
			continue
		}
		c := selfScript[i+1]
		ok := c >= '0' && c <= '9' || c == '@'
		assert.True(t, ok, "variable reference at %d: %q", i, selfScript[i:])
	}
	assert.False(t, strings.Contains(selfScript, "`") || strings.Contains(selfScript, "$("))
}

func TestMonitorStatusStopListEndpoint(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	b.add(servers.Service{ID: "redis_1a2b3c4d", JobID: "41", Kind: servers.KindService,
		State: slurm.StateRunning, Node: "node1"})
	m := newTestMonitors(t, b)
	ctx := ctxT(t)

	st, err := m.CheckMonitorStatus(ctx, svc.ID)
	require.NoError(t, err)
	host, port := stub.addr()
	assert.Equal(t, svc.ID, st.ID)
	assert.Equal(t, "running", st.Status)
	assert.Equal(t, "42", st.JobID)
	assert.Equal(t, []string{host}, st.Nodes)
	assert.Equal(t, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), st.SubmittedAt)
	assert.WithinDuration(t, time.Now().Add(-10*time.Minute), st.StartedAt, 5*time.Second)

	js, err := json.Marshal(st)
	require.NoError(t, err)
	for _, key := range []string{"monitor_id", "status", "job_id", "nodes", "submitted_at",
		"started_at"} {
		assert.Contains(t, string(js), `"`+key+`"`, "the reference's keys")
	}

	byJob, err := m.CheckMonitorStatus(ctx, "42")
	require.NoError(t, err)
	assert.Equal(t, svc.ID, byJob.ID, "a job id works too")

	ep, err := m.MonitorEndpoint(ctx, svc.ID)
	require.NoError(t, err)
	assert.Equal(t, "http://"+host+":"+itoa(port), ep)

	list, err := m.ListRunningMonitors(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "services are never listed")
	assert.Equal(t, svc.ID, list[0].ID)

	_, err = m.CheckMonitorStatus(ctx, "redis_1a2b3c4d")
	assert.ErrorIs(t, err, ErrMonitorNotFound, "a service is not a monitor")
	assert.ErrorIs(t, m.StopMonitor(ctx, "redis_1a2b3c4d"), ErrMonitorNotFound)
	_, err = m.CheckMonitorStatus(ctx, "prometheus_ffffffff")
	assert.ErrorIs(t, err, ErrMonitorNotFound)
	assert.True(t, errors.Is(err, servers.ErrNotFound))

	require.NoError(t, m.StopMonitor(ctx, svc.ID))
	assert.Equal(t, []string{svc.ID}, b.stopped)
	_, err = m.MonitorEndpoint(ctx, svc.ID)
	assert.ErrorIs(t, err, ErrNotRunning)

	assert.Equal(t, []string{"prometheus"}, m.ListAvailableMonitors(ctx))
}

// TestDryRun renders a monitor without starting it: the script, the
// Prometheus config and the targets files, resolved like StartMonitor's.
func TestDryRun(t *testing.T) {
	b := newFakeBackend(t)
	twoServices(b)
	m := newTestMonitors(t, b)

	out, err := m.DryRun(ctxT(t), monitorRecipe(t, twoTargets))
	require.NoError(t, err)
	require.Empty(t, b.started, "nothing submitted")
	require.Len(t, b.dryRuns, 1)
	assert.Contains(t, out.Script, "prometheus --config.file=${HPCORCH_RUN_DIR}/prometheus.yml")
	assert.Contains(t, out.Files[configFile], "job_name: redis-cadvisor")
	assert.Contains(t, out.Files[configFile], "target_label: instance")
	assert.Contains(t, out.Files["targets-job-redis-cadvisor.json"], `"node1:8089"`)
	assert.Contains(t, out.Files["targets-job-ollama-cadvisor.json"], `"node2:8080"`)
	assert.Contains(t, out.Files["targets-job-specific-node.json"], `"node3:9100"`)
	assert.NotContains(t, out.Files, passwordFile, "no secret in a dry run")
	assert.NotContains(t, out.Files, webConfigFile)
	assert.Empty(t, out.Notes)

	// A pending service is shown, and noted; an unknown one is an error.
	b.set("ollama_5e6f7a8b", func(s *servers.Service) {
		s.State, s.Node, s.Nodes = slurm.StatePending, "", nil
	})
	out, err = m.DryRun(ctxT(t), monitorRecipe(t, twoTargets))
	require.NoError(t, err)
	require.Len(t, out.Notes, 1)
	assert.Contains(t, out.Notes[0], "ollama_5e6f7a8b is not running yet")

	unknown := strings.Replace(twoTargets, "redis_1a2b3c4d", "redis_ffffffff", 1)
	_, err = m.DryRun(ctxT(t), monitorRecipe(t, unknown))
	require.ErrorIs(t, err, servers.ErrNotFound)
	require.ErrorContains(t, err, "redis_ffffffff")

	_, err = m.DryRun(ctxT(t), monitorRecipe(t, "service:\n  name: web\n  command: x\n"))
	require.ErrorContains(t, err, "not a monitor")
}
