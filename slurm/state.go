package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// State is the state of a job as SLURM reports it. The zero value is
// StateUnknown. Every one of SLURM's 24 job states has a constant.
type State int

// The job states of SLURM, in the order of the squeue man page, after
// StateUnknown for text that names no known state.
const (
	StateUnknown     State = iota // not a SLURM state, or not known yet
	StateBootFail                 // BF: terminated by a node boot failure
	StateCancelled                // CA: cancelled by the user or an administrator
	StateCompleted                // CD: all processes ended with exit code zero
	StateConfiguring              // CF: allocated, waiting for nodes to boot
	StateCompleting               // CG: ending; some processes may still run
	StateDeadline                 // DL: terminated on its deadline
	StateFailed                   // F: ended with a non-zero exit code or failure
	StateNodeFail                 // NF: terminated by a node failure
	StateOutOfMemory              // OOM: killed for exceeding its memory
	StatePending                  // PD: waiting for resources
	StatePreempted                // PR: terminated by preemption
	StateRunning                  // R: running
	StateResvDelHold              // RD: held because its reservation was deleted
	StateRequeueFed               // RF: requeued by a federation
	StateRequeueHold              // RH: requeued and held
	StateRequeued                 // RQ: requeued
	StateResizing                 // RS: changing size
	StateRevoked                  // RV: removed because a sibling started
	StateSignaling                // SI: being signalled
	StateSpecialExit              // SE: requeued in a special state
	StateStageOut                 // SO: staging out data
	StateStopped                  // ST: stopped by SIGSTOP, resources kept
	StateSuspended                // S: suspended, resources released
	StateTimeout                  // TO: terminated on reaching its time limit
)

// stateInfo is the one table from which every State conversion is made.
var stateInfo = [...]struct {
	name     string
	code     string
	terminal bool
	failed   bool
}{
	StateUnknown:     {"UNKNOWN", "", false, false},
	StateBootFail:    {"BOOT_FAIL", "BF", true, true},
	StateCancelled:   {"CANCELLED", "CA", true, false},
	StateCompleted:   {"COMPLETED", "CD", true, false},
	StateConfiguring: {"CONFIGURING", "CF", false, false},
	StateCompleting:  {"COMPLETING", "CG", false, false},
	StateDeadline:    {"DEADLINE", "DL", true, true},
	StateFailed:      {"FAILED", "F", true, true},
	StateNodeFail:    {"NODE_FAIL", "NF", true, true},
	StateOutOfMemory: {"OUT_OF_MEMORY", "OOM", true, true},
	StatePending:     {"PENDING", "PD", false, false},
	StatePreempted:   {"PREEMPTED", "PR", true, true},
	StateRunning:     {"RUNNING", "R", false, false},
	StateResvDelHold: {"RESV_DEL_HOLD", "RD", false, false},
	StateRequeueFed:  {"REQUEUE_FED", "RF", false, false},
	StateRequeueHold: {"REQUEUE_HOLD", "RH", false, false},
	StateRequeued:    {"REQUEUED", "RQ", false, false},
	StateResizing:    {"RESIZING", "RS", false, false},
	StateRevoked:     {"REVOKED", "RV", true, false},
	StateSignaling:   {"SIGNALING", "SI", false, false},
	StateSpecialExit: {"SPECIAL_EXIT", "SE", false, false},
	StateStageOut:    {"STAGE_OUT", "SO", false, false},
	StateStopped:     {"STOPPED", "ST", false, false},
	StateSuspended:   {"SUSPENDED", "S", false, false},
	StateTimeout:     {"TIMEOUT", "TO", true, true},
}

// States returns every SLURM state, without StateUnknown.
func States() []State {
	s := make([]State, 0, len(stateInfo)-1)
	for i := 1; i < len(stateInfo); i++ {
		s = append(s, State(i))
	}
	return s
}

func (s State) valid() bool { return s > StateUnknown && int(s) < len(stateInfo) }

// String returns the long name SLURM prints for s, such as "RUNNING", or
// "UNKNOWN".
func (s State) String() string {
	if !s.valid() {
		return "UNKNOWN"
	}
	return stateInfo[s].name
}

// Code returns the short code squeue's %t prints for s, such as "R", or ""
// for StateUnknown.
func (s State) Code() string {
	if !s.valid() {
		return ""
	}
	return stateInfo[s].code
}

// Terminal reports whether a job in state s has ended for good and holds
// no resources any more. COMPLETING is not terminal: the job is stopping.
// The requeue and hold states are not terminal either: the job may run
// again.
func (s State) Terminal() bool { return s.valid() && stateInfo[s].terminal }

// Failed reports whether s is a terminal state that means the job did not
// end well: BOOT_FAIL, DEADLINE, FAILED, NODE_FAIL, OUT_OF_MEMORY,
// PREEMPTED or TIMEOUT. CANCELLED is not a failure: someone chose it.
func (s State) Failed() bool { return s.valid() && stateInfo[s].failed }

// Active reports whether s is PENDING or a state in which the job holds
// or is about to hold resources (RUNNING, CONFIGURING, COMPLETING, ...):
// any known state that is not terminal.
func (s State) Active() bool { return s.valid() && !stateInfo[s].terminal }

// MarshalText implements encoding.TextMarshaler with the long name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// ParseState accepts.
func (s *State) UnmarshalText(b []byte) error {
	st, _, err := ParseState(string(b))
	*s = st
	return err
}

var stateByText = func() map[string]State {
	m := make(map[string]State, 2*len(stateInfo))
	for _, s := range States() {
		m[stateInfo[s].name] = s
		m[stateInfo[s].code] = s
	}
	// Older and alternative spellings seen in the field.
	m["CANCELED"] = StateCancelled
	m["NODE_FAILURE"] = StateNodeFail
	m["OOM_KILLED"] = StateOutOfMemory
	return m
}()

// ParseState parses a job state as squeue and sacct print it: a long name
// ("OUT_OF_MEMORY"), a short code ("OOM"), in any case, or sacct's
// "CANCELLED by 1001". by is the uid in a "by N" suffix (0 is root or an
// administrator), or -1.
//
// A token that ends in "+" was cut by a fixed column width; ParseState
// returns ErrTruncatedField for it. A token that names no state returns
// StateUnknown and an error wrapping ErrUnknownState. ParseState never
// panics.
func ParseState(text string) (st State, by int, err error) {
	by = -1
	t := strings.TrimSpace(text)
	if t == "" {
		return StateUnknown, by, fmt.Errorf("slurm: empty job state: %w", ErrUnknownState)
	}
	if strings.HasSuffix(t, "+") {
		return StateUnknown, by, fmt.Errorf("slurm: job state %q: %w", t, ErrTruncatedField)
	}

	word, rest, _ := strings.Cut(t, " ")
	rest = strings.TrimSpace(rest)
	if rest != "" {
		f := strings.Fields(rest)
		if len(f) != 2 || !strings.EqualFold(f[0], "by") {
			return StateUnknown, by, fmt.Errorf("slurm: job state %q: %w", t, ErrUnknownState)
		}
		n, perr := strconv.Atoi(f[1])
		if perr != nil || n < 0 {
			return StateUnknown, by, fmt.Errorf("slurm: job state %q: %w", t, ErrUnknownState)
		}
		by = n
	}

	st, ok := stateByText[strings.ToUpper(word)]
	if !ok {
		return StateUnknown, -1, fmt.Errorf("slurm: job state %q: %w", t, ErrUnknownState)
	}
	return st, by, nil
}
