package monitors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// Defaults for Options fields left at zero.
const (
	DefaultReadyTimeout = 5 * time.Minute
	DefaultPollInterval = time.Second
)

// IDPrefix is the prefix of every monitor ID: "prometheus_1a2b3c4d".
const IDPrefix = "prometheus"

// DefaultPort is the port a monitor asks for when its recipe names none.
const DefaultPort = 9090

// backend is the part of *servers.Servers that Monitors uses.
type backend interface {
	Start(ctx context.Context, r *recipe.Recipe, o servers.StartOptions) (*servers.Service, error)
	DryRunStart(ctx context.Context, r *recipe.Recipe, o servers.StartOptions) (string, error)
	List(ctx context.Context, kind servers.Kind) ([]servers.Service, error)
	CheckServiceStatus(ctx context.Context, idOrJobID string) (*servers.Service, error)
	StopService(ctx context.Context, idOrJobID string) error
	ReadRunFile(ctx context.Context, id, name string) ([]byte, error)
	ServiceLogs(ctx context.Context, id string, lines int) (string, error)
	Executor() sshx.Executor
}

var _ backend = (*servers.Servers)(nil)

// Options configures a Monitors. The zero value is ready to use.
type Options struct {
	// MetricsDir is where CollectMetricsToFile and ConstructReport write
	// files given by a relative name. "" means recipe.DefaultMetricsDir.
	MetricsDir string

	// Logger receives a record per start, stop and target change, with the
	// monitor's ID. Passwords are never logged. nil discards.
	Logger *slog.Logger

	// HTTPClient sends the requests to Prometheus. nil means
	// tunnel.HTTPClient over the Servers' Executor: connections go
	// through the SSH connection to the node, with no local port and no
	// curl on the login node. Its Transport must dial the nodes' names.
	HTTPClient *http.Client

	// ReadyTimeout bounds WaitReady when its ctx has no deadline.
	// Default DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// PollInterval is the pause between two checks in WaitReady.
	// Default DefaultPollInterval.
	PollInterval time.Duration
}

// Monitors starts Prometheus monitors as jobs and asks them questions. It
// keeps no state that matters: a monitor is found again from the scheduler
// and its run folder, so a new process (or another machine) can query, change
// and stop monitors it did not start. It caches connections and credentials
// per monitor. It is safe for concurrent use.
type Monitors struct {
	b    backend
	opts Options
	log  *slog.Logger
	http *http.Client

	mu    sync.Mutex
	conns map[string]*conn
	// edits serialises target changes per monitor within this process.
	edits map[string]*sync.Mutex
}

// New returns a Monitors that runs its Prometheus jobs through srv. opts is
// copied.
func New(srv *servers.Servers, opts Options) *Monitors {
	return newMonitors(srv, opts)
}

func newMonitors(b backend, opts Options) *Monitors {
	if opts.MetricsDir == "" {
		opts.MetricsDir = recipe.DefaultMetricsDir
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = tunnel.HTTPClient(b.Executor())
	}
	return &Monitors{
		b: b, opts: opts, log: log, http: hc,
		conns: map[string]*conn{},
		edits: map[string]*sync.Mutex{},
	}
}

// Close releases the idle HTTP connections the Monitors keeps. Monitors
// keep running: stop them with StopMonitor. Close is idempotent, and the
// Monitors stays usable after it.
func (m *Monitors) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.conns {
		c.closeIdle()
		delete(m.conns, id)
	}
	return nil
}

// Monitor is what is known of one monitor at one moment. Its JSON form
// has the keys of the reference tool's status (monitor_id, status, job_id,
// nodes, submitted_at, started_at) and a few more.
type Monitor struct {
	// ID is the monitor ID, "prometheus_<8 hex>", also the job name.
	ID string `json:"monitor_id"`

	// Status is the job's state in lower case: "pending", "running",
	// "completed", "cancelled", "failed", ...
	Status string `json:"status"`

	// State is the job's state.
	State slurm.State `json:"state"`

	// Reason is the pending or end reason the scheduler gave, or "".
	Reason string `json:"reason,omitempty"`

	// JobID is the scheduler's job id.
	JobID string `json:"job_id"`

	// Nodes are the job's nodes; Node is the first, where Prometheus
	// runs. Both are empty while pending.
	Nodes []string `json:"nodes"`
	Node  string   `json:"node,omitempty"`

	// Port is the port Prometheus listens on, as its job reported it, or
	// 0 when not known yet.
	Port int `json:"port,omitempty"`

	// Endpoint is "http://node:port" once both are known, else "".
	Endpoint string `json:"endpoint,omitempty"`

	// SubmittedAt is when the monitor was started (by the SDK's clock),
	// zero when its run folder does not say.
	SubmittedAt time.Time `json:"submitted_at"`

	// StartedAt is when the job started running (from its elapsed time,
	// to the second), zero while pending.
	StartedAt time.Time `json:"started_at"`

	// RunDir is the monitor's run folder on the cluster: prometheus.yml,
	// web.yml, password, the targets files, data/ (the TSDB) and job.out.
	RunDir string `json:"run_dir,omitempty"`
}

// fromService makes a Monitor from a servers.Service.
func fromService(svc *servers.Service, submitted time.Time) *Monitor {
	mon := &Monitor{
		ID:          svc.ID,
		Status:      strings.ToLower(svc.State.String()),
		State:       svc.State,
		Reason:      svc.Reason,
		JobID:       svc.JobID,
		Nodes:       svc.Nodes,
		Node:        svc.Node,
		Port:        svc.Port,
		SubmittedAt: submitted,
		RunDir:      svc.RunDir,
	}
	if mon.Nodes == nil {
		mon.Nodes = []string{}
	}
	if svc.Node != "" && svc.Port != 0 && svc.State.Active() {
		mon.Endpoint = "http://" + net.JoinHostPort(svc.Node, strconv.Itoa(svc.Port))
	}
	if svc.State == slurm.StateRunning || svc.Elapsed > 0 {
		mon.StartedAt = time.Now().Add(-svc.Elapsed).Truncate(time.Second).UTC()
	}
	return mon
}

// service looks up a monitor's service, refusing services that are not
// monitors.
func (m *Monitors) service(ctx context.Context, id string) (*servers.Service, error) {
	svc, err := m.b.CheckServiceStatus(ctx, id)
	if errors.Is(err, servers.ErrNotFound) || errors.Is(err, servers.ErrNotHpcorch) {
		return nil, fmt.Errorf("%w: %s (%w)", ErrMonitorNotFound, id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("monitors: look up %s: %w", id, err)
	}
	if svc.Kind != servers.KindMonitor {
		return nil, fmt.Errorf("%w: %s is a %s, not a monitor", ErrMonitorNotFound, id, svc.Kind)
	}
	return svc, nil
}

// running looks up a monitor and checks that its Prometheus can be
// reached: running, on a node, with a port.
func (m *Monitors) running(ctx context.Context, id string) (*servers.Service, error) {
	svc, err := m.service(ctx, id)
	if err != nil {
		return nil, err
	}
	if svc.State != slurm.StateRunning || svc.Node == "" {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRunning, svc.ID, svc.State)
	}
	if svc.Port == 0 {
		return nil, fmt.Errorf("%w: %s has not reported its port yet", ErrNotRunning, svc.ID)
	}
	return svc, nil
}

// conn returns a connection to the monitor's Prometheus, cached per ID.
func (m *Monitors) conn(ctx context.Context, id string) (*conn, error) {
	m.mu.Lock()
	c, ok := m.conns[id]
	m.mu.Unlock()
	if ok {
		return c, nil
	}

	svc, err := m.running(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err = m.dial(ctx, svc)
	if err != nil {
		return nil, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns[id] = c
	if svc.JobID != "" {
		m.conns[svc.JobID] = c
	}
	return c, nil
}

// dial builds a conn for a running monitor: its password and scrape
// interval come from its run folder.
func (m *Monitors) dial(ctx context.Context, svc *servers.Service) (*conn, error) {
	pw, err := m.password(ctx, svc.ID)
	if err != nil {
		return nil, err
	}

	var scrape time.Duration
	if rec, err := m.record(ctx, svc.ID); err == nil {
		if d, err := model.ParseDuration(rec.ScrapeInterval); err == nil {
			scrape = time.Duration(d)
		}
	}

	base := "http://" + net.JoinHostPort(svc.Node, strconv.Itoa(svc.Port))
	return newConn(svc.ID, base, m.http, User, pw, scrape)
}

// forget drops the cached connection of a monitor, after a request that
// could not reach it.
func (m *Monitors) forget(id string, c *conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.conns {
		if v == c || k == id {
			delete(m.conns, k)
		}
	}
	if c != nil {
		c.closeIdle()
	}
}

// checkReach forgets c when err says Prometheus could not be reached (not
// an answer of Prometheus), so that the next call looks the monitor up
// again. It returns err.
func (m *Monitors) checkReach(id string, c *conn, err error) error {
	var qe *QueryError
	if err != nil && !errors.As(err, &qe) && !errors.Is(err, ErrUnauthorized) {
		m.forget(id, c)
	}
	return err
}

// password reads the monitor's password from its run folder.
func (m *Monitors) password(ctx context.Context, id string) (string, error) {
	data, err := m.b.ReadRunFile(ctx, id, passwordFile)
	if err != nil {
		return "", fmt.Errorf("monitors: %s: read the password: %w", id, err)
	}
	pw := strings.TrimSpace(string(data))
	if pw == "" {
		return "", fmt.Errorf("monitors: %s: the password file is empty", id)
	}
	return pw, nil
}

// record reads monitor.json from the monitor's run folder.
func (m *Monitors) record(ctx context.Context, id string) (*record, error) {
	data, err := m.b.ReadRunFile(ctx, id, recordFile)
	if err != nil {
		return nil, fmt.Errorf("monitors: %s: read %s: %w", id, recordFile, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("monitors: %s: %s: %w", id, recordFile, err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("monitors: %s: %s has version %d, this hpcorch reads %d",
			id, recordFile, rec.Version, recordVersion)
	}
	return &rec, nil
}

// submitted returns when the monitor was started, from its record, or the
// zero time.
func (m *Monitors) submitted(ctx context.Context, id string) time.Time {
	rec, err := m.record(ctx, id)
	if err != nil {
		return time.Time{}
	}
	return rec.Created
}

// editLock returns the mutex that serialises target changes of one
// monitor in this process.
func (m *Monitors) editLock(id string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	mu, ok := m.edits[id]
	if !ok {
		mu = &sync.Mutex{}
		m.edits[id] = mu
	}
	return mu
}
