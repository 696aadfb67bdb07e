package slurm

import (
	"fmt"
	"strings"
	"time"
)

// squeueFields is the -o format hpcorch asks squeue for: explicit "|"
// delimiters, long state names, node list and reason as separate fields
// (BC-10), and the comment last so that nothing after it can shift.
// Fields without a width are printed in full.
const squeueFields = "%i|%j|%T|%M|%l|%S|%P|%r|%N|%k"

const squeueColumns = 10

// squeueTimeLayout is how squeue and sacct print times (in the cluster's
// local time zone).
const squeueTimeLayout = "2006-01-02T15:04:05"

// ParseSqueue parses squeue output in hpcorch's format (squeue -h -o
// with the fields %i|%j|%T|%M|%l|%S|%P|%r|%N|%k). A row whose state does not
// parse keeps StateUnknown and its RawState; a row with the wrong number
// of fields is an error. Every parsed job has Found == true.
func ParseSqueue(out []byte, loc *time.Location) ([]Job, error) {
	var jobs []Job
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.SplitN(l, "|", squeueColumns)
		if len(f) != squeueColumns {
			return nil, fmt.Errorf("slurm: squeue row %q: %d fields, want %d",
				l, len(f), squeueColumns)
		}
		j, err := squeueJob(f, loc)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func squeueJob(f []string, loc *time.Location) (Job, error) {
	j := Job{
		ID:          strings.TrimSpace(f[0]),
		Name:        f[1],
		RawState:    strings.TrimSpace(f[2]),
		Partition:   strings.TrimSpace(f[6]),
		Comment:     nullable(f[9]),
		CancelledBy: -1,
		Found:       true,
	}
	j.State, _, _ = ParseState(j.RawState)
	j.Elapsed, _ = ParseDuration(f[3])
	j.TimeLimit, _ = ParseWalltime(f[4])
	if j.State != StatePending {
		j.StartTime = parseTime(f[5], loc)
	}
	j.Reason = cleanReason(f[7])

	nodes, reason, err := ParseNodeListReason(f[8])
	if err != nil {
		return Job{}, err
	}
	j.Nodes = nodes
	if j.Reason == "" {
		j.Reason = reason
	}
	return j, nil
}

// ParseNodeListReason parses squeue's NODELIST(REASON) column (%R): a
// value in parentheses is a reason, such as "ReqNodeNotAvail, May be
// reserved for other job", and gives no nodes; anything else is a
// hostlist, expanded (BC-10, BC-17).
func ParseNodeListReason(s string) (nodes []string, reason string, err error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
		return nil, cleanReason(t), nil
	}
	nodes, err = ExpandHostlist(t)
	return nodes, "", err
}

// cleanReason strips parentheses and maps "None" and "(null)" to "".
func cleanReason(s string) string {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
		t = strings.TrimSpace(t[1 : len(t)-1])
	}
	switch t {
	case "None", "none", "(null)", "null", "N/A":
		return ""
	}
	return t
}

// nullable maps SLURM's "(null)" for an unset string to "".
func nullable(s string) string {
	if strings.TrimSpace(s) == "(null)" {
		return ""
	}
	return s
}

// parseTime parses a start time; "N/A", "Unknown", "None" and garbage give
// the zero time.
func parseTime(s string, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	t, err := time.ParseInLocation(squeueTimeLayout, strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// squeueResult classifies a failed squeue run.
type squeueResult int

const (
	squeueFailed    squeueResult = iota // the command failed
	squeueNoSuchJob                     // "Invalid job id specified": the job is gone
	squeueBadID                         // "Invalid job id: N": bad input
	squeueTransient                     // worth retrying
)

// classifySqueue reads the stderr of an squeue that exited non-zero (BC-07).
func classifySqueue(stderr []byte) squeueResult {
	s := string(stderr)
	low := strings.ToLower(s)
	switch {
	case strings.Contains(low, "invalid job id specified"):
		return squeueNoSuchJob
	case strings.Contains(low, "invalid job id:"):
		return squeueBadID
	case isTransientText(s):
		return squeueTransient
	}
	return squeueFailed
}
