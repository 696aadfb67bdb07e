package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// Phase is a step of WaitReady.
type Phase string

// The phases of WaitReady, in order.
const (
	// PhasePending waits for the scheduler to start the job.
	PhasePending Phase = "pending"
	// PhaseRunning waits for the job script to launch the service (after
	// choosing ports, starting cAdvisor, building an image).
	PhaseRunning Phase = "running"
	// PhasePort waits for the service's main port to accept connections
	// from the login node.
	PhasePort Phase = "port"
	// PhaseHealth runs the checks.
	PhaseHealth Phase = "health"
)

// PhaseTime is how long one phase of WaitReady took.
type PhaseTime struct {
	// Phase is the phase.
	Phase Phase
	// Duration is the time spent in it.
	Duration time.Duration
	// Detail is what was seen: the pending reason, the node, the address
	// dialled, the check that passed.
	Detail string
}

// Readiness reports a WaitReady that succeeded.
type Readiness struct {
	// Service is the service as seen when it became ready.
	Service *Service
	// Phases are the phases gone through, in order.
	Phases []PhaseTime
	// Total is the time WaitReady took.
	Total time.Duration
}

// WaitReady waits until the service id (an ID or job id) is ready: its
// job running (PhasePending), the service launched by the job script
// (PhaseRunning), its main port accepting connections through the
// Executor (PhasePort, skipped when it has no port) and every check
// passing, in order (PhaseHealth). With no checks, the recipe's
// health_check is used, if it has one. The time spent in each phase is
// reported.
//
// It polls with backoff. When the job ends first, or a check times out,
// or ctx ends, it returns a *ReadyError with the job's last log lines,
// wrapping ErrJobEnded, ErrCheckTimeout or ctx's error.
func (s *Servers) WaitReady(ctx context.Context, id string, checks ...Check) (*Readiness, error) {
	w := &waiter{s: s, id: id, start: time.Now(), phaseStart: time.Now()}
	if err := w.look(ctx); err != nil {
		return nil, err
	}
	if len(checks) == 0 {
		checks = s.recipeChecks(ctx, w.obs.svc.ID)
	}
	// The checks' own time bounds the wait for the port too, so that a
	// recipe's health_check timeout holds from the moment the job runs;
	// with no check, or none that says, it is DefaultHealthTimeout.
	var portTimeout time.Duration
	for _, c := range checks {
		portTimeout = max(portTimeout, c.Timeout)
	}

	if err := w.pending(ctx); err != nil {
		return nil, err
	}
	if err := w.launched(ctx); err != nil {
		return nil, err
	}
	if err := w.portOpen(ctx, portTimeout); err != nil {
		return nil, err
	}
	for _, c := range checks {
		if err := w.check(ctx, c); err != nil {
			return nil, err
		}
	}
	return &Readiness{Service: w.obs.svc, Phases: w.phases, Total: time.Since(w.start)}, nil
}

// recipeChecks returns the check of the recipe recorded in the run folder,
// if any.
func (s *Servers) recipeChecks(ctx context.Context, id string) []Check {
	data, err := s.ReadRunFile(ctx, id, serviceFile)
	if err != nil {
		return nil
	}
	var rec record
	if json.Unmarshal(data, &rec) != nil {
		return nil
	}
	if c, ok := RecipeCheck(rec.Service.HealthCheck); ok {
		return []Check{c}
	}
	return nil
}

// waiter carries one WaitReady.
type waiter struct {
	s          *Servers
	id         string
	start      time.Time
	phase      Phase
	phaseStart time.Time
	phases     []PhaseTime
	obs        *observation
}

// look refreshes the observation of the service.
func (w *waiter) look(ctx context.Context) error {
	o, err := w.s.observe(ctx, w.id)
	if err != nil {
		return err
	}
	w.obs = o
	return nil
}

// done records the end of the current phase.
func (w *waiter) done(detail string) {
	now := time.Now()
	w.phases = append(w.phases, PhaseTime{Phase: w.phase, Duration: now.Sub(w.phaseStart),
		Detail: detail})
	w.phaseStart = now
}

// ended reports whether the job (or the service in it) has ended.
func (w *waiter) ended() bool {
	svc := w.obs.svc
	if !svc.State.Active() {
		return true
	}
	switch w.obs.status["PHASE"] {
	case "exited", "stopped":
		return true
	}
	return false
}

// pending waits until the job runs on a node.
func (w *waiter) pending(ctx context.Context) error {
	w.phase = PhasePending
	reason := ""
	bo := newBackoff(200 * time.Millisecond)
	for {
		svc := w.obs.svc
		if svc.Reason != "" && svc.State.Active() {
			reason = svc.Reason
		}
		// A job seen on a node has left this phase, even when it has ended
		// by then: the next phase tells how far it got.
		if svc.Node != "" && len(svc.Nodes) > 0 {
			w.done(reason)
			return nil
		}
		if w.ended() {
			return w.fail(ctx, ErrJobEnded)
		}
		if err := w.pause(ctx, bo); err != nil {
			return err
		}
	}
}

// launched waits until the job script has launched the service.
func (w *waiter) launched(ctx context.Context) error {
	w.phase = PhaseRunning
	bo := newBackoff(100 * time.Millisecond)
	for {
		if w.ended() {
			return w.fail(ctx, ErrJobEnded)
		}
		if w.obs.status["PHASE"] == "running" {
			w.done(w.obs.svc.Node)
			return nil
		}
		if err := w.pause(ctx, bo); err != nil {
			return err
		}
	}
}

// portOpen waits until the main port accepts a connection through the
// Executor.
func (w *waiter) portOpen(ctx context.Context, timeout time.Duration) error {
	w.phase = PhasePort
	svc := w.obs.svc
	if svc.Port == 0 {
		w.done("no port")
		return nil
	}
	// The port as last seen: a job that ran again (its port was taken)
	// reports a new one.
	probe := func(ctx context.Context, t *Target) error {
		addr := net.JoinHostPort(w.s.dialHost(t.Service.Node), strconv.Itoa(t.Service.Port))
		c, err := w.s.exec.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	name := "port " + net.JoinHostPort(w.s.dialHost(svc.Node), strconv.Itoa(svc.Port))
	c := Check{Name: name, Timeout: timeout, Interval: 100 * time.Millisecond, Probe: probe}
	if err := w.run(ctx, c); err != nil {
		return err
	}
	svc = w.obs.svc
	w.done(net.JoinHostPort(svc.Node, strconv.Itoa(svc.Port)))
	return nil
}

// check runs one health check.
func (w *waiter) check(ctx context.Context, c Check) error {
	w.phase = PhaseHealth
	if err := w.run(ctx, c); err != nil {
		return err
	}
	w.done(c.Name)
	return nil
}

// run probes c until it passes, its timeout passes or the job ends.
func (w *waiter) run(ctx context.Context, c Check) error {
	if c.Probe == nil {
		return fmt.Errorf("servers: check %q has no probe", c.Name)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = recipe.DefaultHealthTimeout
	}
	interval := c.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	bo := newBackoff(interval)
	var last error // the last probe's reason, not cut short by the deadline
	for tries := 1; ; tries++ {
		pctx, cancel := context.WithTimeout(ctx, min(probeTimeout, time.Until(deadline)))
		attempt := w.obs.status["ATTEMPT"]
		err := c.Probe(pctx, &Target{Servers: w.s, Service: w.obs.svc})
		cut := err != nil && pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil && !w.restarted(ctx, attempt) {
			return nil
		}
		if err == nil {
			// What answered was not the service: its job is running its
			// script again (its port was taken) or has ended. Probe anew.
			err = fmt.Errorf("%s answered, but not the service (its job is in phase %s, "+
				"run %s)", c.Name, w.obs.status["PHASE"], w.obs.status["ATTEMPT"])
		}
		if errors.Is(err, sshx.ErrForwardingDisabled) {
			// No later try can pass: the login node forwards nothing.
			return w.fail(ctx, fmt.Errorf("%w: %s: %w", ErrCheckRefused, c.Name, err))
		}
		if ctx.Err() != nil {
			return w.fail(ctx, lastTry(ctx.Err(), c.Name, lastReason(last, err), tries))
		}
		if !cut || last == nil || time.Until(deadline) > 0 {
			last = err
		}
		if time.Now().After(deadline) {
			return w.fail(ctx, fmt.Errorf("%w after %s: %s: %w (last of %d tries)",
				ErrCheckTimeout, timeout, c.Name, last, tries))
		}
		if err := bo.wait(ctx); err != nil {
			return w.fail(ctx, lastTry(err, c.Name, last, tries))
		}
		if err := w.look(ctx); err != nil {
			if ctx.Err() != nil {
				return w.fail(ctx, lastTry(ctx.Err(), c.Name, last, tries))
			}
			return err
		}
		if w.ended() {
			return w.fail(ctx, fmt.Errorf("%w (last probe: %s: %w)", ErrJobEnded, c.Name, last))
		}
	}
}

// restarted reports whether the job script has run again since attempt
// was seen, as it does when its port was taken before its service bound it.
// It looks at the service once more; a failed look counts as no restart.
func (w *waiter) restarted(ctx context.Context, attempt string) bool {
	if w.look(ctx) != nil {
		return false
	}
	return w.obs.status["ATTEMPT"] != attempt || w.obs.status["PHASE"] != "running"
}

// lastReason returns the reason of the last probe that ran to its end,
// or err when none did.
func lastReason(last, err error) error {
	if last != nil {
		return last
	}
	return err
}

// lastTry wraps cause (ctx's error) with what the last probe of check
// said.
func lastTry(cause error, check string, last error, tries int) error {
	return fmt.Errorf("%w (%s: %v, last of %d tries)", cause, check, last, tries)
}

// pause waits for the next poll and looks at the service again.
func (w *waiter) pause(ctx context.Context, bo *backoff) error {
	if err := bo.wait(ctx); err != nil {
		return w.fail(ctx, err)
	}
	if err := w.look(ctx); err != nil {
		if ctx.Err() != nil {
			return w.fail(ctx, ctx.Err())
		}
		return err
	}
	return nil
}

// settleTimeout bounds how long fail waits for the scheduler to report
// the final state of a job whose status file says it has ended.
const settleTimeout = 5 * time.Second

// settle looks at the job again until the scheduler reports it ended,
// for up to settleTimeout: the job script records its end in the status
// file before the scheduler knows of it.
func (w *waiter) settle(ctx context.Context) {
	if w.obs == nil || ctx.Err() != nil {
		return
	}
	deadline := time.Now().Add(settleTimeout)
	bo := newBackoff(100 * time.Millisecond)
	for !w.obs.svc.State.Terminal() && time.Now().Before(deadline) {
		sctx, cancel := context.WithDeadline(ctx, deadline)
		err := bo.wait(sctx)
		if err == nil {
			err = w.look(sctx)
		}
		cancel()
		if err != nil {
			return
		}
	}
}

// finalState returns the job's state, or, when the scheduler still calls
// it active although its status file says it ended, the state its
// recorded end implies.
func finalState(o *observation, code slurm.ExitCode) slurm.State {
	st := o.svc.State
	if st.Terminal() {
		return st
	}
	switch o.status["PHASE"] {
	case "stopped":
		return slurm.StateCancelled
	case "exited":
		if code.Code != 0 || code.Signal != 0 {
			return slurm.StateFailed
		}
		return slurm.StateCompleted
	}
	return st
}

// fail builds the *ReadyError for cause, with the job's last log lines.
// When the job has ended, its final state and exit code are looked up
// first.
func (w *waiter) fail(ctx context.Context, cause error) error {
	if errors.Is(cause, ErrJobEnded) {
		w.settle(ctx)
	}
	e := &ReadyError{ID: w.id, Phase: w.phase, Waited: time.Since(w.start), Err: cause}
	if w.obs != nil {
		svc := w.obs.svc
		e.ID, e.JobID, e.State, e.Reason = svc.ID, svc.JobID, svc.State, svc.Reason
		e.ExitCode = w.obs.job.ExitCode
		if code, err := strconv.Atoi(w.obs.status["EXIT_CODE"]); err == nil &&
			e.ExitCode.Code == 0 && e.ExitCode.Signal == 0 {
			e.ExitCode.Code = code
		}
		if errors.Is(cause, ErrJobEnded) {
			e.State = finalState(w.obs, e.ExitCode)
		}
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if log, err := w.s.ServiceLogs(lctx, e.ID, 30); err == nil {
		e.Log = log
		e.Err = classifyLog(log, e.Err)
	}
	return e
}

// backoff is a poll interval that grows by half after each wait, up to
// eight times its start.
type backoff struct {
	d, max time.Duration
}

func newBackoff(d time.Duration) *backoff { return &backoff{d: d, max: 8 * d} }

// wait waits for the current interval or until ctx ends.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	b.d = min(b.d*3/2, b.max)
	return nil
}
