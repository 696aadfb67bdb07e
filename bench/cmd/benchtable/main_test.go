package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bench.out"))
	require.NoError(t, err)
	defer f.Close()
	res, err := parse(f)
	require.NoError(t, err)

	v, ok := res.get("BenchmarkScaling/jobs-1000", "poller-heap-KiB")
	require.True(t, ok)
	require.Equal(t, 382.3, v)
	v, ok = res.get("BenchmarkSlurmPollerRound", "ns/op")
	require.True(t, ok, "the -GOMAXPROCS suffix is cut and ns/op kept")
	require.Equal(t, 28778301.0, v)
	_, ok = res.get("BenchmarkTunnel/http-latency-new-conn", "ratio")
	require.False(t, ok)
}

func TestParseOddFields(t *testing.T) {
	_, err := parse(strings.NewReader("BenchmarkX-2 1 3.5 ms/op 7\n"))
	require.ErrorContains(t, err, "odd number of fields")
}

func TestRows(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bench.out"))
	require.NoError(t, err)
	defer f.Close()
	res, err := parse(f)
	require.NoError(t, err)

	rows := map[string]Row{}
	for _, r := range build(res) {
		rows[r.Metric] = r
	}
	tests := []struct {
		metric, hpcorch, ratio, met, missed string
	}{
		{"command round trip (200 × true) vs new ssh per command", "4.44 ms", "68.6× faster",
			"yes", ""},
		{"status of 200 jobs: poller round vs one raw squeue", "11.9 ms", "1.70×", "no",
			"poll/raw 1.70 against ≤1.5: 14% over"},
		{"status of 200 jobs: commands per poller round", "1 squeue + 0 sacct", "-", "yes", ""},
		{"100 concurrent submits via Servers.StartService vs sequential ssh … sbatch",
			"1.91 s (0 failed)", "26.2× faster", "yes", ""},
		{"tunnel throughput, 50 streams", "171 MiB/s", "0.853×", "no",
			"ratio 0.853 against ≥0.9: 5% short"},
		{"small HTTP latency, new conn each, vs ssh -N -L", "not run", "-", "not run", ""},
		{"SDK memory, 100 services + 10 tunnels (process RSS)", "20.4 MiB (anonymous 11.1 MiB)",
			"-", "yes", ""},
		{"report over 1 h × 100 services, through SSH", "3.09 s", "-", "no",
			"ssh-s/report 3.09 against <1: 209% over"},
		{"scaling: heap for 1000 jobs, poller alone", "382 KiB", "-", "-", ""},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			r, ok := rows[tt.metric]
			require.True(t, ok)
			require.Equal(t, tt.hpcorch, r.HPCorch)
			require.Equal(t, tt.ratio, r.Ratio)
			require.Equal(t, tt.met, r.Met)
			require.Equal(t, tt.missed, r.Missed)
		})
	}
	require.Equal(t, "idle binary 10.8 MiB",
		rows["SDK memory, 100 services + 10 tunnels (process RSS)"].Peer)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "NOTES.md")
	require.NoError(t, os.WriteFile(notes, []byte("## Notes\n\nWhy.\n"), 0o644))
	jsonOut, mdOut := filepath.Join(dir, "latest.json"), filepath.Join(dir, "RESULTS.md")

	var out bytes.Buffer
	err := run([]string{"-json", jsonOut, "-md", mdOut, "-notes", notes, "-uname", "Linux vm",
		"-nproc", "2", filepath.Join("testdata", "bench.out")}, &out)
	require.ErrorContains(t, err, "did not run", "some rows of the sample did not run")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(specs)+2)
	require.True(t, strings.HasPrefix(lines[0], "metric "))

	data, err := os.ReadFile(jsonOut)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Equal(t, "2", rep.Machine.NProc)
	require.Len(t, rep.Rows, len(specs))
	require.Equal(t, 903.0, rep.Benchmarks["BenchmarkReport"]["requests/report"])

	md, err := os.ReadFile(mdOut)
	require.NoError(t, err)
	require.Contains(t, string(md), "- machine: `Linux vm`")
	require.Contains(t, string(md), "| metric | hpcorch | peer | ratio | target | met? |")
	require.Contains(t, string(md),
		"- status of 200 jobs: poller round vs one raw squeue: poll/raw 1.70 against ≤1.5")
	require.Contains(t, string(md), "## Notes\n\nWhy.\n")
}
