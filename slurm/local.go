//go:build unix

package slurm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalOptions configures a Local scheduler. The zero value is ready to
// use.
type LocalOptions struct {
	// StateDir holds one folder per job: its record, its script, and a
	// lock. Local schedulers in several processes that share a StateDir
	// see and cancel the same jobs. "" means
	// $XDG_CACHE_HOME/hpcorch/local-slurm (os.UserCacheDir).
	StateDir string

	// Shell runs the batch scripts. "" means "bash" from PATH.
	Shell string

	// SubmitDir is the folder jobs start in when their spec has no
	// WorkDir, and SLURM_SUBMIT_DIR. "" means the current folder.
	SubmitDir string

	// MaxRunning is how many jobs may run at once; further jobs stay
	// PENDING (Reason "Resources") until one ends. 0 means no limit.
	MaxRunning int

	// KillWait is how long a cancelled or timed-out job has between
	// SIGTERM and SIGKILL, like SLURM's KillWait. 0 means 5s.
	KillWait time.Duration

	// MinJobAge is how long List keeps reporting a finished job, like
	// SLURM's MinJobAge. Status reports finished jobs for as long as
	// their records exist. 0 means 5 minutes.
	MinJobAge time.Duration

	// Logger receives a record per job start and end. nil discards them.
	Logger *slog.Logger
}

// Local is a Scheduler that runs batch scripts on this machine with
// SLURM's semantics: the very scripts Render produces, run by bash as a
// process group each, in their own folder, with output to --output (%j and
// %x expanded), SLURM_JOB_ID, SLURM_JOB_NAME, SLURM_JOB_NODELIST (this
// host), SLURM_SUBMIT_DIR and friends set, --time enforced (TIMEOUT), and
// states PENDING → RUNNING → COMPLETED, FAILED, CANCELLED or TIMEOUT.
// Cancel sends SIGTERM to the whole process group, then SIGKILL after
// KillWait; when a job's script ends, what is left of its group is killed,
// as SLURM does.
//
// # Lifetime
//
// Jobs are children of the process that submitted them and live as long as
// that Local: Close cancels the jobs it started. Everything about a job is
// written to StateDir, so another process with the same StateDir can List,
// Status and Cancel them (by process group). If the submitting process
// dies without Close, its running jobs go on as orphans, still visible and
// cancellable, but their time limit is no longer enforced and their exit
// status is lost: when they end they are reported as NODE_FAIL with
// Reason "OwnerExited".
//
// Partition, Account, QOS, Mem and Gres are recorded or ignored, not
// enforced; Nodes above 1 and a NodeList naming another host are
// rejected as sbatch would. Local is safe for concurrent use.
type Local struct {
	opts  LocalOptions
	log   *slog.Logger
	store localStore
	host  string
	user  string
	uid   int
	self  procID
	shell string

	mu      sync.Mutex
	closed  bool
	queue   []string // pending jobs this Local owns, in submit order
	running map[string]*localRun
	wg      sync.WaitGroup // one per running job's waiter
}

var (
	_ Scheduler     = (*Local)(nil)
	_ OutputLocator = (*Local)(nil)
)

// localRun is a job this Local started and waits for.
type localRun struct {
	cmd       *exec.Cmd
	out       *os.File
	pgid      int
	cancelled bool
	by        int
	timedOut  bool
	limit     *time.Timer
	kill      *time.Timer
	done      chan struct{}
}

// ErrClosed is returned by a Local's Submit after Close.
var ErrClosed = errors.New("slurm: scheduler closed")

// NewLocal returns a Local scheduler. opts is copied; its zero fields take
// the documented defaults. Nothing is created on disk before the first
// Submit.
func NewLocal(opts LocalOptions) *Local {
	if opts.StateDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		opts.StateDir = filepath.Join(base, "hpcorch", "local-slurm")
	}
	if opts.Shell == "" {
		opts.Shell = "bash"
	}
	if opts.SubmitDir == "" {
		opts.SubmitDir, _ = os.Getwd()
	}
	if opts.KillWait <= 0 {
		opts.KillWait = 5 * time.Second
	}
	if opts.MinJobAge <= 0 {
		opts.MinJobAge = 5 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &Local{
		opts:    opts,
		log:     log,
		store:   localStore{dir: filepath.Join(opts.StateDir, "jobs")},
		host:    host,
		user:    name,
		uid:     os.Getuid(),
		self:    selfProc(),
		shell:   opts.Shell,
		running: map[string]*localRun{},
	}
}

// Host returns the node name Local reports for its jobs: this machine's
// short host name.
func (l *Local) Host() string { return l.host }

// Submit renders spec, records the job as PENDING and starts it as soon
// as MaxRunning allows. A spec Local cannot honour (more than one node,
// another host in NodeList) is a *SubmitError, as from sbatch.
func (l *Local) Submit(ctx context.Context, spec JobSpec) (string, error) {
	script, err := Render(spec)
	if err != nil {
		return "", err
	}
	if err := l.check(spec); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", ErrClosed
	}

	id, err := l.store.allocate()
	if err != nil {
		return "", err
	}
	rec, err := l.newRecord(id, spec)
	if err != nil {
		return "", err
	}
	if l.opts.MaxRunning > 0 && len(l.running) >= l.opts.MaxRunning {
		// schedule leaves the queue empty whenever a slot is free, so a
		// job that finds none waits; its reason is written once, here,
		// not again on every later Submit.
		rec.Reason = "Resources"
	}
	if err := os.WriteFile(l.store.path(id, "script.sh"), []byte(script), 0o700); err != nil {
		return "", fmt.Errorf("slurm: local job %s: %w", id, err)
	}
	if err := l.store.write(rec); err != nil {
		return "", err
	}

	l.queue = append(l.queue, id)
	l.schedule()
	return id, nil
}

// check refuses what sbatch on a one-node cluster would refuse.
func (l *Local) check(spec JobSpec) error {
	if spec.Nodes > 1 {
		return &SubmitError{Kind: KindUnsatisfiable, ExitCode: 1,
			Message: "Batch job submission failed: Node count specification invalid"}
	}
	hosts, _ := ExpandHostlist(spec.NodeList)
	for _, h := range hosts {
		if h != l.host && h != "localhost" {
			return &SubmitError{Kind: KindInvalidNode, ExitCode: 1, Reason: h,
				Message: "Batch job submission failed: Invalid node name specified"}
		}
	}
	return nil
}

func (l *Local) newRecord(id string, spec JobSpec) (*localRecord, error) {
	name := spec.Name
	if name == "" {
		name = "script.sh" // sbatch names a job after its script
	}
	work := spec.WorkDir
	if work == "" {
		work = l.opts.SubmitDir
	}
	pattern := spec.Output
	if pattern == "" {
		pattern = "slurm-%j.out"
	}
	out := ExpandOutput(pattern, OutputVars{JobID: id, Name: name, User: l.user, Node: l.host})
	if !filepath.IsAbs(out) {
		out = filepath.Join(work, out)
	}
	part := spec.Partition
	if part == "" {
		part = "local"
	}
	return &localRecord{
		ID:          id,
		Name:        name,
		Comment:     spec.Comment,
		Partition:   part,
		State:       StatePending,
		Reason:      "None",
		ExitCode:    "0:0",
		CancelledBy: -1,
		TimeLimit:   int64((spec.Time + time.Second - 1) / time.Second),
		Submit:      time.Now(),
		Output:      out,
		WorkDir:     work,
		Host:        l.host,
		OwnerPID:    l.self.pid,
		OwnerStart:  l.self.start,
	}, nil
}

// schedule starts queued jobs while MaxRunning allows. l.mu is held.
func (l *Local) schedule() {
	for len(l.queue) > 0 && (l.opts.MaxRunning <= 0 || len(l.running) < l.opts.MaxRunning) {
		id := l.queue[0]
		l.queue = l.queue[1:]
		if err := l.start(id); err != nil {
			l.log.Warn("slurm: local job did not start", "job_id", id, "err", err)
		}
	}
}

// update applies f to a job's record under its lock.
func (l *Local) update(id string, f func(*localRecord)) error {
	lk, err := lockFile(l.store.path(id, "lock"))
	if err != nil {
		return fmt.Errorf("slurm: local job %s: %w", id, err)
	}
	defer lk.unlock()
	rec, err := l.store.read(id)
	if err != nil {
		return err
	}
	f(rec)
	return l.store.write(rec)
}

// start launches a queued job. l.mu is held.
func (l *Local) start(id string) error {
	lk, err := lockFile(l.store.path(id, "lock"))
	if err != nil {
		return fmt.Errorf("slurm: local job %s: %w", id, err)
	}
	defer lk.unlock()
	rec, err := l.store.read(id)
	if err != nil {
		return err
	}
	if rec.State != StatePending {
		return nil // cancelled while pending
	}
	if by, ok := l.store.cancelledBy(id); ok {
		l.finish(rec, StateCancelled, "", ExitCode{}, by)
		return l.store.write(rec)
	}

	run, err := l.launch(rec)
	if err != nil {
		l.finish(rec, StateFailed, "JobLaunchFailure", ExitCode{Code: 1}, -1)
		werr := l.store.write(rec)
		return errors.Join(err, werr)
	}

	rec.State, rec.Reason = StateRunning, "None"
	rec.Start = time.Now()
	rec.PID = run.pgid
	rec.PIDStart, _ = procStart(run.pgid)
	if err := l.store.write(rec); err != nil {
		l.log.Warn("slurm: local job record", "job_id", id, "err", err)
	}

	l.running[id] = run
	if rec.TimeLimit > 0 {
		run.limit = time.AfterFunc(time.Duration(rec.TimeLimit)*time.Second, func() {
			l.expire(id)
		})
	}
	l.wg.Add(1)
	go l.wait(id, run)
	l.log.Info("slurm: local job started", "job_id", id, "pid", run.pgid)
	return nil
}

// launch starts the job's process group.
func (l *Local) launch(rec *localRecord) (*localRun, error) {
	if err := os.MkdirAll(filepath.Dir(rec.Output), 0o755); err != nil {
		return nil, fmt.Errorf("slurm: local job %s output: %w", rec.ID, err)
	}
	out, err := os.OpenFile(rec.Output, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("slurm: local job %s output: %w", rec.ID, err)
	}

	cmd := exec.Command(l.shell, l.store.path(rec.ID, "script.sh"))
	cmd.Dir = rec.WorkDir
	cmd.Env = l.env(rec)
	cmd.Stdout, cmd.Stderr = out, out
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("slurm: local job %s: %w", rec.ID, err)
	}
	return &localRun{cmd: cmd, out: out, pgid: cmd.Process.Pid, by: -1,
		done: make(chan struct{})}, nil
}

// env is this process's environment without SLURM's variables, plus the
// job's.
func (l *Local) env(rec *localRecord) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SBATCH_") &&
			!strings.HasPrefix(kv, "SLURMD_") {
			env = append(env, kv)
		}
	}
	set := func(k, v string) { env = append(env, k+"="+v) }
	set("SLURM_JOB_ID", rec.ID)
	set("SLURM_JOBID", rec.ID)
	set("SLURM_JOB_NAME", rec.Name)
	set("SLURM_JOB_NODELIST", rec.Host)
	set("SLURM_NODELIST", rec.Host)
	set("SLURMD_NODENAME", rec.Host)
	set("SLURM_JOB_NUM_NODES", "1")
	set("SLURM_NNODES", "1")
	set("SLURM_JOB_PARTITION", rec.Partition)
	set("SLURM_SUBMIT_DIR", l.opts.SubmitDir)
	set("SLURM_SUBMIT_HOST", l.host)
	set("SLURM_JOB_USER", l.user)
	set("SLURM_JOB_UID", strconv.Itoa(l.uid))
	set("SLURM_CLUSTER_NAME", "local")
	set("SLURM_CPUS_ON_NODE", strconv.Itoa(runtime.NumCPU()))
	return env
}

// wait waits for a job's script to end and records how it ended.
func (l *Local) wait(id string, run *localRun) {
	defer l.wg.Done()
	_ = run.cmd.Wait() // the exit status is in ProcessState
	// The script has ended: end the rest of its group, as SLURM does.
	signalGroup(run.pgid, syscall.SIGKILL)
	ec := exitOf(run.cmd.ProcessState)

	l.mu.Lock()
	if run.limit != nil {
		run.limit.Stop()
	}
	if run.kill != nil {
		run.kill.Stop()
	}
	timedOut, cancelled, by := run.timedOut, run.cancelled, run.by
	_ = run.out.Close()
	l.mu.Unlock()

	err := l.update(id, func(r *localRecord) {
		if mb, ok := l.store.cancelledBy(id); ok && !cancelled && !timedOut {
			cancelled, by = true, mb
		}
		switch {
		case timedOut:
			l.finish(r, StateTimeout, "TimeLimit", ec, -1)
		case cancelled:
			l.finish(r, StateCancelled, "", ec, by)
		case ec == ExitCode{}:
			l.finish(r, StateCompleted, "", ec, -1)
		default:
			l.finish(r, StateFailed, "NonZeroExitCode", ec, -1)
		}
	})
	if err != nil {
		l.log.Warn("slurm: local job record", "job_id", id, "err", err)
	}
	l.log.Info("slurm: local job ended", "job_id", id, "exit_code", ec.String())

	l.mu.Lock()
	delete(l.running, id)
	l.schedule()
	l.mu.Unlock()
	close(run.done)
}

// finish sets a record's final state.
func (l *Local) finish(r *localRecord, st State, reason string, ec ExitCode, by int) {
	r.State, r.Reason, r.ExitCode, r.CancelledBy = st, reason, ec.String(), by
	if r.Reason == "" {
		r.Reason = "None"
	}
	r.End = time.Now()
	if r.Start.IsZero() {
		r.Start = r.End
	}
}

// expire ends a job that reached its time limit.
func (l *Local) expire(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	run := l.running[id]
	if run == nil || run.cancelled || run.timedOut {
		return
	}
	run.timedOut = true
	l.stop(id, run, "DUE TO TIME LIMIT ")
}

// stop writes SLURM's notice to the job's output, sends SIGTERM to its
// group, and arms SIGKILL after KillWait. l.mu is held.
func (l *Local) stop(id string, run *localRun, why string) {
	fmt.Fprintf(run.out, "slurmstepd-%s: error: *** JOB %s ON %s CANCELLED AT %s %s***\n",
		l.host, id, l.host, time.Now().Format(squeueTimeLayout), why)
	signalGroup(run.pgid, syscall.SIGCONT)
	signalGroup(run.pgid, syscall.SIGTERM)
	run.kill = time.AfterFunc(l.opts.KillWait, func() { signalGroup(run.pgid, syscall.SIGKILL) })
}

// Cancel stops a job: a pending one is recorded CANCELLED at once; a
// running one gets SIGTERM, then SIGKILL after KillWait, and Cancel
// returns once it is recorded CANCELLED or ctx ends. A job another
// process runs is cancelled through its process group and a mark in its
// record folder. Cancelling a finished or unknown job is not an error.
func (l *Local) Cancel(ctx context.Context, id string) error {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return fmt.Errorf("slurm: cancel %q: %w", id, ErrBadJobID)
	}

	l.mu.Lock()
	if run := l.running[id]; run != nil {
		if !run.cancelled && !run.timedOut {
			run.cancelled, run.by = true, l.uid
			l.stop(id, run, "")
		}
		l.mu.Unlock()
		return waitDone(ctx, run.done)
	}
	if i := indexOf(l.queue, id); i >= 0 {
		l.queue = append(l.queue[:i], l.queue[i+1:]...)
	}
	l.mu.Unlock()

	return l.cancelRecorded(ctx, id)
}

// cancelRecorded cancels a job this Local does not run: one another
// process (or another Local in this process) owns, or one whose owner is
// gone.
func (l *Local) cancelRecorded(ctx context.Context, id string) error {
	var pgid int
	var owner procID
	err := l.update(id, func(r *localRecord) {
		owner = procID{pid: r.OwnerPID, start: r.OwnerStart}
		switch {
		case r.State.Terminal():
		case r.PID == 0:
			// Pending: the owner skips jobs that are no longer PENDING.
			l.finish(r, StateCancelled, "", ExitCode{}, l.uid)
		default:
			_ = l.store.markCancel(id, l.uid)
			if (procID{pid: r.PID, start: r.PIDStart}).alive() {
				pgid = r.PID
				signalGroup(pgid, syscall.SIGCONT)
				signalGroup(pgid, syscall.SIGTERM)
			}
		}
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}

	// The owner, if alive, records the end; else the group must be gone.
	ended := func() bool {
		if owner.alive() {
			r, err := l.store.read(id)
			return err != nil || r.State.Terminal()
		}
		return pgid == 0 || !groupAlive(pgid)
	}
	if pollUntil(ctx, l.opts.KillWait, ended) != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		signalGroup(pgid, syscall.SIGKILL)
		if err := pollUntil(ctx, max(l.opts.KillWait, 30*time.Second), ended); err != nil {
			return fmt.Errorf("slurm: cancel %s: process group %d: %w", id, pgid, err)
		}
	}
	if owner.alive() {
		return nil
	}
	return l.reap(id)
}

// reap records the end of a job whose owning process is gone and whose
// process group leader has ended.
func (l *Local) reap(id string) error {
	err := l.update(id, func(r *localRecord) {
		switch {
		case r.State.Terminal():
		case (procID{pid: r.OwnerPID, start: r.OwnerStart}).alive():
		case r.PID != 0 && (procID{pid: r.PID, start: r.PIDStart}).alive():
		default:
			if by, ok := l.store.cancelledBy(id); ok && r.PID != 0 {
				l.finish(r, StateCancelled, "", ExitCode{Signal: int(syscall.SIGTERM)}, by)
				return
			}
			l.finish(r, StateNodeFail, "OwnerExited", ExitCode{}, -1)
		}
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Status reports the jobs in ids from their records. A job with no record
// has Found == false. A job whose owning process has gone is reaped first.
func (l *Local) Status(ctx context.Context, ids []string) (map[string]Job, error) {
	res := make(map[string]Job, len(ids))
	now := time.Now()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return nil, fmt.Errorf("slurm: status %q: %w", id, ErrBadJobID)
		}
		rec, err := l.load(id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			res[id] = Job{ID: id, CancelledBy: -1}
		case err != nil:
			return nil, err
		default:
			res[id] = rec.job(now)
		}
	}
	return res, nil
}

// load reads a record, reaping it if its owner is gone.
func (l *Local) load(id string) (*localRecord, error) {
	rec, err := l.store.read(id)
	if err != nil || rec.State.Terminal() {
		return rec, err
	}
	if (procID{pid: rec.OwnerPID, start: rec.OwnerStart}).alive() {
		return rec, nil
	}
	if err := l.reap(id); err != nil {
		return nil, err
	}
	return l.store.read(id)
}

// List reports every job in StateDir that is pending or running, or that
// ended less than MinJobAge ago, in id order.
func (l *Local) List(ctx context.Context) ([]Job, error) {
	ids, err := l.store.ids()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var jobs []Job
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := l.load(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // allocated, not yet recorded
		}
		if err != nil {
			return nil, err
		}
		if rec.State.Terminal() && now.Sub(rec.End) > l.opts.MinJobAge {
			continue
		}
		jobs = append(jobs, rec.job(now))
	}
	return jobs, nil
}

// OutputPath returns the job's output file, with %j and %x expanded.
func (l *Local) OutputPath(ctx context.Context, id string) (string, error) {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("slurm: output path %q: %w", id, ErrBadJobID)
	}
	rec, err := l.store.read(id)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("slurm: output path of %s: %w", id, ErrJobNotFound)
	}
	if err != nil {
		return "", err
	}
	return rec.Output, nil
}

// Close cancels the jobs this Local started or queued and waits until
// their ends are recorded. Later Submits return ErrClosed; Status, List
// and Cancel keep working. Close is idempotent.
func (l *Local) Close() error {
	l.mu.Lock()
	l.closed = true
	queued := l.queue
	l.queue = nil
	for id, run := range l.running {
		if !run.cancelled && !run.timedOut {
			run.cancelled, run.by = true, l.uid
			l.stop(id, run, "")
		}
	}
	l.mu.Unlock()

	var errs []error
	for _, id := range queued {
		errs = append(errs, l.update(id, func(r *localRecord) {
			if r.State == StatePending {
				l.finish(r, StateCancelled, "", ExitCode{}, l.uid)
			}
		}))
	}
	l.wg.Wait()
	return errors.Join(errs...)
}

func waitDone(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pollUntil checks cond every 10ms until it holds, d passes, or ctx ends.
func pollUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return context.DeadlineExceeded
		case <-tick.C:
		}
	}
	return nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
