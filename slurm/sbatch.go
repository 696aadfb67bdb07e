package slurm

import (
	"fmt"
	"regexp"
	"strings"
)

// Submission is what sbatch printed for a job it accepted.
type Submission struct {
	// JobID is the new job's id, all digits.
	JobID string
	// Cluster is the cluster named after the id on a multi-cluster
	// setup ("75168975;clusterA"), or "".
	Cluster string
	// Warnings holds the lines sbatch wrote to standard error: notes,
	// site messages, and errors it printed but did not fail on.
	Warnings []string
}

var (
	submittedLine = regexp.MustCompile(`^Submitted batch job (\d+)(?: on cluster (\S+))?$`)
	parsableLine  = regexp.MustCompile(`^(\d+)(?:;(\S+))?$`)
)

// ParseSubmission reads the job id from the output of an sbatch that
// exited with status 0, with or without --parsable. It looks on stdout for
// the line "Submitted batch job N [on cluster C]", else for the last line
// of the form "N" or "N;C"; banners and other lines are skipped, never
// mined for the first number. stderr lines become Warnings, even ones
// that say "error:": exit status 0 and a job id mean success. Output with
// no id is an error wrapping ErrNoJobID.
func ParseSubmission(stdout, stderr []byte) (Submission, error) {
	var sub Submission
	for _, l := range lines(stderr) {
		sub.Warnings = append(sub.Warnings, l)
	}

	var parsable []string
	for _, l := range lines(stdout) {
		if m := submittedLine.FindStringSubmatch(l); m != nil {
			sub.JobID, sub.Cluster = m[1], m[2]
			return sub, nil
		}
		if m := parsableLine.FindStringSubmatch(l); m != nil {
			parsable = m
		}
	}
	if parsable != nil {
		sub.JobID, sub.Cluster = parsable[1], parsable[2]
		return sub, nil
	}
	return sub, fmt.Errorf("slurm: sbatch printed %q: %w", firstLine(stdout), ErrNoJobID)
}

// lines splits b into trimmed, non-empty lines.
func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// errorPrefix matches "sbatch: error: ", "sbatch.bin: error: ", "squeue: "
// and the like at the start of a line.
var errorPrefix = regexp.MustCompile(`^[A-Za-z_.-]+: (?:(?:error|fatal|warning|info): *)?`)

// stripPrefix removes the program and severity prefix from one line.
func stripPrefix(l string) string {
	return strings.TrimSpace(errorPrefix.ReplaceAllString(l, ""))
}

// transientText holds lower-case fragments of messages after which a
// command is worth running again: the controller or the network did not
// answer, or was busy.
var transientText = []string{
	"socket timed out",
	"temporarily unable",
	"temporarily unavailable",
	"unable to contact slurm controller",
	"slurm controller not responding",
	"communication connection failure",
	"zero bytes were transmitted or received",
	"connection reset by peer",
	"connection timed out",
	"backup controller in standby mode",
	"slurmctld is not responding",
	"insane message length",
	"try again",
}

// accountingText holds lower-case fragments of sacct errors that mean the
// accounting database could not be asked (BC-15).
var accountingText = []string{
	"slurm_persist_conn",
	"problem talking to the database",
	"slurmdbd:",
	"sending persistinit msg",
	"accounting storage is disabled",
	"slurmdbd is not responding",
}

// isTransientText reports whether any line of stderr names a transient
// failure.
func isTransientText(stderr string) bool {
	low := strings.ToLower(stderr)
	for _, t := range transientText {
		if strings.Contains(low, t) {
			return true
		}
	}
	return false
}

func isAccountingText(stderr string) bool {
	low := strings.ToLower(stderr)
	for _, t := range accountingText {
		if strings.Contains(low, t) {
			return true
		}
	}
	return false
}

// submitRule maps a lower-case fragment of sbatch's error text to a kind.
type submitRule struct {
	text string
	kind SubmitErrorKind
}

// submitRules are tried in order on the "Batch job submission failed"
// message, then on every error line.
var submitRules = []submitRule{
	{"accounting/qos policy", KindQOSLimit},
	{"job violates", KindQOSLimit},
	{"qos max", KindQOSLimit},
	{"invalid account", KindInvalidAccount},
	{"invalid partition", KindInvalidPartition},
	{"time limit", KindInvalidTimeLimit},
	{"--time specification", KindInvalidTimeLimit},
	{"timelimit", KindInvalidTimeLimit},
	{"invalid qos", KindInvalidQOS},
	{"generic resource", KindInvalidGres},
	{"gres", KindInvalidGres},
	{"invalid node name", KindInvalidNode},
	{"node configuration is not available", KindUnsatisfiable},
	{"can not be satisfied", KindUnsatisfiable},
	{"cannot be satisfied", KindUnsatisfiable},
	{"node count specification invalid", KindUnsatisfiable},
	{"unrecognized option", KindInvalidOption},
	{"invalid option", KindInvalidOption},
	{"invalid argument", KindInvalidOption},
	{"invalid value", KindInvalidOption},
}

var (
	failedPrefix   = regexp.MustCompile(`(?i)batch job submission failed:\s*(.*)$`)
	partitionNamed = regexp.MustCompile(`(?i)invalid partition specified:\s*(\S+)`)
	limitToken     = regexp.MustCompile(`^[A-Za-z]+Limit$`)
	limitTokenCI   = regexp.MustCompile(`(?i)^[a-z]+limit$`)
)

// ClassifySubmitError turns the stderr of an sbatch that exited with
// status code into an error: a *SubmitError for a permanent rejection
// (BC-04), or an error wrapping ErrTransient for a failure worth retrying
// ("Socket timed out", "Unable to contact slurm controller"). Matching is
// case-insensitive.
func ClassifySubmitError(stderr []byte, code int) error {
	all := lines(stderr)
	if isTransientText(string(stderr)) {
		return &transientError{
			msg:  "slurm: sbatch: " + strings.Join(stripAll(all), "; "),
			kind: ErrTransient,
			err:  fmt.Errorf("sbatch exit status %d", code),
		}
	}

	e := &SubmitError{ExitCode: code}
	for _, l := range all {
		msg := stripPrefix(l)
		switch {
		case failedPrefix.MatchString(l):
			e.Message = msg
			if e.Reason == "" {
				e.Reason = failedPrefix.FindStringSubmatch(l)[1]
			}
		case partitionNamed.MatchString(l):
			e.Partition = partitionNamed.FindStringSubmatch(l)[1]
		case limitToken.MatchString(msg) || limitTokenCI.MatchString(msg):
			e.Reason = msg
		case msg != "":
			e.SiteMessages = append(e.SiteMessages, msg)
		}
	}
	if e.Message == "" && len(e.SiteMessages) > 0 {
		e.Message = e.SiteMessages[0]
		e.SiteMessages = e.SiteMessages[1:]
	}
	if len(e.SiteMessages) == 0 {
		e.SiteMessages = nil
	}
	e.Kind = classifyKind(e)
	return e
}

func classifyKind(e *SubmitError) SubmitErrorKind {
	if limitTokenCI.MatchString(e.Reason) {
		return KindQOSLimit
	}
	texts := append([]string{e.Message}, e.SiteMessages...)
	for _, t := range texts {
		low := strings.ToLower(t)
		for _, r := range submitRules {
			if strings.Contains(low, r.text) {
				return r.kind
			}
		}
	}
	if e.Partition != "" {
		return KindInvalidPartition
	}
	return KindRejected
}

func stripAll(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = stripPrefix(l)
	}
	return out
}
