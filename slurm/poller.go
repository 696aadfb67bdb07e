package slurm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrPollerClosed is returned by a Poller's methods after Close.
var ErrPollerClosed = errors.New("slurm: poller closed")

// Poller shares one status round among many callers: every job any caller
// asks about joins one set, and one Scheduler.Status call per tick
// (one squeue, plus at most one sacct) refreshes the whole set, so
// watching 200 jobs costs one round per tick, not 200.
//
// Rounds are rate-limited to one per interval. When a round changes
// nothing (elapsed times aside), the next one waits twice as long, up to 8
// times the interval; a change or a new job brings it back to the
// interval. A job is no longer polled once it is terminal or gone (not
// found for three rounds in a row), and is dropped from the set when no
// caller has asked about it for 32 intervals and nobody watches it.
//
// A Poller starts one goroutine; Close stops it and waits for it. All
// methods are safe for concurrent use.
type Poller struct {
	sched    Scheduler
	interval time.Duration
	maxWait  time.Duration
	idle     time.Duration

	ctx    context.Context // the poller's lifetime, ended by Close
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu       sync.Mutex
	jobs     map[string]*polled
	started  uint64        // rounds started
	finished uint64        // rounds finished
	roundCh  chan struct{} // closed and replaced when a round finishes
	lastErr  error         // the error of the last finished round
	forced   bool          // Refresh asked for a round now
	calls    int           // Status calls made
}

// polled is the poller's record of one job.
type polled struct {
	job      Job
	seen     bool      // job holds a result
	misses   int       // rounds in a row with Found == false
	lastUsed time.Time // last Get or Watch
	watchers map[chan Job]func() bool
}

// final reports whether the job needs no more polling.
func (e *polled) final() bool {
	return e.seen && (e.job.State.Terminal() || e.misses >= 3)
}

// NewPoller returns a Poller over s with the given base interval (1s if
// not positive) and starts its goroutine.
func NewPoller(s Scheduler, interval time.Duration) *Poller {
	if interval <= 0 {
		interval = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Poller{
		sched:    s,
		interval: interval,
		maxWait:  8 * interval,
		idle:     32 * interval,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		jobs:     map[string]*polled{},
		roundCh:  make(chan struct{}),
	}
	go p.loop()
	return p
}

// Get returns the latest known state of job id. The first Get of an id
// waits for the next round; later ones return the snapshot at once, which
// is as old as the current backoff at most. If the round that should have
// reported id failed, Get returns its error.
func (p *Poller) Get(ctx context.Context, id string) (Job, error) {
	if !validJobID(id) {
		return Job{}, fmt.Errorf("slurm: poll %q: %w", id, ErrBadJobID)
	}
	for {
		p.mu.Lock()
		if p.ctx.Err() != nil {
			p.mu.Unlock()
			return Job{}, ErrPollerClosed
		}
		e := p.track(id)
		if e.seen {
			j := e.job
			p.mu.Unlock()
			return j, nil
		}
		target := p.started + 1
		p.mu.Unlock()
		p.poke()

		if err := p.waitRound(ctx, target); err != nil {
			return Job{}, err
		}

		p.mu.Lock()
		e, err := p.jobs[id], p.lastErr
		p.mu.Unlock()
		if (e == nil || !e.seen) && err != nil {
			return Job{}, err
		}
	}
}

// waitRound waits until round number target has finished.
func (p *Poller) waitRound(ctx context.Context, target uint64) error {
	for {
		p.mu.Lock()
		if p.finished >= target {
			p.mu.Unlock()
			return nil
		}
		ch := p.roundCh
		p.mu.Unlock()

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return ErrPollerClosed
		case <-ch:
		}
	}
}

// Watch returns a channel that receives the job's state after each round
// that changed it, starting with the first known state. The channel is
// closed once the job is terminal or gone (after that state is sent),
// when ctx ends, or on Close or Forget. A receiver that falls behind
// misses intermediate states, never the latest one.
func (p *Poller) Watch(ctx context.Context, id string) (<-chan Job, error) {
	if !validJobID(id) {
		return nil, fmt.Errorf("slurm: watch %q: %w", id, ErrBadJobID)
	}
	ch := make(chan Job, 1)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return nil, ErrPollerClosed
	}
	e := p.track(id)
	if e.seen {
		ch <- e.job
		if e.final() {
			close(ch)
			return ch, nil
		}
	}
	if e.watchers == nil {
		e.watchers = map[chan Job]func() bool{}
	}
	e.watchers[ch] = context.AfterFunc(ctx, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e, ok := p.jobs[id]; ok {
			if _, ok := e.watchers[ch]; ok {
				delete(e.watchers, ch)
				close(ch)
			}
		}
	})
	p.poke()
	return ch, nil
}

// Refresh runs a round for every tracked job as soon as the current one,
// if any, ends, without waiting for the rate limit or the backoff, and
// returns its error. Concurrent Refresh calls share one round.
func (p *Poller) Refresh(ctx context.Context) error {
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.forced = true
	target := p.started + 1
	p.mu.Unlock()
	p.poke()

	if err := p.waitRound(ctx, target); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Calls returns how many Scheduler.Status calls the poller has made.
func (p *Poller) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Forget stops tracking id and closes its watchers' channels.
func (p *Poller) Forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop(id)
}

// Close stops the poller's goroutine, waits for it, and closes every
// watcher's channel. Close is idempotent and returns nil.
func (p *Poller) Close() error {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.jobs {
		p.drop(id)
	}
	return nil
}

// track returns id's record, creating it. p.mu is held.
func (p *Poller) track(id string) *polled {
	e := p.jobs[id]
	if e == nil {
		e = &polled{}
		p.jobs[id] = e
	}
	e.lastUsed = time.Now()
	return e
}

// drop forgets id and closes its watchers. p.mu is held.
func (p *Poller) drop(id string) {
	e := p.jobs[id]
	if e == nil {
		return
	}
	for ch, stop := range e.watchers {
		stop()
		close(ch)
	}
	delete(p.jobs, id)
}

// poke wakes the loop without blocking.
func (p *Poller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loop runs rounds until Close.
func (p *Poller) loop() {
	defer close(p.done)
	var last time.Time // start of the last round
	wait := p.interval

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ids, fresh, forced := p.due()
		var at time.Time // when the next round may start; zero: now
		switch {
		case forced:
		case len(ids) == 0:
			at = time.Now().Add(time.Hour) // until woken
		case fresh:
			at = last.Add(p.interval)
		default:
			at = last.Add(wait)
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-p.ctx.Done():
				return
			case <-p.wake:
				continue
			case <-timer.C:
				continue
			}
		}

		last = time.Now()
		if p.runRound(ids) {
			wait = p.interval
		} else {
			wait = min(2*wait, p.maxWait)
		}
		if p.ctx.Err() != nil {
			return
		}
	}
}

// due returns the ids to poll, whether any of them has no result yet, and
// whether Refresh asked for a round. It drops idle records.
func (p *Poller) due() (ids []string, fresh, forced bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for id, e := range p.jobs {
		if len(e.watchers) == 0 && now.Sub(e.lastUsed) > p.idle {
			p.drop(id)
			continue
		}
		if e.final() {
			continue
		}
		ids = append(ids, id)
		fresh = fresh || !e.seen
	}
	return ids, fresh, p.forced
}

// runRound makes one Status call for ids and records the result. It
// reports whether anything changed.
func (p *Poller) runRound(ids []string) bool {
	p.mu.Lock()
	p.started++
	p.forced = false
	if len(ids) > 0 {
		p.calls++
	}
	p.mu.Unlock()

	var res map[string]Job
	var err error
	if len(ids) > 0 {
		ctx, cancel := context.WithTimeout(p.ctx, max(p.maxWait, time.Minute))
		res, err = p.sched.Status(ctx, ids)
		cancel()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for id, j := range res {
		e := p.jobs[id]
		if e == nil {
			continue // forgotten during the round
		}
		if !e.seen || !sameJob(e.job, j) {
			changed = true
			e.job, e.seen = j, true
			p.notify(e)
		}
		e.job = j
		if j.Found {
			e.misses = 0
		} else {
			e.misses++
		}
		if e.final() {
			for ch, stop := range e.watchers {
				stop()
				close(ch)
			}
			e.watchers = nil
		}
	}
	p.lastErr = err
	p.finished++
	close(p.roundCh)
	p.roundCh = make(chan struct{})
	return changed
}

// notify sends e.job to every watcher, replacing an unread older state.
// p.mu is held.
func (p *Poller) notify(e *polled) {
	for ch := range e.watchers {
		select {
		case ch <- e.job:
		default:
			select {
			case <-ch:
			default:
			}
			ch <- e.job
		}
	}
}

// sameJob compares what a watcher cares about: everything but Elapsed.
func sameJob(a, b Job) bool {
	a.Elapsed, b.Elapsed = 0, 0
	return a.ID == b.ID && a.Name == b.Name && a.Comment == b.Comment &&
		a.Partition == b.Partition && a.State == b.State && a.RawState == b.RawState &&
		a.Reason == b.Reason && slicesEqual(a.Nodes, b.Nodes) && a.TimeLimit == b.TimeLimit &&
		a.StartTime.Equal(b.StartTime) && a.ExitCode == b.ExitCode &&
		a.CancelledBy == b.CancelledBy && a.Found == b.Found
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ErrStuckCompleting reports a job that stayed COMPLETING longer than the
// ceiling given to Poller.Wait (BC-16): a node did not release it.
var ErrStuckCompleting = errors.New("slurm: job stuck in COMPLETING")

// Wait waits until job id is terminal or gone and returns its last state.
// COMPLETING is not terminal: the job is stopping. If stuck is positive
// and the job stays COMPLETING for longer than that, Wait returns the job
// and an error wrapping ErrStuckCompleting. Wait also ends with ctx.
func (p *Poller) Wait(ctx context.Context, id string, stuck time.Duration) (Job, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := p.Watch(ctx, id)
	if err != nil {
		return Job{}, err
	}

	var last Job
	var seen bool
	var ceiling <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case j, ok := <-ch:
			if !ok {
				if seen && (last.State.Terminal() || !last.Found) {
					return last, nil
				}
				if err := ctx.Err(); err != nil {
					return last, err
				}
				return last, ErrPollerClosed
			}
			last, seen = j, true
			switch {
			case j.State == StateCompleting && stuck > 0 && timer == nil:
				timer = time.NewTimer(stuck)
				ceiling = timer.C
			case j.State != StateCompleting && timer != nil:
				timer.Stop()
				timer, ceiling = nil, nil
			}
		case <-ceiling:
			return last, fmt.Errorf("slurm: job %s COMPLETING for over %v: %w",
				id, stuck, ErrStuckCompleting)
		}
	}
}
