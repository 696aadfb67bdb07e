package recipe

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"enable_cadvsior", "enable_cadvisor", 1}, // transposition
		{"contianer", "container", 1},
		{"kitten", "sitting", 3},
		{"partiton", "partition", 1},
		{"ab", "ba", 1},
		{"héllo", "hello", 1}, // runes, not bytes
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, editDistance(tc.a, tc.b), "%q vs %q", tc.a, tc.b)
		require.Equal(t, tc.want, editDistance(tc.b, tc.a), "%q vs %q", tc.b, tc.a)
	}
}

func TestSuggestions(t *testing.T) {
	service := structFields(typeOf[Service]()).keys
	resources := structFields(typeOf[Resources]()).keys
	tests := []struct {
		key   string
		keys  []string
		exact string
		near  string
	}{
		{"enable_cadvsior", service, "", "enable_cadvisor"},
		{"Name", service, "name", "name"},
		{"health-check", service, "health_check", "health_check"},
		{"HealthCheck", service, "health_check", ""},
		{"env", service, "environment", ""},
		{"commnd", service, "", "command"},
		{"partiton", resources, "", "partition"},
		{"walltime", resources, "time", ""},
		{"gpus", resources, "gres", ""},
		{"CPUs-Per-Task", resources, "cpus_per_task", ""},
		{"zzzz", resources, "", ""},
		{"qso", resources, "", "qos"},
		{"x", resources, "", ""},
	}
	for _, tc := range tests {
		require.Equal(t, tc.exact, exactMatch(tc.key, tc.keys), "exact %q", tc.key)
		if tc.near != "" || tc.exact == "" {
			require.Equal(t, tc.near, nearest(tc.key, tc.keys), "nearest %q", tc.key)
		}
	}
}

func TestFieldIndex(t *testing.T) {
	idx := fieldIndex(typeOf[Recipe]())
	require.Equal(t, []string{"service.resources"}, idx["time"])
	require.Equal(t, []string{""}, idx["service"])
	require.Equal(t, []string{"service.health_check", "service.monitoring_targets[]"},
		idx["port"])

	cfg := fieldIndex(typeOf[Config]())
	require.Equal(t, []string{"slurm"}, cfg["partition"])
	require.Equal(t, []string{"hpc"}, cfg["hostname"])
}

func TestSuggest(t *testing.T) {
	names := []string{"redis", "redis_with_cadvisor", "mini_http_bare", "prometheus"}
	require.Equal(t, "redis_with_cadvisor", Suggest("redis_with_cadvsior", names))
	require.Equal(t, "mini_http_bare", Suggest("mini-http-bare", names))
	require.Equal(t, "prometheus", Suggest("promethues", names))
	require.Equal(t, "", Suggest("ollama", names))
}
