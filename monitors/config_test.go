package monitors

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// TestMain lowers the bcrypt cost, which the race detector makes slow.
func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	os.Exit(m.Run())
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got))
}

// goldenRecord is a monitor of two services and a fixed host, the second
// service reporting no cgroup.
func goldenRecord() *record {
	rec := &record{Version: recordVersion, ScrapeInterval: "15s", Retention: "15d",
		Jobs: []scrapeJob{}}
	rec.Jobs = append(rec.Jobs, scrapeJob{Name: "redis-cadvisor",
		File: rec.targetsFile("redis-cadvisor", false),
		Targets: []scrapeTarget{{Job: "redis-cadvisor", ServiceID: "redis_1a2b3c4d", JobID: "41",
			Host: "node1", Port: 8080, Cgroup: "/slurm_node1/uid_2001/job_41"}}})
	rec.Jobs = append(rec.Jobs, scrapeJob{Name: "ollama gpu/node",
		File: rec.targetsFile("ollama gpu/node", false),
		Targets: []scrapeTarget{{Job: "ollama gpu/node", ServiceID: "ollama_5e6f7a8b", JobID: "43",
			Host: "node2", Port: 8081}}})
	rec.Jobs = append(rec.Jobs, scrapeJob{Name: "specific-node",
		File:    rec.targetsFile("specific-node", false),
		Targets: []scrapeTarget{{Job: "specific-node", Host: "node3", Port: 9100}}})
	return rec
}

func TestPrometheusYAMLGolden(t *testing.T) {
	rec := goldenRecord()
	cfg, err := prometheusYAML(rec)
	require.NoError(t, err)
	golden(t, "prometheus.yml", cfg)

	var parsed map[string]any
	require.NoError(t, yaml.Unmarshal(cfg, &parsed), "valid YAML")
	jobs := parsed["scrape_configs"].([]any)
	require.Len(t, jobs, 5, "self, three recipe jobs, the catch-all")
	self := jobs[0].(map[string]any)
	assert.Equal(t, selfJob, self["job_name"])
	assert.Equal(t, map[string]any{"username": User, "password_file": passwordFile},
		self["basic_auth"], "the self-scrape authenticates too")
	assert.Equal(t, addedJob, jobs[4].(map[string]any)["job_name"])
}

func TestPrometheusYAMLScrapeInterval(t *testing.T) {
	rec := &record{Version: recordVersion, ScrapeInterval: "1m", Jobs: []scrapeJob{}}
	cfg, err := prometheusYAML(rec)
	require.NoError(t, err)
	assert.Contains(t, string(cfg), "scrape_interval: 1m\n")
	assert.Contains(t, string(cfg), "refresh_interval: 1m\n")

	rec.ScrapeInterval = "1s"
	cfg, err = prometheusYAML(rec)
	require.NoError(t, err)
	assert.Contains(t, string(cfg), "refresh_interval: 5s\n", "refresh never below 5s")
}

func TestTargetsJSONGolden(t *testing.T) {
	rec := goldenRecord()
	var all bytes.Buffer
	for _, j := range rec.Jobs {
		data, err := targetsJSON(j)
		require.NoError(t, err)
		all.WriteString("== " + j.File + "\n")
		all.Write(data)

		var groups []targetGroup
		require.NoError(t, json.Unmarshal(data, &groups))
		require.Len(t, groups, len(j.Targets))
		for _, g := range groups {
			assert.NotEmpty(t, g.Labels[LabelNode])
			assert.NotContains(t, g.Labels, "job", "a recipe job's name comes from job_name")
		}
	}
	golden(t, "targets.txt", all.Bytes())

	assert.Equal(t, "targets-job-ollama_gpu_node.json", rec.Jobs[1].File, "file names made safe")
}

func TestTargetsJSONAddedJobSetsJobLabel(t *testing.T) {
	j := scrapeJob{Name: "extra", File: "targets-added-extra.json", Added: true,
		Targets: []scrapeTarget{{Job: "extra", Host: "node3", Port: 9100}}}
	data, err := targetsJSON(j)
	require.NoError(t, err)
	var groups []targetGroup
	require.NoError(t, json.Unmarshal(data, &groups))
	assert.Equal(t, "extra", groups[0].Labels["job"])
	assert.Equal(t, []string{"node3:9100"}, groups[0].Targets)
}

func TestTargetsJSONEmptyIsList(t *testing.T) {
	data, err := targetsJSON(scrapeJob{Name: "x"})
	require.NoError(t, err)
	assert.Equal(t, "[]\n", string(data), "Prometheus reads an empty list, not null")
}

func TestTargetsFileUnique(t *testing.T) {
	rec := &record{}
	rec.Jobs = append(rec.Jobs, scrapeJob{Name: "a/b", File: rec.targetsFile("a/b", false)})
	assert.Equal(t, "targets-job-a_b-2.json", rec.targetsFile("a_b", false))
	assert.Equal(t, "targets-added-a_b.json", rec.targetsFile("a_b", true))
}

func TestWebYAMLAndPassword(t *testing.T) {
	pw, hash, err := newPassword()
	require.NoError(t, err)
	assert.Len(t, pw, 32)
	require.NoError(t, bcrypt.CompareHashAndPassword(hash, []byte(pw)))

	pw2, _, err := newPassword()
	require.NoError(t, err)
	assert.NotEqual(t, pw, pw2)

	web, err := webYAML(hash)
	require.NoError(t, err)
	assert.NotContains(t, string(web), pw, "only the hash is written")
	var parsed struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	require.NoError(t, yaml.Unmarshal(web, &parsed))
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(parsed.Users[User]), []byte(pw)))
}

// TestConfigAcceptedByPromtool checks the generated files with Prometheus'
// own checker, where it is installed (the project's machines have it).
func TestConfigAcceptedByPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed: make cluster-up installs it (Debian's prometheus)")
		}
		t.Skip("promtool not installed")
	}
	dir := t.TempDir()
	rec := goldenRecord()
	files, err := runFiles(rec)
	require.NoError(t, err)
	for _, f := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.Name), f.Data, f.Mode))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, selfTargets), []byte("[]"), 0o644))

	out, err := exec.Command(promtool, "check", "config", filepath.Join(dir,
		configFile)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, strings.ToLower(string(out)), "success")
	out, err = exec.Command(promtool, "check", "web-config", filepath.Join(dir,
		webConfigFile)).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
