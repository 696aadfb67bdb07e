package servers

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
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
	require.NotEqual(t, PhasePending, re.Phase, "it ran on a node (how far it got after "+
		"that, running or port, depends on when WaitReady looked)")
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

// TestLocalPortWaitTakesRecipeTimeout: a service that never opens its port
// fails WaitReady after its recipe's health_check timeout, not after
// DefaultHealthTimeout.
func TestLocalPortWaitTakesRecipeTimeout(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	s := env.servers(Options{})
	svc, err := s.StartService(ctx, decode(t, fmt.Sprintf(`
service:
  name: silent
  command: sleep
  args: ["600"]
  ports: [%d]
  health_check: {type: http, path: /, timeout: 2s, interval: 1s}
`, freePort(t))))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), svc.ID) })

	start := time.Now()
	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrCheckTimeout)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, PhasePort, re.Phase)
	require.Contains(t, err.Error(), "timed out after 2s: port ")
	require.Less(t, time.Since(start), 30*time.Second)
}

// noForwarding is a login node that forwards no TCP connections.
type noForwarding struct{ *sshx.Local }

func (noForwarding) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, fmt.Errorf("%w: dial %s: administratively prohibited", sshx.ErrForwardingDisabled,
		addr)
}

// TestLocalForwardingRefusedFailsAtOnce: when the Executor can never dial
// (AllowTcpForwarding no), WaitReady says so at once instead of trying
// until its timeout.
func TestLocalForwardingRefusedFailsAtOnce(t *testing.T) {
	env := newLocalEnv(t)
	ctx := ctxFor(t, time.Minute)
	sched := slurm.NewLocal(slurm.LocalOptions{StateDir: env.stateDir, KillWait: 2 * time.Second})
	t.Cleanup(func() { _ = sched.Close() })
	s := New(noForwarding{&sshx.Local{}}, sched, Options{RunRoot: env.runRoot})
	svc, err := s.StartService(ctx, httpRecipe(t, "nofwd", freePort(t), wwwDir(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.StopService(context.Background(), svc.ID) })

	start := time.Now()
	_, err = s.WaitReady(ctx, svc.ID)
	require.ErrorIs(t, err, ErrCheckRefused)
	require.ErrorIs(t, err, sshx.ErrForwardingDisabled)
	var re *ReadyError
	require.ErrorAs(t, err, &re)
	require.Equal(t, PhasePort, re.Phase)
	require.Less(t, time.Since(start), 20*time.Second, "no retries until the 30s timeout")
}
