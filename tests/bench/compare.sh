#!/bin/bash
# tests/bench/compare.sh: imapd against Dovecot, side by side, on loopback.
#
# As root:  tests/bench/compare.sh            # set up if needed, run, print the table
#           tests/bench/compare.sh setup      # accounts, Maildirs, configs only
#
# It creates the accounts bench0..bench$((100+BIG-1)) (password "bench";
# the first $USERS with a seeded ~/Maildir of 50+20 realistic messages, the
# rest with 5+2), writes a Dovecot and an imapd configuration on loopback,
# and runs every workload against imapd and Dovecot alternately, $ROUNDS
# times, each on a freshly started server. It prints a table of medians
# and ratios imapd/Dovecot. Every server it starts is stopped on exit.
#
# Knobs (environment): USERS=200 BIG=1000 ROUNDS=2 DURATION=15s
#   ONLY="imapd dovecot" WORK=$BENCH_STATE/compare IPORT=21143 DPORT=22143
#   SKIP_BIG=1 skips the 1,000-sessions-of-1,000-accounts memory run.
#   WORKLOADS="mix10 steady10" runs only these (default: all of them).
# It runs in private namespaces (tests/bench/private.sh): the accounts and
# ports are not the host's.
#   MARKDOWN=1 tests/bench/compare.sh table   prints the last run's table for docs;
#   tests/bench/compare.sh percmd steady10      its latencies per command.
set -euo pipefail
. "$(dirname "$0")/private.sh"
bench_private dovecot-imapd -- "$0" "$@"

USERS=${USERS:-200}
BIG=${BIG:-1000}
# steady uses bench0..bench99, reseeded for every run so each run starts
# from the same mailboxes; idle delivers mail, so it uses accounts from
# bench100 on and never grows the steady ones.
STEADY=100
NACC=$((STEADY + BIG))
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-15s}
ONLY=${ONLY:-"imapd dovecot"}
WORK=${WORK:-$BENCH_STATE/compare}
IPORT=${IPORT:-21143}
DPORT=${DPORT:-22143}
SKIP_BIG=${SKIP_BIG:-0}
PASS=bench
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$WORK/imapbench

mkdir -p "$WORK/results"

SERVER_PID=
INOTIFY_WAS=
cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}
restore() {
	cleanup
	[ -z "$INOTIFY_WAS" ] || sysctl -qw fs.inotify.max_user_instances="$INOTIFY_WAS"
}
trap restore EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

setup() {
	log "building"
	(cd "$ROOT" && go build -o "$BENCH" ./cmd/imapbench)
	# A private copy: others rebuilding bin/ mid-run must not change the
	# server between workloads, and perf needs the file it ran.
	case $ONLY in *imapd*)
		(cd "$ROOT" && make -s build)
		mkdir -p "$WORK/bin"
		cp "$ROOT"/bin/imapd "$ROOT"/bin/imapd-authd "$ROOT"/bin/imapctl "$WORK/bin/"
		(cd "$ROOT" && git rev-parse --short HEAD) >"$WORK/bin/VERSION"
		;;
	esac

	# What imapd needs as root (README.md): its unprivileged user, the
	# chroot and the PAM service. Dovecot uses the same PAM service, so
	# both check passwords through the identical stack.
	id _imapd >/dev/null 2>&1 || useradd -r -M -d /var/empty -s /usr/sbin/nologin _imapd
	mkdir -p /var/empty
	[ -f /etc/pam.d/imapd ] || printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >/etc/pam.d/imapd

	local missing=() i
	for ((i = 0; i < NACC; i++)); do
		id "bench$i" >/dev/null 2>&1 || missing+=("bench$i")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "creating ${#missing[@]} accounts"
		for u in "${missing[@]}"; do
			echo "$u:x:::imapbench:/home/$u:/usr/sbin/nologin"
		done | newusers
	fi
	# SHA-512 crypt (glibc's default 5000 rounds) rather than Debian's
	# yescrypt: the hash is the same for both servers, and a cheap one
	# lets the login figures show the servers' own cost.
	for ((i = 0; i < NACC; i++)); do echo "bench$i:$PASS"; done | chpasswd -c SHA512
	log "seeding Maildirs (the steady accounts afresh, existing others are kept)"
	"$BENCH" seed -maildir '/home/bench%d/Maildir' -from 0 -to $((STEADY - 1)) -inbox 50 -folder Archive=20 -force
	"$BENCH" seed -maildir '/home/bench%d/Maildir' -from "$STEADY" -to $((USERS - 1)) -inbox 50 -folder Archive=20
	"$BENCH" seed -maildir '/home/bench%d/Maildir' -from "$USERS" -to $((NACC - 1)) -inbox 5 -folder Archive=2

	# Dovecot's imap processes take an inotify instance each; with 100
	# sessions of one account the default 128 per uid runs out and Dovecot
	# falls back to polling ("Inotify instance limit ... exceeded"). Raised
	# for the run, restored on exit. imapd uses one per account.
	local was
	was=$(sysctl -n fs.inotify.max_user_instances)
	if [ "$was" -lt 4096 ]; then
		INOTIFY_WAS=$was
		sysctl -qw fs.inotify.max_user_instances=4096
	fi

	mkdir -p "$WORK/dovecot-run" "$WORK/dovecot-state"
	touch "$WORK/imapd.log" "$WORK/dovecot.log"
	cat >"$WORK/dovecot.conf" <<EOF
# Dovecot for tests/bench/compare.sh: loopback, cleartext, PAM, ~/Maildir.
protocols = imap
listen = 127.0.0.1
base_dir = $WORK/dovecot-run
state_dir = $WORK/dovecot-state
instance_name = imapbench
log_path = $WORK/dovecot.log
ssl = no
disable_plaintext_auth = no
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1000
passdb {
  driver = pam
  args = imapd
}
userdb {
  driver = passwd
}
default_process_limit = 1500
default_client_limit = 5000
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DPORT
  }
  inet_listener imaps {
    port = 0
  }
  process_limit = 1500
}
service imap {
  process_limit = 1500
  # imap-hibernate, running as dovecot, hands woken sessions back here.
  unix_listener imap-master {
    user = dovecot
  }
}
# Both servers move a session quiet in IDLE for 60 s out of its process
# (imapd: hibernate after 60, its default); only idle200x200h waits that long.
imap_hibernate_timeout = 60s
service imap-hibernate {
  unix_listener imap-hibernate {
    mode = 0666
  }
}
protocol imap {
  mail_max_userip_connections = 5000
}
EOF
	cat >"$WORK/imapd.conf" <<EOF
# imapd for tests/bench/compare.sh: loopback, cleartext, PAM, ~/Maildir.
listen on 127.0.0.1 port $IPORT plain
storage maildir
auth pam service "imapd"
auth cache 0
first valid uid 1000
plaintext auth loopback
limit connections per ip 5000
control socket "$WORK/imapd-control.sock"
log stderr level warn
EOF
	case $ONLY in *imapd*) "$WORK/bin/imapd" -n -c "$WORK/imapd.conf" >/dev/null ;; esac
	dovecot -c "$WORK/dovecot.conf" -n >/dev/null
}

wait_port() {
	local port=$1 i
	for ((i = 0; i < 100; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited" >&2; return 1; }
		sleep 0.1
	done
	echo "port $port never opened" >&2
	return 1
}

# start SERVER: a fresh instance, its pid in SERVER_PID, its port in PORT.
start() {
	cleanup
	case $1 in
	imapd)
		"$WORK/bin/imapd" -c "$WORK/imapd.conf" 2>>"$WORK/imapd.log" &
		SERVER_PID=$! PORT=$IPORT
		;;
	dovecot)
		dovecot -F -c "$WORK/dovecot.conf" 2>>"$WORK/dovecot.log" &
		SERVER_PID=$! PORT=$DPORT
		;;
	esac
	wait_port "$PORT"
}

# wait_quiet: before a timed run, wait (at most QUIET_WAIT seconds) until
# the 1-minute load is under QUIET_LOAD: the previous run's 1,000 sessions
# or a build elsewhere would otherwise be measured too. The load at the
# start goes beside every figure.
QUIET_LOAD=${QUIET_LOAD:-1.0}
QUIET_WAIT=${QUIET_WAIT:-180}
wait_quiet() {
	local i
	for ((i = 0; i < QUIET_WAIT; i += 5)); do
		awk -v max="$QUIET_LOAD" '{ exit !($1 < max) }' /proc/loadavg && return 0
		sleep 5
	done
	log "load still $(cut -d' ' -f1 /proc/loadavg) after ${QUIET_WAIT}s; measuring anyway (the table shows it)"
}

# run ROUND SERVER NAME imapbench-args...: one workload on a fresh server.
run() {
	local round=$1 server=$2 name=$3
	shift 3
	case " ${WORKLOADS:-$name} " in *" $name "*) ;; *) return 0 ;; esac
	wait_quiet
	start "$server"
	local out="$WORK/results/$round-$server-$name.txt"
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	log "round $round $server $name (load $load)"
	local slog="$WORK/$server.log" lines
	lines=$(wc -l <"$slog")
	"$BENCH" "$@" -addr "127.0.0.1:$PORT" -users "bench%d:$PASS" -server-pids "$SERVER_PID" -label "$server" >"$out" 2>&1 ||
		echo "RESULT failed label=$server exit=$?" >>"$out"
	cleanup
	# The server's own complaints during the workload, shown, not hidden.
	tail -n +"$((lines + 1))" "$slog" | grep -E 'level=(WARN|ERROR)|: (Warning|Error|Fatal|Panic):' |
		grep -v 'Killed with signal 15' | sed 's/^/SERVERLOG /' >>"$out" || true
	grep -E '^(RESULT|errors:|  +[0-9]+  )' "$out" | sed "s/^/  /" >&2 || true
	if grep -q '^SERVERLOG' "$out"; then
		echo "  server log: $(grep -c '^SERVERLOG' "$out") warnings or errors, e.g. $(grep -m1 '^SERVERLOG' "$out" | cut -c11-200)" >&2
	fi
	echo "WORKLOAD $name" >>"$out"
	echo "LOAD $load" >>"$out"
}

workloads() {
	local round=$1 server=$2
	run "$round" "$server" mix10 mix -clients 10 -duration "$DURATION"
	run "$round" "$server" steady10 steady -clients 10 -duration "$DURATION"
	run "$round" "$server" steady100 steady -clients 100 -duration "$DURATION"
	run "$round" "$server" login10 login -clients 10 -nusers "$USERS" -duration "$DURATION"
	run "$round" "$server" idle200x200 idle -clients 200 -nusers 200 -first "$STEADY"
	run "$round" "$server" idle200x10 idle -clients 200 -nusers 10 -first "$STEADY"
	# The same 200 accounts, measured after both servers hibernated them.
	run "$round" "$server" idle200x200h idle -clients 200 -nusers 200 -first "$STEADY" -settle 75s
	run "$round" "$server" idle1000x10 idle -clients 1000 -nusers 10 -first "$STEADY"
	if [ "$SKIP_BIG" != 1 ]; then
		run "$round" "$server" idle1000x1000 idle -clients 1000 -nusers "$BIG" -first "$STEADY"
	fi
}

# table: medians over rounds of each figure, and imapd/Dovecot.
table() {
	local f
	for f in "$WORK"/results/*.txt; do
		awk -v file="$(basename "$f" .txt)" '
			/^WORKLOAD/ { w = $2 }
			/^RESULT/ { r = $0 }
			/^LOAD/ { l = $2 }
			END { split(file, p, "-"); print p[1], p[2], w, r, "load=" l }' "$f"
	done | awk -v md="${MARKDOWN:-0}" '
	function num(s, key,   re) {
		if (match(s, " " key "=[-0-9.]+")) return substr(s, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
		return ""
	}
	function add(w, m, srv, v) { if (v == "") return; k = w SUBSEP m SUBSEP srv; n[k]++; val[k, n[k]] = v; keys[w SUBSEP m] = 1 }
	{
		srv = $2; w = $3
		add(w, "ops/s", srv, num($0, "ops_per_s"))
		add(w, "p99 ms", srv, num($0, "p99_ms"))
		add(w, "CPU ms/op", srv, num($0, "cpu_ms_per_op"))
		add(w, "logins/s", srv, num($0, "cycles_per_s"))
		add(w, "PSS MB total", srv, (num($0, "pss_kb") == "" ? "" : num($0, "pss_kb") / 1024))
		add(w, "PSS kB/session", srv, num($0, "pss_per_session_kb"))
		add(w, "EXISTS all ms", srv, num($0, "notify_all_ms"))
		add(w, "EXISTS own max ms", srv, num($0, "notify_own_max_ms"))
		add(w, "errors", srv, num($0, "errors"))
		add(w, "load at start", srv, num($0, "load"))
		add(w, "missed", srv, num($0, "missed"))
	}
	function median(k,   i, j, t, c, arr) {
		c = n[k]; if (c == 0) return ""
		for (i = 1; i <= c; i++) arr[i] = val[k, i]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (arr[j] + 0 < arr[i] + 0) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
		return (c % 2) ? arr[(c + 1) / 2] : (arr[c / 2] + arr[c / 2 + 1]) / 2
	}
	function row(a, b, c, d, e) {
		if (md) printf "| %s | %s | %s | %s | %s |\n", a, b, c, d, e
		else printf "%-14s %-15s %12s %12s %8s\n", a, b, c, d, e
	}
	END {
		row("workload", "figure", "imapd", "dovecot", "ratio")
		if (md) print "|---|---|--:|--:|--:|"
		for (wm in keys) rows[++nr] = wm
		for (i = 1; i <= nr; i++) for (j = i + 1; j <= nr; j++) if (rows[j] < rows[i]) { t = rows[i]; rows[i] = rows[j]; rows[j] = t }
		for (i = 1; i <= nr; i++) {
			split(rows[i], p, SUBSEP)
			a = median(rows[i] SUBSEP "imapd"); b = median(rows[i] SUBSEP "dovecot")
			ratio = (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-"
			row(p[1], p[2], (a == "" ? "-" : sprintf("%.2f", a)), (b == "" ? "-" : sprintf("%.2f", b)), ratio)
		}
	}'
}

# percmd [WORKLOAD]: p50 and p99 per command of a steady workload,
# medians over rounds, imapd against Dovecot.
percmd() {
	local w=${1:-steady10}
	for f in "$WORK"/results/*-"$w".txt; do
		awk -v srv="$(basename "$f" .txt | cut -d- -f2)" '
			/^measured/ { on = 1; skip = 1; next }
			on && skip { skip = 0; next }
			on && /^all / { on = 0 }
			on && NF >= 6 { name = $1; for (i = 2; i <= NF - 5; i++) name = name " " $i; print srv "\t" name "\t" $(NF - 2) "\t" $(NF - 1) }' "$f"
	done | awk -F '\t' -v md="${MARKDOWN:-0}" '
	function median(k, c,   i, j, t, arr) {
		for (i = 1; i <= c; i++) arr[i] = v[k, i]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (arr[j] + 0 < arr[i] + 0) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
		return (c % 2) ? arr[(c + 1) / 2] : (arr[c / 2] + arr[c / 2 + 1]) / 2
	}
	{
		if (!($2 in seen)) { seen[$2] = 1; order[++no] = $2 }
		k = $1 SUBSEP $2 SUBSEP "p50"; n[k]++; v[k, n[k]] = $3
		k = $1 SUBSEP $2 SUBSEP "p99"; n[k]++; v[k, n[k]] = $4
	}
	END {
		if (md) { print "| command | imapd p50 ms | Dovecot p50 ms | ratio | imapd p99 ms | Dovecot p99 ms |"; print "|---|--:|--:|--:|--:|--:|" }
		else printf "%-14s %12s %14s %6s %12s %14s\n", "command", "imapd p50 ms", "dovecot p50 ms", "ratio", "imapd p99 ms", "dovecot p99 ms"
		for (i = 1; i <= no; i++) {
			c = order[i]
			a = median("imapd" SUBSEP c SUBSEP "p50", n["imapd" SUBSEP c SUBSEP "p50"])
			b = median("dovecot" SUBSEP c SUBSEP "p50", n["dovecot" SUBSEP c SUBSEP "p50"])
			a9 = median("imapd" SUBSEP c SUBSEP "p99", n["imapd" SUBSEP c SUBSEP "p99"])
			b9 = median("dovecot" SUBSEP c SUBSEP "p99", n["dovecot" SUBSEP c SUBSEP "p99"])
			r = (b + 0 > 0) ? sprintf("%.2f", a / b) : "-"
			if (md) printf "| %s | %.2f | %.2f | %s | %.1f | %.1f |\n", c, a, b, r, a9, b9
			else printf "%-14s %12.2f %14.2f %6s %12.1f %14.1f\n", c, a, b, r, a9, b9
		}
	}'
}

# All in one function, ended by exit on the same line: bash reads a script
# as it runs, and the file may change under a long run.
main() {
	case ${1:-all} in
	setup) setup ;;
	table) table ;;
	percmd) percmd "${2:-steady10}" ;;
	all)
		setup
		rm -f "$WORK"/results/*.txt
		start_time=$(date +%s)
		for ((round = 1; round <= ROUNDS; round++)); do
			for server in $ONLY; do
				workloads "$round" "$server"
			done
		done
		log "done in $(($(date +%s) - start_time))s; outputs in $WORK/results"
		echo "imapd at commit $(cat "$WORK/bin/VERSION" 2>/dev/null), $(dovecot --version | sed 's/^/Dovecot /')"
		echo "machine: $(nproc) CPUs, $(free -h | awk '/^Mem:/ {print $2}') RAM, Linux $(uname -r)"
		echo "load average (1 min) at the start of the workloads: $(cat "$WORK"/results/*.txt | awk '/^LOAD/ {print $2}' | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo " to " hi}')"
		table
		# Per-command latencies when steady10 was among the workloads.
		if compgen -G "$WORK/results/*-steady10.txt" >/dev/null; then
			echo
			percmd steady10
		fi
		;;
	*)
		echo "usage: $0 [setup|table|percmd [WORKLOAD]|all]" >&2
		exit 2
		;;
	esac
}

main "$@"; exit
