package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/sshx"
)

// fakeExec is a hand-written sshx.Executor: each Run goes to handle, and
// every command and stdin is recorded.
type fakeExec struct {
	mu     sync.Mutex
	cmds   []string
	stdins []string
	handle func(cmd, stdin string) (stdout, stderr string, err error)
}

var _ sshx.Executor = (*fakeExec)(nil)

func (f *fakeExec) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, []byte, error) {
	in := ""
	if stdin != nil {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, nil, err
		}
		in = string(b)
	}
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.stdins = append(f.stdins, in)
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out, errOut, err := f.handle(cmd, in)
	return []byte(out), []byte(errOut), err
}

func (f *fakeExec) Put(context.Context, string, io.Reader, fs.FileMode) error {
	return errors.New("fake: no Put")
}

func (f *fakeExec) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("fake: no DialContext")
}

// count returns how many recorded commands start with prefix.
func (f *fakeExec) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func exitErr(code int, stderr string) error {
	return &sshx.ExitError{Code: code, Stderr: []byte(stderr)}
}

func fastOpts() Options {
	return Options{Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
}

func TestSubmitScriptOnStdin(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		return "4242\n", "sbatch: no partition specified, using default partition debug\n", nil
	}}
	s := New(fx, fastOpts())
	spec := JobSpec{Name: "web; rm -rf ~", Script: "echo hi"}
	_, err := s.Submit(context.Background(), spec)
	require.ErrorIs(t, err, ErrInvalidSpec, "the name never reaches a shell")

	spec.Name = "web"
	spec.Env = map[string]string{"X": "$(reboot)"}
	id, err := s.Submit(context.Background(), spec)
	require.NoError(t, err)
	require.Equal(t, "4242", id)
	require.Equal(t, []string{"sbatch --parsable"}, fx.cmds, "nothing interpolated")
	want, _ := Render(spec)
	require.Equal(t, want, fx.stdins[0])
}

func TestSubmitGeneratesName(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		return "1\n", "", nil
	}}
	_, err := New(fx, fastOpts()).Submit(context.Background(), JobSpec{Script: "true"})
	require.NoError(t, err)
	require.Regexp(t, `#SBATCH --job-name=hpcorch-[0-9a-f]{16}\n`, fx.stdins[0])
}

func TestSubmitRetryFindsEarlierSubmission(t *testing.T) {
	// sbatch times out although the controller accepted the job: the
	// retry finds it by name and does not submit again.
	fx := &fakeExec{}
	fx.handle = func(cmd, stdin string) (string, string, error) {
		switch {
		case strings.HasPrefix(cmd, "sbatch"):
			return "", "sbatch: error: Batch job submission failed: Socket timed out on " +
				"send/recv operation\n", exitErr(1, "")
		case strings.HasPrefix(cmd, "squeue"):
			require.Contains(t, cmd, "-n web-1")
			require.Contains(t, cmd, "--me")
			return "77|web-1|PENDING|0:00|10:00|N/A|debug|Priority||tag\n" +
				"70|web-10|RUNNING|0:10|10:00|N/A|debug|None|node1|tag\n", "", nil
		}
		return "", "", errors.New("unexpected " + cmd)
	}
	id, err := New(fx, fastOpts()).Submit(context.Background(),
		JobSpec{Name: "web-1", Comment: "tag", Script: "true"})
	require.NoError(t, err)
	require.Equal(t, "77", id)
	require.Equal(t, 1, fx.count("sbatch"), "submitted exactly once")
	require.Equal(t, 1, fx.count("squeue"))
}

func TestSubmitRetrySubmitsAgainWhenAbsent(t *testing.T) {
	// The controller was down: the job is not there, so a second sbatch
	// is right, and only after a lookup that says so.
	fx := &fakeExec{}
	fx.handle = func(cmd, stdin string) (string, string, error) {
		switch {
		case strings.HasPrefix(cmd, "sbatch") && fx.count("sbatch") == 1:
			e := "sbatch: error: Batch job submission failed: Unable to contact slurm " +
				"controller (connect failure)\n"
			return "", e, exitErr(1, e)
		case strings.HasPrefix(cmd, "sbatch"):
			return "88\n", "", nil
		case strings.HasPrefix(cmd, "squeue"):
			return "", "", nil
		}
		return "", "", errors.New("unexpected " + cmd)
	}
	id, err := New(fx, fastOpts()).Submit(context.Background(), JobSpec{Name: "w", Script: "true"})
	require.NoError(t, err)
	require.Equal(t, "88", id)
	require.Len(t, fx.cmds, 3)
	require.Equal(t, "sbatch --parsable", fx.cmds[0])
	require.True(t, strings.HasPrefix(fx.cmds[1], "squeue "), fx.cmds[1])
	require.Equal(t, "sbatch --parsable", fx.cmds[2])
	require.Equal(t, fx.stdins[0], fx.stdins[2], "the same script, same name")
}

func TestSubmitLookupFailureNeverResubmits(t *testing.T) {
	fx := &fakeExec{}
	fx.handle = func(cmd, stdin string) (string, string, error) {
		msg := "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
		if strings.HasPrefix(cmd, "sbatch") {
			msg = "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n"
		}
		return "", msg, exitErr(1, msg)
	}
	_, err := New(fx, Options{Retries: 3, Backoff: time.Millisecond}).Submit(
		context.Background(), JobSpec{Name: "w", Script: "true"})
	require.Error(t, err)
	require.True(t, IsTransient(err))
	require.Contains(t, err.Error(), "may have been submitted")
	require.Equal(t, 1, fx.count("sbatch"), "no second sbatch without a successful lookup")
	require.Equal(t, 3, fx.count("squeue"))
}

func TestSubmitPermanentNotRetried(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		e := "sbatch: error: invalid partition specified: nosuch\n" +
			"sbatch: error: Batch job submission failed: Invalid partition name specified\n"
		return "", e, exitErr(1, e)
	}}
	_, err := New(fx, fastOpts()).Submit(context.Background(),
		JobSpec{Name: "w", Partition: "nosuch", Script: "true"})
	var se *SubmitError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, KindInvalidPartition, se.Kind)
	require.Equal(t, "nosuch", se.Partition)
	require.Equal(t, 1, len(fx.cmds))
}

func TestSubmitRetriesExhausted(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			return "", "", nil
		}
		e := "sbatch: error: Batch job submission failed: Unable to contact slurm controller\n"
		return "", e, exitErr(1, e)
	}}
	_, err := New(fx, Options{Retries: 2, Backoff: time.Millisecond}).Submit(
		context.Background(), JobSpec{Name: "w", Script: "true"})
	require.True(t, IsTransient(err))
	require.Equal(t, 3, fx.count("sbatch"))
	require.Equal(t, 2, fx.count("squeue"))

	fx.cmds = nil
	_, err = New(fx, Options{Retries: -1}).Submit(context.Background(),
		JobSpec{Name: "w", Script: "true"})
	require.True(t, IsTransient(err))
	require.Equal(t, 1, len(fx.cmds))
}

func TestSubmitContextCancelledDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		cancel()
		e := "sbatch: error: Batch job submission failed: Socket timed out\n"
		return "", e, exitErr(1, e)
	}}
	_, err := New(fx, Options{Backoff: time.Hour}).Submit(ctx, JobSpec{Name: "w", Script: "true"})
	require.ErrorIs(t, err, context.Canceled)
}

func squeueRow(id, state string) string {
	return fmt.Sprintf("%s|job%s|%s|0:01|10:00|2026-12-03T18:16:13|debug|None|node1|c\n",
		id, id, state)
}

func TestStatusOneSqueuePlusSacct(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		switch {
		case strings.HasPrefix(cmd, "squeue"):
			require.Contains(t, cmd, "-t all -j 1,2,3 ")
			require.Contains(t, cmd, "-o '"+squeueFields+"'")
			return squeueRow("1", "RUNNING") + squeueRow("2", "COMPLETING"), "", nil
		case strings.HasPrefix(cmd, "sacct"):
			require.Contains(t, cmd, "-X -P -n -j 3 ")
			return "3|3|job3|CANCELLED by 0|0:15|node2|00:00:01|10:00|" +
				"2026-12-03T18:16:13|debug||c\n", "", nil
		}
		return "", "", errors.New("unexpected")
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"1", "2", "3", "1"})
	require.NoError(t, err)
	require.Len(t, res, 3)
	require.Equal(t, StateRunning, res["1"].State)
	require.Equal(t, StateCompleting, res["2"].State)
	require.Equal(t, StateCancelled, res["3"].State)
	require.Equal(t, 0, res["3"].CancelledBy)
	require.Equal(t, 1, fx.count("squeue"))
	require.Equal(t, 1, fx.count("sacct"))
}

// TestStatusExitCodeOfEndedJob: squeue still lists a job that just failed
// but prints no exit code; sacct, in the same round, supplies it.
func TestStatusExitCodeOfEndedJob(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		switch {
		case strings.HasPrefix(cmd, "squeue"):
			return squeueRow("1", "RUNNING") + squeueRow("2", "FAILED"), "", nil
		case strings.HasPrefix(cmd, "sacct"):
			require.Contains(t, cmd, "-X -P -n -j 3,2 ")
			return "2|2|job2|FAILED|1:0|node1|00:00:01|10:00|" +
				"2026-12-03T18:16:13|debug||c\n", "", nil
		}
		return "", "", errors.New("unexpected")
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"1", "2", "3"})
	require.NoError(t, err)
	require.Equal(t, StateFailed, res["2"].State)
	require.Equal(t, ExitCode{Code: 1}, res["2"].ExitCode)
	require.Equal(t, "job2", res["2"].Name, "squeue's fields kept")
	require.False(t, res["3"].Found)
	require.Equal(t, 1, fx.count("sacct"))

	// Accounting down: squeue's answer stands, without an error, when only
	// exit codes were asked for.
	fx.handle = func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			return squeueRow("2", "FAILED"), "", nil
		}
		e := "sacct: error: Problem talking to the database: Connection refused\n"
		return "", e, exitErr(1, e)
	}
	res, err = New(fx, fastOpts()).Status(context.Background(), []string{"2"})
	require.NoError(t, err)
	require.Equal(t, StateFailed, res["2"].State)
}

func TestStatusSingleUnknownID(t *testing.T) {
	// BC-07: squeue -j <one gone id> exits 1; sacct then tells the end.
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			e := "slurm_load_jobs error: Invalid job id specified\n"
			return "", e, exitErr(1, e)
		}
		return "15236820|15236820|j|COMPLETED|0:0|node1|00:00:05|10:00|" +
			"2026-12-03T18:16:13|debug||\n", "", nil
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"15236820"})
	require.NoError(t, err)
	require.True(t, res["15236820"].Found)
	require.Equal(t, StateCompleted, res["15236820"].State)
}

func TestStatusGoneEverywhere(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			return squeueRow("1", "RUNNING"), "", nil
		}
		return "", "", nil // sacct: header-less empty output, rc 0 (BC-15)
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"1", "2"})
	require.NoError(t, err)
	require.True(t, res["1"].Found)
	require.False(t, res["2"].Found)
	require.Equal(t, "2", res["2"].ID)
	require.Equal(t, StateUnknown, res["2"].State)
}

func TestStatusAccountingDown(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			return squeueRow("1", "RUNNING"), "", nil
		}
		e := "sacct: error: Problem talking to the database: Connection refused\n"
		return "", e, exitErr(1, e)
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"1", "2"})
	require.ErrorIs(t, err, ErrAccountingUnavailable)
	require.True(t, IsTransient(err))
	require.True(t, res["1"].Found, "what squeue knew is kept")
	_, decided := res["2"]
	require.False(t, decided, "undecided, not gone")
}

func TestStatusAccountingDisabled(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if strings.HasPrefix(cmd, "squeue") {
			return "", "", nil
		}
		e := "Slurm accounting storage is disabled\n"
		return "", e, exitErr(1, e)
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"5"})
	require.NoError(t, err)
	require.False(t, res["5"].Found)
}

func TestStatusCommandFailedIsNotGone(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		e := "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
		return "", e, exitErr(1, e)
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"1"})
	require.Nil(t, res)
	require.True(t, IsTransient(err))
	require.Equal(t, 0, fx.count("sacct"))

	fx.handle = func(cmd, stdin string) (string, string, error) {
		return "", "", errors.New("ssh: connection lost")
	}
	_, err = New(fx, fastOpts()).Status(context.Background(), []string{"1"})
	require.ErrorContains(t, err, "connection lost")
}

func TestStatusBadIDs(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		e := "squeue: error: Invalid job id: 88888888888\n"
		return "", e, exitErr(1, e)
	}}
	s := New(fx, fastOpts())
	for _, id := range []string{"1;reboot", "", "abc", "1 2", "5.batch"} {
		_, err := s.Status(context.Background(), []string{id})
		require.ErrorIs(t, err, ErrBadJobID, id)
	}
	require.Empty(t, fx.cmds, "bad ids never reach a shell")

	_, err := s.Status(context.Background(), []string{"88888888888"})
	require.ErrorIs(t, err, ErrBadJobID)
	require.Equal(t, 0, fx.count("sacct"), "no sacct fallback for bad input")

	res, err := s.Status(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, res)
}

func TestStatusArrayJob(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		return "40_[3-5]|arr|PENDING|0:00|10:00|N/A|debug|JobArrayTaskLimit||\n" +
			"40_1|arr|RUNNING|0:09|10:00|2026-12-03T18:16:13|debug|None|node1|\n", "", nil
	}}
	res, err := New(fx, fastOpts()).Status(context.Background(), []string{"40", "40_1"})
	require.NoError(t, err)
	require.Equal(t, StatePending, res["40"].State)
	require.Equal(t, StateRunning, res["40_1"].State)
}

func TestList(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		require.Equal(t, "squeue -h -t all -u hpcuser -o '"+squeueFields+"'", cmd)
		return squeueRow("1", "RUNNING") + squeueRow("2", "PENDING"), "", nil
	}}
	jobs, err := New(fx, Options{User: "hpcuser"}).List(context.Background())
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.Equal(t, "c", jobs[0].Comment)
}

func TestCancel(t *testing.T) {
	// BC-16: finished and unknown jobs cancel without error.
	replies := map[string]string{
		"scancel 8": "scancel: error: Kill job error on job id 8: Job/step already completing or completed\n",
		"scancel 5": "scancel: error: Kill job error on job id 5: Invalid job id specified\n",
		"scancel 6": "scancel: error: Kill job error on job id 6: Access/permission denied\n",
	}
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if e, ok := replies[cmd]; ok {
			return "", e, exitErr(1, e)
		}
		return "", "", nil
	}}
	s := New(fx, fastOpts())
	require.NoError(t, s.Cancel(context.Background(), "8"))
	require.NoError(t, s.Cancel(context.Background(), "5"))
	require.NoError(t, s.Cancel(context.Background(), "7"))
	require.Error(t, s.Cancel(context.Background(), "6"))
	require.ErrorIs(t, s.Cancel(context.Background(), "7; reboot"), ErrBadJobID)
}

func TestCancelRetriesTransient(t *testing.T) {
	fx := &fakeExec{}
	fx.handle = func(cmd, stdin string) (string, string, error) {
		if fx.count("scancel") < 3 {
			e := "scancel: error: Kill job error on job id 9: Socket timed out on send/recv operation\n"
			return "", e, exitErr(1, e)
		}
		return "", "", nil
	}
	require.NoError(t, New(fx, fastOpts()).Cancel(context.Background(), "9"))
	require.Equal(t, 3, fx.count("scancel"))
}

func TestOutputPath(t *testing.T) {
	fx := &fakeExec{handle: func(cmd, stdin string) (string, string, error) {
		if cmd == "scontrol show job -o 12" {
			return "JobId=12 JobName=web StdErr=/h/web-12.out StdIn=/dev/null " +
				"StdOut=/h/web-12.out Power=\n", "", nil
		}
		e := "slurm_load_jobs error: Invalid job id specified\n"
		return "", e, exitErr(1, e)
	}}
	s := New(fx, fastOpts())
	p, err := s.OutputPath(context.Background(), "12")
	require.NoError(t, err)
	require.Equal(t, "/h/web-12.out", p)
	_, err = s.OutputPath(context.Background(), "13")
	require.ErrorIs(t, err, ErrJobNotFound)
}
