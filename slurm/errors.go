package slurm

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors to branch on with errors.Is.
var (
	// ErrUnknownState reports state text that names no SLURM state.
	ErrUnknownState = errors.New("slurm: unknown job state")
	// ErrTruncatedField reports a field that a fixed column width cut
	// short ("OUT_OF_ME+"). hpcorch itself asks for delimited output.
	ErrTruncatedField = errors.New("slurm: truncated field")
	// ErrBadWalltime reports a time that is not in one of SLURM's forms.
	ErrBadWalltime = errors.New("slurm: bad walltime")
	// ErrBadExitCode reports an exit code that is not "code:signal".
	ErrBadExitCode = errors.New("slurm: bad exit code")
	// ErrBadJobID reports a job id that SLURM cannot have printed, or that
	// squeue refused as out of range ("Invalid job id: N"). It is bad
	// input: no lookup in sacct follows.
	ErrBadJobID = errors.New("slurm: bad job id")
	// ErrBadHostlist reports a malformed hostlist expression.
	ErrBadHostlist = errors.New("slurm: bad hostlist")
	// ErrNoJobID reports sbatch output with no job id in it.
	ErrNoJobID = errors.New("slurm: no job id in sbatch output")
	// ErrTransient reports a failure worth retrying: the controller or
	// the accounting daemon did not answer. Errors that wrap it include
	// ErrAccountingUnavailable.
	ErrTransient = errors.New("slurm: transient failure")
	// ErrAccountingUnavailable reports that sacct could not reach the
	// accounting database, or that accounting is disabled. It says
	// nothing of the job.
	ErrAccountingUnavailable = errors.New("slurm: accounting unavailable")
	// ErrJobNotFound reports a job that neither squeue nor sacct knows.
	ErrJobNotFound = errors.New("slurm: job not found")
	// ErrInvalidSpec reports a JobSpec that cannot be rendered. The
	// *SpecError that wraps it names the field.
	ErrInvalidSpec = errors.New("slurm: invalid job spec")
)

// SpecError reports a JobSpec field that Render refused.
type SpecError struct {
	Field  string // the JobSpec field, e.g. "Partition"
	Value  string // the refused value
	Reason string // why, for people
	Err    error  // wraps ErrInvalidSpec
}

// Error names the field, the value and the reason.
func (e *SpecError) Error() string {
	return fmt.Sprintf("slurm: invalid job spec: %s=%q: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns the cause, which wraps ErrInvalidSpec.
func (e *SpecError) Unwrap() error { return e.Err }

// SubmitErrorKind classifies a permanent rejection at submit time.
type SubmitErrorKind int

// The kinds of SubmitError.
const (
	KindRejected         SubmitErrorKind = iota // any other rejection
	KindQOSLimit                                // a QOS or association limit
	KindInvalidAccount                          // account or account/partition
	KindInvalidPartition                        // no such partition
	KindInvalidTimeLimit                        // time limit missing, invalid or too long
	KindInvalidQOS                              // no such QOS
	KindUnsatisfiable                           // nodes, memory, CPUs or gres not available
	KindInvalidGres                             // the gres request is not valid
	KindInvalidNode                             // a named node does not exist
	KindInvalidOption                           // sbatch refused an option or directive
)

var kindNames = [...]string{
	KindRejected:         "Rejected",
	KindQOSLimit:         "QOSLimit",
	KindInvalidAccount:   "InvalidAccount",
	KindInvalidPartition: "InvalidPartition",
	KindInvalidTimeLimit: "InvalidTimeLimit",
	KindInvalidQOS:       "InvalidQOS",
	KindUnsatisfiable:    "Unsatisfiable",
	KindInvalidGres:      "InvalidGres",
	KindInvalidNode:      "InvalidNode",
	KindInvalidOption:    "InvalidOption",
}

// String returns the kind's name, such as "QOSLimit".
func (k SubmitErrorKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "Rejected"
	}
	return kindNames[k]
}

// SubmitError reports a job that SLURM refused for good: resubmitting the
// same spec now fails the same way. It is never retried by Submit.
type SubmitError struct {
	// Kind classifies the rejection.
	Kind SubmitErrorKind
	// Reason is SLURM's limit token when it printed one
	// ("QOSMaxSubmitJobPerUserLimit"), else the text after
	// "Batch job submission failed: ".
	Reason string
	// Partition is the partition named in the error, if any.
	Partition string
	// Message is the "Batch job submission failed" text, or the first
	// error line when there is none.
	Message string
	// SiteMessages holds other error lines, such as those of a site's
	// job_submit plugin.
	SiteMessages []string
	// ExitCode is sbatch's exit status.
	ExitCode int
}

// Error gives the kind, SLURM's message and its reason.
func (e *SubmitError) Error() string {
	var b strings.Builder
	b.WriteString("slurm: submit rejected (")
	b.WriteString(e.Kind.String())
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Reason != "" && !strings.Contains(e.Message, e.Reason) {
		b.WriteString(" [")
		b.WriteString(e.Reason)
		b.WriteString("]")
	}
	return b.String()
}

// RetryLater reports whether the rejection is a submit-count limit
// (a *SubmitJob*Limit reason) that may clear once other jobs end.
func (e *SubmitError) RetryLater() bool {
	r := strings.ToLower(e.Reason)
	return strings.Contains(r, "submitjob") && strings.HasSuffix(r, "limit")
}

// IsTransient reports whether err is worth retrying: it wraps
// ErrTransient.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// transientError marks a command failure as transient while keeping it
// reachable with errors.As (for *sshx.ExitError).
type transientError struct {
	msg  string
	kind error // ErrTransient or ErrAccountingUnavailable
	err  error
}

func (e *transientError) Error() string { return e.msg }

func (e *transientError) Unwrap() []error { return []error{e.kind, e.err} }

func (e *transientError) Is(target error) bool {
	return target == ErrTransient
}
