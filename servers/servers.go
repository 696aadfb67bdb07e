package servers

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// Kind says what an hpcorch job is; it is part of the job's comment.
type Kind string

const (
	// KindService is a service started from a recipe.
	KindService Kind = "service"
	// KindMonitor is a Prometheus monitor (package monitors).
	KindMonitor Kind = "monitor"
)

// DefaultRunRoot is where run folders are made on the cluster when
// Options.RunRoot is empty. $HOME is expanded on the cluster.
const DefaultRunRoot = "$HOME/.hpcorch/run"

// Service is what is known of one service at one moment: from the scheduler
// (state, node, elapsed time) and from the status file its job writes.
type Service struct {
	// ID is the service ID, "<name>_<8 hex>", which is also the job name.
	ID string
	// JobID is the scheduler's job id.
	JobID string
	// Kind is KindService or KindMonitor.
	Kind Kind
	// Name is the recipe's service name.
	Name string
	// Session is the session the service was started in, or "".
	Session string
	// State is the job's state.
	State slurm.State
	// Reason is the pending or end reason the scheduler gave, or "".
	Reason string
	// Node is the node the service runs on (the first of Nodes), or ""
	// while pending.
	Node string
	// Nodes are all the job's nodes.
	Nodes []string
	// Elapsed is how long the job has run.
	Elapsed time.Duration
	// Port is the main port the job bound, or 0 when not known yet (or
	// the recipe has none).
	Port int
	// Ports are all the ports the job chose, in the recipe's order.
	Ports []int
	// CAdvisorPort is cAdvisor's port, or 0 without cAdvisor.
	CAdvisorPort int
	// CgroupID is the job's cgroup as cAdvisor names it, such as
	// "/slurm_node2/uid_2001/job_42", or "" when not known yet.
	CgroupID string
	// RunDir is the service's run folder on the cluster, absolute.
	RunDir string
	// Output is the job's output file on the cluster.
	Output string
}

// Options configures a Servers. The zero value is ready to use.
type Options struct {
	// Session tags the jobs Start submits. When it is not empty, List,
	// ListRunningServices and StopAllServices see only the jobs of this
	// session, and the calls taking an ID or job id (CheckServiceStatus,
	// StopService, WaitReady, ...) refuse another session's jobs with a
	// *SessionError; when it is empty they see every hpcorch job of the
	// user.
	// It holds letters, digits, "-", "_" and ".".
	Session string

	// Logger receives a record per start, stop and install. nil discards.
	Logger *slog.Logger

	// CAdvisor says where cAdvisor comes from when a recipe enables it.
	CAdvisor CAdvisorSource

	// RunRoot is the folder on the cluster that holds one run folder per
	// service. It must be on storage the login node and the compute nodes
	// share. "" means DefaultRunRoot; a leading $HOME or ~ is expanded on
	// the cluster.
	RunRoot string

	// Defaults fill the resources a recipe leaves empty (the cluster
	// config's slurm section).
	Defaults recipe.Resources
}

// Servers starts, finds and stops services on one cluster. It keeps no
// state that matters: everything is read back from the scheduler and the
// run folders. It is safe for concurrent use.
type Servers struct {
	exec  sshx.Executor
	sched slurm.Scheduler
	opts  Options
	log   *slog.Logger

	// newID returns the 8 hex digits of a new ID; tests replace it.
	newID func() string

	mu      sync.Mutex
	runRoot string // absolute, once resolved
	homeDir string // the cluster user's home, once known

	installMu sync.Mutex
	installed string // remote path of a verified cAdvisor, once known
}

// New returns a Servers that runs commands through exec and jobs through
// sched. opts is copied.
func New(exec sshx.Executor, sched slurm.Scheduler, opts Options) *Servers {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Servers{exec: exec, sched: sched, opts: opts, log: log, newID: randomHex}
}

// Executor returns the Executor s runs commands through.
func (s *Servers) Executor() sshx.Executor { return s.exec }

// Scheduler returns the Scheduler s submits jobs to.
func (s *Servers) Scheduler() slurm.Scheduler { return s.sched }

// randomHex returns 8 random hex digits, the suffix of a new ID.
func randomHex() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("servers: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
