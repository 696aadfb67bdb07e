package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
	"github.com/hpcorch/hpcorch/tunnel"
)

// ErrClosed is returned by calls on an Orchestrator after Close.
var ErrClosed = errors.New("orchestrator: closed")

// sessionRE is what a session label may hold (package servers' rule).
var sessionRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// DefaultReadyTimeout bounds how long StartBenchmarkSession waits for its
// service and its monitor to become ready when Config.ReadyTimeout is 0.
const DefaultReadyTimeout = 10 * time.Minute

// Config is what New needs: an Executor and a Scheduler, ready-made, and
// optional settings. Zero fields take the documented defaults; New copies
// the Config.
type Config struct {
	// Executor runs commands, writes files and dials addresses on the
	// cluster side. It is required. New does not take ownership: Close
	// leaves it open (Open and OpenConfig close the one they made).
	Executor sshx.Executor

	// Scheduler submits and tracks jobs. It is required. Close leaves it
	// alone, so its jobs keep running.
	Scheduler slurm.Scheduler

	// Cluster is the cluster config: its slurm section fills what recipes
	// leave empty and its metrics_dir receives collected metrics and
	// reports. nil means recipe.DefaultConfig().
	Cluster *recipe.Config

	// CAdvisor says where cAdvisor comes from when a recipe enables it.
	// The zero value lets the job download servers.DefaultCAdvisorURL when
	// cAdvisor is not installed yet (see servers.CAdvisorSource); set
	// LocalPath on clusters whose nodes cannot download.
	CAdvisor servers.CAdvisorSource

	// MonitorRecipe is the Prometheus recipe StartBenchmarkSession starts
	// beside a service; nil means the catalog recipe "prometheus" (an
	// Apptainer image built from docker://prom/prometheus).
	MonitorRecipe *recipe.Recipe

	// SSHTarget is where a printed `ssh -L` command logs in to. nil means
	// the Executor's own target when it has one (an *sshx.Client), else
	// no ssh command is printed.
	SSHTarget *sshx.Target

	// Session, when set, scopes Servers and Monitors (and so SystemStatus)
	// to the jobs tagged with it, and tags the jobs they start with it: a
	// way to keep one user's experiments, or parallel tests, apart. It
	// holds letters, digits, "-", "_" and ".". "" sees every hpcorch job of
	// the cluster user. StartBenchmarkSession tags its jobs with the new
	// session's own ID instead, so with Session set SystemStatus does not
	// list them; StopBenchmarkSession finds them either way.
	Session string

	// ReadyTimeout bounds StartBenchmarkSession's waits; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// Passphrase, when set, decrypts a passphrase-protected private key
	// for the SSH connection OpenConfig makes; it is called once per
	// encrypted key, with the key's path (see sshx.Config.Passphrase).
	// Without it such keys are skipped and a failed login says why.
	// New ignores it.
	Passphrase func(keyPath string) ([]byte, error)

	// KeyboardInteractive, when set, answers the login node's
	// keyboard-interactive prompts (a one-time code) for the SSH
	// connection OpenConfig makes, once per connection. New ignores it.
	KeyboardInteractive ssh.KeyboardInteractiveChallenge

	// Logger receives the orchestrator's records and is passed to the
	// packages below it. nil discards them.
	Logger *slog.Logger
}

// Orchestrator is the one value a program opens to work with a cluster:
// it holds the Executor and Scheduler, and the Servers and Monitors that
// share them, and tracks the benchmark sessions and tunnels it opened. It is
// safe for concurrent use.
type Orchestrator struct {
	// Servers starts, lists, checks and stops services. It sees every
	// hpcorch job of the cluster user (of Config.Session, when set), from
	// any process. Set by New; do not replace it.
	Servers *servers.Servers

	// Monitors starts Prometheus monitors and queries them. Set by New;
	// do not replace it.
	Monitors *monitors.Monitors

	exec    sshx.Executor
	sched   slurm.Scheduler
	cluster *recipe.Config
	cfg     Config
	log     *slog.Logger
	target  *sshx.Target
	ownExec func() error // closes the Executor Open made, or nil

	mu       sync.Mutex
	closed   bool
	sessions map[string]*Session
	tunnels  map[*tunnel.Tunnel]struct{}
}

// New returns an Orchestrator over a ready-made Executor and Scheduler.
// ctx is not kept; New does no I/O, so it cannot fail on an unreachable
// cluster (SystemStatus tells).
func New(ctx context.Context, cfg Config) (*Orchestrator, error) {
	if cfg.Executor == nil {
		return nil, errors.New("orchestrator: Config.Executor is required")
	}
	if cfg.Scheduler == nil {
		return nil, errors.New("orchestrator: Config.Scheduler is required")
	}
	if cfg.Session != "" && !sessionRE.MatchString(cfg.Session) {
		return nil, fmt.Errorf("orchestrator: session %q: want 1 to 64 letters, digits, "+
			"\"-\", \"_\" or \".\"", cfg.Session)
	}
	if cfg.Cluster == nil {
		cfg.Cluster = recipe.DefaultConfig()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	o := &Orchestrator{
		exec:     cfg.Executor,
		sched:    cfg.Scheduler,
		cluster:  cfg.Cluster,
		cfg:      cfg,
		log:      log,
		target:   cfg.SSHTarget,
		sessions: map[string]*Session{},
		tunnels:  map[*tunnel.Tunnel]struct{}{},
	}
	if o.target == nil {
		if tg, ok := cfg.Executor.(interface{ Target() sshx.Target }); ok {
			t := tg.Target()
			o.target = &t
		}
	}

	o.Servers = servers.New(cfg.Executor, cfg.Scheduler, o.serversOptions(cfg.Session))
	o.Monitors = monitors.New(o.Servers, o.monitorsOptions())
	return o, nil
}

// serversOptions are the Servers options for session ("" for all jobs).
func (o *Orchestrator) serversOptions(session string) servers.Options {
	return servers.Options{
		Session:  session,
		Logger:   o.cfg.Logger,
		CAdvisor: o.cfg.CAdvisor,
		Defaults: o.cluster.Slurm,
	}
}

// monitorsOptions are the Monitors options every Monitors of o uses.
func (o *Orchestrator) monitorsOptions() monitors.Options {
	return monitors.Options{
		Logger:     o.cfg.Logger,
		MetricsDir: o.cluster.MetricsDir,
	}
}

// Executor returns the Executor o runs commands through.
func (o *Orchestrator) Executor() sshx.Executor { return o.exec }

// Scheduler returns the Scheduler o submits jobs to.
func (o *Orchestrator) Scheduler() slurm.Scheduler { return o.sched }

// Cluster returns the cluster config o was opened with. It must not be
// modified.
func (o *Orchestrator) Cluster() *recipe.Config { return o.cluster }

// Close closes what o holds on this machine: the tunnels it opened, and the
// SSH connection when Open made it. Jobs on the cluster are left running;
// stop them first (StopBenchmarkSession, Servers.StopService) if they
// should end. Close is idempotent.
func (o *Orchestrator) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	tunnels := o.tunnels
	o.tunnels = nil
	o.sessions = nil
	o.mu.Unlock()

	var errs []error
	for t := range tunnels {
		if err := t.Close(); err != nil && !errors.Is(err, tunnel.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if o.ownExec != nil {
		if err := o.ownExec(); err != nil {
			errs = append(errs, fmt.Errorf("orchestrator: closing the connection: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkOpen returns ErrClosed after Close.
func (o *Orchestrator) checkOpen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	return nil
}
