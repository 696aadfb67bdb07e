package servers

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
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

	// ErrCheckRefused reports a readiness check that can never pass, such
	// as a probe through a login node that forwards no TCP connections
	// (sshx.ErrForwardingDisabled, which the error also wraps); WaitReady
	// returns it at once instead of trying until its timeout.
	ErrCheckRefused = errors.New("servers: readiness check cannot pass")

	// ErrPortInUse reports a service whose log says its port was taken
	// ("address already in use"), as happens to a recipe that hard-codes a
	// port another job holds on the node (BC-22).
	ErrPortInUse = errors.New("servers: port already in use on the node")

	// ErrRegistryUnreachable reports an image build that could not reach
	// the registry, as from a compute node without internet (BC-18).
	// Build the image on the login node (BuildImage) or upload it
	// (UploadImage).
	ErrRegistryUnreachable = errors.New("servers: container registry unreachable")

	// ErrBindDestination reports a bind mount whose destination the
	// image lacks (BC-20); the error is a *BindError naming it.
	ErrBindDestination = errors.New("servers: bind destination missing in the container")

	// ErrImageNotFound reports an image the registry does not have.
	ErrImageNotFound = errors.New("servers: container image not found in the registry")
)

// logClasses map what a job log says to the sentinel that names it. A
// class with context applies only when the log also holds one of those
// (an Apptainer FATAL line or hpcorch's own build message), so that a
// service's own network trouble is not taken for a registry's.
var logClasses = []struct {
	err     error
	markers []string
	context []string
}{
	{ErrPortInUse, []string{"address already in use", "address in use"}, nil},
	{ErrImageNotFound, []string{"manifest unknown", "repository does not exist",
		"requested access to the resource is denied"}, []string{"fatal:", "hpcorch: "}},
	{ErrRegistryUnreachable, []string{"may not reach the registry", "i/o timeout",
		"error pinging docker registry", "no such host", "network is unreachable"},
		[]string{"fatal:", "hpcorch: cannot build"}},
}

// BindError reports a bind mount Apptainer could not make because its
// destination does not exist in the image (and the image is read-only, as
// SIF files are). It matches ErrBindDestination with errors.Is.
type BindError struct {
	// Path is the destination inside the container.
	Path string
}

// Error names the destination and what to do.
func (e *BindError) Error() string {
	return fmt.Sprintf("servers: bind destination %s does not exist in the container: bind "+
		"to a folder the image has (such as /mnt or /tmp), or build the image with it", e.Path)
}

// Is reports whether target is ErrBindDestination.
func (e *BindError) Is(target error) bool { return target == ErrBindDestination }

// bindDestRE finds Apptainer's complaint about a missing bind destination:
// "mount hook function failure: mount /a->/b error: while mounting /a:
// destination /b doesn't exist in container".
var bindDestRE = regexp.MustCompile(`destination (\S+) doesn't exist in container`)

// classifyLog wraps err with the sentinel the log's content names, if any.
func classifyLog(log string, err error) error {
	if m := bindDestRE.FindStringSubmatch(log); m != nil {
		return fmt.Errorf("%w (%w)", err, &BindError{Path: m[1]})
	}
	low := strings.ToLower(log)
	for _, c := range logClasses {
		if len(c.context) > 0 && !containsAny(low, c.context) {
			continue
		}
		if containsAny(low, c.markers) {
			return fmt.Errorf("%w (%w)", err, c.err)
		}
	}
	return err
}

func containsAny(s string, subs []string) bool {
	for _, m := range subs {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// SessionError reports a service that belongs to another session than the
// one a Servers is scoped to (Options.Session). It wraps ErrNotFound: seen
// from a session, another session's jobs are not there to check or stop.
type SessionError struct {
	// ID and JobID name the service.
	ID, JobID string
	// Session is the session the service belongs to; "" for none.
	Session string
	// Want is the Servers' session.
	Want string
}

// Error says whose service it is.
func (e *SessionError) Error() string {
	owner := "session " + e.Session
	if e.Session == "" {
		owner = "no session"
	}
	return fmt.Sprintf("servers: %s (job %s) belongs to %s, not %s: %v", e.ID, e.JobID,
		owner, e.Want, ErrNotFound)
}

// Unwrap returns ErrNotFound.
func (e *SessionError) Unwrap() error { return ErrNotFound }

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
// A job that ended is told by its final state and exit code and the last
// line of its service's output.
func (e *ReadyError) Error() string {
	var b strings.Builder
	if errors.Is(e.Err, ErrJobEnded) && e.State.Terminal() {
		fmt.Fprintf(&b, "servers: %s: job %s %s (%s) before the service was ready, "+
			"in phase %s after %s", e.ID, e.JobID, e.State, exitText(e.ExitCode), e.Phase,
			e.Waited.Round(time.Millisecond))
		if e.Reason != "" && e.Reason != "None" {
			fmt.Fprintf(&b, ", reason %s", e.Reason)
		}
		if more := strings.TrimSpace(strings.TrimPrefix(e.Err.Error(),
			ErrJobEnded.Error())); more != "" {
			b.WriteString(" " + more)
		}
		if line := lastServiceLine(e.Log); line != "" {
			b.WriteString(": " + line)
		}
	} else {
		e.writeHead(&b)
	}
	if log := strings.TrimRight(e.Log, "\n"); log != "" {
		b.WriteString("\n--- last lines of the job output ---\n")
		b.WriteString(log)
	}
	return b.String()
}

// writeHead writes the first line of a ReadyError that is not a job's end.
func (e *ReadyError) writeHead(b *strings.Builder) {
	fmt.Fprintf(b, "servers: %s (job %s) not ready after %s, in phase %s (state %s",
		e.ID, e.JobID, e.Waited.Round(time.Millisecond), e.Phase, e.State)
	if e.Reason != "" {
		fmt.Fprintf(b, ", reason %s", e.Reason)
	}
	if e.State.Terminal() {
		fmt.Fprintf(b, ", exit code %s", e.ExitCode)
	}
	fmt.Fprintf(b, "): %v", e.Err)
}

// exitText says how a job ended: "exit 127", "signal 9".
func exitText(c slurm.ExitCode) string {
	if c.Signal > 0 {
		return "signal " + strconv.Itoa(c.Signal)
	}
	return "exit " + strconv.Itoa(c.Code)
}

// lastServiceLine returns the last line of a job's output that is not one of
// hpcorch's own, or else its last line.
func lastServiceLine(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "hpcorch: ") && !strings.HasPrefix(l, "hpcorch[") {
			return l
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Unwrap returns e.Err.
func (e *ReadyError) Unwrap() error { return e.Err }
