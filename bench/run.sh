#!/usr/bin/env bash
# Runs hpcorch's cluster benchmarks (package bench, build tag integration)
# against the running throwaway cluster, then prints one table of ratios
# (metric | hpcorch | peer | ratio | target | met?) and writes it to
# bench/results/latest.json (not committed) and bench/RESULTS.md (committed),
# with the date, the machine and the notes of bench/NOTES.md.
#
# `make bench` runs it after `make cluster-up`. The whole run takes about
# 3 minutes on a 2-core machine. Every benchmark runs one iteration
# (-benchtime 1x) that repeats its measurement internally (200 commands,
# 256 MiB, 200 requests, 100 submissions, ...), since most of them set up
# jobs on the cluster first; the poller round, which is one squeue, runs
# 50 iterations.
#
# Environment: BENCH (a -bench pattern, to run a subset), BENCH_OUT (the
# results folder, default bench/results).
#
#	bash bench/run.sh --table   # only redo the table from the last run's
#	                            # output (after editing bench/NOTES.md)
set -uo pipefail

cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench/results}
mkdir -p "$out"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOFLAGS=${GOFLAGS:--mod=readonly}

raw="$out/bench.out"
info="$out/run.env"

# table prints the table from $raw and writes the JSON and RESULTS.md.
table() {
	# shellcheck source=/dev/null
	source "$info"
	go run ./bench/cmd/benchtable \
		-json "$out/latest.json" \
		-md bench/RESULTS.md \
		-notes bench/NOTES.md \
		-uname "$run_uname" \
		-nproc "$run_nproc" \
		-go "$run_go" \
		-load "$run_load" \
		-date "$run_date" \
		"$raw"
}

if [[ "${1:-}" == "--table" ]]; then
	table
	exit
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(load)
run_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
: >"$raw"

# bench runs one `go test -bench` and appends its output to $raw.
bench() {
	local pattern=$1 benchtime=$2
	echo "== go test -bench '$pattern' -benchtime $benchtime" >&2
	go test -tags integration -run '^$' -bench "$pattern" -benchtime "$benchtime" \
		-timeout 20m ./bench/ 2>&1 | tee -a "$raw"
}

status=0
if [[ -n "${BENCH:-}" ]]; then
	bench "$BENCH" 1x || status=$?
else
	bench '^Benchmark(SSHXRun|Tunnel|Submit|StartReady|SDKMemory|Report|Scaling)$' 1x ||
		status=$?
	bench '^BenchmarkSlurmPollerRound$' 50x || status=$?
fi
load_after=$(load)
{
	printf 'run_date=%q\n' "$run_date"
	printf 'run_uname=%q\n' "$(uname -a)"
	printf 'run_nproc=%q\n' "$(nproc)"
	printf 'run_go=%q\n' "$(go version)"
	printf 'run_load=%q\n' "$load_before before, $load_after after (1, 5, 15 min)"
} >"$info"

echo
table || status=$?
echo
echo "wrote $out/latest.json and bench/RESULTS.md"
exit "$status"
