//go:build integration && disruptive

// The tests of this file restart the cluster's slurmctld, which every other
// integration test relies on, so they run alone: make test runs them in a
// go test of their own, after all the others.

package slurm_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// outage is how long, in seconds, the controller stays down: well past the
// time SLURM's own commands keep trying to reach it before they fail,
// which MessageTimeout (10 s by default) sets: squeue gave up after about
// 18 s here, and a 16 s outage was sometimes never seen.
const outage = 35

// TestDisruptiveSlurmctldRestart restarts the real slurmctld while a poller
// watches a job and a submit is under way: the round during the outage is
// a transient error (not a gone job), the submit waits the outage out and
// makes exactly one job, and after the restart the poller sees the same
// job again.
func TestDisruptiveSlurmctldRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("restarting slurmctld needs root, as make test runs")
	}
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{Retries: 10, Backoff: 500 * time.Millisecond,
		MaxBackoff: 2 * time.Second})
	watched := c.submit(s, slurm.JobSpec{Time: 10 * time.Minute, Script: "sleep 600"})

	p := slurm.NewPoller(s, time.Hour) // a round only on Refresh
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before, err := p.Get(ctx, watched) // the first round
	require.NoError(t, err)
	require.True(t, before.Found)

	var log bytes.Buffer
	restart := exec.Command("bash", filepath.Join("..", "cluster", "minicluster.sh"),
		"restart-slurmctld", strconv.Itoa(outage))
	restart.Stdout, restart.Stderr = &log, &log
	require.NoError(t, restart.Start())
	t.Cleanup(func() { _ = restart.Wait() }) // never leave the controller down
	untilControllerDown(t, c)

	t0 := time.Now()
	err = p.Refresh(ctx)
	t.Logf("the round during the outage ended after %v: %v", time.Since(t0), err)
	require.Error(t, err, "the controller is down")
	require.True(t, slurm.IsTransient(err), "a failed squeue is transient, not a gone job: %v", err)

	// Submitted while the controller is down: retried until it is back,
	// and never twice.
	name := slurm.UniqueName("slurm-it-restart")
	during := c.submit(s, slurm.JobSpec{Name: name, Time: 5 * time.Minute, Script: "sleep 600"})

	require.NoError(t, restart.Wait(), "%s", log.String())
	require.NoError(t, p.Refresh(ctx))
	after, err := p.Get(ctx, watched)
	require.NoError(t, err)
	require.True(t, after.Found, "the job survived the restart")
	require.Contains(t, []slurm.State{slurm.StatePending, slurm.StateRunning}, after.State)

	out := c.run("squeue -h -t all --me -n " + sshx.Quote(name) + " -o %i")
	require.Equal(t, during+"\n", out, "exactly one job with the name")
}

// untilControllerDown waits until scontrol ping, run on the login node,
// says the controller is down.
func untilControllerDown(t *testing.T, c *itCluster) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _, _ := c.exec.Run(ctx, "scontrol ping", nil)
		cancel()
		if strings.Contains(string(out), "DOWN") {
			return
		}
		require.True(t, time.Now().Before(deadline), "slurmctld still up: %s", out)
		time.Sleep(100 * time.Millisecond)
	}
}
