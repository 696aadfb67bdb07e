package monitors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// targetsFixture starts a monitor of twoTargets on the fake backend and
// returns it with its run folder.
func targetsFixture(t *testing.T) (*Monitors, *fakeBackend, *Monitor) {
	t.Helper()
	b := newFakeBackend(t)
	twoServices(b)
	m := newTestMonitors(t, b)
	mon, err := m.StartMonitor(ctxT(t), monitorRecipe(t, twoTargets))
	require.NoError(t, err)
	b.set(mon.ID, func(s *servers.Service) { s.State = slurm.StateRunning; s.Node = "node3" })
	return m, b, mon
}

func readGroups(t *testing.T, dir, file string) []targetGroup {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	var groups []targetGroup
	require.NoError(t, json.Unmarshal(data, &groups))
	return groups
}

func readRecord(t *testing.T, dir string) record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	require.NoError(t, err)
	var rec record
	require.NoError(t, json.Unmarshal(data, &rec))
	return rec
}

func TestAddTargetToExistingJob(t *testing.T) {
	m, b, mon := targetsFixture(t)
	b.add(servers.Service{ID: "redis_99999999", JobID: "50", Kind: servers.KindService,
		State: slurm.StateRunning, Node: "node2", CAdvisorPort: 8080,
		CgroupID: "/slurm_node2/uid_2001/job_50"})

	err := m.AddTarget(ctxT(t), mon.ID, recipe.Target{ServiceID: "redis_99999999",
		JobName: "redis-cadvisor"})
	require.NoError(t, err)

	groups := readGroups(t, mon.RunDir, "targets-job-redis-cadvisor.json")
	require.Len(t, groups, 2)
	assert.Equal(t, []string{"node2:8080"}, groups[1].Targets)
	assert.Equal(t, map[string]string{LabelService: "redis_99999999", LabelJobID: "50",
		LabelNode: "node2", LabelCgroup: "/slurm_node2/uid_2001/job_50"}, groups[1].Labels)
	assert.Len(t, readRecord(t, mon.RunDir).Jobs[0].Targets, 2)

	entries, err := os.ReadDir(mon.RunDir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file left: %s", e.Name())
	}

	err = m.AddTarget(ctxT(t), mon.ID, recipe.Target{ServiceID: "redis_99999999",
		JobName: "redis-cadvisor"})
	assert.ErrorIs(t, err, ErrTargetExists)
}

func TestAddTargetNewJobAndRemove(t *testing.T) {
	m, _, mon := targetsFixture(t)
	ctx := ctxT(t)
	cfgBefore, err := os.ReadFile(filepath.Join(mon.RunDir, configFile))
	require.NoError(t, err)

	require.NoError(t, m.AddTarget(ctx, mon.ID, recipe.Target{Host: "node1", Port: 9100,
		JobName: "node-exporter"}))
	groups := readGroups(t, mon.RunDir, "targets-added-node-exporter.json")
	require.Len(t, groups, 1)
	assert.Equal(t, "node-exporter", groups[0].Labels["job"],
		"the catch-all job takes the job label")

	cfgAfter, err := os.ReadFile(filepath.Join(mon.RunDir, configFile))
	require.NoError(t, err)
	assert.Equal(t, string(cfgBefore), string(cfgAfter), "no config change, no restart")

	// A second process sees the added target.
	other := newTestMonitors(t, m.b.(*fakeBackend))
	require.NoError(t, other.RemoveTarget(ctx, mon.ID, "node1:9100"))
	assert.Empty(t, readGroups(t, mon.RunDir, "targets-added-node-exporter.json"))

	require.NoError(t, m.RemoveTarget(ctx, mon.ID, "ollama_5e6f7a8b"))
	assert.Empty(t, readGroups(t, mon.RunDir, "targets-job-ollama-cadvisor.json"))
	assert.Len(t, readGroups(t, mon.RunDir, "targets-job-redis-cadvisor.json"), 1,
		"others untouched")

	require.NoError(t, m.RemoveTarget(ctx, mon.ID, "specific-node"), "by job name")
	assert.Empty(t, readGroups(t, mon.RunDir, "targets-job-specific-node.json"))

	err = m.RemoveTarget(ctx, mon.ID, "nothing:1")
	assert.ErrorIs(t, err, ErrTargetNotFound)
}

func TestTargetsOfUnknownMonitor(t *testing.T) {
	m, _, _ := targetsFixture(t)
	err := m.AddTarget(ctxT(t), "prometheus_ffffffff", recipe.Target{Host: "node1"})
	assert.ErrorIs(t, err, ErrMonitorNotFound)
	err = m.RemoveTarget(ctxT(t), "redis_1a2b3c4d", "x")
	assert.ErrorIs(t, err, ErrMonitorNotFound)
}
