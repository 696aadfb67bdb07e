package monitors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
)

// selfScript runs in the job before Prometheus: it writes the self-scrape
// target with the port the job chose ($1), then runs the rest of its
// arguments (Prometheus and its flags). It names no shell variable, so the
// job's shell passes it to sh unchanged.
const selfScript = `printf '[{"targets":["localhost:%s"],"labels":{"node":"%s"}}]\n' "$1" "$2" ` +
	`>.targets-self.tmp && mv -f .targets-self.tmp ` + selfTargets + ` || exit 1; ` +
	`shift 2; exec "$@"`

// StartMonitor starts Prometheus as a job from the monitor recipe r and
// returns the monitor as submitted (pending); WaitReady waits until it
// answers and has scraped every target.
//
// The monitor gets its own run folder holding a generated prometheus.yml
// (a self-scrape job and one job per monitoring_targets job name), the
// targets files, web.yml asking for basic auth, and the generated password
// (mode 0600). A target naming a service_id is scraped on that service's
// node, at the cAdvisor port its job reported (the target's port when it
// reported none); a target naming a host is scraped at host:port. Each
// target carries the labels hpcorch_service, job_id, node and, when known,
// hpcorch_cgroup. Prometheus listens on the recipe's first port when it is
// free on its node (DefaultPort when the recipe has none), else on a free
// one; Monitor.Port and MonitorEndpoint report it once the job runs.
//
// The recipe's container runs Prometheus under Apptainer; without one,
// the prometheus program (or the recipe's command) runs on the node. The
// recipe's args follow hpcorch's flags.
func (m *Monitors) StartMonitor(ctx context.Context, r *recipe.Recipe) (*Monitor, error) {
	if r == nil {
		return nil, errors.New("monitors: nil recipe")
	}
	if !r.Service.IsMonitor() {
		return nil, fmt.Errorf("monitors: recipe %s (service %q) is not a monitor: "+
			"give it monitoring_targets (even an empty list) or name it prometheus",
			r.File(), r.Service.Name)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("monitors: invalid recipe: %w", err)
	}

	rec, err := newRecord(&r.Service)
	if err != nil {
		return nil, err
	}
	if _, err := m.resolveTargets(ctx, rec, r.Service.MonitoringTargets, false); err != nil {
		return nil, err
	}
	mr, opts, err := startPlan(r, rec)
	if err != nil {
		return nil, err
	}
	svc, err := m.b.Start(ctx, mr, opts)
	if err != nil {
		return nil, fmt.Errorf("monitors: start: %w", err)
	}

	m.log.Info("monitor submitted", "monitor", svc.ID, "job_id", svc.JobID,
		"targets", len(rec.Jobs))
	return fromService(svc, rec.Created), nil
}

// newRecord checks the recipe's scrape interval and retention and returns
// an empty record with them.
func newRecord(s *recipe.Service) (*record, error) {
	interval := s.ScrapeIntervalOrDefault()
	if d, err := model.ParseDuration(interval); err != nil || d <= 0 {
		return nil, fmt.Errorf("monitors: scrape_interval %q is not a Prometheus duration",
			interval)
	}
	retention := s.RetentionTime()
	if _, err := model.ParseDuration(retention); err != nil {
		return nil, fmt.Errorf("monitors: retention %q is not a Prometheus duration", retention)
	}
	return &record{
		Version:        recordVersion,
		Created:        time.Now().UTC().Truncate(time.Millisecond),
		ScrapeInterval: interval,
		Retention:      retention,
		Jobs:           []scrapeJob{},
	}, nil
}

// startPlan returns the recipe and options a monitor of rec starts with:
// its run files and Prometheus' command line.
func startPlan(r *recipe.Recipe, rec *record) (*recipe.Recipe, servers.StartOptions, error) {
	files, err := runFiles(rec)
	if err != nil {
		return nil, servers.StartOptions{}, err
	}
	mr := *r
	if len(mr.Service.Ports) == 0 {
		mr.Service.Ports = []recipe.Port{DefaultPort}
	}
	return &mr, servers.StartOptions{
		Kind:     servers.KindMonitor,
		IDPrefix: IDPrefix,
		Files:    files,
		Command:  command(&mr.Service, rec.Retention),
	}, nil
}

// resolveTargets resolves the recipe's targets and groups them into jobs
// by job name, in the recipe's order. With dryRun, a target service that
// is known but not running yet is kept, under its ID as host, and noted.
func (m *Monitors) resolveTargets(ctx context.Context, rec *record, ts []recipe.Target,
	dryRun bool) (notes []string, err error) {
	var errs []error
	for _, t := range ts {
		st, err := m.resolve(ctx, t)
		if dryRun && errors.Is(err, servers.ErrNotRunning) {
			st.Host, st.ServiceID = t.ServiceID, t.ServiceID
			notes = append(notes, fmt.Sprintf("target service %s is not running yet: "+
				"shown with its ID as host; starting the monitor needs it ready", t.ServiceID))
			err = nil
		}
		if dryRun && errors.Is(err, ErrNoCAdvisor) {
			st.Host, st.ServiceID = t.ServiceID, t.ServiceID
			notes = append(notes, fmt.Sprintf("target service %s reports no cAdvisor: "+
				"starting the monitor would fail (%v)", t.ServiceID, err))
			err = nil
		}
		if err != nil {
			errs = append(errs, err) // every target's fault, not the first alone
			continue
		}
		j := rec.job(st.Job)
		if j == nil {
			file := rec.targetsFile(st.Job, false)
			rec.Jobs = append(rec.Jobs, scrapeJob{Name: st.Job, File: file})
			j = &rec.Jobs[len(rec.Jobs)-1]
		}
		j.Targets = append(j.Targets, st)
	}
	return notes, errors.Join(errs...)
}

// resolve turns a recipe target into an address: a service's node and
// reported cAdvisor port, or a fixed host and port.
func (m *Monitors) resolve(ctx context.Context, t recipe.Target) (scrapeTarget, error) {
	st := scrapeTarget{Job: t.Job(), Host: t.Host, Port: int(t.PortOrDefault())}
	switch {
	case st.Job == selfJob || st.Job == addedJob:
		return st, fmt.Errorf("monitors: target job name %q is hpcorch's own: choose another "+
			"job_name", st.Job)
	case t.ServiceID != "" && t.Host != "":
		return st, fmt.Errorf("monitors: target %q: give service_id or host, not both", t.Job())
	case t.Host != "":
		return st, nil
	case t.ServiceID == "":
		return st, fmt.Errorf("monitors: target %q: give service_id or host", t.Job())
	}

	svc, err := m.b.CheckServiceStatus(ctx, t.ServiceID)
	if err != nil {
		return st, fmt.Errorf("monitors: target service %s: %w", t.ServiceID, err)
	}
	if svc.Node == "" || !svc.State.Active() {
		return st, fmt.Errorf("monitors: target service %s is %s, not running on a node: "+
			"wait until it runs (servers.WaitReady) before monitoring it: %w",
			t.ServiceID, svc.State, servers.ErrNotRunning)
	}

	if svc.CAdvisorPort == 0 {
		// Whatever answers on the default port belongs to another job.
		return st, fmt.Errorf("monitors: target service %s reports no cAdvisor: its "+
			"recipe needs enable_cadvisor: true, and it must be ready (hpcorch --recipe "+
			"--wait, or servers.WaitReady; hpcorch --logs %[1]s tells why cAdvisor did not "+
			"start); or give host and port: %w", t.ServiceID, ErrNoCAdvisor)
	}

	st.ServiceID = svc.ID
	st.JobID = svc.JobID
	st.Host = svc.Node
	st.Cgroup = svc.CgroupID
	st.Port = svc.CAdvisorPort
	return st, nil
}

// runFiles returns the files of a new monitor's run folder.
func runFiles(rec *record) ([]servers.File, error) {
	pw, hash, err := newPassword()
	if err != nil {
		return nil, err
	}
	cfg, err := prometheusYAML(rec)
	if err != nil {
		return nil, err
	}
	web, err := webYAML(hash)
	if err != nil {
		return nil, err
	}
	recData, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("monitors: encode %s: %w", recordFile, err)
	}

	files := []servers.File{
		{Name: passwordFile, Data: []byte(pw + "\n"), Mode: 0o600},
		{Name: webConfigFile, Data: web, Mode: 0o600},
		{Name: configFile, Data: cfg, Mode: 0o644},
		{Name: recordFile, Data: append(recData, '\n'), Mode: 0o644},
	}
	for _, j := range rec.Jobs {
		data, err := targetsJSON(j)
		if err != nil {
			return nil, err
		}
		files = append(files, servers.File{Name: j.File, Data: data, Mode: 0o644})
	}
	return files, nil
}

// command returns the job's command: the self-target script, then
// Prometheus with its config, TSDB, listen address, web config and
// retention, all in the run folder, then the recipe's own arguments.
func command(s *recipe.Service, retention string) []string {
	dir := "${HPCORCH_RUN_DIR}/"
	argv := []string{
		"sh", "-c", selfScript, "hpcorch-prometheus", "${HPCORCH_PORT}", "${HPCORCH_NODE}",
		s.Program(),
		"--config.file=" + dir + configFile,
		"--storage.tsdb.path=" + dir + dataDir,
		"--web.listen-address=0.0.0.0:${HPCORCH_PORT}",
		"--web.config.file=" + dir + webConfigFile,
		"--storage.tsdb.retention.time=" + retention,
	}
	return append(argv, s.Args...)
}

// StopMonitor cancels a monitor's job, by ID or job id. Stopping one that
// has ended is not an error; an unknown ID, or a service's, is
// ErrMonitorNotFound. The run folder (config, TSDB) stays for inspection.
func (m *Monitors) StopMonitor(ctx context.Context, id string) error {
	svc, err := m.service(ctx, id)
	if err != nil {
		return err
	}
	if err := m.b.StopService(ctx, svc.ID); err != nil {
		return fmt.Errorf("monitors: stop %s: %w", svc.ID, err)
	}
	m.forget(svc.ID, nil)
	m.forget(svc.JobID, nil)
	m.log.Info("monitor stopped", "monitor", svc.ID, "job_id", svc.JobID)
	return nil
}

// CheckMonitorStatus reports a monitor, by ID or job id: its state, job,
// nodes, when it was submitted and started, and where it listens.
func (m *Monitors) CheckMonitorStatus(ctx context.Context, id string) (*Monitor, error) {
	svc, err := m.service(ctx, id)
	if err != nil {
		return nil, err
	}
	return fromService(svc, m.submitted(ctx, svc.ID)), nil
}

// MonitorEndpoint returns the URL of a running monitor's Prometheus,
// "http://node3:9090", as seen from the cluster (reach it through a tunnel
// or Options.HTTPClient). A monitor that is not running is ErrNotRunning.
func (m *Monitors) MonitorEndpoint(ctx context.Context, id string) (string, error) {
	svc, err := m.running(ctx, id)
	if err != nil {
		return "", err
	}
	return fromService(svc, time.Time{}).Endpoint, nil
}

// Credentials returns the user name and password a monitor's Prometheus
// asks for, read from its run folder, for users of a tunnel or the web
// UI. Keep the password out of logs.
func (m *Monitors) Credentials(ctx context.Context, id string) (user, password string, err error) {
	svc, err := m.service(ctx, id)
	if err != nil {
		return "", "", err
	}
	pw, err := m.password(ctx, svc.ID)
	if err != nil {
		return "", "", err
	}
	return User, pw, nil
}

// ListRunningMonitors lists the active monitors (pending or running) of
// the Servers' session, or of every session when it has none, in job id
// order: one scheduler round. Services are never listed.
func (m *Monitors) ListRunningMonitors(ctx context.Context) ([]Monitor, error) {
	svcs, err := m.b.List(ctx, servers.KindMonitor)
	if err != nil {
		return nil, fmt.Errorf("monitors: list: %w", err)
	}
	out := make([]Monitor, 0, len(svcs))
	for i := range svcs {
		out = append(out, *fromService(&svcs[i], time.Time{}))
	}
	return out, nil
}

// ListAvailableMonitors returns the kinds of monitor StartMonitor can
// start: today only "prometheus". It does no I/O.
func (m *Monitors) ListAvailableMonitors(ctx context.Context) []string {
	return []string{"prometheus"}
}
