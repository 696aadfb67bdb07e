#!/usr/bin/env bash
# minicluster.sh: a throwaway SLURM cluster on this one Debian machine.
#
#   minicluster.sh up       start everything (idempotent: a second up is a no-op)
#   minicluster.sh down     stop what up started and remove what it made
#   minicluster.sh status   show each part's state
#   minicluster.sh restart-slurmctld [SECONDS]
#                           stop slurmctld, wait SECONDS (2), start it again
#
# What up starts, all as root, all on loopback or the bridge 10.77.0.0/24:
#   munged; MariaDB + slurmdbd (for sacct); slurmctld; slurmd node1..node3,
#   each in its own network namespace (node3 in partition gpu with two fake
#   GPUs); an sshd login node on 127.0.0.1:2222 for the ordinary user hpcuser,
#   and a second one on :2223 with TCP forwarding off (for tests).
# Built once per machine into $HPCORCH_CACHE and reused: Apptainer and the
# project's cAdvisor. The facts tests need go to $BASE/cluster.env.
#
# See ../../shared/minicluster.md for why each step is the way it is.
set -euo pipefail

BASE=${HPCORCH_CLUSTER_BASE:-/opt/hpcorch-cluster}
CACHE=${HPCORCH_CACHE:-/var/cache/hpcorch}
NODES=${HPCORCH_NODES:-3}
SSH_PORT=${HPCORCH_SSH_PORT:-2222}
NOFWD_PORT=$((SSH_PORT + 1))
CLUSTER_USER=hpcuser
CLUSTER_UID=2001
BRIDGE=br-hpcorch
NET=10.77.0
APPTAINER_VERSION=1.4.0
CADVISOR_LIB=v0.49.2
HOSTS_MARK="# hpcorch-minicluster"
# slurmctld runs under its own host name, which resolves to the bridge
# address, so that it listens there and not on every interface.
CTL_HOST=hpc-ctl

HERE=$(cd "$(dirname "$0")" && pwd)
export SLURM_CONF=$BASE/slurm/slurm.conf
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOTOOLCHAIN=local

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server openssh-server
	prometheus prometheus-node-exporter busybox-static iproute2 util-linux curl
	python3 libseccomp-dev uidmap squashfs-tools build-essential)

log() { printf '[minicluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}

# alive PIDFILE COMM: the process in PIDFILE runs and its name starts with COMM
# (PIDs wrap at 32768 here, so a stale pid file may name another process).
alive() {
	local pid state
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2"* ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
	[ "$state" != Z ]
}

# stop PIDFILE COMM: SIGTERM, then SIGKILL after 5 s; a zombie counts as gone.
stop() {
	alive "$1" "$2" || { rm -f "$1"; return 0; }
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 5))
	while alive "$1" "$2" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	alive "$1" "$2" && kill -9 "$pid" 2>/dev/null || true
	rm -f "$1"
}

# ---------------------------------------------------------------- packages

install_packages() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	log "installing ${missing[*]}"
	# Keep package scripts from starting daemons (sshd on :22, munged...).
	local guard=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		guard=1
	fi
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null
	[ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
	return 0
}

# ---------------------------------------------------------------- builds

cadvisor_bin() {
	local sum
	sum=$(cat "$HERE/cadvisor/main.go" "$HERE/cadvisor/go.sum" | sha256sum | cut -c1-12)
	echo "$CACHE/cadvisor-$CADVISOR_LIB-$sum"
}

build_cadvisor() {
	local out
	out=$(cadvisor_bin)
	[ -x "$out" ] && return 0
	log "building cAdvisor against github.com/google/cadvisor $CADVISOR_LIB"
	mkdir -p "$CACHE"
	(cd "$HERE/cadvisor" && GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp.$$" .)
	mv "$out.tmp.$$" "$out"
}

build_apptainer() {
	[ -x "$CACHE/apptainer-$APPTAINER_VERSION/bin/apptainer" ] && return 0
	log "building Apptainer $APPTAINER_VERSION from its Go module (about 5 minutes, once)"
	HPCORCH_CACHE=$CACHE APPTAINER_VERSION=$APPTAINER_VERSION "$HERE/build-apptainer.sh" >/dev/null
}

# ---------------------------------------------------------------- user

setup_user() {
	mkdir -p "$BASE"
	chmod 755 "$BASE"
	local home=$BASE/home/$CLUSTER_USER
	if ! id "$CLUSTER_USER" >/dev/null 2>&1; then
		mkdir -p "$BASE/home"
		useradd -u "$CLUSTER_UID" -d "$home" -m -s /bin/bash "$CLUSTER_USER"
		touch "$BASE/.created-user"
	fi
	# An account locked with "!" is refused by an sshd without PAM.
	usermod -p '*' "$CLUSTER_USER"
	mkdir -p "$home"
	chown "$CLUSTER_USER:" "$home"

	install -d -m 700 "$BASE/ssh"
	if [ ! -f "$BASE/ssh/id_ed25519" ]; then
		ssh-keygen -q -t ed25519 -N '' -C "$CLUSTER_USER@minicluster" -f "$BASE/ssh/id_ed25519"
	fi
	install -d -m 700 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$home/.ssh"
	install -m 600 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$BASE/ssh/id_ed25519.pub" \
		"$home/.ssh/authorized_keys"

	# What the catalog's mini_http_bare serves: a folder of its own, never
	# the home folder with its keys and monitor passwords.
	install -d -m 755 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$home/www"
	echo "hello from the throwaway cluster" >"$home/www/index.html"
	chown "$CLUSTER_USER:" "$home/www/index.html"
}

# ---------------------------------------------------------------- munge

start_munge() {
	install -d -o munge -g munge -m 0711 "$BASE/munge"
	alive "$BASE/munge/munged.pid" munged && return 0
	[ -f "$BASE/munge/munge.key" ] ||
		runuser -u munge -- mungekey -c -k "$BASE/munge/munge.key" -b 1024
	runuser -u munge -- munged --key-file="$BASE/munge/munge.key" \
		--socket="$BASE/munge/munge.sock" --pid-file="$BASE/munge/munged.pid" \
		--log-file="$BASE/munge/munged.log" --seed-file="$BASE/munge/munged.seed"
	wait_for munged 10 test -S "$BASE/munge/munge.sock"
}

# ---------------------------------------------------------------- network

setup_network() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$NET.1/24" dev "$BRIDGE"
		ip link set "$BRIDGE" up
	fi
	for i in $(seq 1 "$NODES"); do
		[ -e "/run/netns/hpc-node$i" ] && continue
		ip netns add "hpc-node$i"
		ip link add "vhpc$i" type veth peer name eth0 netns "hpc-node$i"
		ip link set "vhpc$i" master "$BRIDGE" up
		ip -n "hpc-node$i" addr add "$NET.1$i/24" dev eth0
		ip -n "hpc-node$i" link set eth0 up
		ip -n "hpc-node$i" link set lo up
	done

	# Node names resolve locally, on the login node and in jobs alike:
	# nothing here may ask a DNS server.
	if ! grep -q "$HOSTS_MARK" /etc/hosts; then
		{
			echo "$NET.1 $CTL_HOST $HOSTS_MARK"
			for i in $(seq 1 "$NODES"); do
				echo "$NET.1$i node$i $HOSTS_MARK"
			done
		} >>/etc/hosts
	fi
}

teardown_network() {
	for i in $(seq 1 9); do
		ip netns del "hpc-node$i" 2>/dev/null || true
		ip link del "vhpc$i" 2>/dev/null || true
	done
	ip link del "$BRIDGE" 2>/dev/null || true
	if grep -q "$HOSTS_MARK" /etc/hosts; then
		# /etc/hosts may be a bind mount: rewrite it in place, never replace it.
		local kept
		kept=$(grep -v "$HOSTS_MARK" /etc/hosts)
		printf '%s\n' "$kept" >/etc/hosts
	fi
}

# ---------------------------------------------------------------- slurm

cgroup_plugins() {
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		# 22.05's cgroup/v2 wants systemd: no per-job cgroups there.
		printf 'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/affinity\n'
		printf 'JobAcctGatherType=jobacct_gather/linux\n'
	else
		printf 'ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity\n'
		printf 'JobAcctGatherType=jobacct_gather/cgroup\n'
	fi
}

write_slurm_config() {
	mkdir -p "$BASE"/slurm/{state,spool,dev} "$BASE"/{run,log,jobs}
	local etc=$BASE/slurm gpu=node$NODES
	for d in 0 1; do
		[ -c "$BASE/slurm/dev/nvidia$d" ] || mknod "$BASE/slurm/dev/nvidia$d" c 195 "$d"
	done

	cat >"$etc/slurm.conf" <<-EOF
		# Generated by hpcorch cluster/minicluster.sh
		ClusterName=mini
		SlurmctldHost=$CTL_HOST($NET.1)
		SlurmUser=root
		SlurmdUser=root
		AuthType=auth/munge
		CredType=cred/munge
		AuthInfo=socket=$BASE/munge/munge.sock
		SlurmctldPort=6817
		SlurmdPort=6818
		StateSaveLocation=$BASE/slurm/state
		SlurmdSpoolDir=$BASE/slurm/spool/%n
		SlurmctldPidFile=$BASE/run/slurmctld.pid
		SlurmdPidFile=$BASE/run/slurmd-%n.pid
		SlurmctldLogFile=$BASE/log/slurmctld.log
		SlurmdLogFile=$BASE/log/slurmd-%n.log
		SlurmctldDebug=info
		SlurmdDebug=info
		MailProg=/bin/true
		$(cgroup_plugins)
		JobAcctGatherFrequency=10
		JobCompType=jobcomp/none
		AccountingStorageType=accounting_storage/slurmdbd
		AccountingStorageHost=127.0.0.1
		AccountingStoragePort=6819
		AccountingStoragePass=$BASE/munge/munge.sock
		AccountingStoreFlags=job_comment
		SchedulerType=sched/backfill
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core_Memory
		DefMemPerCPU=256
		EnforcePartLimits=ALL
		GresTypes=gpu
		ReturnToService=2
		MpiDefault=none
		CommunicationParameters=NoCtldInAddrAny
		SlurmdTimeout=30
		InactiveLimit=0
		KillWait=5
		MinJobAge=300
		NodeName=DEFAULT CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
	EOF
	for i in $(seq 1 "$NODES"); do
		if [ "node$i" = "$gpu" ]; then
			echo "NodeName=node$i NodeAddr=$NET.1$i Gres=gpu:2"
		else
			echo "NodeName=node$i NodeAddr=$NET.1$i"
		fi
	done >>"$etc/slurm.conf"
	# Tests of several packages run at once on two real CPUs: up to four
	# jobs share a core instead of pending for resources.
	cat >>"$etc/slurm.conf" <<-EOF
		PartitionName=debug Nodes=node[1-$NODES] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
		PartitionName=gpu Nodes=$gpu MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
	EOF

	cat >"$etc/cgroup.conf" <<-EOF
		CgroupPlugin=autodetect
		CgroupMountpoint=/sys/fs/cgroup
		ConstrainCores=yes
		ConstrainRAMSpace=yes
		ConstrainDevices=no
	EOF
	echo "NodeName=$gpu Name=gpu File=$BASE/slurm/dev/nvidia[0-1]" >"$etc/gres.conf"

	cat >"$etc/slurmdbd.conf" <<-EOF
		AuthType=auth/munge
		AuthInfo=socket=$BASE/munge/munge.sock
		DbdHost=$(hostname)
		DbdAddr=127.0.0.1
		DbdPort=6819
		SlurmUser=root
		StorageType=accounting_storage/mysql
		StorageHost=127.0.0.1
		StoragePort=3307
		StorageUser=slurm
		StoragePass=slurmdb
		StorageLoc=slurm_acct_db
		PidFile=$BASE/run/slurmdbd.pid
		LogFile=$BASE/log/slurmdbd.log
		DebugLevel=info
		CommunicationParameters=NoInAddrAny
	EOF
	chmod 600 "$etc/slurmdbd.conf"
	chmod 644 "$etc/slurm.conf" "$etc/cgroup.conf" "$etc/gres.conf"
}

start_accounting() {
	local db=$BASE/mariadb
	if ! alive "$db/mariadbd.pid" mariadbd; then
		if [ ! -d "$db/data/mysql" ]; then
			mkdir -p "$db/data"
			mariadb-install-db --user=root --datadir="$db/data" \
				--auth-root-authentication-method=socket --skip-test-db >"$db/install.log" 2>&1
		fi
		mariadbd --no-defaults --user=root --datadir="$db/data" --socket="$db/mysqld.sock" \
			--pid-file="$db/mariadbd.pid" --bind-address=127.0.0.1 --port=3307 \
			--skip-name-resolve --innodb-buffer-pool-size=64M \
			--log-error="$BASE/log/mariadb.log" >/dev/null 2>&1 &
		wait_for MariaDB 30 mariadb --no-defaults -S "$db/mysqld.sock" -uroot -e 'SELECT 1'
		mariadb --no-defaults -S "$db/mysqld.sock" -uroot -e \
			"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmdb';
			 GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
	fi
	if ! alive "$BASE/run/slurmdbd.pid" slurmdbd; then
		slurmdbd
		wait_for slurmdbd 30 sacctmgr -n list cluster
	fi
	sacctmgr -n list cluster format=cluster | grep -qw mini ||
		sacctmgr -i add cluster mini >/dev/null
}

start_slurm() {
	if ! alive "$BASE/run/slurmctld.pid" slurmctld; then
		unshare --uts -- sh -c "hostname $CTL_HOST && exec slurmctld -i"
		wait_for slurmctld 20 scontrol ping
	fi
	for i in $(seq 1 "$NODES"); do
		alive "$BASE/run/slurmd-node$i.pid" slurmd && continue
		# nsenter, not `ip netns exec`: the latter remounts /sys and hides
		# the cgroup hierarchy from slurmd.
		nsenter --net="/run/netns/hpc-node$i" unshare --uts -- \
			sh -c "hostname node$i && exec slurmd -N node$i"
	done
	wait_for "$NODES idle nodes" 60 nodes_ready
}

nodes_ready() {
	local n
	n=$(sinfo -h -N -p debug -o '%N %t' | awk '$2 ~ /^(idle|mix|alloc)$/' | wc -l)
	[ "$n" -ge "$NODES" ]
}

# ---------------------------------------------------------------- login node

write_sshd_config() { # FILE PORT FORWARDING PIDFILE
	cat >"$1" <<-EOF
		Port $2
		ListenAddress 127.0.0.1
		HostKey $BASE/ssh/host_ed25519
		HostKey $BASE/ssh/host_ecdsa
		PidFile $4
		AuthorizedKeysFile .ssh/authorized_keys
		StrictModes yes
		PermitRootLogin no
		AllowUsers $CLUSTER_USER
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		AllowTcpForwarding $3
		X11Forwarding no
		PrintMotd no
		LogLevel VERBOSE
		MaxStartups 100:30:200
		SetEnv SLURM_CONF=$SLURM_CONF PATH=$BASE/bin:/usr/local/bin:/usr/bin:/bin
		Subsystem sftp /usr/lib/openssh/sftp-server
	EOF
}

start_sshd() {
	local s=$BASE/ssh
	[ -f "$s/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$s/host_ed25519"
	[ -f "$s/host_ecdsa" ] || ssh-keygen -q -t ecdsa -N '' -f "$s/host_ecdsa"
	{
		echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$s/host_ed25519.pub")"
		echo "[127.0.0.1]:$NOFWD_PORT $(cut -d' ' -f1,2 "$s/host_ed25519.pub")"
	} >"$s/known_hosts"
	cat >"$s/ssh_config" <<-EOF
		Host minicluster
		  HostName 127.0.0.1
		  Port $SSH_PORT
		  User $CLUSTER_USER
		  IdentityFile $s/id_ed25519
		  IdentitiesOnly yes
		  UserKnownHostsFile $s/known_hosts
		  StrictHostKeyChecking yes
		  BatchMode yes
	EOF
	write_sshd_config "$s/sshd_config" "$SSH_PORT" yes "$BASE/run/sshd.pid"
	write_sshd_config "$s/sshd_nofwd_config" "$NOFWD_PORT" no "$BASE/run/sshd-nofwd.pid"
	mkdir -p /run/sshd

	alive "$BASE/run/sshd.pid" sshd ||
		/usr/sbin/sshd -f "$s/sshd_config" -E "$BASE/log/sshd.log"
	alive "$BASE/run/sshd-nofwd.pid" sshd ||
		/usr/sbin/sshd -f "$s/sshd_nofwd_config" -E "$BASE/log/sshd-nofwd.log"
	wait_for "the login node" 20 ssh -F "$s/ssh_config" minicluster true
}

# ---------------------------------------------------------------- tools for jobs

install_tools() {
	mkdir -p "$BASE/bin"
	ln -sfn "$CACHE/apptainer-$APPTAINER_VERSION/bin/apptainer" "$BASE/bin/apptainer"
	install -m 755 "$(cadvisor_bin)" "$BASE/bin/cadvisor-upload"
	# cadvisor-upload is what tests upload to $HOME/.local/bin/cadvisor;
	# it is deliberately not named cadvisor, so nothing finds it on PATH.
}

build_test_image() {
	local home=$BASE/home/$CLUSTER_USER
	local sif=$home/images/hpcorch-test.sif
	[ -f "$sif" ] && return 0
	log "building the test image $sif"
	local root
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,etc,tmp,www} "$root/usr/bin"
	cp /bin/busybox "$root/bin/busybox"
	for app in sh ls cat echo sleep httpd nc wget env hostname id printf test true; do
		ln -s busybox "$root/bin/$app"
	done
	echo "hello from the hpcorch test image" >"$root/www/index.html"
	chmod -R a+rX "$root"
	install -d -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$home/images"
	runuser -u "$CLUSTER_USER" -- env HOME="$home" \
		"$BASE/bin/apptainer" -s build "$sif" "$root" >"$BASE/log/test-image.log" 2>&1
	rm -rf "$root"
}

write_env() {
	local nodes="" addrs=""
	for i in $(seq 1 "$NODES"); do
		nodes+="${nodes:+,}node$i"
		addrs+="${addrs:+,}node$i=$NET.1$i"
	done
	cat >"$BASE/cluster.env.tmp" <<-EOF
		# Written by cluster/minicluster.sh up; read by internal/clustertest.
		HPCORCH_BASE=$BASE
		HPCORCH_SSH_HOST=127.0.0.1
		HPCORCH_SSH_PORT=$SSH_PORT
		HPCORCH_SSH_NOFWD_PORT=$NOFWD_PORT
		HPCORCH_SSH_USER=$CLUSTER_USER
		HPCORCH_SSH_KEY=$BASE/ssh/id_ed25519
		HPCORCH_KNOWN_HOSTS=$BASE/ssh/known_hosts
		HPCORCH_SSH_CONFIG=$BASE/ssh/ssh_config
		HPCORCH_NODES=$nodes
		HPCORCH_NODE_ADDRS=$addrs
		HPCORCH_PARTITION=debug
		HPCORCH_GPU_PARTITION=gpu
		HPCORCH_GPU_NODE=node$NODES
		HPCORCH_HOME=$BASE/home/$CLUSTER_USER
		HPCORCH_CADVISOR_BIN=$BASE/bin/cadvisor-upload
		HPCORCH_PROMETHEUS_BIN=/usr/bin/prometheus
		HPCORCH_TEST_IMAGE=$BASE/home/$CLUSTER_USER/images/hpcorch-test.sif
		SLURM_CONF=$SLURM_CONF
	EOF
	mv "$BASE/cluster.env.tmp" "$BASE/cluster.env"
}

# ---------------------------------------------------------------- commands

cmd_up() {
	[ "$(id -u)" = 0 ] || die "run as root (it starts daemons and network namespaces)"
	local t0=$SECONDS
	install_packages

	build_cadvisor &
	local cadvisor_pid=$!
	build_apptainer &
	local apptainer_pid=$!

	setup_user
	start_munge
	setup_network
	write_slurm_config
	start_accounting
	start_slurm
	start_sshd

	wait "$cadvisor_pid" || die "the cAdvisor build failed"
	wait "$apptainer_pid" || die "the Apptainer build failed"
	install_tools
	build_test_image
	write_env
	log "up in $((SECONDS - t0))s; environment in $BASE/cluster.env"
}

cancel_all_jobs() {
	command -v scancel >/dev/null || return 0
	[ -f "$SLURM_CONF" ] || return 0
	alive "$BASE/run/slurmctld.pid" slurmctld || return 0
	scancel -u "$CLUSTER_USER" 2>/dev/null || true
	scancel -u root 2>/dev/null || true
	local deadline=$((SECONDS + 20))
	while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.3
	done
}

kill_job_leftovers() {
	local f pid
	for f in /sys/fs/cgroup/freezer/slurm_node*/ /sys/fs/cgroup/*/slurm_node*/; do
		[ -d "$f" ] || continue
		find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
			kill -9 "$pid" 2>/dev/null || true
		done
	done
	local deadline=$((SECONDS + 5)) d
	while [ "$SECONDS" -lt "$deadline" ]; do
		for d in /sys/fs/cgroup/*/slurm_node*; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
		compgen -G '/sys/fs/cgroup/*/slurm_node*' >/dev/null || break
		sleep 0.2
	done
}

cmd_down() {
	[ "$(id -u)" = 0 ] || die "run as root"
	cancel_all_jobs
	stop "$BASE/run/sshd.pid" sshd
	stop "$BASE/run/sshd-nofwd.pid" sshd
	pkill -u "$CLUSTER_USER" 2>/dev/null || true
	for i in $(seq 1 9); do stop "$BASE/run/slurmd-node$i.pid" slurmd; done
	stop "$BASE/run/slurmctld.pid" slurmctld
	stop "$BASE/run/slurmdbd.pid" slurmdbd
	stop "$BASE/mariadb/mariadbd.pid" mariadbd
	stop "$BASE/munge/munged.pid" munged
	kill_job_leftovers
	teardown_network

	if [ -f "$BASE/.created-user" ] && id "$CLUSTER_USER" >/dev/null 2>&1; then
		userdel "$CLUSTER_USER" 2>/dev/null || true
	fi
	rm -rf "$BASE"
	log "down"
}

# restart-slurmctld [SECONDS]: stops slurmctld (it saves its state), leaves it
# down SECONDS (default 2) and starts it again; for tests of a restart.
cmd_restart_slurmctld() {
	[ "$(id -u)" = 0 ] || die "run as root"
	local down=${1:-2}
	[[ $down =~ ^[0-9]+$ ]] || die "restart-slurmctld: SECONDS is a whole number, not $down"
	alive "$BASE/run/slurmctld.pid" slurmctld || die "slurmctld is not running: make cluster-up"
	stop "$BASE/run/slurmctld.pid" slurmctld
	log "slurmctld stopped; starting it again in ${down}s"
	sleep "$down"
	start_slurm
	log "slurmctld restarted"
}

cmd_status() {
	local rc=0
	check() { # NAME PIDFILE COMM
		if alive "$2" "$3"; then
			printf '%-12s running (pid %s)\n' "$1" "$(cat "$2")"
		else
			printf '%-12s stopped\n' "$1"
			rc=1
		fi
	}
	check munged "$BASE/munge/munged.pid" munged
	check mariadbd "$BASE/mariadb/mariadbd.pid" mariadbd
	check slurmdbd "$BASE/run/slurmdbd.pid" slurmdbd
	check slurmctld "$BASE/run/slurmctld.pid" slurmctld
	for i in $(seq 1 "$NODES"); do
		check "slurmd-node$i" "$BASE/run/slurmd-node$i.pid" slurmd
	done
	check sshd "$BASE/run/sshd.pid" sshd
	check sshd-nofwd "$BASE/run/sshd-nofwd.pid" sshd
	if [ "$rc" = 0 ]; then
		sinfo -N -o '%N %P %t %G' 2>/dev/null || true
		squeue -o '%i %u %j %T %M %N' 2>/dev/null || true
	fi
	[ -f "$BASE/cluster.env" ] && echo "environment: $BASE/cluster.env"
	return "$rc"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
restart-slurmctld) cmd_restart_slurmctld "${2:-2}" ;;
*) echo "usage: $0 up|down|status|restart-slurmctld [SECONDS]" >&2; exit 2 ;;
esac
