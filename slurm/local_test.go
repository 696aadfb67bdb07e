//go:build unix

package slurm

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// newTestLocal returns a Local on a fresh state folder, closed at cleanup.
func newTestLocal(t *testing.T, opts LocalOptions) *Local {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	if opts.SubmitDir == "" {
		opts.SubmitDir = t.TempDir()
	}
	if opts.KillWait == 0 {
		opts.KillWait = 200 * time.Millisecond
	}
	l := NewLocal(opts)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// waitJob polls Status until cond holds or 30 seconds pass.
func waitJob(t *testing.T, s Scheduler, id string, cond func(Job) bool) Job {
	t.Helper()
	var last Job
	err := pollUntil(context.Background(), 30*time.Second, func() bool {
		res, err := s.Status(context.Background(), []string{id})
		require.NoError(t, err)
		last = res[id]
		return cond(last)
	})
	require.NoError(t, err, "job %s last seen as %+v", id, last)
	return last
}

func terminal(j Job) bool { return j.State.Terminal() }

func readOutput(t *testing.T, l *Local, id string) string {
	t.Helper()
	p, err := l.OutputPath(context.Background(), id)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func TestLocalCompleted(t *testing.T) {
	defer goleak.VerifyNone(t)
	work := t.TempDir()
	l := newTestLocal(t, LocalOptions{})
	spec := JobSpec{
		Name:    "hello",
		Comment: "hpcorch:test",
		WorkDir: work,
		Output:  "out/%x-%j.log",
		Time:    time.Minute,
		Env:     map[string]string{"GREETING": "it's $not expanded"},
		Script: `echo "id=$SLURM_JOB_ID name=$SLURM_JOB_NAME nodes=$SLURM_JOB_NODELIST"
echo "submit=$SLURM_SUBMIT_DIR pwd=$(pwd)"
echo "greeting=$GREETING"
echo "to stderr" >&2`,
	}
	id, err := l.Submit(context.Background(), spec)
	require.NoError(t, err)

	j := waitJob(t, l, id, terminal)
	require.Equal(t, StateCompleted, j.State)
	require.Equal(t, ExitCode{}, j.ExitCode)
	require.Equal(t, "", j.Reason, `"None" is no reason, as from squeue`)
	require.False(t, j.Failed())
	require.Equal(t, "hello", j.Name)
	require.Equal(t, "hpcorch:test", j.Comment)
	require.Equal(t, []string{l.Host()}, j.Nodes)
	require.Equal(t, Limit(time.Minute), j.TimeLimit)
	require.False(t, j.StartTime.IsZero())

	p, err := l.OutputPath(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(work, "out", "hello-"+id+".log"), p)
	out := readOutput(t, l, id)
	require.Contains(t, out, "id="+id+" name=hello nodes="+l.Host()+"\n")
	require.Contains(t, out, "submit="+l.opts.SubmitDir+" pwd="+work+"\n")
	require.Contains(t, out, "greeting=it's $not expanded\n")
	require.Contains(t, out, "to stderr\n")

	// The script run is the rendered one.
	want, err := Render(spec)
	require.NoError(t, err)
	got, err := os.ReadFile(l.store.path(id, "script.sh"))
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}

func TestLocalFailed(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	id, err := l.Submit(context.Background(), JobSpec{Name: "bad", Script: "exit 3"})
	require.NoError(t, err)
	j := waitJob(t, l, id, terminal)
	require.Equal(t, StateFailed, j.State)
	require.Equal(t, ExitCode{Code: 3}, j.ExitCode)
	require.Equal(t, "NonZeroExitCode", j.Reason)
	require.True(t, j.Failed())

	p, err := l.OutputPath(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(l.opts.SubmitDir, "slurm-"+id+".out"), p)
}

func TestLocalTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	id, err := l.Submit(context.Background(), JobSpec{Name: "slow", Time: time.Second,
		Script: "sleep 60"})
	require.NoError(t, err)
	j := waitJob(t, l, id, terminal)
	require.Equal(t, StateTimeout, j.State)
	require.Equal(t, "TimeLimit", j.Reason)
	require.Equal(t, ExitCode{Signal: int(syscall.SIGTERM)}, j.ExitCode)
	require.Contains(t, readOutput(t, l, id), "CANCELLED AT")
	require.Contains(t, readOutput(t, l, id), "DUE TO TIME LIMIT")
}

// startedPIDs waits for the job to write its children's pids to file.
func startedPIDs(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	require.NoError(t, pollUntil(context.Background(), 30*time.Second, func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pids = nil
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, n)
		}
		return true
	}))
	return pids
}

func processGone(pid int) bool {
	_, ok := procStart(pid)
	return !ok
}

func TestLocalCancelKillsGroup(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	pidFile := filepath.Join(t.TempDir(), "pids")
	id, err := l.Submit(context.Background(), JobSpec{Name: "group",
		Script: "sleep 300 &\necho $! > " + pidFile + "\nwait\n"})
	require.NoError(t, err)
	child := startedPIDs(t, pidFile)[0]
	require.Equal(t, StateRunning, waitJob(t, l, id, func(j Job) bool { return true }).State)

	require.NoError(t, l.Cancel(context.Background(), id))
	j := waitJob(t, l, id, terminal)
	require.Equal(t, StateCancelled, j.State)
	require.Equal(t, os.Getuid(), j.CancelledBy)
	require.Equal(t, ExitCode{Signal: int(syscall.SIGTERM)}, j.ExitCode)
	require.NoError(t, pollUntil(context.Background(), 10*time.Second,
		func() bool { return processGone(child) }), "the job's child survived")

	// Idempotent on finished and unknown jobs (BC-16).
	require.NoError(t, l.Cancel(context.Background(), id))
	require.NoError(t, l.Cancel(context.Background(), "99999"))
	require.ErrorIs(t, l.Cancel(context.Background(), "1;x"), ErrBadJobID)
}

func TestLocalLeftoverProcessesKilled(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	pidFile := filepath.Join(t.TempDir(), "pids")
	id, err := l.Submit(context.Background(), JobSpec{Name: "leaves",
		Script: "sleep 300 &\necho $! > " + pidFile + "\nexit 0\n"})
	require.NoError(t, err)
	child := startedPIDs(t, pidFile)[0]
	require.Equal(t, StateCompleted, waitJob(t, l, id, terminal).State)
	require.NoError(t, pollUntil(context.Background(), 10*time.Second,
		func() bool { return processGone(child) }), "a process outlived its job")
}

func TestLocalPendingUntilSlotFree(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{MaxRunning: 1})
	gate := filepath.Join(t.TempDir(), "gate")
	first, err := l.Submit(context.Background(), JobSpec{Name: "first",
		Script: "while [ ! -e " + gate + " ]; do sleep 0.05; done"})
	require.NoError(t, err)
	second, err := l.Submit(context.Background(), JobSpec{Name: "second", Script: "true"})
	require.NoError(t, err)
	third, err := l.Submit(context.Background(), JobSpec{Name: "third", Script: "true"})
	require.NoError(t, err)

	res, err := l.Status(context.Background(), []string{first, second, third})
	require.NoError(t, err)
	require.Equal(t, StateRunning, res[first].State)
	require.Equal(t, StatePending, res[second].State)
	require.Equal(t, "Resources", res[second].Reason)
	require.Empty(t, res[second].Nodes)
	require.Equal(t, StatePending, res[third].State)
	require.Equal(t, "Resources", res[third].Reason)

	require.NoError(t, l.Cancel(context.Background(), third))
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.Equal(t, StateCompleted, waitJob(t, l, first, terminal).State)
	require.Equal(t, StateCompleted, waitJob(t, l, second, terminal).State)
	j := waitJob(t, l, third, terminal)
	require.Equal(t, StateCancelled, j.State)
	require.True(t, j.Elapsed == 0)
}

func TestLocalSecondProcessView(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	owner := newTestLocal(t, LocalOptions{StateDir: dir})
	other := newTestLocal(t, LocalOptions{StateDir: dir})

	id, err := owner.Submit(context.Background(), JobSpec{Name: "shared", Comment: "c1",
		Script: "sleep 300"})
	require.NoError(t, err)
	waitJob(t, owner, id, func(j Job) bool { return j.State == StateRunning })

	jobs, err := other.List(context.Background())
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, id, jobs[0].ID)
	require.Equal(t, "c1", jobs[0].Comment)
	require.Equal(t, StateRunning, jobs[0].State)

	// Ids stay unique across Locals on one folder.
	id2, err := other.Submit(context.Background(), JobSpec{Name: "b", Script: "true"})
	require.NoError(t, err)
	require.NotEqual(t, id, id2)

	require.NoError(t, other.Cancel(context.Background(), id))
	j := waitJob(t, owner, id, terminal)
	require.Equal(t, StateCancelled, j.State)
	require.Equal(t, os.Getuid(), j.CancelledBy)
}

// deadPID returns the pid of a process that has ended.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestLocalOwnerGone(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})

	// A job whose owner died while it ran, and which has ended since.
	id, err := l.store.allocate()
	require.NoError(t, err)
	rec := &localRecord{ID: id, Name: "orphan", State: StateRunning, ExitCode: "0:0",
		CancelledBy: -1, Start: time.Now(), Host: l.host, PID: deadPID(t), OwnerPID: deadPID(t)}
	require.NoError(t, l.store.write(rec))
	res, err := l.Status(context.Background(), []string{id})
	require.NoError(t, err)
	require.Equal(t, StateNodeFail, res[id].State)
	require.Equal(t, "OwnerExited", res[id].Reason)

	// A job whose owner died and which still runs: visible and cancellable.
	orphan := exec.Command("sleep", "300")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, orphan.Start())
	reaped := make(chan error, 1)
	go func() { reaped <- orphan.Wait() }()
	start, _ := procStart(orphan.Process.Pid)
	id2, err := l.store.allocate()
	require.NoError(t, err)
	rec = &localRecord{ID: id2, Name: "orphan2", State: StateRunning, ExitCode: "0:0",
		CancelledBy: -1, Start: time.Now(), Host: l.host, PID: orphan.Process.Pid,
		PIDStart: start, OwnerPID: deadPID(t)}
	require.NoError(t, l.store.write(rec))

	res, err = l.Status(context.Background(), []string{id2})
	require.NoError(t, err)
	require.Equal(t, StateRunning, res[id2].State)

	require.NoError(t, l.Cancel(context.Background(), id2))
	<-reaped
	res, err = l.Status(context.Background(), []string{id2})
	require.NoError(t, err)
	require.Equal(t, StateCancelled, res[id2].State)
	require.Equal(t, os.Getuid(), res[id2].CancelledBy)
}

func TestLocalCloseCancelsItsJobs(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	l := NewLocal(LocalOptions{StateDir: dir, SubmitDir: t.TempDir(), MaxRunning: 1,
		KillWait: 200 * time.Millisecond})
	running, err := l.Submit(context.Background(), JobSpec{Name: "r", Script: "sleep 300"})
	require.NoError(t, err)
	queued, err := l.Submit(context.Background(), JobSpec{Name: "q", Script: "sleep 300"})
	require.NoError(t, err)

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "idempotent")
	_, err = l.Submit(context.Background(), JobSpec{Script: "true"})
	require.ErrorIs(t, err, ErrClosed)

	view := NewLocal(LocalOptions{StateDir: dir})
	res, err := view.Status(context.Background(), []string{running, queued, "12345"})
	require.NoError(t, err)
	require.Equal(t, StateCancelled, res[running].State)
	require.Equal(t, StateCancelled, res[queued].State)
	require.False(t, res["12345"].Found)
	require.NoError(t, view.Close())
}

func TestLocalRejects(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	_, err := l.Submit(context.Background(), JobSpec{Nodes: 2, Script: "true"})
	var se *SubmitError
	require.ErrorAs(t, err, &se)
	require.Equal(t, KindUnsatisfiable, se.Kind)

	_, err = l.Submit(context.Background(), JobSpec{NodeList: "elsewhere1", Script: "true"})
	require.ErrorAs(t, err, &se)
	require.Equal(t, KindInvalidNode, se.Kind)

	_, err = l.Submit(context.Background(), JobSpec{Partition: "None", Script: "true"})
	require.ErrorIs(t, err, ErrInvalidSpec)

	id, err := l.Submit(context.Background(), JobSpec{NodeList: l.Host(), Script: "true"})
	require.NoError(t, err)
	require.Equal(t, StateCompleted, waitJob(t, l, id, terminal).State)

	_, err = l.Status(context.Background(), []string{"x"})
	require.ErrorIs(t, err, ErrBadJobID)
	_, err = l.OutputPath(context.Background(), "777")
	require.ErrorIs(t, err, ErrJobNotFound)
}

func TestLocalRecordIsVersioned(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := newTestLocal(t, LocalOptions{})
	id, err := l.Submit(context.Background(), JobSpec{Name: "v", Script: "true"})
	require.NoError(t, err)
	waitJob(t, l, id, terminal)

	b, err := os.ReadFile(l.store.path(id, "job.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.EqualValues(t, localRecordVersion, m["version"])
	require.Equal(t, "COMPLETED", m["state"])

	m["version"] = 99
	b, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(l.store.path(id, "job.json"), b, 0o600))
	_, err = l.Status(context.Background(), []string{id})
	require.ErrorContains(t, err, "record version 99")
}
