package slurm

import (
	"fmt"
	"strings"
	"time"
)

// sacctFields is the -o list hpcorch asks sacct for, with -X (allocation
// rows only), -P (delimited by "|", nothing cut) and -n (no header).
// Comment is last so that nothing after it can shift.
const sacctFields = "JobID,JobIDRaw,JobName,State,ExitCode,NodeList,Elapsed,Timelimit," +
	"Start,Partition,Reason,Comment"

const sacctColumns = 12

// ParseSacct parses sacct output in hpcorch's format (sacct -X -P -n -o
// JobID,JobIDRaw,JobName,State,ExitCode,NodeList,Elapsed,Timelimit,Start,
// Partition,Reason,Comment). Step rows ("123.batch"), if present, are
// skipped. A header line, when -n was left out, is skipped too. A state
// that does not parse keeps StateUnknown and its RawState; an exit code,
// time or node list that does not parse is left zero rather than dropping
// the row. A row with too few fields is an error.
func ParseSacct(out []byte, loc *time.Location) ([]Job, error) {
	var jobs []Job
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.SplitN(l, "|", sacctColumns)
		if f[0] == "JobID" {
			continue // a header
		}
		if len(f) != sacctColumns {
			return nil, fmt.Errorf("slurm: sacct row %q: %d fields, want %d",
				l, len(f), sacctColumns)
		}
		if strings.Contains(f[0], ".") {
			continue // a step
		}
		jobs = append(jobs, sacctJob(f, loc))
	}
	return jobs, nil
}

func sacctJob(f []string, loc *time.Location) Job {
	j := Job{
		ID:        strings.TrimSpace(f[0]),
		Name:      f[2],
		RawState:  strings.TrimSpace(f[3]),
		Partition: strings.TrimSpace(f[9]),
		Reason:    cleanReason(f[10]),
		Comment:   nullable(f[11]),
		Found:     true,
	}
	j.State, j.CancelledBy, _ = ParseState(j.RawState)
	j.ExitCode, _ = ParseExitCode(f[4])
	if nodes, err := ExpandHostlist(f[5]); err == nil {
		j.Nodes = nodes
	}
	j.Elapsed, _ = ParseDuration(f[6])
	j.TimeLimit, _ = ParseWalltime(f[7])
	j.StartTime = parseTime(f[8], loc)
	return j
}

// sacctRawIDs maps the JobID of each row to its JobIDRaw, for matching
// array tasks.
func sacctRawIDs(out []byte) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.SplitN(strings.TrimRight(l, "\r"), "|", sacctColumns)
		if len(f) == sacctColumns {
			m[strings.TrimSpace(f[0])] = strings.TrimSpace(f[1])
		}
	}
	return m
}

// classifySacct turns the stderr of a failed sacct into an error: one
// wrapping ErrAccountingUnavailable (and ErrTransient, unless accounting
// is disabled for good) when the database could not be asked (BC-15).
func classifySacct(stderr []byte, cause error) error {
	s := string(stderr)
	msg := "slurm: sacct: " + strings.Join(stripAll(lines(stderr)), "; ")
	switch {
	case strings.Contains(strings.ToLower(s), "accounting storage is disabled"):
		return fmt.Errorf("%s: %w", msg, ErrAccountingUnavailable)
	case isAccountingText(s) || isTransientText(s):
		return &transientError{msg: msg, kind: ErrAccountingUnavailable, err: cause}
	}
	return fmt.Errorf("%s: %w", msg, cause)
}
