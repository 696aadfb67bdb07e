package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// JobRef is a job id taken apart by structure: a plain job ("1234"), an
// array task ("715219_23"), a pending array ("57829110_[5-100%4]"), a
// heterogeneous job component ("1234+1"), and a step of any of them
// ("715219_23.batch").
type JobRef struct {
	// JobID is the job's own id; for an array task or range it is the
	// array's job id.
	JobID uint64
	// Array reports an array task or a range of tasks.
	Array bool
	// TaskID is the array task id, or -1 (a range, or not an array).
	TaskID int
	// TaskSpec is the task range of a pending array ("5-100"), without
	// the %N throttle.
	TaskSpec string
	// MaxRunning is the %N throttle of a pending array, or 0.
	MaxRunning int
	// HetOffset is the component of a heterogeneous job, or -1.
	HetOffset int
	// Step is the step name or number after the dot ("batch", "0"), or "".
	Step string
}

// ParseJobID parses a job id as squeue and sacct print it. Anything that
// is not such an id returns an error wrapping ErrBadJobID.
func ParseJobID(s string) (JobRef, error) {
	t := strings.TrimSpace(s)
	bad := func() (JobRef, error) {
		return JobRef{}, fmt.Errorf("slurm: job id %q: %w", t, ErrBadJobID)
	}
	r := JobRef{TaskID: -1, HetOffset: -1}

	main, step, hasStep := strings.Cut(t, ".")
	if hasStep {
		if step == "" || strings.ContainsAny(step, ". \t") {
			return bad()
		}
		r.Step = step
	}

	idText, rest := leadingDigits(main)
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil || id == 0 {
		return bad()
	}
	r.JobID = id

	switch {
	case rest == "":
	case rest[0] == '+':
		n, err := strconv.Atoi(rest[1:])
		if err != nil || n < 0 || rest[1:] != strconv.Itoa(n) {
			return bad()
		}
		r.HetOffset = n
	case strings.HasPrefix(rest, "_["):
		spec, ok := strings.CutSuffix(rest[2:], "]")
		if !ok || !validTaskSpec(spec) {
			return bad()
		}
		r.Array = true
		if base, max, ok := strings.Cut(spec, "%"); ok {
			n, err := strconv.Atoi(max)
			if err != nil || n <= 0 {
				return bad()
			}
			spec, r.MaxRunning = base, n
		}
		r.TaskSpec = spec
	case rest[0] == '_':
		n, err := strconv.Atoi(rest[1:])
		if err != nil || n < 0 || rest[1:] != strconv.Itoa(n) {
			return bad()
		}
		r.Array, r.TaskID = true, n
	default:
		return bad()
	}
	return r, nil
}

// String formats r back to SLURM's form.
func (r JobRef) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(r.JobID, 10))
	switch {
	case r.Array && r.TaskID >= 0:
		b.WriteString("_" + strconv.Itoa(r.TaskID))
	case r.Array:
		b.WriteString("_[" + r.TaskSpec)
		if r.MaxRunning > 0 {
			b.WriteString("%" + strconv.Itoa(r.MaxRunning))
		}
		b.WriteString("]")
	case r.HetOffset >= 0:
		b.WriteString("+" + strconv.Itoa(r.HetOffset))
	}
	if r.Step != "" {
		b.WriteString("." + r.Step)
	}
	return b.String()
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// validTaskSpec accepts "1-10,20,30-40:2%5" style task specifications.
func validTaskSpec(s string) bool {
	if s == "" {
		return false
	}
	pct := strings.Count(s, "%")
	if pct > 1 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9') && !strings.ContainsRune("-,:%", c) {
			return false
		}
	}
	return true
}

// validJobID reports whether s is a job id hpcorch may pass to squeue,
// sacct or scancel: a plain id, an array task or a het component.
func validJobID(s string) bool {
	if s != strings.TrimSpace(s) {
		return false
	}
	r, err := ParseJobID(s)
	return err == nil && r.Step == "" && r.TaskSpec == ""
}
