package slurm

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStateAllStates(t *testing.T) {
	// BC-12: every one of the 24 codes and long names maps to one state.
	codes := map[string]string{
		"BF": "BOOT_FAIL", "CA": "CANCELLED", "CD": "COMPLETED", "CF": "CONFIGURING",
		"CG": "COMPLETING", "DL": "DEADLINE", "F": "FAILED", "NF": "NODE_FAIL",
		"OOM": "OUT_OF_MEMORY", "PD": "PENDING", "PR": "PREEMPTED", "R": "RUNNING",
		"RD": "RESV_DEL_HOLD", "RF": "REQUEUE_FED", "RH": "REQUEUE_HOLD", "RQ": "REQUEUED",
		"RS": "RESIZING", "RV": "REVOKED", "SI": "SIGNALING", "SE": "SPECIAL_EXIT",
		"SO": "STAGE_OUT", "ST": "STOPPED", "S": "SUSPENDED", "TO": "TIMEOUT",
	}
	require.Len(t, codes, 24)
	require.Len(t, States(), 24)

	seen := map[State]bool{}
	for code, name := range codes {
		t.Run(name, func(t *testing.T) {
			byCode, by, err := ParseState(code)
			require.NoError(t, err)
			require.Equal(t, -1, by)
			byName, _, err := ParseState(name)
			require.NoError(t, err)
			require.Equal(t, byCode, byName)
			require.NotEqual(t, StateUnknown, byName)
			require.Equal(t, name, byName.String())
			require.Equal(t, code, byName.Code())

			lower, _, err := ParseState(" " + toLower(name) + " ")
			require.NoError(t, err)
			require.Equal(t, byName, lower)
		})
		st, _, _ := ParseState(code)
		seen[st] = true
	}
	require.Len(t, seen, 24)
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func TestParseStateCases(t *testing.T) {
	// BC-12 raw inputs.
	tests := []struct {
		in   string
		want State
		by   int
		err  error
	}{
		{"CANCELLED by 54321", StateCancelled, 54321, nil},
		{"CANCELLED by 0", StateCancelled, 0, nil},
		{"OUT_OF_MEMORY", StateOutOfMemory, -1, nil},
		{"OUT_OF_ME+", StateUnknown, -1, ErrTruncatedField},
		{"CANCELLED+", StateUnknown, -1, ErrTruncatedField},
		{"EXPLODED", StateUnknown, -1, ErrUnknownState},
		{"", StateUnknown, -1, ErrUnknownState},
		{"CANCELLED by", StateUnknown, -1, ErrUnknownState},
		{"CANCELLED by x", StateUnknown, -1, ErrUnknownState},
		{"RUNNING now", StateUnknown, -1, ErrUnknownState},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			st, by, err := ParseState(tt.in)
			require.Equal(t, tt.want, st)
			require.Equal(t, tt.by, by)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestStateClasses(t *testing.T) {
	terminal := map[State]bool{
		StateBootFail: true, StateCancelled: true, StateCompleted: true, StateDeadline: true,
		StateFailed: true, StateNodeFail: true, StateOutOfMemory: true, StatePreempted: true,
		StateRevoked: true, StateTimeout: true,
	}
	failed := map[State]bool{
		StateBootFail: true, StateDeadline: true, StateFailed: true, StateNodeFail: true,
		StateOutOfMemory: true, StatePreempted: true, StateTimeout: true,
	}
	for _, s := range States() {
		require.Equal(t, terminal[s], s.Terminal(), s.String())
		require.Equal(t, failed[s], s.Failed(), s.String())
		require.Equal(t, !terminal[s], s.Active(), s.String())
	}
	require.False(t, StateUnknown.Terminal())
	require.False(t, StateCompleting.Terminal(), "CG is stopping, not done (BC-16)")
	require.Equal(t, "UNKNOWN", State(99).String())
	require.False(t, State(-3).Terminal())
}

func TestStateText(t *testing.T) {
	b, err := StateOutOfMemory.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "OUT_OF_MEMORY", string(b))
	var s State
	require.NoError(t, s.UnmarshalText([]byte("TO")))
	require.Equal(t, StateTimeout, s)
	require.ErrorIs(t, s.UnmarshalText([]byte("nope")), ErrUnknownState)
}

func TestParseWalltime(t *testing.T) {
	// BC-06 parsing table.
	tests := []struct {
		in   string
		want Walltime
	}{
		{"10", Limit(10 * time.Minute)},
		{"4:00", Limit(4 * time.Minute)},
		{"53:20", Limit(53*time.Minute + 20*time.Second)},
		{"0:04", Limit(4 * time.Second)},
		{"1:00:00", Limit(time.Hour)},
		{"2-12", Limit(60 * time.Hour)},
		{"2-12:30", Limit(60*time.Hour + 30*time.Minute)},
		{"1-02:03:04", Limit(26*time.Hour + 3*time.Minute + 4*time.Second)},
		{"365-00:00:00", Limit(8760 * time.Hour)},
		{"00:00:01.500", Limit(1500 * time.Millisecond)},
		{"UNLIMITED", Walltime{Set: true, Unlimited: true}},
		{"INFINITE", Walltime{Set: true, Unlimited: true}},
		{"Partition_Limit", Walltime{}},
		{"NOT_SET", Walltime{}},
		{"", Walltime{}},
		{"INVALID", Walltime{Unknown: true}},
		{"N/A", Walltime{Unknown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWalltime(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	for _, bad := range []string{"3600.0", "1h", "-5", "1-", "1:2:3:4", "a:b", "1--2", ":", "1:"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ParseWalltime(bad)
			require.ErrorIs(t, err, ErrBadWalltime)
		})
	}
}

func TestFormatDuration(t *testing.T) {
	// BC-06 emitting: always integer D-HH:MM:SS.
	tests := []struct {
		in   time.Duration
		want string
	}{
		{150 * time.Minute, "0-02:30:00"},
		{time.Hour, "0-01:00:00"},
		{26*time.Hour + 3*time.Minute + 4*time.Second, "1-02:03:04"},
		{8760 * time.Hour, "365-00:00:00"},
		{1500 * time.Millisecond, "0-00:00:02"},
		{0, "0-00:00:00"},
		{-time.Hour, "0-00:00:00"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FormatDuration(tt.in), tt.in.String())
		if tt.in > 0 && tt.in%time.Second == 0 {
			w, err := ParseWalltime(tt.want)
			require.NoError(t, err)
			require.Equal(t, tt.in, w.Duration, "round trip")
		}
	}
	require.Equal(t, "UNLIMITED", Walltime{Set: true, Unlimited: true}.String())
	require.Equal(t, "", Walltime{}.String())
	require.Equal(t, "N/A", Walltime{Unknown: true}.String())
}

func TestParseExitCode(t *testing.T) {
	// BC-14.
	tests := []struct {
		in     string
		want   ExitCode
		state  State
		failed bool
		shell  int
	}{
		{"0:0", ExitCode{0, 0}, StateCompleted, false, 0},
		{"1:0", ExitCode{1, 0}, StateFailed, true, 1},
		{"0:15", ExitCode{0, 15}, StateCancelled, true, 143},
		{"0:0", ExitCode{0, 0}, StateTimeout, true, 0},
		{"0:125", ExitCode{0, 125}, StateOutOfMemory, true, 253},
		{"0:9", ExitCode{0, 9}, StateFailed, true, 137},
		{"0:0", ExitCode{0, 0}, StateOutOfMemory, true, 0}, // OOM with exit 0 is a failure
		{"0:0", ExitCode{0, 0}, StateNodeFail, true, 0},
		{"3", ExitCode{3, 0}, StateFailed, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.in+" "+tt.state.String(), func(t *testing.T) {
			got, err := ParseExitCode(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.failed, got.Failed(tt.state))
			require.Equal(t, tt.shell, got.Shell())
		})
	}
	for _, bad := range []string{"", "x:0", "0:x", "-1:0", "0:-2", "1:2:3"} {
		_, err := ParseExitCode(bad)
		require.ErrorIs(t, err, ErrBadExitCode, bad)
	}
	require.Equal(t, "0:15", ExitCode{0, 15}.String())
}

func TestParseJobID(t *testing.T) {
	// BC-09: ids parsed by structure.
	tests := []struct {
		in   string
		want JobRef
	}{
		{"7787233", JobRef{JobID: 7787233, TaskID: -1, HetOffset: -1}},
		{"57829110_[5-100]", JobRef{JobID: 57829110, Array: true, TaskID: -1,
			TaskSpec: "5-100", HetOffset: -1}},
		{"2653343_[3-4%2]", JobRef{JobID: 2653343, Array: true, TaskID: -1,
			TaskSpec: "3-4", MaxRunning: 2, HetOffset: -1}},
		{"123456_[9201-10000%500]", JobRef{JobID: 123456, Array: true, TaskID: -1,
			TaskSpec: "9201-10000", MaxRunning: 500, HetOffset: -1}},
		{"715219_23", JobRef{JobID: 715219, Array: true, TaskID: 23, HetOffset: -1}},
		{"715219_23.batch", JobRef{JobID: 715219, Array: true, TaskID: 23, HetOffset: -1,
			Step: "batch"}},
		{"715219.0", JobRef{JobID: 715219, TaskID: -1, HetOffset: -1, Step: "0"}},
		{"1234+1", JobRef{JobID: 1234, TaskID: -1, HetOffset: 1}},
		{"715219_0", JobRef{JobID: 715219, Array: true, TaskID: 0, HetOffset: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseJobID(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.in, got.String())
		})
	}
	for _, bad := range []string{"", "clusterA", "0", "12a", "_5", "12_", "12_[", "12_[]",
		"12_[1-2%0]", "12_[1-2%2%3]", "12.", "12_x", "12+", "12+-1", "12_05", "-1",
		"75168975;clusterA"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ParseJobID(bad)
			require.ErrorIs(t, err, ErrBadJobID)
		})
	}
}

func TestExpandHostlist(t *testing.T) {
	// BC-17: the table, matching `scontrol show hostnames`.
	tests := []struct {
		in   string
		want []string
	}{
		{"b04-[09-10]", []string{"b04-09", "b04-10"}},
		{"node[001-002,004]", []string{"node001", "node002", "node004"}},
		{"node[01-03,7]", []string{"node01", "node02", "node03", "node7"}},
		{"node[1-3,7]", []string{"node1", "node2", "node3", "node7"}},
		{"c438-[062,104]", []string{"c438-062", "c438-104"}},
		{"c427-032,c429-002", []string{"c427-032", "c429-002"}},
		{"nodeA,nodeB[001,003],nodeC", []string{"nodeA", "nodeB001", "nodeB003", "nodeC"}},
		{"rack[0-1]_blade[0-1]", []string{"rack0_blade0", "rack0_blade1", "rack1_blade0",
			"rack1_blade1"}},
		{"compute+b24_[1-2]", []string{"compute+b24_1", "compute+b24_2"}},
		{"overlapping-hosts_[1-3,2-4]", []string{"overlapping-hosts_1", "overlapping-hosts_2",
			"overlapping-hosts_3", "overlapping-hosts_2", "overlapping-hosts_3",
			"overlapping-hosts_4"}},
		{"node[1-10]", []string{"node1", "node2", "node3", "node4", "node5", "node6",
			"node7", "node8", "node9", "node10"}},
		{"node[8-10]", []string{"node8", "node9", "node10"}},
		{"vm", []string{"vm"}},
		{"", nil},
		{"(null)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ExpandHostlist(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	gpu, err := ExpandHostlist("gpu[001-004],cpu[001-002]")
	require.NoError(t, err)
	require.Len(t, gpu, 6)
	require.Equal(t, "gpu001", gpu[0])

	for _, bad := range []string{"node[01,]", "node[,01]", "node[01,foo]", "[]", "node[3-1]",
		"node[1-2", "node1-2]", "a,,b", "node[[1]]", "node[1-]", "node[-1]",
		"node[1-99999999]"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ExpandHostlist(bad)
			require.ErrorIs(t, err, ErrBadHostlist)
		})
	}
}

func TestExpandOutput(t *testing.T) {
	v := OutputVars{JobID: "42", Name: "web", User: "hpcuser", Node: "node1"}
	tests := map[string]string{
		"%x-%j.out":        "web-42.out",
		"/logs/%u/%N.%J":   "/logs/hpcuser/node1.42",
		"slurm-%5j.out":    "slurm-00042.out",
		"100%%-%A_%a":      "100%-42_4294967294",
		"keep%q%":          "keep%q%",
		"%s.%n.%t":         "batch.0.0",
		"no-patterns.txt":  "no-patterns.txt",
		"trailing-width%3": "trailing-width%3",
	}
	for in, want := range tests {
		require.Equal(t, want, ExpandOutput(in, v), in)
	}
}

func TestSubmitErrorHelpers(t *testing.T) {
	e := &SubmitError{Kind: KindQOSLimit, Reason: "QOSMaxSubmitJobPerUserLimit",
		Message: "Batch job submission failed: Job violates accounting/QOS policy"}
	require.True(t, e.RetryLater())
	require.Contains(t, e.Error(), "QOSLimit")
	require.Contains(t, e.Error(), "QOSMaxSubmitJobPerUserLimit")
	require.False(t, (&SubmitError{Reason: "QOSMaxWallDurationPerJobLimit"}).RetryLater())
	require.Equal(t, "Rejected", SubmitErrorKind(77).String())

	var target *SubmitError
	require.True(t, errors.As(error(e), &target))
}
