package monitors

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGroupMetrics(t *testing.T) {
	names := []string{
		"up", "scrape_duration_seconds", "scrape_samples_scraped",
		"go_goroutines", "go_info",
		"machine_cpu_cores",
	}
	cadvisor := []string{
		"container_cpu_usage_seconds_total", "container_cpu_user_seconds_total",
		"container_cpu_system_seconds_total", "container_memory_usage_bytes",
		"container_memory_working_set_bytes", "container_memory_rss", "container_memory_cache",
		"container_network_receive_bytes_total", "container_network_transmit_bytes_total",
		"container_fs_usage_bytes", "container_fs_limit_bytes",
		"container_spec_memory_limit_bytes", "container_last_seen",
	}
	got := groupMetrics(append(names, cadvisor...))

	byPrefix := map[string][]string{}
	var order []string
	for _, g := range got {
		byPrefix[g.Prefix] = g.Names
		order = append(order, g.Prefix)
	}
	assert.IsIncreasing(t, order)
	assert.Equal(t, []string{"container_cpu_system_seconds_total",
		"container_cpu_usage_seconds_total",
		"container_cpu_user_seconds_total"}, byPrefix["container_cpu"])
	assert.Len(t, byPrefix["container_memory"], 4)
	assert.Len(t, byPrefix["container_network"], 2)
	assert.Len(t, byPrefix["container_fs"], 2)
	assert.Equal(t, []string{"go_goroutines", "go_info"}, byPrefix["go"],
		"small families stay whole")
	assert.Equal(t, []string{"up"}, byPrefix["up"])
	assert.Equal(t, []string{"scrape_duration_seconds", "scrape_samples_scraped"},
		byPrefix["scrape"])
	assert.NotContains(t, byPrefix, "container")
}

func TestListAvailableMetrics(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	groups, err := m.ListAvailableMetrics(ctxT(t), svc.ID)
	require.NoError(t, err)
	require.NotEmpty(t, groups)

	total := 0
	prefixes := map[string]bool{}
	for _, g := range groups {
		prefixes[g.Prefix] = true
		for _, n := range g.Names {
			assert.True(t, strings.HasPrefix(n, g.Prefix), "%s in %s", n, g.Prefix)
			total++
		}
	}
	assert.Greater(t, total, 100, "every name of the recorded answer")
	assert.True(t, prefixes["up"])
	assert.True(t, prefixes["prometheus_tsdb"], "Prometheus' large family is split")
}

func TestShowMetricsDefaultsToUp(t *testing.T) {
	m, stub, id := queryFixture(t, "up", "query_up")
	res, err := m.ShowMetrics(ctxT(t), id, " ")
	require.NoError(t, err)
	assert.Equal(t, "up", res.Query)
	assert.Contains(t, res.String(), `hpcorch_service="a_1"`)

	var queries []string
	for _, r := range stub.requests() {
		queries = append(queries, r.query)
	}
	assert.Contains(t, queries, "up")
}
