//go:build integration

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
)

// TestExampleOnCluster runs the example on the throwaway cluster, with
// the catalog's recipes made for it.
func TestExampleOnCluster(t *testing.T) {
	c := clustertest.Env(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`hpc:
  hostname: %s
  port: %d
  username: %s
  key_filename: %s
  known_hosts: %s
metrics_dir: %s
`, c.SSHHost, c.SSHPort, c.User, c.KeyFile, c.KnownHosts, filepath.Join(dir, "metrics"))),
		0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, options{config: config, service: "mini_http_bare",
		monitor: "mini_prometheus", cadvisor: c.CAdvisorBin, wait: 5 * time.Minute}, &out)
	require.NoError(t, err, out.String())

	text := out.String()
	m := regexp.MustCompile(`(?m)^Service started: (mini-http-bare_[0-9a-f]{8}) \(job \d+\)$`).
		FindStringSubmatch(text)
	require.NotNil(t, m, text)
	svc := m[1]
	require.Regexp(t, `(?m)^Monitor started: prometheus_[0-9a-f]{8} \(job \d+\)$`, text)
	require.Regexp(t, `(?m)^Prometheus at http://node\d:\d+ \(on the cluster\)$`, text)
	require.Regexp(t, `(?m)^up\{.*hpcorch_service="`+svc+`".*\} => 1 `, text)
	require.Regexp(t, `(?m)^container_memory_usage_bytes\{.*hpcorch_service="`+svc+`"`, text)
	require.FileExists(t, filepath.Join(dir, "metrics", "monitor_example_up.json"))
	require.FileExists(t, filepath.Join(dir, "metrics", "monitor_example_report.html"))
	require.Regexp(t, `(?m)^Report written: .* \(1 service\(s\)\)$`, text)
	require.Contains(t, text, "Stopped the monitor and the service.\n")
}
