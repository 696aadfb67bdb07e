package servers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/slurm"
)

// TestLocalEndedCommandNotFound: a service whose command does not exist
// fails WaitReady with the job's final state, its exit code and the
// shell's complaint, not with the state seen while it ran.
func TestLocalEndedCommandNotFound(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	s := env.servers(Options{Session: "ready-test"})
	svc, err := s.StartService(ctx, decode(t, `
service:
  name: typo
  command: busyboxx
  args: ["httpd", "-f", "-p", "${HPCORCH_PORT}"]
  ports: [18090]
`))
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, slurm.StateFailed, re.State)
	require.Equal(t, 127, re.ExitCode.Code)
	require.Contains(t, re.Log, "busyboxx")
	head, _, _ := strings.Cut(err.Error(), "\n")
	require.Contains(t, head, "job "+svc.JobID+" FAILED (exit 127) before the service was ready")
	require.Contains(t, head, "busyboxx")
	require.Contains(t, head, "not found")
	require.NotContains(t, head, "RUNNING")
	require.Contains(t, err.Error(), "--- last lines of the job output ---")
}

// laggingSched is a scheduler that keeps calling ended jobs RUNNING, as
// SLURM does for a moment after a batch script exits.
type laggingSched struct{ slurm.Scheduler }

func (l laggingSched) lag(j slurm.Job) slurm.Job {
	if j.State.Terminal() {
		j.State, j.ExitCode, j.Reason = slurm.StateRunning, slurm.ExitCode{}, ""
	}
	return j
}

func (l laggingSched) Status(ctx context.Context, ids []string) (map[string]slurm.Job, error) {
	m, err := l.Scheduler.Status(ctx, ids)
	for k, j := range m {
		m[k] = l.lag(j)
	}
	return m, err
}

func (l laggingSched) List(ctx context.Context) ([]slurm.Job, error) {
	js, err := l.Scheduler.List(ctx)
	for i := range js {
		js[i] = l.lag(js[i])
	}
	return js, err
}

// TestLocalEndedSchedulerLags: when the scheduler still says RUNNING after
// the job script recorded its end, the end it recorded is reported.
func TestLocalEndedSchedulerLags(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	base := env.servers(Options{})
	s := New(base.exec, laggingSched{base.sched}, Options{RunRoot: env.runRoot})
	svc, err := s.StartService(ctx, decode(t, `
service:
  name: crash
  command: sh
  args: ["-c", "echo 'cannot open database: no such file' >&2; exit 3"]
  ports: [18080]
`))
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrJobEnded)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, slurm.StateFailed, re.State)
	require.Equal(t, 3, re.ExitCode.Code)
	head, _, _ := strings.Cut(err.Error(), "\n")
	require.Contains(t, head, "FAILED (exit 3) before the service was ready")
	require.Contains(t, head, ": cannot open database: no such file")
}

// TestLocalCheckTimeoutReason: a check that times out tells why its last
// probe failed and how many probes ran, whether its own timeout or ctx
// ends the wait.
func TestLocalCheckTimeoutReason(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	s := env.servers(Options{})
	svc, err := s.StartService(ctx, httpRecipe(t, "reason", freePort(t), wwwDir(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), svc.ID) })
	_, err = s.WaitReady(ctx, svc.ID)
	require.NoError(t, err)

	_, err = s.WaitReady(ctx, svc.ID,
		HTTPCheck(0, "/index.html", 0, "nope-never").WithTimeout(1500*time.Millisecond))
	require.ErrorIs(t, err, ErrCheckTimeout)
	require.Contains(t, err.Error(), `the response does not contain "nope-never" (last of `)
	require.NotContains(t, err.Error(), "deadline exceeded")

	_, err = s.WaitReady(ctx, svc.ID,
		HTTPCheck(0, "/index.html", 201, "").WithTimeout(time.Second))
	require.ErrorIs(t, err, ErrCheckTimeout)
	require.Contains(t, err.Error(), "status 200, want 201")

	_, err = s.WaitReady(ctx, svc.ID, TCPCheck(freePort(t)).WithTimeout(time.Second))
	require.ErrorIs(t, err, ErrCheckTimeout)
	require.Contains(t, err.Error(), "connection refused")

	_, err = s.WaitReady(ctx, svc.ID, LogCheck("never logged").WithTimeout(time.Second))
	require.ErrorIs(t, err, ErrCheckTimeout)
	require.Contains(t, err.Error(), `"never logged" is not in the job output`)

	// The caller's deadline, before the check's own.
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, err = s.WaitReady(short, svc.ID, HTTPCheck(0, "/index.html", 0, "nope-never"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), `the response does not contain "nope-never"`)
}
