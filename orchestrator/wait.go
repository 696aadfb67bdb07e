package orchestrator

import (
	"context"
	"sync"
	"time"

	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// DefaultProgressInterval is how often WaitReady asks the scheduler for
// the state it reports to its progress function.
const DefaultProgressInterval = 2 * time.Second

// Progress is what WaitReady reports while it waits: the job's state, why
// it is pending, and how long the wait has lasted.
type Progress struct {
	// ID and JobID name the service or monitor.
	ID, JobID string
	// Kind is servers.KindService or servers.KindMonitor.
	Kind servers.Kind
	// State is the job's state and Reason why it pends ("Resources",
	// "Priority"), or "".
	State  slurm.State
	Reason string
	// Node is where it runs, once it does.
	Node string
	// Waited is the time since WaitReady was called.
	Waited time.Duration
}

// WaitReady waits until the service or monitor id is ready: a service as
// servers.Servers.WaitReady says (job running, port open, health check
// passed), a monitor as monitors.Monitors.WaitReady says (Prometheus ready,
// every target scraped). It returns the service as seen once ready.
//
// While it waits, progress (if not nil) is called at once and then every
// DefaultProgressInterval with the job's state, from one goroutine that
// WaitReady waits for before it returns. ctx bounds the wait.
func (o *Orchestrator) WaitReady(ctx context.Context, id string, progress func(Progress)) (
	*servers.Service, error) {
	if err := o.checkOpen(); err != nil {
		return nil, err
	}
	svc, err := o.Servers.CheckServiceStatus(ctx, id)
	if err != nil {
		return nil, err
	}

	stop := o.reportProgress(ctx, svc, progress)
	defer stop()

	if svc.Kind == servers.KindMonitor {
		if _, err := o.Monitors.WaitReady(ctx, svc.ID); err != nil {
			return nil, err
		}
		return o.Servers.CheckServiceStatus(ctx, svc.ID)
	}
	rd, err := o.Servers.WaitReady(ctx, svc.ID)
	if err != nil {
		return nil, err
	}
	return rd.Service, nil
}

// reportProgress calls progress with svc's state until the returned stop
// function is called; stop waits for the goroutine.
func (o *Orchestrator) reportProgress(ctx context.Context, svc *servers.Service,
	progress func(Progress)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	start := time.Now()
	report := func(s *servers.Service) {
		progress(Progress{ID: s.ID, JobID: s.JobID, Kind: s.Kind, State: s.State,
			Reason: s.Reason, Node: s.Node, Waited: time.Since(start)})
	}
	report(svc)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(DefaultProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cur, err := o.Servers.CheckServiceStatus(ctx, svc.ID)
			if err != nil {
				continue // the wait itself reports failures
			}
			report(cur)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
