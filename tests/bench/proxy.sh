#!/bin/bash
# tests/bench/proxy.sh: throughput through the proxy tier (issue 19) on one
# machine. As root: builds imapd and imapbench, makes $USERS accounts in a
# passwd-file (all of the system user ibench), seeds their Maildirs, starts one
# backend (storage maildir ... shared) and one proxy in front of it on loopback,
# and measures `imapbench login` (logins/s) and `imapbench steady` (ops/s)
# straight to the backend and through proxy+backend. For the proxy runs it adds
# the proxy process tree's CPU (utime+stime+cutime+cstime from /proc of the
# proxy's parent, authd and preauth workers, before and after) per relayed
# operation and per session. `uptime` is printed beside every figure.
# It runs in private namespaces (tests/bench/private.sh).
#
#   tests/bench/proxy.sh                          # the full run
#   DURATION=2s CLIENTS=2 USERS=4 tests/bench/proxy.sh   # a smoke run
#
# Knobs: USERS=100 CLIENTS=20 DURATION=20s WORK=$BENCH_STATE/proxy
#   BPORT=23143 PPORT=24143
set -euo pipefail
. "$(dirname "$0")/private.sh"
bench_private -- "$0" "$@"

USERS=${USERS:-100}
CLIENTS=${CLIENTS:-20}
DURATION=${DURATION:-20s}
WORK=${WORK:-$BENCH_STATE/proxy}
BPORT=${BPORT:-23143}
PPORT=${PPORT:-24143}
PASS=bench
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PIDS=()

die() { echo "bench: $*" >&2; exit 1; }
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

setup() {
	mkdir -p "$WORK/mail" && chmod 755 "$WORK" "$WORK/mail"
	id ibench >/dev/null 2>&1 || useradd -m -d "$WORK/home" -s /usr/sbin/nologin ibench
	id _imapd >/dev/null 2>&1 || useradd -r -d /var/empty -s /usr/sbin/nologin _imapd
	mkdir -p /var/empty
	(cd "$ROOT" && make -s build && go build -o bin/imapbench ./cmd/imapbench) || die "build failed"
	local uid gid hash
	uid=$(id -u ibench) gid=$(id -g ibench)
	hash=$(openssl passwd -6 -salt imapbench "$PASS")
	: >"$WORK/passwd"
	for i in $(seq 0 $((USERS - 1))); do
		echo "bench$i:{SHA512-CRYPT}$hash:$uid:$gid::$WORK/home:" >>"$WORK/passwd"
	done
	chgrp _imapd "$WORK/passwd" && chmod 640 "$WORK/passwd"
	"$ROOT/bin/imapbench" seed -from 0 -to $((USERS - 1)) -force -maildir "$WORK/mail/bench%d" >/dev/null
	chown -R ibench: "$WORK/mail"
	head -c 32 /dev/urandom | base64 >"$WORK/secret" && chmod 600 "$WORK/secret"
	mkdir -p "$WORK/backend" "$WORK/proxy"
	cat >"$WORK/backend/imapd.conf" <<EOF
listen on 127.0.0.1 port $BPORT plain
storage maildir "$WORK/mail" shared
auth passwd-file "$WORK/passwd"
plaintext auth allow
proxy secret "$WORK/secret"
proxy trusted 127.0.0.1
control socket "$WORK/backend/control.sock"
EOF
	# Cleartext to the backend (no proxy tls ca): the relay, not TLS, is measured.
	cat >"$WORK/proxy/imapd.conf" <<EOF
listen on 127.0.0.1 port $PPORT plain
auth passwd-file "$WORK/passwd"
limit connections per ip 1000
proxy secret "$WORK/secret"
proxy backend b1 address 127.0.0.1:$BPORT
control socket "$WORK/proxy/control.sock"
EOF
}

start() { # start NAME PORT: sets STARTED to the pid
	"$ROOT/bin/imapd" -c "$WORK/$1/imapd.conf" >"$WORK/$1/imapd.log" 2>&1 &
	STARTED=$!
	PIDS+=("$STARTED")
	wait_port "$2" || { tail -5 "$WORK/$1/imapd.log" >&2; die "$1 did not start"; }
}

# tree_ticks PID: CPU clock ticks of PID and its descendants, with those of
# children already reaped (cutime, cstime).
tree_ticks() {
	local pids=("$1") i=0 total=0 p
	while [ $i -lt ${#pids[@]} ]; do
		for p in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$p"); done
		i=$((i + 1))
	done
	for p in "${pids[@]}"; do
		# Fields after the command name ")": utime is the 12th, then stime, cutime, cstime.
		total=$((total + $(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12+$13+$14+$15}' || echo 0)))
	done
	echo $total
}

secs() { # DURATION as seconds (s, ms or m suffix)
	case $1 in
	*ms) awk -v v="${1%ms}" 'BEGIN{print v/1000}' ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	esac
}

# run WORKLOAD LABEL PORT [PROXYPID]: one imapbench run, with the proxy's
# CPU per operation when PROXYPID is given.
run() {
	local work=$1 label=$2 port=$3 ppid=${4:-} before after out rate
	echo "load: $(uptime)"
	[ -n "$ppid" ] && before=$(tree_ticks "$ppid")
	out=$("$ROOT/bin/imapbench" "$work" -addr 127.0.0.1:"$port" -clients "$CLIENTS" -nusers "$USERS" \
		-users "bench%d:$PASS" -duration "$DURATION" -label "$label" -server-pids "${ppid:-$BACKEND}" | grep '^RESULT')
	echo "$out"
	if [ -n "$ppid" ]; then
		after=$(tree_ticks "$ppid")
		rate=$(echo "$out" | sed -E 's/.*(ops_per_s|cycles_per_s)=([0-9.]+).*/\2/')
		awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v r="$rate" -v d="$(secs "$DURATION")" -v w="$work" 'BEGIN{
			n = r * d; ms = t * 1000 / hz
			printf "proxy CPU: %.0f ms for %.0f %s; %.3f ms per %s\n", ms, n, (w == "login" ? "sessions" : "relayed operations"), (n > 0 ? ms / n : 0), (w == "login" ? "session" : "relayed operation")
		}'
	fi
	echo "load: $(uptime)"
}

setup
start backend $BPORT
BACKEND=$STARTED
start proxy $PPORT
PROXY=$STARTED
for work in login steady; do
	run "$work" direct $BPORT
	run "$work" proxy $PPORT "$PROXY"
done
