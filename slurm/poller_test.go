package slurm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// fakeSched is a hand-written Scheduler whose job states the test sets.
type fakeSched struct {
	mu       sync.Mutex
	states   map[string]State
	calls    int
	lastIDs  []string
	fail     error
	statusCh chan []string // if set, receives the ids of each call
}

func newFakeSched() *fakeSched { return &fakeSched{states: map[string]State{}} }

func (f *fakeSched) set(id string, st State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[id] = st
}

func (f *fakeSched) Submit(context.Context, JobSpec) (string, error) {
	return "", errors.New("fake: no submit")
}

func (f *fakeSched) Status(ctx context.Context, ids []string) (map[string]Job, error) {
	f.mu.Lock()
	f.calls++
	f.lastIDs = append([]string(nil), ids...)
	fail := f.fail
	res := map[string]Job{}
	for _, id := range ids {
		st, ok := f.states[id]
		res[id] = Job{ID: id, State: st, Found: ok, CancelledBy: -1,
			Elapsed: time.Duration(f.calls) * time.Second}
	}
	ch := f.statusCh
	f.mu.Unlock()
	if ch != nil {
		ch <- ids
	}
	if fail != nil {
		return nil, fail
	}
	return res, nil
}

func (f *fakeSched) List(context.Context) ([]Job, error) { return nil, nil }

func (f *fakeSched) Cancel(context.Context, string) error { return nil }

func (f *fakeSched) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestPollerOneRoundForManyJobs(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	for i := range 200 {
		fs.set(fmt.Sprint(i+1), StateRunning)
	}
	p := NewPoller(fs, time.Hour) // no ticks: only the first round and Refresh
	defer p.Close()

	// Track all 200 before the first round can finish: each Get waits for
	// the round that includes its id.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := p.Get(context.Background(), fmt.Sprint(i+1))
			if err == nil && j.State != StateRunning {
				err = fmt.Errorf("job %d: %v", i+1, j.State)
			}
			errs <- err
		}()
	}
	// With an interval of an hour, only Refresh makes rounds after the
	// first one: keep refreshing until every Get has its answer.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			require.NoError(t, p.Refresh(context.Background()))
		}
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Goroutines arrive over time, so a few rounds may run, but far fewer
	// than 200, and each round asks for every tracked job at once.
	firstRounds := fs.callCount()
	require.Less(t, firstRounds, 100)

	require.NoError(t, p.Refresh(context.Background()))
	require.Equal(t, firstRounds+1, fs.callCount(), "one Status call per round")
	require.Len(t, fs.lastIDs, 200)
	require.Equal(t, fs.callCount(), p.Calls())

	// Later Gets are served from the snapshot.
	before := fs.callCount()
	for i := range 200 {
		_, err := p.Get(context.Background(), fmt.Sprint(i+1))
		require.NoError(t, err)
	}
	require.Equal(t, before, fs.callCount())
}

func TestPollerWatchUntilTerminal(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("7", StatePending)
	p := NewPoller(fs, time.Hour)
	defer p.Close()

	ch, err := p.Watch(context.Background(), "7")
	require.NoError(t, err)
	require.NoError(t, p.Refresh(context.Background()))
	require.Equal(t, StatePending, (<-ch).State)

	fs.set("7", StateRunning)
	require.NoError(t, p.Refresh(context.Background()))
	require.Equal(t, StateRunning, (<-ch).State)

	// A round with no change sends nothing (Elapsed aside).
	require.NoError(t, p.Refresh(context.Background()))
	select {
	case j := <-ch:
		t.Fatalf("unexpected update %+v", j)
	default:
	}

	fs.set("7", StateCompleted)
	require.NoError(t, p.Refresh(context.Background()))
	j, ok := <-ch
	require.True(t, ok)
	require.Equal(t, StateCompleted, j.State)
	_, ok = <-ch
	require.False(t, ok, "closed after the terminal state")

	// A terminal job is not polled any more.
	n := fs.callCount()
	require.NoError(t, p.Refresh(context.Background()))
	require.Equal(t, n, fs.callCount(), "no Status call when nothing is left to poll")
	got, err := p.Get(context.Background(), "7")
	require.NoError(t, err)
	require.Equal(t, StateCompleted, got.State)

	// Watching a finished job gives its state and a closed channel.
	ch, err = p.Watch(context.Background(), "7")
	require.NoError(t, err)
	require.Equal(t, StateCompleted, (<-ch).State)
	_, ok = <-ch
	require.False(t, ok)
}

func TestPollerGoneAfterThreeMisses(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	p := NewPoller(fs, time.Hour)
	defer p.Close()

	j, err := p.Get(context.Background(), "9")
	require.NoError(t, err)
	require.False(t, j.Found)
	require.NoError(t, p.Refresh(context.Background()))
	require.NoError(t, p.Refresh(context.Background()))
	n := fs.callCount()
	require.NoError(t, p.Refresh(context.Background()))
	require.Equal(t, n, fs.callCount(), "gone after three rounds, no more polling")
}

func TestPollerWatchContextEnds(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("3", StateRunning)
	p := NewPoller(fs, time.Hour)
	defer p.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ch, err := p.Watch(ctx, "3")
	require.NoError(t, err)
	cancel()
	for range ch { // drains, then ends when closed
	}
}

func TestPollerErrorsAndRecovery(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("1", StateRunning)
	boom := &transientError{msg: "slurm: squeue: down", kind: ErrTransient, err: errors.New("x")}
	fs.fail = boom
	p := NewPoller(fs, time.Hour)
	defer p.Close()

	_, err := p.Get(context.Background(), "1")
	require.True(t, IsTransient(err), "%v", err)

	fs.mu.Lock()
	fs.fail = nil
	fs.mu.Unlock()
	require.NoError(t, p.Refresh(context.Background()))
	j, err := p.Get(context.Background(), "1")
	require.NoError(t, err)
	require.Equal(t, StateRunning, j.State)
}

func TestPollerTicksAndBacksOff(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("1", StateRunning)
	fs.statusCh = make(chan []string)
	p := NewPoller(fs, time.Millisecond)

	ch, err := p.Watch(context.Background(), "1")
	require.NoError(t, err)
	// Rounds come by themselves; each asks for the one job.
	for range 5 {
		require.Equal(t, []string{"1"}, <-fs.statusCh)
	}
	require.Equal(t, StateRunning, (<-ch).State)

	fs.set("1", StateFailed)
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case <-fs.statusCh:
		case j, ok := <-ch:
			if !ok {
				done = true
				break
			}
			require.Equal(t, StateFailed, j.State)
		case <-deadline:
			t.Fatal("no terminal state")
		}
	}
	go func() { // let a round in flight finish
		for range fs.statusCh {
		}
	}()
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "idempotent")
	close(fs.statusCh)
}

func TestPollerClosed(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPoller(newFakeSched(), 0)
	require.NoError(t, p.Close())
	_, err := p.Get(context.Background(), "1")
	require.ErrorIs(t, err, ErrPollerClosed)
	_, err = p.Watch(context.Background(), "1")
	require.ErrorIs(t, err, ErrPollerClosed)
	require.ErrorIs(t, p.Refresh(context.Background()), ErrPollerClosed)
	_, err = p.Get(context.Background(), "x;y")
	require.ErrorIs(t, err, ErrBadJobID)
}

func TestPollerForget(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("1", StateRunning)
	p := NewPoller(fs, time.Hour)
	defer p.Close()
	ch, err := p.Watch(context.Background(), "1")
	require.NoError(t, err)
	p.Forget("1")
	_, ok := <-ch
	require.False(t, ok)
}

func TestPollerWait(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := newFakeSched()
	fs.set("5", StateCompleting)
	fs.set("6", StateCompleting)
	p := NewPoller(fs, time.Millisecond)
	defer p.Close()

	// BC-16: CG is not terminal; past the ceiling it is reported as stuck.
	j, err := p.Wait(context.Background(), "5", 50*time.Millisecond)
	require.ErrorIs(t, err, ErrStuckCompleting)
	require.Equal(t, StateCompleting, j.State)

	done := make(chan Job, 1)
	go func() {
		j, err := p.Wait(context.Background(), "6", 0)
		require.NoError(t, err)
		done <- j
	}()
	_, err = p.Get(context.Background(), "6")
	require.NoError(t, err)
	fs.set("6", StateCancelled)
	require.Equal(t, StateCancelled, (<-done).State)

	j, err = p.Wait(context.Background(), "404", 0)
	require.NoError(t, err)
	require.False(t, j.Found, "gone counts as the end")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Wait(ctx, "5", 0)
	require.ErrorIs(t, err, context.Canceled)
}
