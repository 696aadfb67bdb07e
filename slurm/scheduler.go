package slurm

import (
	"context"
	"time"
)

// Scheduler submits batch jobs, reports their state, and cancels them.
// Two implementations exist: *Slurm, which runs sbatch, squeue, sacct and
// scancel through an sshx.Executor, and *Local, which runs the same batch
// scripts as process groups on this machine. Implementations are safe for
// concurrent use.
type Scheduler interface {
	// Submit renders spec to a batch script and submits it, returning the
	// new job's id. It never submits the same job twice, even when it
	// retries. A permanent rejection is a *SubmitError.
	Submit(ctx context.Context, spec JobSpec) (jobID string, err error)

	// Status reports the state of every job in ids with one status round
	// (one squeue, plus at most one sacct for jobs squeue no longer knows
	// and for the exit codes of ended jobs, which squeue does not print).
	// Every id is a key of the result; a job known to neither has
	// Found == false. An error means the round itself failed, which says
	// nothing about the jobs.
	Status(ctx context.Context, ids []string) (map[string]Job, error)

	// List reports the calling user's jobs that the scheduler still
	// knows about (pending, running, and recently finished), in one round.
	List(ctx context.Context) ([]Job, error)

	// Cancel stops a job. Cancelling a finished or unknown job is not an
	// error.
	Cancel(ctx context.Context, id string) error
}

// OutputLocator is implemented by schedulers that can tell where a job's
// standard output file is. Both *Slurm and *Local implement it.
type OutputLocator interface {
	// OutputPath returns the path of the job's output file, as seen on
	// the cluster side, with %j and %x expanded.
	OutputPath(ctx context.Context, id string) (string, error)
}

// JobSpec describes one batch job. Zero fields are left out of the script
// so the cluster's defaults apply. Render documents what each field may
// hold.
type JobSpec struct {
	Name          string        // --job-name; hpcorch keeps names unique
	Comment       string        // --comment; hpcorch tags its jobs with it
	Script        string        // the body of the batch script, after the #SBATCH lines
	Partition     string        // --partition
	Account       string        // --account
	QOS           string        // --qos
	Time          time.Duration // --time, rendered as D-HH:MM:SS; 0 leaves it out
	Nodes         int           // --nodes
	NTasks        int           // --ntasks
	NTasksPerNode int           // --ntasks-per-node
	CPUsPerTask   int           // --cpus-per-task
	Mem           string        // --mem in SLURM's form: 100M, 4G, 16GB
	Gres          string        // --gres, e.g. gpu:1
	NodeList      string        // --nodelist, a hostlist such as node[1-2]
	Output        string        // --output; may use %j and %x; must not contain $
	WorkDir       string        // --chdir; must not contain $
	Env           map[string]string
	// Env is exported at the top of the script body, each value quoted
	// with sshx.Quote, in sorted order of the names.

	// Directives holds further options as "--name=value" or "--flag",
	// each validated like the fields above.
	Directives []string
}

// Job is what the scheduler knows of one job at one moment.
type Job struct {
	ID        string
	Name      string
	Comment   string
	Partition string
	State     State
	// RawState is the state text as the scheduler printed it, kept for
	// states that parse to StateUnknown.
	RawState string
	// Reason is the pending or end reason ("Resources", "TimeLimit"), or
	// "" when SLURM printed "None".
	Reason    string
	Nodes     []string // expanded node list; empty while pending
	Elapsed   time.Duration
	TimeLimit Walltime
	StartTime time.Time // zero if not started or unknown
	ExitCode  ExitCode  // meaningful once State is terminal
	// CancelledBy is the uid that cancelled the job ("CANCELLED by N"),
	// or -1.
	CancelledBy int
	// Found is false when neither squeue nor sacct knows the job.
	Found bool
}

// Failed reports whether the job ended in failure: a failed state or a
// non-zero exit code or signal. See ExitCode.Failed.
func (j Job) Failed() bool { return j.State.Terminal() && j.ExitCode.Failed(j.State) }
