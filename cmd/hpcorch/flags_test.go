package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want invocation
	}{
		{
			name: "status",
			argv: []string{"--status"},
			want: invocation{action: "status"},
		},
		{
			name: "recipe with config",
			argv: []string{"--config", "c.yaml", "--recipe", "recipes/services/x.yaml"},
			want: invocation{action: "recipe", args: []string{"recipes/services/x.yaml"},
				config: "c.yaml", configSet: true},
		},
		{
			name: "recipe dry run, inline value",
			argv: []string{"--recipe=redis", "--dry-run"},
			want: invocation{action: "recipe", args: []string{"redis"}, dryRun: true},
		},
		{
			name: "recipe wait with timeout",
			argv: []string{"--recipe", "r.yaml", "--wait", "--timeout", "90s"},
			want: invocation{action: "recipe", args: []string{"r.yaml"}, wait: true,
				timeout: 90 * time.Second},
		},
		{
			name: "create tunnel with defaults",
			argv: []string{"--create-tunnel", "prometheus_6355d49f"},
			want: invocation{action: "create-tunnel", args: []string{"prometheus_6355d49f"}},
		},
		{
			name: "create tunnel with both ports, as in the reference",
			argv: []string{"--create-tunnel", "prometheus_6355d49f", "8080", "9090"},
			want: invocation{action: "create-tunnel",
				args: []string{"prometheus_6355d49f", "8080", "9090"}},
		},
		{
			name: "create tunnel, local port only, then a flag",
			argv: []string{"--create-tunnel", "p_1", "9091", "--config", "c.yaml"},
			want: invocation{action: "create-tunnel", args: []string{"p_1", "9091"},
				config: "c.yaml", configSet: true},
		},
		{
			name: "query with a PromQL that has quotes and braces",
			argv: []string{"--query-metrics", "prometheus_1",
				`container_cpu_usage_seconds_total{name=~".*apptainer.*"}`},
			want: invocation{action: "query-metrics", args: []string{"prometheus_1",
				`container_cpu_usage_seconds_total{name=~".*apptainer.*"}`}},
		},
		{
			name: "query that starts with a dash is a value",
			argv: []string{"--query-metrics", "p", "-up", "--json"},
			want: invocation{action: "query-metrics", args: []string{"p", "-up"}, json: true},
		},
		{
			name: "flags before the action",
			argv: []string{"--json", "--config=x.yaml", "--list-available-metrics", "p"},
			want: invocation{action: "list-available-metrics", args: []string{"p"},
				json: true, config: "x.yaml", configSet: true},
		},
		{
			name: "collect metrics",
			argv: []string{"--collect-metrics", "p", "up", "out.json"},
			want: invocation{action: "collect-metrics", args: []string{"p", "up", "out.json"}},
		},
		{
			name: "report",
			argv: []string{"--report", "p", "r.json"},
			want: invocation{action: "report", args: []string{"p", "r.json"}},
		},
		{
			name: "logs with lines",
			argv: []string{"--logs", "svc_1", "--lines", "20"},
			want: invocation{action: "logs", args: []string{"svc_1"}, lines: 20},
		},
		{
			name: "install cadvisor without a binary",
			argv: []string{"--install-cadvisor"},
			want: invocation{action: "install-cadvisor"},
		},
		{
			name: "install cadvisor with a binary",
			argv: []string{"--install-cadvisor", "/opt/cadvisor"},
			want: invocation{action: "install-cadvisor", args: []string{"/opt/cadvisor"}},
		},
		{
			name: "stop all",
			argv: []string{"--stop-all-services"},
			want: invocation{action: "stop-all-services"},
		},
		{
			name: "stop one by job id",
			argv: []string{"--stop-service", "3653331"},
			want: invocation{action: "stop-service", args: []string{"3653331"}},
		},
		{
			name: "service endpoint",
			argv: []string{"--service-endpoint", "p"},
			want: invocation{action: "service-endpoint", args: []string{"p"}},
		},
		{
			name: "list recipes",
			argv: []string{"--list-recipes"},
			want: invocation{action: "list-recipes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.argv)
			require.NoError(t, err)

			want := tt.want
			if want.config == "" {
				want.config = DefaultConfigFile
			}
			if want.timeout == 0 {
				want.timeout = defaultTimeout
			}
			if want.lines == 0 {
				want.lines = defaultLines
			}
			require.Equal(t, want, *got)
		})
	}
}

func TestSuggestOnlyNearMisses(t *testing.T) {
	require.Equal(t, "", suggest("bogus"), "two edits from --logs is no near miss")
	require.Equal(t, " (did you mean --status?)", suggest("stauts"))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		msg  string
	}{
		{"nothing", nil, "no action given"},
		{"only a modifier", []string{"--json"}, "no action given"},
		{"two actions", []string{"--status", "--list-recipes"},
			"--status and --list-recipes cannot be used together"},
		{"unknown flag with suggestion", []string{"--stauts"},
			"unknown flag --stauts (did you mean --status?)"},
		{"unknown flag far from any", []string{"--frobnicate"}, "unknown flag --frobnicate"},
		{"short unknown flag, no guess", []string{"--bogus"}, "unknown flag --bogus"},
		{"underscores for dashes", []string{"--stop_service", "x"},
			"unknown flag --stop_service (did you mean --stop-service?)"},
		{"stray word", []string{"--status", "extra"}, `unexpected argument "extra"`},
		{"single dash", []string{"-status"}, `unexpected argument "-status"`},
		{"missing recipe", []string{"--recipe"}, "--recipe needs FILE"},
		{"recipe value is a flag", []string{"--recipe", "--json"}, "--recipe needs FILE"},
		{"query needs two", []string{"--query-metrics", "p"}, "--query-metrics needs ID PROMQL"},
		{"query cut by a flag", []string{"--query-metrics", "p", "--json"},
			"--query-metrics needs ID PROMQL"},
		{"collect needs three", []string{"--collect-metrics", "p", "up"},
			"--collect-metrics needs ID PROMQL FILE"},
		{"report needs a file", []string{"--report", "p"}, "--report needs ID FILE"},
		{"tunnel needs an id", []string{"--create-tunnel"},
			"--create-tunnel needs ID [LOCAL [REMOTE]]"},
		{"tunnel local port not a number", []string{"--create-tunnel", "p", "abc"},
			`--create-tunnel: LOCAL port "abc" is not a port number`},
		{"tunnel remote port out of range", []string{"--create-tunnel", "p", "1", "70000"},
			`--create-tunnel: REMOTE port "70000" is not a port number`},
		{"tunnel remote port zero", []string{"--create-tunnel", "p", "1", "0"},
			`--create-tunnel: REMOTE port "0" is not a port number`},
		{"tunnel too many words", []string{"--create-tunnel", "p", "1", "2", "3"},
			`unexpected argument "3"`},
		{"twice", []string{"--status", "--json", "--json"}, "--json given twice"},
		{"dry run without recipe", []string{"--status", "--dry-run"},
			"--dry-run goes with --recipe"},
		{"wait without recipe", []string{"--status", "--wait"}, "--wait goes with --recipe"},
		{"lines without logs", []string{"--status", "--lines", "3"}, "--lines goes with --logs"},
		{"timeout without wait", []string{"--recipe", "r", "--timeout", "1m"},
			"--timeout goes with --wait"},
		{"dry run and wait", []string{"--recipe", "r", "--dry-run", "--wait"},
			"nothing to --wait for"},
		{"bad timeout", []string{"--recipe", "r", "--wait", "--timeout", "soon"},
			`--timeout "soon" is not a positive duration`},
		{"bad lines", []string{"--logs", "s", "--lines", "-1"}, `--lines "-1" is not a positive`},
		{"value on a switch", []string{"--status=yes"}, "--status takes no value"},
		{"empty value", []string{"--stop-service="}, "--stop-service: empty value"},
		{"empty config", []string{"--status", "--config="}, "--config needs a FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.argv)
			var ue *usageError
			require.True(t, errors.As(err, &ue), "want a usage error, got %v", err)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParseHelp(t *testing.T) {
	for _, argv := range [][]string{{"-h"}, {"--help"}, {"--status", "--help"}} {
		_, err := parse(argv)
		require.ErrorIs(t, err, errHelp, "%q", argv)
	}
}

func TestTunnelPorts(t *testing.T) {
	inv, err := parse([]string{"--create-tunnel", "p"})
	require.NoError(t, err)
	l, r := inv.tunnelPorts()
	require.Equal(t, []int{-1, -1}, []int{l, r})

	inv, err = parse([]string{"--create-tunnel", "p", "8080", "9090"})
	require.NoError(t, err)
	l, r = inv.tunnelPorts()
	require.Equal(t, []int{8080, 9090}, []int{l, r})
}
