#!/bin/bash
#SBATCH --job-name=mini-prometheus_0a1b2c3d
#SBATCH --comment=hpcorch:service
#SBATCH --time=0-00:30:00
#SBATCH --cpus-per-task=1
#SBATCH --mem=512M
#SBATCH --output=/home/hpcuser/.hpcorch/run/mini-prometheus_0a1b2c3d/job.out
#SBATCH --chdir=/home/hpcuser/.hpcorch/run/mini-prometheus_0a1b2c3d
: end of batch directives
# hpcorch service mini-prometheus_0a1b2c3d (session '')
HPCORCH_ID=mini-prometheus_0a1b2c3d
HPCORCH_KIND=service
HPCORCH_RUN_ROOT=/home/hpcuser/.hpcorch/run
HPCORCH_RUN_DIR=/home/hpcuser/.hpcorch/run/mini-prometheus_0a1b2c3d
readonly HPCORCH_ID HPCORCH_KIND HPCORCH_RUN_ROOT HPCORCH_RUN_DIR
# --- hpcorch job library (servers/lib.sh): the same in every script --------
HPCORCH_STATUS="$HPCORCH_RUN_DIR/status.env"
HPCORCH_JOB=${SLURM_JOB_ID:-0}
HPCORCH_NODE=${SLURMD_NODENAME:-$(hostname -s 2>/dev/null || hostname)}
HPCORCH_PORTS_DIR="$HPCORCH_RUN_ROOT/.ports/$HPCORCH_NODE"
HPCORCH_PIDS=()
HPCORCH_MY_PORTS=()
HPCORCH_ST_KEYS=" "
export HPCORCH_ID HPCORCH_RUN_DIR HPCORCH_NODE

hpcorch_log() { printf 'hpcorch: %s\n' "$*" >&2; }

# hpcorch_status KEY VALUE...: record facts in status.env, written whole
# and renamed into place so that a reader never sees half a file.
hpcorch_status() {
	while [ $# -ge 2 ]; do
		case $HPCORCH_ST_KEYS in *" $1 "*) ;; *) HPCORCH_ST_KEYS="$HPCORCH_ST_KEYS$1 " ;; esac
		printf -v "HPCORCH_ST_$1" '%s' "$2"
		shift 2
	done
	local k v tmp="$HPCORCH_STATUS.tmp.$$"
	{
		for k in $HPCORCH_ST_KEYS; do
			v="HPCORCH_ST_$k"
			printf '%s=%s\n' "$k" "${!v}"
		done
	} >"$tmp" && mv -f "$tmp" "$HPCORCH_STATUS"
}

# hpcorch_stop stops the children (service, cAdvisor): TERM, up to 10 s
# to exit, then KILL. It releases the job's port reservations.
hpcorch_stop() {
	trap - TERM INT EXIT
	local p alive i=0 d=0.05
	for p in "${HPCORCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	while [ ${#HPCORCH_PIDS[@]} -gt 0 ]; do
		alive=0
		for p in "${HPCORCH_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		i=$((i + 1))
		if [ "$i" -gt 40 ]; then
			for p in "${HPCORCH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
			break
		fi
		sleep "$d"
		d=0.25
	done
	for p in "${HPCORCH_MY_PORTS[@]}"; do rm -f "$HPCORCH_PORTS_DIR/$p"; done
	rm -rf "$HPCORCH_RUN_DIR/tmp"
}
trap 'hpcorch_log "terminated: stopping"; hpcorch_status PHASE stopped; hpcorch_stop; exit 143' TERM
trap 'hpcorch_status PHASE stopped; hpcorch_stop; exit 130' INT
trap 'hpcorch_exited $?' EXIT

# hpcorch_exited RC: the script ends with RC. Record it, unless the
# service's own status was, so that a job failing before its service starts
# tells its exit code too; then stop the children.
hpcorch_exited() {
	case $HPCORCH_ST_KEYS in *" EXIT_CODE "*) ;; *) hpcorch_status EXIT_CODE "$1" ;; esac
	hpcorch_stop
}

# hpcorch_cgroup prints the job's cgroup as cAdvisor names it: the memory
# controller's path (cgroup v1) or the unified one (v2), cut at the step.
hpcorch_cgroup() {
	local line cg=""
	while IFS= read -r line; do
		case $line in *:memory:*) cg=${line#*:memory:} && break ;; esac
	done </proc/self/cgroup
	if [ -z "$cg" ]; then
		while IFS= read -r line; do
			case $line in 0::*) cg=${line#0::} ;; esac
		done </proc/self/cgroup
	fi
	printf '%s' "${cg%%/step_*}"
}

# hpcorch_listening PORT: something on this node listens on PORT.
hpcorch_listening() {
	local hex f sl addr rem st rest
	printf -v hex '%04X' "$1"
	if [ -r /proc/net/tcp ]; then
		for f in /proc/net/tcp /proc/net/tcp6; do
			[ -r "$f" ] || continue
			while read -r sl addr rem st rest; do
				[ "$st" = 0A ] && [ "${addr##*:}" = "$hex" ] && return 0
			done <"$f"
		done
		return 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# hpcorch_reserved PORT: an hpcorch job on this node that is still alive
# holds PORT (or this job took it already).
hpcorch_reserved() {
	local f="$HPCORCH_PORTS_DIR/$1" job pid
	[ -f "$f" ] || return 1
	read -r job pid <"$f" || return 1
	[ "$pid" = "$$" ] && return 0
	kill -0 "$pid" 2>/dev/null
}

hpcorch_port_free() { ! hpcorch_reserved "$1" && ! hpcorch_listening "$1"; }

# hpcorch_pick PREFERRED FLEXIBLE: sets HPCORCH_PICKED to PREFERRED when it
# is free on this node; else, when FLEXIBLE is 1, to a free port above it
# or a random one. The port is reserved for this job until it ends. Call
# it between hpcorch_lock_ports and hpcorch_unlock_ports.
hpcorch_pick() {
	local p=$1 i c
	HPCORCH_PICKED=
	if ! hpcorch_port_free "$p"; then
		if [ "$2" != 1 ]; then
			hpcorch_log "port $p is busy on $HPCORCH_NODE, and the recipe fixes it" \
				"(use \${HPCORCH_PORT} to let hpcorch choose)"
		else
			p=
			for ((i = 1; i <= 200; i++)); do
				[ $(($1 + i)) -le 65535 ] && hpcorch_port_free $(($1 + i)) && p=$(($1 + i)) && break
			done
			for ((i = 0; i < 200; i++)); do
				[ -n "$p" ] && break
				c=$((20000 + RANDOM % 40000))
				hpcorch_port_free "$c" && p=$c
			done
			if [ -z "$p" ]; then
				hpcorch_log "no free port found on $HPCORCH_NODE near $1"
				return 1
			fi
			hpcorch_log "port $1 is busy on $HPCORCH_NODE: using $p"
		fi
	fi
	printf '%s %s\n' "$HPCORCH_JOB" "$$" >"$HPCORCH_PORTS_DIR/$p"
	HPCORCH_MY_PORTS+=("$p")
	HPCORCH_PICKED=$p
}

# hpcorch_lock_ports takes the node's port lock in the shared home, so that
# two jobs starting on one node at once never pick the same port.
hpcorch_lock_ports() {
	mkdir -p "$HPCORCH_PORTS_DIR"
	exec 9>"$HPCORCH_PORTS_DIR.lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w 120 9 || hpcorch_log "port lock busy for 120 s: choosing ports without it"
	else
		hpcorch_log "flock not found: choosing ports without a lock"
	fi
}
hpcorch_unlock_ports() { exec 9>&-; }

# hpcorch_http_ok PORT PATH: GET http://127.0.0.1:PORT/PATH answers 200.
hpcorch_http_ok() {
	local line
	exec 8<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&8
	IFS= read -r -t 5 line <&8
	exec 8<&- 8>&-
	case $line in "HTTP/1."?" 200"*) return 0 ;; esac
	return 1
}

# hpcorch_sha256 FILE prints FILE's SHA-256.
hpcorch_sha256() {
	local sum
	sum=$(sha256sum "$1" 2>/dev/null || shasum -a 256 "$1") || return 1
	printf '%s' "${sum%% *}"
}

# hpcorch_cadvisor_install BIN URL SHA256: make sure BIN exists, else
# download URL and check it against SHA256 first.
hpcorch_cadvisor_install() {
	local bin=$1 url=$2 want=$3 tmp got
	[ -x "$bin" ] && return 0
	if [ -z "$url" ]; then
		hpcorch_log "cAdvisor is not installed at $bin and no download URL is set:" \
			"install it from the login node first (InstallCAdvisor)"
		return 1
	fi
	mkdir -p "${bin%/*}" || return 1
	tmp="$bin.download.$$"
	hpcorch_log "cAdvisor not found at $bin: downloading $url"
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp" "$url"
	else
		wget -q -T 20 -O "$tmp" "$url"
	fi || {
		rm -f "$tmp"
		hpcorch_log "cannot download cAdvisor from $url: this node may have no internet" \
			"access; upload the binary from the login node instead" \
			"(CAdvisorSource.LocalPath, InstallCAdvisor)"
		return 1
	}
	got=$(hpcorch_sha256 "$tmp")
	if [ -z "$want" ] || [ "$got" != "$want" ]; then
		rm -f "$tmp"
		hpcorch_log "cAdvisor from $url has SHA-256 $got," \
			"expected ${want:-(none given)}: not installed"
		return 1
	fi
	chmod 755 "$tmp" && mv -f "$tmp" "$bin"
}

# The metric kinds cAdvisor leaves out: per-CPU, scheduler, TCP/UDP and
# the like cost housekeeping time on every cgroup of the node and feed no
# report. "disk" stays on: the report's filesystem usage is
# container_fs_usage_bytes.
HPCORCH_CADVISOR_DISABLED=percpu,sched,tcp,udp,advtcp,hugetlb,referenced_memory
HPCORCH_CADVISOR_DISABLED+=,cpu_topology,cpuset,memory_numa,process,resctrl,perf_event

# hpcorch_cadvisor_start BIN PORT: start cAdvisor in the background on PORT
# with flags for nodes without Docker, and wait up to 60 s for /healthz.
hpcorch_cadvisor_start() {
	local bin=$1 port=$2 pid i d=0.05
	"$bin" -listen_ip=0.0.0.0 -port="$port" -housekeeping_interval=10s \
		-docker_only=false -store_container_labels=false \
		-disable_metrics="$HPCORCH_CADVISOR_DISABLED" \
		>>"$HPCORCH_RUN_DIR/cadvisor.log" 2>&1 &
	pid=$!
	HPCORCH_PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do
		if hpcorch_http_ok "$port" /healthz 2>/dev/null ||
			hpcorch_http_ok "$port" /metrics 2>/dev/null; then
			hpcorch_log "cAdvisor answers on $HPCORCH_NODE:$port"
			hpcorch_status CADVISOR_PORT "$port" CADVISOR_PID "$pid"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			hpcorch_log "cAdvisor exited before answering; its last lines:"
			tail -n 5 "$HPCORCH_RUN_DIR/cadvisor.log" >&2
			return 1
		fi
		sleep "$d"
		d=0.2
	done
	hpcorch_log "cAdvisor did not answer on port $port within 60 s"
	return 1
}

# hpcorch_image IMAGE SOURCE: build IMAGE from SOURCE when it is missing.
hpcorch_image() {
	local img=$1 src=$2 tmp
	# A sandbox folder or a file with content; an empty file is no image.
	{ [ -d "$img" ] || [ -s "$img" ]; } && return 0
	if [ -z "$src" ]; then
		hpcorch_log "image $img does not exist and the recipe names no docker_source:" \
			"build or copy the image there first"
		return 1
	fi
	if ! command -v apptainer >/dev/null 2>&1; then
		hpcorch_log "apptainer is not on PATH on $HPCORCH_NODE: cannot build $img"
		return 1
	fi
	mkdir -p "${img%/*}" || return 1
	tmp="$img.build.$$"
	hpcorch_log "image $img is missing: building it from $src"
	if ! apptainer build "$tmp" "$src"; then
		rm -rf "$tmp"
		hpcorch_log "cannot build $img from $src: $HPCORCH_NODE may not reach the" \
			"registry; build the image where the registry is reachable" \
			"(apptainer build IMAGE $src) and copy it to $img"
		return 1
	fi
	mv -f "$tmp" "$img"
}

# hpcorch_env NAME VALUE: export NAME for the service; for Apptainer, also
# pass it with --env, or as APPTAINERENV_NAME when VALUE holds a comma or a
# quote, which --env cannot carry.
HPCORCH_APPTAINER_ENV=()
hpcorch_env() {
	export "$1=$2"
	case $2 in
	*[,\"]*) export "APPTAINERENV_$1=$2" ;;
	*) HPCORCH_APPTAINER_ENV+=(--env "$1=$2") ;;
	esac
}

# hpcorch_run COMMAND...: run the service in the background, record it,
# wait for it and exit with its status.
hpcorch_run() {
	local rc start=$SECONDS
	hpcorch_log "starting $1 on $HPCORCH_NODE"
	"$@" &
	HPCORCH_SERVICE_PID=$!
	HPCORCH_PIDS+=("$HPCORCH_SERVICE_PID")
	hpcorch_status PHASE running SERVICE_PID "$HPCORCH_SERVICE_PID"
	wait "$HPCORCH_SERVICE_PID"
	rc=$?
	if [ "$rc" != 0 ] && [ $((SECONDS - start)) -lt 30 ] && hpcorch_port_stolen; then
		hpcorch_restart
	fi
	hpcorch_status PHASE exited EXIT_CODE "$rc"
	hpcorch_log "service exited with status $rc"
	exit "$rc"
}

# hpcorch_port_stolen: the service, which failed, may choose its ports and
# another process (another user's job, which no reservation of ours can
# see) listens on its main port: it lost the race for it between our
# choice and its bind.
hpcorch_port_stolen() {
	[ "${HPCORCH_PORTS_FLEXIBLE:-0}" = 1 ] && [ -n "${HPCORCH_PORT:-}" ] &&
		[ "${HPCORCH_ATTEMPT:-1}" -lt 3 ] && hpcorch_listening "$HPCORCH_PORT"
}

# hpcorch_restart runs the whole job script again (at most three runs in
# all), with cAdvisor stopped and this job's ports given back, so that it
# chooses free ports anew: the one taken is busy by then.
hpcorch_restart() {
	hpcorch_log "port $HPCORCH_PORT was taken on $HPCORCH_NODE before the service bound" \
		"it: choosing ports again"
	hpcorch_status PHASE restarting # what answers on the old port is not the service
	hpcorch_stop
	export HPCORCH_ATTEMPT=$((${HPCORCH_ATTEMPT:-1} + 1))
	exec bash "$0"
}
# --- end of the hpcorch job library ----------------------------------------

mkdir -p "$HPCORCH_RUN_DIR" && cd "$HPCORCH_RUN_DIR" || exit 1
hpcorch_status VERSION 1 ID "$HPCORCH_ID" NAME mini-prometheus JOB_ID "$HPCORCH_JOB" NODE "$HPCORCH_NODE" CGROUP "$(hpcorch_cgroup)" ATTEMPT "${HPCORCH_ATTEMPT:-1}" PHASE preparing

# ports: the recipe's when free on this node, else free ones
hpcorch_lock_ports
hpcorch_pick 9090 0 || exit 1
HPCORCH_PORT_0=$HPCORCH_PICKED
hpcorch_unlock_ports
HPCORCH_PORT=$HPCORCH_PORT_0
hpcorch_status PORT "$HPCORCH_PORT" PORTS "$HPCORCH_PORT_0"

# the service
hpcorch_status PHASE starting
hpcorch_env HPCORCH_PORT_0 "$HPCORCH_PORT_0"
hpcorch_env HPCORCH_PORT "$HPCORCH_PORT"
hpcorch_run prometheus
