package servers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/slurm"
)

// Sentinel errors to branch on with errors.Is.
var (
	// ErrNotFound reports an ID or job id that names no hpcorch job the
	// scheduler or the run folders know.
	ErrNotFound = errors.New("servers: service not found")

	// ErrNotHpcorch reports a job id whose job hpcorch did not start.
	ErrNotHpcorch = errors.New("servers: job is not an hpcorch service")

	// ErrNotRunning reports a service that has no node yet (pending) or
	// any more (ended), when a node or an endpoint is asked for.
	ErrNotRunning = errors.New("servers: service is not running")

	// ErrNoPort reports a service whose recipe has no port, or whose job
	// has not chosen it yet, when an endpoint is asked for.
	ErrNoPort = errors.New("servers: service has no known port")

	// ErrJobEnded reports a job that ended before its service was ready.
	ErrJobEnded = errors.New("servers: job ended before the service was ready")

	// ErrCheckTimeout reports a readiness check that kept failing for
	// its whole timeout.
	ErrCheckTimeout = errors.New("servers: readiness check timed out")
)

// ReadyError reports a WaitReady that failed: the phase it was in, what
// the scheduler last said, and the job's last log lines.
type ReadyError struct {
	// ID and JobID name the service.
	ID, JobID string
	// Phase is the phase WaitReady was in.
	Phase Phase
	// State and Reason are the job's last known state and reason.
	State  slurm.State
	Reason string
	// ExitCode is the job's exit code once it ended.
	ExitCode slurm.ExitCode
	// Waited is how long WaitReady waited.
	Waited time.Duration
	// Log holds the last lines of the job's output, when they could be
	// read.
	Log string
	// Err is the cause: ErrJobEnded, ErrCheckTimeout, a context error or
	// the last probe's error.
	Err error
}

// Error formats e with the job's last log lines on the lines that follow.
func (e *ReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "servers: %s (job %s) not ready after %s, in phase %s (state %s",
		e.ID, e.JobID, e.Waited.Round(time.Millisecond), e.Phase, e.State)
	if e.Reason != "" {
		fmt.Fprintf(&b, ", reason %s", e.Reason)
	}
	if e.State.Terminal() {
		fmt.Fprintf(&b, ", exit code %s", e.ExitCode)
	}
	fmt.Fprintf(&b, "): %v", e.Err)
	if log := strings.TrimRight(e.Log, "\n"); log != "" {
		b.WriteString("\n--- last lines of the job output ---\n")
		b.WriteString(log)
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *ReadyError) Unwrap() error { return e.Err }
