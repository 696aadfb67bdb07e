package recipe

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The files in testdata/reference are the YAML examples of the reference
// documentation, copied byte for byte. Each must load and validate
// unchanged.
func TestReferenceExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/reference/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 10)

	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := Load(f)
			require.NoError(t, err)
			require.NoError(t, r.Validate())
			require.NotEmpty(t, r.Service.Name)
		})
	}
}

func TestReferenceExampleValues(t *testing.T) {
	r, err := Load("testdata/reference/ollama_monitored.yaml")
	require.NoError(t, err)
	s := r.Service
	require.Equal(t, "ollama", s.Name)
	require.Equal(t, "ollama", s.Command)
	require.Equal(t, []string{"serve"}, s.Args)
	require.True(t, s.EnableCAdvisor)
	require.Equal(t, Port(8080), s.CAdvisorPort)
	require.Equal(t, KindContainer, s.Kind())
	require.Equal(t, "docker://ollama/ollama:latest", s.Container.Source())
	require.Equal(t, "$HOME/containers/ollama_latest.sif", s.ImagePath())
	require.Equal(t, Resources{Time: "02:00:00", Partition: "gpu", Gres: "gpu:1",
		Mem: "16GB"}, s.Resources)
	require.Equal(t, "16G", s.Resources.MemArg())
	require.Equal(t, map[string]string{"OLLAMA_HOST": "0.0.0.0:11434"}, s.Environment)
	require.Equal(t, []Port{11434}, s.Ports)
	require.False(t, s.IsMonitor())

	r, err = Load("testdata/reference/prometheus_multi_node.yaml")
	require.NoError(t, err)
	s = r.Service
	require.True(t, s.IsMonitor())
	require.Equal(t, "30d", s.RetentionTime())
	require.Equal(t, []Target{
		{ServiceID: "ollama_abc123", JobName: "ollama-gpu-node", Port: 8080},
		{ServiceID: "redis_def456", JobName: "redis-cpu-node", Port: 8080},
		{ServiceID: "chroma_ghi789", JobName: "chroma-vector-db", Port: 8080},
		{Host: "mel2074", JobName: "specific-node", Port: 8080},
	}, s.MonitoringTargets)

	r, err = Load("testdata/reference/step2_prometheus_target.yaml")
	require.NoError(t, err)
	require.Equal(t, KindBare, r.Service.Kind())
	require.Equal(t, "prometheus", r.Service.Program())
	require.Equal(t, DefaultRetention, r.Service.RetentionTime())
}

// The reference shows monitoring_targets alone, to be pasted under
// service:. On its own it is not a recipe, and the error says where the key
// belongs; pasted under a prometheus service, it loads.
func TestReferenceFragment(t *testing.T) {
	const f = "testdata/reference/fragment/monitoring_targets.yaml"
	_, err := Load(f)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrUnknownKey)
	require.Contains(t, err.Error(), `unknown key "monitoring_targets" here; it belongs `+
		`under service`)

	frag, err := os.ReadFile(f)
	require.NoError(t, err)
	indented := regexp.MustCompile(`(?m)^(.)`).ReplaceAllString(string(frag), "  $1")
	doc := "service:\n  name: prometheus\n" + indented
	r, err := Decode(strings.NewReader(doc), "pasted.yaml")
	require.NoError(t, err)
	require.Len(t, r.Service.MonitoringTargets, 2)
	require.Equal(t, "redis-cadvisor", r.Service.MonitoringTargets[1].Job())
}

// The copies in testdata must match the documentation's blocks. The
// documentation lives outside the module; without it there is nothing to
// compare against.
func TestReferenceCopiesAreExact(t *testing.T) {
	doc, err := os.ReadFile("../../shared/reference/monitor-documentation.md")
	if os.IsNotExist(err) {
		t.Skip("reference documentation not present beside the repository")
	}
	require.NoError(t, err)

	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	copies := map[string]bool{}
	files, err := filepath.Glob("testdata/reference/*.yaml")
	require.NoError(t, err)
	frags, err := filepath.Glob("testdata/reference/fragment/*.yaml")
	require.NoError(t, err)
	for _, f := range append(files, frags...) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		copies[string(b)] = true
	}

	for i, b := range blocks {
		if strings.HasPrefix(b[1], "global:") {
			continue // Prometheus' own prometheus.yml, not a recipe
		}
		require.True(t, copies[b[1]], "yaml block %d of the reference has no exact copy:\n%s",
			i, b[1])
	}
}
