#!/usr/bin/env bash
# demo.sh: the reference's Quick Start (cAdvisor monitoring with an SSH
# tunnel), end to end, with the built bin/hpcorch on the throwaway cluster.
#
#   make demo            # brings the cluster up, builds bin/hpcorch, runs this
#
# It brings nothing up itself. It writes a config.yaml for the cluster into
# a fresh temporary folder and runs there, printing each command before
# running it:
#   two services with cAdvisor on two nodes (one in an Apptainer container,
#   one bare), --status, Prometheus on a third node monitoring both,
#   --create-tunnel and a request through it, the reference's PromQL
#   queries (answered for both services), --list-available-metrics,
#   a metrics file, a report, and stopping everything.
# Any failing step stops the demo with a non-zero exit, after stopping what
# it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HPCORCH=${HPCORCH:-$ROOT/bin/hpcorch}
ENV_FILE=${HPCORCH_CLUSTER_ENV:-/opt/hpcorch-cluster/cluster.env}
TUNNEL_PORT=${DEMO_TUNNEL_PORT:-19090}
QUERY_DEADLINE=${DEMO_QUERY_DEADLINE:-180} # seconds to wait for metrics

STEP="setting up"
die() {
	printf '\ndemo: FAILED at step "%s": %s\n' "$STEP" "$*" >&2
	exit 1
}
step() {
	STEP=$1
	printf '\n\033[1m==> %s\033[0m\n' "$1"
}
# show prints a command the way a user would type it.
show() {
	local out="\$" a
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
			out+=" $a"
		else
			out+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '%s\n' "$out"
}
# run prints a command, then runs it; its failure fails the demo.
run() {
	show "$@"
	"$@" || die "command failed (exit $?): $*"
}
# hpc runs bin/hpcorch with the demo's config, printing it as hpcorch.
hpc() {
	show hpcorch "$@"
	"$HPCORCH" --config "$WORK/config.yaml" "$@" || die "hpcorch $* failed (exit $?)"
}
# hpc_quiet runs bin/hpcorch without printing the command (for checks).
hpc_quiet() { "$HPCORCH" --config "$WORK/config.yaml" "$@"; }

# ------------------------------------------------------------------ setup

[ -x "$HPCORCH" ] || die "$HPCORCH not found: run make build (make demo does)"
[ -f "$ENV_FILE" ] || die "$ENV_FILE not found: run make cluster-up (make demo does)"
command -v python3 >/dev/null || die "python3 is needed to check JSON answers"
command -v curl >/dev/null || die "curl is needed for the request through the tunnel"

# The cluster's facts, read as data (never executed).
declare -A E
while IFS='=' read -r k v; do
	[[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] && E[$k]=$v
done <"$ENV_FILE"
for k in HPCORCH_SSH_HOST HPCORCH_SSH_PORT HPCORCH_SSH_USER HPCORCH_SSH_KEY \
	HPCORCH_KNOWN_HOSTS HPCORCH_SSH_CONFIG HPCORCH_CADVISOR_BIN HPCORCH_NODES; do
	[ -n "${E[$k]:-}" ] || die "$ENV_FILE has no $k"
done
IFS=, read -r NODE1 NODE2 NODE3 _ <<<"${E[HPCORCH_NODES]}"
[ -n "$NODE3" ] || die "the cluster needs three nodes, has ${E[HPCORCH_NODES]}"

WORK=$(mktemp -d /tmp/hpcorch-demo.XXXXXX)
# The demo's jobs carry a session of their own, so that --status and
# --stop-all-services see only them, never other jobs of the cluster user.
export HPCORCH_SESSION=${HPCORCH_SESSION:-demo-${WORK##*.}}
TUNNEL_PID=""
STARTED=0
cleanup() {
	local rc=$?
	if [ -n "$TUNNEL_PID" ]; then
		kill "$TUNNEL_PID" 2>/dev/null || true
		wait "$TUNNEL_PID" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ] && [ "$STARTED" = 1 ]; then
		echo "demo: stopping what the demo started" >&2
		hpc_quiet --stop-all-services >&2 || true
	fi
	[ "$rc" = 0 ] || echo "demo: its files are in $WORK" >&2
}
trap cleanup EXIT
cd "$WORK"

step "Configuration: config.yaml for the throwaway cluster, in $WORK"
echo "(HPCORCH_SESSION=$HPCORCH_SESSION: hpcorch sees only this demo's jobs)"
cat >config.yaml <<EOF
hpc:
  hostname: ${E[HPCORCH_SSH_HOST]}
  port: ${E[HPCORCH_SSH_PORT]}
  username: ${E[HPCORCH_SSH_USER]}
  key_filename: ${E[HPCORCH_SSH_KEY]}
  known_hosts: ${E[HPCORCH_KNOWN_HOSTS]}
cadvisor:
  local_path: ${E[HPCORCH_CADVISOR_BIN]}
metrics_dir: $WORK/metrics
EOF
run cat config.yaml
hpc --status

step "cAdvisor, once per cluster (the nodes cannot download it, so it is uploaded)"
echo "(cadvisor.local_path in config.yaml: the first recipe with cAdvisor uploads it;"
echo " --install-cadvisor does it now)"
hpc --install-cadvisor

# ------------------------------------------------------------------ services

# pin RECIPE NODE OUT: a copy of a catalog recipe with resources.nodelist.
pin() {
	sed "s/^  resources:\$/  resources:\n    nodelist: $2/" "$ROOT/recipes/services/$1" >"$3"
	grep -q "nodelist: $2" "$3" || die "could not pin $1 to $2"
}

# start RECIPE: hpcorch --recipe RECIPE --wait; prints the service ID.
start() {
	local out id
	show hpcorch --recipe "$1" --wait >&2
	"$HPCORCH" --config "$WORK/config.yaml" --recipe "$1" --wait | tee start.out >&2 ||
		die "hpcorch --recipe $1 failed"
	out=$(cat start.out)
	id=$(sed -n 's/^Service started: //p' <<<"$out")
	[ -n "$id" ] || die "no 'Service started:' line from hpcorch --recipe $1"
	grep -q "^Service ready: $id on " <<<"$out" || die "$id did not become ready"
	printf '%s\n' "$id"
}

step "Step 1: start two services with cAdvisor, on $NODE1 (Apptainer) and $NODE2 (bare)"
STARTED=1 # from here on, a failure stops everything again
pin mini_http_container.yaml "$NODE1" container_with_cadvisor.yaml
pin mini_http_bare.yaml "$NODE2" bare_with_cadvisor.yaml
run cat container_with_cadvisor.yaml
SVC1=$(start container_with_cadvisor.yaml)
SVC2=$(start bare_with_cadvisor.yaml)

step "Check the service IDs and nodes"
hpc --status | tee status.txt
running_on() { grep -Eq "\| $1 +\| +RUNNING \| .* \| $2\$" status.txt; }
running_on "$SVC1" "$NODE1" || die "$SVC1 is not RUNNING on $NODE1"
running_on "$SVC2" "$NODE2" || die "$SVC2 is not RUNNING on $NODE2"
hpc --service-endpoint "$SVC2"

# ------------------------------------------------------------------ Prometheus

step "Step 2: a Prometheus recipe monitoring both services through their cAdvisor"
sed "s/^  resources:\$/  resources:\n    nodelist: $NODE3/" \
	"$ROOT/recipes/services/mini_prometheus.yaml" |
	sed 's/^  monitoring_targets: \[\]$/  monitoring_targets:/' |
	sed "/^  monitoring_targets:\$/a\\
    - service_id: \"$SVC1\"\\
      job_name: \"container-cadvisor\"\\
      port: 8080\\
    - service_id: \"$SVC2\"\\
      job_name: \"bare-cadvisor\"\\
      port: 8080" >prometheus_with_cadvisor.yaml
grep -q "service_id: \"$SVC2\"" prometheus_with_cadvisor.yaml || die "could not write the recipe"
run cat prometheus_with_cadvisor.yaml

step "Step 3: start Prometheus on $NODE3"
PROM=$(start prometheus_with_cadvisor.yaml)
hpc --status | tee status.txt
running_on "$PROM" "$NODE3" || die "$PROM is not RUNNING on $NODE3"
hpc --service-endpoint "$PROM"

# ------------------------------------------------------------------ tunnel

step "Step 4: an SSH tunnel to Prometheus (hpcorch holds it open in the background)"
show hpcorch --create-tunnel "$PROM" "$TUNNEL_PORT" '&'
"$HPCORCH" --config "$WORK/config.yaml" --create-tunnel "$PROM" "$TUNNEL_PORT" \
	>tunnel.out 2>&1 &
TUNNEL_PID=$!
deadline=$((SECONDS + 60))
until grep -q "access the service at" tunnel.out; do
	kill -0 "$TUNNEL_PID" 2>/dev/null || { cat tunnel.out >&2; die "the tunnel command exited"; }
	[ "$SECONDS" -lt "$deadline" ] || die "the tunnel did not open within 60 s"
	sleep 0.2
done
cat tunnel.out

step "Step 5: a request through the tunnel (Prometheus asks for its generated password)"
printf '$ LOGIN=$(hpcorch --credentials %s)   # user:password, not shown\n' "$PROM"
LOGIN=$(hpc_quiet --credentials "$PROM") || die "hpcorch --credentials $PROM failed"
[[ $LOGIN == hpcorch:?* ]] || die "--credentials printed no hpcorch:PASSWORD line"
printf '$ curl -s -u "$LOGIN" %s\n' "http://localhost:$TUNNEL_PORT/-/ready"
answer=$(curl -sS --max-time 10 -u "$LOGIN" "http://localhost:$TUNNEL_PORT/-/ready") ||
	die "no answer through the tunnel"
printf '%s\n' "$answer"
grep -q "Ready" <<<"$answer" || die "Prometheus is not ready through the tunnel"
show curl -s -o /dev/null -w '%{http_code}' "http://localhost:$TUNNEL_PORT/-/ready"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://localhost:$TUNNEL_PORT/-/ready")
echo "$code (without the password)"
[ "$code" = 401 ] || die "Prometheus answered $code without a password, not 401"

# ------------------------------------------------------------------ queries

# covers FILE: the IDs of the services FILE's answer (hpcorch --json) has
# series for, with how many and one sample line each.
covers() {
	python3 - "$1" "$SVC1" "$SVC2" <<'EOF'
import json, sys
ans = json.load(open(sys.argv[1]))
series = ans["result"] if isinstance(ans["result"], list) else []
for svc in sys.argv[2:]:
    mine = [s for s in series if s["metric"].get("hpcorch_service") == svc]
    if not mine:
        print(f"   {svc}: no series yet")
        continue
    # Prefer the job's own cgroup, then the whole node ("/").
    own = [s for s in mine if s["metric"].get("id") == s["metric"].get("hpcorch_cgroup")]
    root = [s for s in mine if s["metric"].get("id") == "/"]
    s = (own or root or mine)[0]
    m = s["metric"]
    labels = ", ".join(f'{k}="{m[k]}"' for k in ("job", "id", "interface", "cpu") if k in m)
    print(f"   {svc}: {len(mine)} series, e.g. {m.get('__name__', '')}{{{labels}}} "
          f"= {s['value'][1]}")
sys.exit(0 if all(any(s["metric"].get("hpcorch_service") == svc for s in series)
                  for svc in sys.argv[2:]) else 3)
EOF
}

# query PROMQL: hpcorch --query-metrics, repeated until both services
# answer (cAdvisor samples every 10 s, so rates need two samples first).
query() {
	local deadline=$((SECONDS + QUERY_DEADLINE)) n=0
	show hpcorch --query-metrics "$PROM" "$1"
	while :; do
		n=$((n + 1))
		hpc_quiet --query-metrics "$PROM" "$1" --json >answer.json ||
			die "hpcorch --query-metrics $PROM '$1' failed"
		if covers answer.json >covers.txt; then
			cat covers.txt
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] || {
			cat covers.txt
			die "no answer for both services to '$1' within ${QUERY_DEADLINE}s"
		}
		[ $((n % 5)) = 1 ] && echo "   (not both services yet; asking again)"
		sleep 2
	done
}

step "Step 6: the reference's queries, each answered for both services"
query 'up{job=~".*cadvisor"}'
query 'container_memory_usage_bytes'
query 'rate(container_cpu_usage_seconds_total[5m])'
query 'rate(container_network_receive_bytes_total[5m])'
echo
echo "The same query as people read it:"
hpc --query-metrics "$PROM" 'up{job=~".*cadvisor"}'

step "Step 7: the metrics Prometheus has"
show hpcorch --list-available-metrics "$PROM"
hpc_quiet --list-available-metrics "$PROM" >metrics.txt ||
	die "hpcorch --list-available-metrics failed"
head -n 24 metrics.txt
echo "   ... ($(wc -l <metrics.txt) lines in $WORK/metrics.txt)"
grep -q "container_memory_usage_bytes" metrics.txt || die "no container_memory_usage_bytes"

step "Step 8: a metrics file and a report"
hpc --collect-metrics "$PROM" 'rate(container_cpu_usage_seconds_total[5m])' cpu_rate.json
hpc --report "$PROM" report.json
REPORT_JSON=$WORK/metrics/report.json
REPORT_HTML=$WORK/metrics/report.html
[ -s "$REPORT_JSON" ] && [ -s "$REPORT_HTML" ] || die "the report files are missing"
python3 - "$REPORT_JSON" "$SVC1" "$SVC2" <<'EOF' || die "the report misses a service"
import json, sys
rep = json.load(open(sys.argv[1]))
names = {s["service"] for s in rep["services"]}
missing = [s for s in sys.argv[2:] if s not in names]
print("   report covers:", ", ".join(sorted(names)))
sys.exit(1 if missing else 0)
EOF

# ------------------------------------------------------------------ cleanup

step "Cleanup: close the tunnel, stop Prometheus and the services"
show kill "$TUNNEL_PID" # the background hpcorch --create-tunnel
kill "$TUNNEL_PID"
wait "$TUNNEL_PID" || die "the tunnel command failed when stopped"
TUNNEL_PID=""
tail -n 1 tunnel.out
hpc --stop-service "$PROM"
hpc --stop-service "$SVC1"
hpc --stop-service "$SVC2"
hpc --stop-all-services
# SLURM lists a cancelled job as COMPLETING until its processes are gone.
for _ in $(seq 30); do
	hpc_quiet --status | grep -q " COMPLETING " || break
	sleep 1
done
hpc --status | tee status.txt
! grep -Eq "\| ($SVC1|$SVC2|$PROM) +\| +(RUNNING|PENDING) " status.txt ||
	die "something still runs"
STARTED=0

step "Done"
echo "The report is at $REPORT_HTML"
echo "          and $REPORT_JSON"
echo "Everything else the demo wrote (config.yaml, recipes, answers) is in $WORK"
