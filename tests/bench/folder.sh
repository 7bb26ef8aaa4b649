#!/bin/bash
# tests/bench/folder.sh: the large-folder benchmark (issue 4) of imapd against
# Dovecot. As root: creates the user ibench, builds imapd and imapbench,
# starts both servers on loopback with the same passwd-file, runs
# `imapbench folder` (arguments are passed on, e.g. -messages 2000), stops
# them; the table includes SORT, THREAD and PARTIAL paging, first and repeated,
# and the mailbox process's peak RSS after them, before the full-text index is
# built (issue 13). Everything lives under $BENCH_DIR (default /var/tmp/imapbench); the
# generated folder is cached there (about 3.5 GB for 100,000 messages).
# It runs in private namespaces (tests/bench/private.sh): the user, the
# passwd-file and the ports are not the host's, and $BENCH_DIR is inside
# the private /var (its writes kept under $BENCH_STATE, /tmp/imapbench-ns).
#
#   tests/bench/folder.sh                    # the full run, 100,000 messages
#   tests/bench/folder.sh -messages 2000     # a quick one
#   NO_IMAPD=1 tests/bench/folder.sh ...     # Dovecot alone
#   DOVECOT_FTS=xapian tests/bench/folder.sh -timeout 60m
#                                            # Dovecot with its Xapian FTS plugin
#                                            # (dovecot-fts-xapian, installed if missing);
#                                            # its indexer needs more than the default 15m
#                                            # for one command on 100,000 messages
#
# The full-text rows (issue 18): index build by the first SEARCH BODY, peak
# RSS after it, index size on disk, warm SEARCH BODY of a rare word, a common
# word and a 3-character string, SEARCH TEXT, and one appended 10 KB message;
# counts checked against imapd's matcher run over every file (cached beside
# the folder as .fts.json).
#   IMAPBENCH=path                     # use this imapbench binary
#
# tests/bench/tls.sh sources this file with IMAPBENCH_LIB=1 for the functions.
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/private.sh"
bench_private dovecot-imapd ${DOVECOT_FTS:+dovecot-fts-xapian} -- "$0" "$@"

BENCH_DIR=${BENCH_DIR:-/var/tmp/imapbench}
BENCH_USER=ibench
BENCH_PASS=ibench
REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMAPD_PORT=31143
IMAPD_TLS_PORT=31993
DOVECOT_PORT=32143
DOVECOT_TLS_PORT=32993

die() { echo "bench: $*" >&2; exit 1; }

bench_setup() {
	[ "$(id -u)" = 0 ] || die "run as root (servers drop to the bench user; the page cache is dropped)"
	command -v openssl >/dev/null || die "openssl is missing"
	mkdir -p "$BENCH_DIR" && chmod 755 "$BENCH_DIR"
	id "$BENCH_USER" >/dev/null 2>&1 ||
		useradd -m -d "$BENCH_DIR/home" -s /usr/sbin/nologin "$BENCH_USER"
	id _imapd >/dev/null 2>&1 || useradd -r -d /var/empty -s /usr/sbin/nologin _imapd
	mkdir -p /var/empty
	uid=$(id -u "$BENCH_USER") gid=$(id -g "$BENCH_USER")
	# One passwd-file, Dovecot's format, read by both servers.
	hash=$(openssl passwd -6 -salt imapbench "$BENCH_PASS")
	echo "$BENCH_USER:{SHA512-CRYPT}$hash:$uid:$gid::$BENCH_DIR/home:" >"$BENCH_DIR/passwd"
	chgrp dovecot "$BENCH_DIR/passwd" && chmod 640 "$BENCH_DIR/passwd"
	# imapd's authd reads it as _imapd (docs/security.md, authd): its own copy.
	cp "$BENCH_DIR/passwd" "$BENCH_DIR/imapd-passwd"
	chgrp _imapd "$BENCH_DIR/imapd-passwd" && chmod 640 "$BENCH_DIR/imapd-passwd"
	# One self-signed certificate for both servers.
	if [ ! -f "$BENCH_DIR/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
			-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
			-keyout "$BENCH_DIR/key.pem" -out "$BENCH_DIR/cert.pem" 2>/dev/null
		chmod 600 "$BENCH_DIR/key.pem"
	fi
	# imapd may fail to build while it is being finished: the run then measures Dovecot alone.
	(cd "$REPO" && make -s build >"$BENCH_DIR/build.log" 2>&1) || {
		echo "bench: make build failed (see $BENCH_DIR/build.log): Dovecot alone" >&2
		NO_IMAPD=1
	}
	if [ -z "${IMAPBENCH:-}" ]; then
		(cd "$REPO" && go build -o bin/imapbench ./cmd/imapbench) || die "imapbench does not build"
		IMAPBENCH=$REPO/bin/imapbench
	fi
}

start_dovecot() {
	d=$BENCH_DIR/dovecot
	mkdir -p "$d/run"
	cat >"$d/dovecot.conf" <<EOF
# Dovecot $(dovecot --version | cut -d' ' -f1) as Debian ships it; only what the benchmark needs is set.
protocols = imap
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
instance_name = imapbench
log_path = $d/dovecot.log
ssl = yes
ssl_cert = <$BENCH_DIR/cert.pem
ssl_key = <$BENCH_DIR/key.pem
disable_plaintext_auth = no
first_valid_uid = 1000
mail_location = maildir:$BENCH_DIR/dovecot-mail/%u
passdb {
  driver = passwd-file
  args = $BENCH_DIR/passwd
}
userdb {
  driver = passwd-file
  args = $BENCH_DIR/passwd
}
service imap-login {
  inet_listener imap {
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = $DOVECOT_TLS_PORT
    ssl = yes
  }
}
EOF
	if [ "${DOVECOT_FTS:-}" = xapian ]; then
		# Substring search from 3 characters, as IMAP SEARCH needs.
		cat >>"$d/dovecot.conf" <<EOF
mail_plugins = \$mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20 verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}
EOF
	fi
	mkdir -p "$d/state"
	wait_free $DOVECOT_PORT || die "port $DOVECOT_PORT is taken"
	dovecot -c "$d/dovecot.conf" || die "dovecot did not start (see $d/dovecot.log)"
	wait_port $DOVECOT_PORT || die "dovecot is not listening"
}

stop_dovecot() {
	pidf=$BENCH_DIR/dovecot/run/master.pid
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	# Only our master: a stale pid file may name someone else's process by now.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "dovecot -c $BENCH_DIR/dovecot/dovecot.conf" || return 0
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# start_imapd: 0 when imapd answers on its ports, 1 otherwise (the run goes on with Dovecot).
start_imapd() {
	d=$BENCH_DIR/imapd
	mkdir -p "$d" "$BENCH_DIR/imapd-mail"
	chmod 755 "$BENCH_DIR/imapd-mail"
	cat >"$d/imapd.conf" <<EOF
listen on 127.0.0.1 port $IMAPD_PORT plain
listen on 127.0.0.1 port $IMAPD_TLS_PORT tls
tls certificate "$BENCH_DIR/cert.pem" key "$BENCH_DIR/key.pem"
storage maildir "$BENCH_DIR/imapd-mail"
auth passwd-file "$BENCH_DIR/imapd-passwd"
control socket "$d/control.sock"
limit connections per ip 100
EOF
	wait_free $IMAPD_PORT || return 1
	"$REPO/bin/imapd" -c "$d/imapd.conf" >"$d/imapd.log" 2>&1 &
	IMAPD_PID=$!
	if ! wait_port $IMAPD_PORT; then
		echo "bench: imapd did not start; its log:" >&2
		tail -5 "$d/imapd.log" >&2
		return 1
	fi
}

stop_imapd() {
	if [ -n "${IMAPD_PID:-}" ]; then
		kill "$IMAPD_PID" 2>/dev/null || true
		wait "$IMAPD_PID" 2>/dev/null || true
		IMAPD_PID=
	fi
	# imapd drains its sessions before it exits: the next run must not
	# find it still listening.
	wait_free $IMAPD_PORT
}

# wait_free PORT: until nothing listens on PORT (at most 20 s).
wait_free() {
	i=0
	while (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
		[ $i -ge 200 ] && { echo "bench: port $1 still in use" >&2; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
}

wait_port() {
	i=0
	while [ $i -lt 50 ]; do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

[ "${IMAPBENCH_LIB:-}" = 1 ] && return 0

bench_setup
trap 'stop_imapd; stop_dovecot' EXIT INT TERM
stop_dovecot
start_dovecot
imapd_flag=127.0.0.1:$IMAPD_PORT
if [ -n "${NO_IMAPD:-}" ] || ! start_imapd; then
	imapd_flag=
fi
"$IMAPBENCH" folder -owner "$BENCH_USER" -user "$BENCH_USER" -pass "$BENCH_PASS" \
	-cache "$BENCH_DIR/cache" \
	-imapd "$imapd_flag" -imapd-maildir "$BENCH_DIR/imapd-mail/$BENCH_USER" -imapd-proc "imapd: mailbox $BENCH_USER" \
	-dovecot 127.0.0.1:$DOVECOT_PORT -dovecot-proc dovecot-imapbench/imap -dovecot-maildir "$BENCH_DIR/dovecot-mail/$BENCH_USER" "$@"
