package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// ExitCode is a job's exit status as sacct and scontrol print it,
// "code:signal". The zero value is a clean exit.
type ExitCode struct {
	// Code is the exit status of the batch script.
	Code int
	// Signal is the number of the signal that ended it, or 0.
	Signal int
}

// ParseExitCode parses "code:signal" ("0:15", "1:0"). A bare number is
// taken as a code with no signal. Anything else is an error wrapping
// ErrBadExitCode.
func ParseExitCode(s string) (ExitCode, error) {
	t := strings.TrimSpace(s)
	c, sig, hasSig := strings.Cut(t, ":")
	code, err := strconv.Atoi(c)
	if err != nil || code < 0 {
		return ExitCode{}, fmt.Errorf("slurm: exit code %q: %w", t, ErrBadExitCode)
	}
	e := ExitCode{Code: code}
	if hasSig {
		n, err := strconv.Atoi(sig)
		if err != nil || n < 0 {
			return ExitCode{}, fmt.Errorf("slurm: exit code %q: %w", t, ErrBadExitCode)
		}
		e.Signal = n
	}
	return e, nil
}

// String formats e as "code:signal".
func (e ExitCode) String() string { return strconv.Itoa(e.Code) + ":" + strconv.Itoa(e.Signal) }

// Shell returns e as one number with shell semantics: 128+Signal when a
// signal ended the job, else Code.
func (e ExitCode) Shell() int {
	if e.Signal > 0 {
		return 128 + e.Signal
	}
	return e.Code
}

// Failed reports whether a job in state st with exit code e failed: a
// failed state (FAILED, OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, ...), a
// non-zero code, or a signal. A job killed for memory may report code 0,
// so success is never decided from the code alone.
func (e ExitCode) Failed(st State) bool {
	return st.Failed() || e.Code != 0 || e.Signal > 0
}
