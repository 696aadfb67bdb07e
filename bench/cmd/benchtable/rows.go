package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Row is one line of the table, as printed and as written to JSON.
type Row struct {
	Metric  string `json:"metric"`
	HPCorch string `json:"hpcorch"`
	Peer    string `json:"peer"`
	Ratio   string `json:"ratio"`
	Target  string `json:"target"`
	// Met is "yes", "no", "-" (no target) or "not run".
	Met string `json:"met"`
	// Missed says by how much a target was missed, when it was.
	Missed string `json:"missed,omitempty"`
}

// goal is a target on one number: Op is ">=", "<=", "<" or "==".
type goal struct {
	op   string
	want float64
}

// check reports whether v meets g and, when it does not, by how much.
func (g goal) check(v float64) (bool, string) {
	var ok bool
	switch g.op {
	case ">=":
		ok = v >= g.want
	case "<=":
		ok = v <= g.want
	case "<":
		ok = v < g.want
	case "==":
		ok = v == g.want
	}
	if ok {
		return true, ""
	}
	sym := map[string]string{">=": "≥", "<=": "≤", "<": "<", "==": "="}[g.op]
	switch {
	case g.op == ">=":
		return false, fmt.Sprintf("%s against %s%g: %.0f%% short",
			num(v), sym, g.want, 100*(g.want-v)/g.want)
	case g.want == 0:
		return false, fmt.Sprintf("%s against %s0", num(v), sym)
	}
	return false, fmt.Sprintf("%s against %s%g: %.0f%% over",
		num(v), sym, g.want, 100*(v-g.want)/g.want)
}

// spec says how to build one Row from the results.
type spec struct {
	metric string
	bench  string
	// value, peer and ratio are metric units of bench; "" leaves the
	// column empty ("-").
	value, peer, ratio string
	unit               string // printed after value and peer
	ratioSuffix        string // printed after the ratio, such as "× faster"
	target             string
	// goals are checked on the named units of bench; all must hold.
	goals map[string]goal
	// note, when set, adds to the hpcorch column from other units.
	note func(r results) string
	// peerText replaces the peer column.
	peerText func(r results) string
}

// specs are the table's rows, in the order of the issue.
var specs = []spec{
	{metric: "command round trip (200 × true) vs new ssh per command", bench: "BenchmarkSSHXRun",
		value: "client-ms/cmd", peer: "ssh-ms/cmd", ratio: "vs-ssh", unit: " ms",
		ratioSuffix: "× faster", target: "≥10× faster", goals: map[string]goal{"vs-ssh": {">=", 10}}},
	{metric: "command round trip (200 × true) vs OpenSSH ControlMaster", bench: "BenchmarkSSHXRun",
		value: "client-ms/cmd", peer: "controlmaster-ms/cmd", ratio: "vs-controlmaster",
		unit: " ms", ratioSuffix: "×", target: "≤1.2×",
		goals: map[string]goal{"vs-controlmaster": {"<=", 1.2}}},
	{metric: "status of 200 jobs: poller round vs one raw squeue", bench: "BenchmarkSlurmPollerRound",
		value: "poll-ms/round", peer: "raw-ms/round", ratio: "poll/raw", unit: " ms",
		ratioSuffix: "×", target: "≤1.5×", goals: map[string]goal{"poll/raw": {"<=", 1.5}}},
	{metric: "status of 200 jobs: commands per poller round", bench: "BenchmarkSlurmPollerRound",
		target: "1 squeue (+≤1 sacct)",
		goals:  map[string]goal{"squeue/round": {"==", 1}, "sacct/round": {"<=", 1}},
		note: func(r results) string {
			sq, _ := r.get("BenchmarkSlurmPollerRound", "squeue/round")
			sa, _ := r.get("BenchmarkSlurmPollerRound", "sacct/round")
			return fmt.Sprintf("%s squeue + %s sacct", num(sq), num(sa))
		},
		peerText: func(results) string { return "1 squeue" }},
	submitSpec("Scheduler.Submit", "scheduler"),
	submitSpec("Servers.StartService", "servers"),
	tunnelSpec("tunnel throughput, 1 stream", "throughput-1-stream", "MiB/s", "≥0.9×", ">=", 0.9),
	tunnelSpec("tunnel throughput, 50 streams", "throughput-50-streams", "MiB/s", "≥0.9×",
		">=", 0.9),
	tunnelSpec("tunnel throughput, 1 stream, same cipher (aes128-gcm)",
		"throughput-1-stream-same-cipher", "MiB/s", "≥0.9×", ">=", 0.9),
	tunnelSpec("tunnel throughput, 50 streams, same cipher (aes128-gcm)",
		"throughput-50-streams-same-cipher", "MiB/s", "≥0.9×", ">=", 0.9),
	tunnelSpec("small HTTP latency, kept-alive conn, vs ssh -N -L", "http-latency-keepalive",
		"µs/req", "≤1.2×", "<=", 1.2),
	tunnelSpec("small HTTP latency, new conn each, vs ssh -N -L", "http-latency-new-conn",
		"µs/req", "≤1.2×", "<=", 1.2),
	tunnelSpec("small HTTP latency, kept-alive conn, vs ssh -L with a session",
		"http-latency-keepalive-session", "µs/req", "≤1.2×", "<=", 1.2),
	tunnelSpec("small HTTP latency, new conn each, vs ssh -L with a session",
		"http-latency-new-conn-session", "µs/req", "≤1.2×", "<=", 1.2),
	{metric: "start → ready overhead (WaitReady after the port opened), mean",
		bench: "BenchmarkStartReady", value: "overhead-ms", unit: " ms", target: "≤1 s",
		goals:    map[string]goal{"overhead-ms": {"<=", 1000}},
		peerText: func(results) string { return "port open (in the job)" }},
	{metric: "start → ready overhead, worst of the run", bench: "BenchmarkStartReady",
		value: "worst-overhead-ms", unit: " ms", target: "≤1 s",
		goals:    map[string]goal{"worst-overhead-ms": {"<=", 1000}},
		peerText: func(results) string { return "port open (in the job)" }},
	{metric: "SDK memory, 100 services + 10 tunnels (process RSS)", bench: "BenchmarkSDKMemory",
		value: "rss-MiB", unit: " MiB", target: "<30 MiB",
		goals: map[string]goal{"rss-MiB": {"<", 30}},
		note: func(r results) string {
			v, _ := r.get("BenchmarkSDKMemory", "anon-rss-MiB")
			return "anonymous " + num(v) + " MiB"
		},
		peerText: func(r results) string {
			v, ok := r.get("BenchmarkSDKMemory", "baseline-rss-MiB")
			if !ok {
				return "-"
			}
			return "idle binary " + num(v) + " MiB"
		}},
	{metric: "report over 1 h × 100 services, through SSH", bench: "BenchmarkReport",
		value: "ssh-s/report", unit: " s", target: "<1 s",
		goals: map[string]goal{"ssh-s/report": {"<", 1}}},
	{metric: "report over 1 h × 100 services, loopback (SDK only)", bench: "BenchmarkReport",
		value: "loopback-s/report", unit: " s", target: "<1 s",
		goals: map[string]goal{"loopback-s/report": {"<", 1}}},
	scalingRound(10), scalingRound(100), scalingRound(1000),
	scalingMemory(10), scalingMemory(100), scalingMemory(1000),
}

func submitSpec(how, arm string) spec {
	return spec{
		metric: "100 concurrent submits via " + how + " vs sequential ssh … sbatch",
		bench:  "BenchmarkSubmit", value: arm + "-s", peer: "seq-s", ratio: "seq/" + arm,
		unit: " s", ratioSuffix: "× faster", target: "≥5× faster, 0 failures",
		goals: map[string]goal{"seq/" + arm: {">=", 5}, arm + "-failures": {"==", 0}},
		note: func(r results) string {
			f, _ := r.get("BenchmarkSubmit", arm+"-failures")
			return num(f) + " failed"
		},
	}
}

func tunnelSpec(metric, sub, unit, target, op string, want float64) spec {
	return spec{
		metric: metric, bench: "BenchmarkTunnel/" + sub,
		value: "tunnel-" + unit, peer: "openssh-" + unit, ratio: "ratio",
		unit: " " + unit, ratioSuffix: "×", target: target,
		goals: map[string]goal{"ratio": {op, want}},
	}
}

func scalingRound(n int) spec {
	b := fmt.Sprintf("BenchmarkScaling/jobs-%d", n)
	return spec{
		metric: fmt.Sprintf("scaling: poller round, %d jobs (local scheduler)", n), bench: b,
		value: "poll-ms/round", peer: "status-ms/call", ratio: "poll/status", unit: " ms",
		ratioSuffix: "×", target: "-",
		peerText: func(r results) string {
			v, ok := r.get(b, "status-ms/call")
			if !ok {
				return "-"
			}
			return "Status alone " + num(v) + " ms"
		},
	}
}

func scalingMemory(n int) spec {
	b := fmt.Sprintf("BenchmarkScaling/jobs-%d", n)
	return spec{
		metric: fmt.Sprintf("scaling: heap for %d jobs, poller alone", n), bench: b,
		value: "poller-heap-KiB", unit: " KiB", target: "-",
		peerText: func(r results) string {
			v, ok := r.get(b, "heap-KiB")
			if !ok {
				return "-"
			}
			return "with Local " + num(v) + " KiB"
		},
	}
}

// build evaluates every spec against res.
func build(res results) []Row {
	rows := make([]Row, 0, len(specs))
	for _, s := range specs {
		rows = append(rows, s.row(res))
	}
	return rows
}

func (s spec) row(res results) Row {
	r := Row{Metric: s.metric, HPCorch: "-", Peer: "-", Ratio: "-", Target: s.target, Met: "-"}
	if _, ok := res[s.bench]; !ok {
		r.HPCorch, r.Met = "not run", "not run"
		return r
	}
	col := func(unit, suffix string) string {
		if unit == "" {
			return "-"
		}
		v, ok := res.get(s.bench, unit)
		if !ok {
			return "missing " + unit
		}
		return num(v) + suffix
	}
	r.HPCorch, r.Peer, r.Ratio = col(s.value, s.unit), col(s.peer, s.unit), col(s.ratio, s.ratioSuffix)
	if s.note != nil {
		if r.HPCorch == "-" {
			r.HPCorch = s.note(res)
		} else {
			r.HPCorch += " (" + s.note(res) + ")"
		}
	}
	if s.peerText != nil {
		r.Peer = s.peerText(res)
	}
	if len(s.goals) == 0 {
		return r
	}

	r.Met = "yes"
	var missed []string
	for _, unit := range sortedKeys(s.goals) {
		v, ok := res.get(s.bench, unit)
		if !ok {
			r.Met = "no"
			missed = append(missed, unit+" not reported")
			continue
		}
		if ok, why := s.goals[unit].check(v); !ok {
			r.Met = "no"
			missed = append(missed, unit+" "+why)
		}
	}
	r.Missed = strings.Join(missed, "; ")
	return r
}

// num formats v with three significant digits, without exponent for
// everyday magnitudes.
func num(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e6:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// sortedKeys returns m's keys in order, so that rows read the same in
// every run.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
