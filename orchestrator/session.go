package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/tunnel"
)

// DefaultMonitorRecipe is the catalog recipe StartBenchmarkSession starts
// as the monitor when Config.MonitorRecipe is nil.
const DefaultMonitorRecipe = "prometheus"

// SessionPrefix starts every session ID: "session_1a2b3c4d".
const SessionPrefix = "session_"

// Session is a benchmark session StartBenchmarkSession started: a service
// (unless the recipe was a monitor itself), a Prometheus monitor scraping
// it, and a tunnel from this machine to Prometheus. Its jobs carry the
// session ID, so a later process finds them (SystemStatus) and stops them
// (StopBenchmarkSession) by it.
type Session struct {
	// ID is "session_" and 8 hex digits.
	ID string

	// Service is the service as seen once ready; nil when the recipe
	// given was a monitor.
	Service *servers.Service

	// Monitor is the Prometheus monitor as seen once ready.
	Monitor *monitors.Monitor

	// Tunnel forwards PrometheusURL to the monitor. It is closed by
	// StopBenchmarkSession or by the Orchestrator's Close.
	Tunnel *tunnel.Tunnel

	// PrometheusURL is Prometheus through the tunnel, on this machine:
	// http://127.0.0.1:PORT. It asks for basic auth: see
	// monitors.Monitors.Credentials.
	PrometheusURL string

	// Started is when the session was started.
	Started time.Time
}

// StartBenchmarkSession starts a benchmark session for r and returns once
// everything is ready:
//
//   - for a service recipe, the service (with cAdvisor enabled, so that it
//     can be scraped), then a monitor from Config.MonitorRecipe (default:
//     the catalog's prometheus) with the service's cAdvisor as a target;
//   - for a monitor recipe, that monitor alone, with its own targets;
//
// then a tunnel from a free local port to Prometheus. Each wait is bounded
// by Config.ReadyTimeout unless ctx ends first. When a step fails,
// what was started is stopped again and the error says which step failed.
func (o *Orchestrator) StartBenchmarkSession(ctx context.Context, r *recipe.Recipe) (
	s *Session, err error) {
	if err := o.checkOpen(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("orchestrator: nil recipe")
	}

	s = &Session{ID: SessionPrefix + randomHex(), Started: time.Now()}
	srv := servers.New(o.exec, o.sched, o.serversOptions(s.ID))
	mons := monitors.New(srv, o.monitorsOptions())
	defer mons.Close()
	log := o.log.With("session", s.ID)

	defer func() {
		if err != nil {
			log.Warn("session start failed; undoing", "err", err)
			err = errors.Join(err, o.undoSession(s, srv, mons))
			s = nil
		}
	}()

	monRecipe := r
	if !r.Service.IsMonitor() {
		if s.Service, err = o.startSessionService(ctx, srv, r); err != nil {
			return s, err
		}
		if monRecipe, err = o.sessionMonitorRecipe(s.Service); err != nil {
			return s, err
		}
	}
	if s.Monitor, err = o.startSessionMonitor(ctx, mons, monRecipe); err != nil {
		return s, err
	}

	if s.Tunnel, err = o.sessionTunnel(ctx, s.Monitor); err != nil {
		return s, err
	}
	s.PrometheusURL = s.Tunnel.URL()

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return s, ErrClosed
	}
	o.sessions[s.ID] = s
	o.tunnels[s.Tunnel] = struct{}{}
	log.Info("session ready", "monitor", s.Monitor.ID, "prometheus", s.PrometheusURL)
	return s, nil
}

// startSessionService starts r's service with cAdvisor and waits for it.
func (o *Orchestrator) startSessionService(ctx context.Context, srv *servers.Servers,
	r *recipe.Recipe) (*servers.Service, error) {
	sr := *r
	o.cluster.Apply(&sr.Service)
	sr.Service.EnableCAdvisor = true

	svc, err := srv.StartService(ctx, &sr)
	if err != nil {
		return nil, fmt.Errorf("orchestrator: starting the service: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.cfg.ReadyTimeout)
	defer cancel()
	rd, err := srv.WaitReady(wctx, svc.ID)
	if err != nil {
		return svc, fmt.Errorf("orchestrator: waiting for service %s: %w", svc.ID, err)
	}
	return rd.Service, nil
}

// sessionMonitorRecipe is the monitor recipe for a session's service: a
// copy of Config.MonitorRecipe (or the catalog's) scraping its cAdvisor.
func (o *Orchestrator) sessionMonitorRecipe(svc *servers.Service) (*recipe.Recipe, error) {
	base := o.cfg.MonitorRecipe
	if base == nil {
		var err error
		if base, err = recipes.Load(DefaultMonitorRecipe); err != nil {
			return nil, fmt.Errorf("orchestrator: the default monitor recipe: %w", err)
		}
	}
	mr := *base
	o.cluster.Apply(&mr.Service)
	mr.Service.MonitoringTargets = append(append([]recipe.Target(nil),
		base.Service.MonitoringTargets...), recipe.Target{
		ServiceID: svc.ID,
		JobName:   svc.Name + "-cadvisor",
		Port:      recipe.Port(svc.CAdvisorPort),
	})
	return &mr, nil
}

// startSessionMonitor starts a monitor from r and waits for it.
func (o *Orchestrator) startSessionMonitor(ctx context.Context, mons *monitors.Monitors,
	r *recipe.Recipe) (*monitors.Monitor, error) {
	mr := *r
	o.cluster.Apply(&mr.Service)
	mon, err := mons.StartMonitor(ctx, &mr)
	if err != nil {
		return nil, fmt.Errorf("orchestrator: starting the monitor: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.cfg.ReadyTimeout)
	defer cancel()
	ready, err := mons.WaitReady(wctx, mon.ID)
	if err != nil {
		return mon, fmt.Errorf("orchestrator: waiting for monitor %s: %w", mon.ID, err)
	}
	return ready, nil
}

// sessionTunnel opens a tunnel from a free local port to the monitor.
func (o *Orchestrator) sessionTunnel(ctx context.Context, mon *monitors.Monitor) (
	*tunnel.Tunnel, error) {
	remote := net.JoinHostPort(mon.Node, strconv.Itoa(mon.Port))
	t, err := tunnel.Open(ctx, o.exec, remote, tunnel.Options{Logger: o.log})
	if err != nil {
		return nil, fmt.Errorf("orchestrator: tunnel to monitor %s: %w", mon.ID, err)
	}
	if err := t.WaitReady(ctx); err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("orchestrator: tunnel to monitor %s: %w", mon.ID, err)
	}
	return t, nil
}

// undoSession stops what a failed StartBenchmarkSession started. It uses a
// context of its own: the caller's may be what ended.
func (o *Orchestrator) undoSession(s *Session, srv *servers.Servers,
	mons *monitors.Monitors) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var errs []error
	if s.Tunnel != nil {
		_ = s.Tunnel.Close()
	}
	if s.Monitor != nil {
		if err := mons.StopMonitor(ctx, s.Monitor.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Service != nil {
		if err := srv.StopService(ctx, s.Service.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopBenchmarkSession stops a session's monitors and services, found by
// the session ID their jobs carry, so a session another process started
// stops too, and closes its tunnel when this Orchestrator opened it.
// Stopping a session whose jobs have ended is not an error; a session with
// no job known at all is servers.ErrNotFound.
func (o *Orchestrator) StopBenchmarkSession(ctx context.Context, id string) error {
	if err := o.checkOpen(); err != nil {
		return err
	}
	o.mu.Lock()
	s := o.sessions[id]
	delete(o.sessions, id)
	if s != nil {
		delete(o.tunnels, s.Tunnel)
	}
	o.mu.Unlock()

	var errs []error
	if s != nil {
		if err := s.Tunnel.Close(); err != nil && !errors.Is(err, tunnel.ErrClosed) {
			errs = append(errs, err)
		}
	}

	srv := servers.New(o.exec, o.sched, o.serversOptions(id))
	mons := monitors.New(srv, o.monitorsOptions())
	defer mons.Close()
	svcs, err := srv.ListRunningServices(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	mlist, err := mons.ListRunningMonitors(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if s == nil && len(svcs) == 0 && len(mlist) == 0 {
		return fmt.Errorf("orchestrator: session %s: no running job: %w", id, servers.ErrNotFound)
	}

	for _, m := range mlist {
		if err := mons.StopMonitor(ctx, m.ID); err != nil {
			errs = append(errs, err)
		}
	}
	for _, svc := range svcs {
		if err := srv.StopService(ctx, svc.ID); err != nil {
			errs = append(errs, err)
		}
	}
	o.log.Info("session stopped", "session", id, "services", len(svcs), "monitors", len(mlist))
	return errors.Join(errs...)
}

// randomHex returns 8 random hex digits.
func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
