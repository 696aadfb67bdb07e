package monitors

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Sentinel errors to branch on with errors.Is. The typed errors below match
// them too.
var (
	// ErrMonitorNotFound reports an ID that names no monitor: no such job,
	// or a job that is a service rather than a monitor.
	ErrMonitorNotFound = errors.New("monitors: monitor not found")

	// ErrNotRunning reports a monitor whose job is not running (pending,
	// or finished), so its Prometheus cannot be asked anything.
	ErrNotRunning = errors.New("monitors: monitor not running")

	// ErrBadQuery reports a query Prometheus rejected as malformed
	// (errorType bad_data). It is not worth retrying. See *QueryError for
	// the position of the fault.
	ErrBadQuery = errors.New("monitors: bad query")

	// ErrQueryTimeout reports a query that ran out of time in Prometheus
	// (errorType timeout). A shorter range may succeed.
	ErrQueryTimeout = errors.New("monitors: query timed out")

	// ErrQueryTooLarge reports a query that would load too many samples
	// or return too many points (errorType execution, or the 11,000
	// points per series limit). A shorter range or a larger step may
	// succeed.
	ErrQueryTooLarge = errors.New("monitors: query too large")

	// ErrUnauthorized reports that Prometheus refused the request's
	// credentials (HTTP 401): the password file and the web config of the
	// monitor disagree, or the request carried none.
	ErrUnauthorized = errors.New("monitors: prometheus refused the credentials")

	// ErrTargetsDown reports that some scrape targets were not scraped
	// successfully. See *TargetsDownError for which and why.
	ErrTargetsDown = errors.New("monitors: scrape targets down")

	// ErrTargetNotFound reports that RemoveTarget matched no target.
	ErrTargetNotFound = errors.New("monitors: no such target")

	// ErrNoCAdvisor reports a service_id target whose service has reported
	// no cAdvisor port: its recipe does not enable cAdvisor, cAdvisor did
	// not start, or the job has not started it yet.
	ErrNoCAdvisor = errors.New("monitors: target service runs no cAdvisor")

	// ErrTargetExists reports that AddTarget was given a target the
	// monitor already scrapes.
	ErrTargetExists = errors.New("monitors: target already scraped")
)

// QueryError is an error Prometheus returned for a query, with its
// errorType kept. errors.Is matches it against ErrBadQuery (bad_data),
// ErrQueryTimeout (timeout) and ErrQueryTooLarge (execution, or a range
// with too many points); errors.As reaches the *v1.Error of client_golang.
type QueryError struct {
	// Query is the PromQL that failed.
	Query string

	// Type is Prometheus' errorType, such as "bad_data".
	Type v1.ErrorType

	// Msg is Prometheus' error text.
	Msg string

	// Line and Column locate a parse error in Query, counting from 1.
	// Both are 0 when Prometheus gave no position.
	Line, Column int

	// Err is the error client_golang returned, a *v1.Error.
	Err error
}

// Error formats e as "monitors: query "...": bad_data: <message>".
func (e *QueryError) Error() string {
	return fmt.Sprintf("monitors: query %q: %s: %s", e.Query, e.Type, e.Msg)
}

// Unwrap returns the client_golang error.
func (e *QueryError) Unwrap() error { return e.Err }

// Is reports whether e is of the kind target names.
func (e *QueryError) Is(target error) bool {
	switch target {
	case ErrBadQuery:
		return e.Type == v1.ErrBadData
	case ErrQueryTimeout:
		return e.Type == v1.ErrTimeout
	case ErrQueryTooLarge:
		return e.Type == v1.ErrExec || tooManyPoints(e.Msg)
	}
	return false
}

// tooManyPoints reports whether msg is Prometheus' refusal of a range query
// with more than 11,000 points per series. It is a bad_data error, but
// what it needs is a larger step.
func tooManyPoints(msg string) bool {
	return strings.Contains(msg, "maximum resolution of 11,000 points")
}

// positionRE finds a PromQL parse position: "1:14: parse error: ..." in
// Prometheus 2 and 3, "parse error at char 14: ..." in Prometheus 1.
var positionRE = regexp.MustCompile(`(?:^|\s|: )(\d+):(\d+): parse error|parse error at char (\d+)`)

// parsePosition returns the line and column of a parse error in msg, or
// zeros.
func parsePosition(msg string) (line, col int) {
	m := positionRE.FindStringSubmatch(msg)
	var err1, err2 error
	switch {
	case m == nil:
		return 0, 0
	case m[3] != "":
		line = 1
		col, err2 = strconv.Atoi(m[3])
	default:
		line, err1 = strconv.Atoi(m[1])
		col, err2 = strconv.Atoi(m[2])
	}
	if err1 != nil || err2 != nil || line <= 0 || col <= 0 {
		return 0, 0
	}
	return line, col
}

// queryError turns what client_golang returned for query into the
// package's errors: a *QueryError for Prometheus' own query errors,
// ErrUnauthorized for a 401, and err wrapped otherwise.
func queryError(query string, err error) error {
	var ae *v1.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("monitors: query %q: %w", query, err)
	}
	typ, msg := ae.Type, ae.Msg
	if t, m, ok := errorBody(ae.Detail); ok {
		typ, msg = t, m
	}

	switch typ {
	case v1.ErrBadData, v1.ErrTimeout, v1.ErrExec, v1.ErrCanceled:
		line, col := parsePosition(msg)
		return &QueryError{Query: query, Type: typ, Msg: msg, Line: line, Column: col, Err: err}
	}
	return apiError("query "+strconv.Quote(query), err)
}

// errorBody reads Prometheus' error envelope from the body client_golang
// keeps as Detail when the HTTP status is not one it decodes (a timeout
// comes as 503, which it reports as a bare server_error).
func errorBody(detail string) (v1.ErrorType, string, bool) {
	var env struct {
		Status    string       `json:"status"`
		ErrorType v1.ErrorType `json:"errorType"`
		Error     string       `json:"error"`
	}
	if detail == "" || json.Unmarshal([]byte(detail), &env) != nil {
		return "", "", false
	}
	if env.Status != "error" || env.ErrorType == "" {
		return "", "", false
	}
	return env.ErrorType, env.Error, true
}

// apiError wraps an error of a Prometheus API call other than a query,
// mapping a 401 to ErrUnauthorized.
func apiError(what string, err error) error {
	var ae *v1.Error
	if errors.As(err, &ae) && isUnauthorized(ae) {
		return fmt.Errorf("monitors: %s: %w (%w)", what, ErrUnauthorized, err)
	}
	return fmt.Errorf("monitors: %s: %w", what, err)
}

// isUnauthorized reports whether client_golang's error is an HTTP 401.
// client_golang formats it as "client error: 401" with type client_error.
func isUnauthorized(ae *v1.Error) bool {
	return ae.Type == v1.ErrClient && strings.Contains(ae.Msg, "401")
}

// TargetHealth is the state of one scrape target, as Prometheus'
// /api/v1/targets reports it.
type TargetHealth struct {
	// Job is the target's job label.
	Job string `json:"job"`

	// Instance is the target's instance label: the node's name for a
	// service's target, else host:port.
	Instance string `json:"instance"`
	// Address is the target's address label, host:port, or "".
	Address string `json:"address,omitempty"`

	// ScrapeURL is the URL Prometheus scrapes.
	ScrapeURL string `json:"scrape_url"`

	// Service is the hpcorch service the target belongs to, or "".
	Service string `json:"service,omitempty"`

	// Health is "up", "down" or "unknown" (not scraped yet).
	Health string `json:"health"`

	// LastError is the last scrape's error, or "".
	LastError string `json:"last_error,omitempty"`
}

// String formats t as "job url: health (last error)".
func (t TargetHealth) String() string {
	s := t.Job + " " + t.ScrapeURL + ": " + t.Health
	if t.LastError != "" {
		s += " (" + t.LastError + ")"
	}
	return s
}

// TargetsDownError lists the targets that were not up when a monitor was
// checked. errors.Is matches it against ErrTargetsDown.
type TargetsDownError struct {
	// Monitor is the monitor's ID.
	Monitor string
	// Down are the targets not up, each with its last error.
	Down []TargetHealth
}

// Error lists the targets that are down and why.
func (e *TargetsDownError) Error() string {
	parts := make([]string, len(e.Down))
	for i, t := range e.Down {
		parts[i] = t.String()
	}
	return fmt.Sprintf("monitors: %s: %d target(s) not up: %s",
		e.Monitor, len(e.Down), strings.Join(parts, "; "))
}

// Is reports whether target is ErrTargetsDown.
func (e *TargetsDownError) Is(target error) bool { return target == ErrTargetsDown }
