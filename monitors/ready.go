package monitors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/hpcorch/hpcorch/slurm"
)

// ReadyError reports a WaitReady that gave up: the phase it was in and
// why. errors.Is matches its cause: ErrNotRunning (the job ended),
// ErrTargetsDown (see Down), ErrUnauthorized, or the context's error.
type ReadyError struct {
	// Monitor is the monitor's ID.
	Monitor string
	// Phase is "job" (pending, or no port yet), "ready" (/-/ready did not
	// answer 200) or "targets" (some target not up).
	Phase string
	// State is the job's last known state.
	State slurm.State
	// Down lists the targets not up, in phase "targets".
	Down []TargetHealth
	// Log holds the last lines of the job's output when the job ended.
	Log string
	// Err is the cause.
	Err error
}

// Error says where WaitReady stopped and why, with the targets that are
// down and the job's last lines.
func (e *ReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "monitors: %s not ready (phase %s, job %s): %v",
		e.Monitor, e.Phase, e.State, e.Err)
	for _, t := range e.Down {
		b.WriteString("\n  down: " + t.String())
	}
	if log := strings.TrimRight(e.Log, "\n"); log != "" {
		b.WriteString("\n--- last lines of the job output ---\n" + log)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ReadyError) Unwrap() error { return e.Err }

// WaitReady waits until a monitor is ready: its job runs and reported its
// port, Prometheus answers /-/ready (through the Executor, with the
// password), and every target has been scraped successfully at least once.
// It polls every Options.PollInterval until ctx ends, or for
// Options.ReadyTimeout when ctx has no deadline. On failure the error is a
// *ReadyError; when targets are down it lists each with Prometheus' last
// scrape error.
func (m *Monitors) WaitReady(ctx context.Context, id string) (*Monitor, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.ReadyTimeout)
		defer cancel()
	}

	w := &readyWait{m: m, id: id, phase: "job"}
	tick := time.NewTicker(m.opts.PollInterval)
	defer tick.Stop()
	for {
		mon, done, err := w.step(ctx)
		if done {
			return mon, err
		}
		select {
		case <-ctx.Done():
			return nil, w.fail(ctx.Err())
		case <-tick.C:
		}
	}
}

// readyWait is the state of one WaitReady.
type readyWait struct {
	m     *Monitors
	id    string
	phase string
	state slurm.State
	down  []TargetHealth
	last  error
}

// fail returns the *ReadyError for cause, with the last probe's error when
// the cause is the context's.
func (w *readyWait) fail(cause error) error {
	if w.phase == "targets" && len(w.down) > 0 {
		cause = errors.Join(cause, &TargetsDownError{Monitor: w.id, Down: w.down})
	} else if w.last != nil {
		cause = errors.Join(cause, w.last)
	}
	return &ReadyError{Monitor: w.id, Phase: w.phase, State: w.state, Down: w.down, Err: cause}
}

// step makes one check. done is true when WaitReady must return.
func (w *readyWait) step(ctx context.Context) (*Monitor, bool, error) {
	m := w.m
	svc, err := m.service(ctx, w.id)
	if errors.Is(err, ErrMonitorNotFound) {
		return nil, true, err
	}
	if err != nil {
		w.last = err
		return nil, false, nil
	}
	w.id, w.state = svc.ID, svc.State

	if svc.State.Terminal() {
		log, _ := m.b.ServiceLogs(ctx, svc.ID, 20)
		re := &ReadyError{Monitor: svc.ID, Phase: w.phase, State: svc.State, Log: log,
			Err: fmt.Errorf("%w: the job ended", ErrNotRunning)}
		return nil, true, re
	}
	if svc.State != slurm.StateRunning || svc.Node == "" || svc.Port == 0 {
		w.phase = "job"
		return nil, false, nil
	}

	c, err := m.conn(ctx, svc.ID)
	if err != nil {
		w.last = err
		return nil, false, nil
	}
	if done, err := w.probe(ctx, c); !done {
		return nil, false, nil
	} else if err != nil {
		return nil, true, w.fail(err)
	}

	m.log.Info("monitor ready", "monitor", svc.ID, "job_id", svc.JobID, "node", svc.Node)
	return fromService(svc, m.submitted(ctx, svc.ID)), true, nil
}

// probe checks /-/ready and the targets. done is true when the monitor is
// ready (err nil) or can never be (err set). A check cut short by ctx
// leaves what the previous round found.
func (w *readyWait) probe(ctx context.Context, c *conn) (bool, error) {
	code, body, err := c.get(ctx, "/-/ready")
	switch {
	case ctx.Err() != nil:
		return false, nil
	case errors.Is(err, ErrUnauthorized):
		w.phase = "ready"
		return true, err
	case err != nil:
		w.phase, w.last = "ready", w.m.checkReach(w.id, c, err)
		return false, nil
	case code != http.StatusOK:
		w.phase = "ready"
		w.last = fmt.Errorf("monitors: %s: /-/ready answered %d: %s", w.id, code, body)
		return false, nil
	}

	health, err := c.targets(ctx)
	switch {
	case ctx.Err() != nil:
		return false, nil
	case err != nil:
		w.phase, w.last = "ready", w.m.checkReach(w.id, c, err)
		return false, nil
	}
	w.phase, w.down = "targets", notUp(health)
	return len(w.down) == 0 && len(health) > 0, nil
}

// targets returns the health of every active target.
func (c *conn) targets(ctx context.Context) ([]TargetHealth, error) {
	res, err := c.api.Targets(ctx)
	if err != nil {
		return nil, apiError(c.id+": targets", err)
	}
	out := make([]TargetHealth, 0, len(res.Active))
	for _, t := range res.Active {
		out = append(out, targetHealth(t))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Job != out[j].Job {
			return out[i].Job < out[j].Job
		}
		return out[i].ScrapeURL < out[j].ScrapeURL
	})
	return out, nil
}

// targetHealth converts one of Prometheus' active targets.
func targetHealth(t v1.ActiveTarget) TargetHealth {
	h := TargetHealth{
		Job:       string(t.Labels[model.JobLabel]),
		Instance:  string(t.Labels[model.InstanceLabel]),
		Address:   string(t.Labels[LabelAddress]),
		ScrapeURL: t.ScrapeURL,
		Service:   string(t.Labels[LabelService]),
		Health:    string(t.Health),
		LastError: t.LastError,
	}
	if h.Job == "" {
		h.Job = t.ScrapePool
	}
	return h
}

// notUp returns the targets whose health is not "up".
func notUp(ts []TargetHealth) []TargetHealth {
	var down []TargetHealth
	for _, t := range ts {
		if t.Health != string(v1.HealthGood) {
			down = append(down, t)
		}
	}
	return down
}

// Targets reports the health of every target a running monitor scrapes,
// as Prometheus' /api/v1/targets says: health, scrape URL and last error.
func (m *Monitors) Targets(ctx context.Context, id string) ([]TargetHealth, error) {
	c, err := m.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	ts, err := c.targets(ctx)
	return ts, m.checkReach(id, c, err)
}
