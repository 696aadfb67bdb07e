//go:build integration

package orchestrator

import (
	"net/http"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/slurm"
)

// TestLocalBenchmarkSession runs a whole benchmark session on the local
// scheduler: a bare service with (a stand-in) cAdvisor, the catalog's bare
// Prometheus (the prometheus program the throwaway cluster installs), a
// tunnel, queries, a report, and StopBenchmarkSession.
func TestLocalBenchmarkSession(t *testing.T) {
	_, err := exec.LookPath("prometheus")
	require.NoError(t, err, "the prometheus program (make cluster-up installs it)")

	s := newLocalSetup(t)
	cfg, err := LoadConfig(s.config)
	require.NoError(t, err)
	mr, err := recipes.Load("mini_prometheus")
	require.NoError(t, err)
	exe := testExecutable(t)
	o, err := OpenConfig(testCtx(t), cfg, Config{CAdvisor: cadvisorSource(exe), MonitorRecipe: mr})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, o.Close())
		require.NoError(t, o.Scheduler().(*slurm.Local).Close())
	})
	ctx := longCtx(t)

	sess, err := o.StartBenchmarkSession(ctx, serviceRecipe(t, "bench"))
	require.NoError(t, err)
	require.NotZero(t, sess.Service.CAdvisorPort, "cAdvisor was enabled for the session")

	user, pw, err := o.Monitors.Credentials(ctx, sess.Monitor.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status(t, sess.PrometheusURL+"/-/ready", user, pw))
	require.Equal(t, http.StatusUnauthorized, status(t, sess.PrometheusURL+"/-/ready", "", ""))

	untilCovered(t, o, sess.Monitor.ID, `up{job=~".*cadvisor"}`, sess.Service.ID)
	untilCovered(t, o, sess.Monitor.ID, `container_memory_usage_bytes`, sess.Service.ID)
	untilCovered(t, o, sess.Monitor.ID, `rate(container_cpu_usage_seconds_total[1m])`,
		sess.Service.ID)
	rep := reportCovering(t, o, sess.Monitor.ID, sess.Service.ID)
	require.FileExists(t, rep.JSONPath)

	require.NoError(t, o.StopBenchmarkSession(ctx, sess.ID))
	st, err := o.SystemStatus(ctx)
	require.NoError(t, err)
	require.Empty(t, st.Sessions)
	require.Empty(t, st.Services)
	require.Empty(t, st.Monitors)
}
