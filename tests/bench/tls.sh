#!/bin/bash
# tests/bench/tls.sh: the TLS benchmark (issue 5) of imapd against Dovecot. As
# root: the same user, passwd-file and certificate as tests/bench/folder.sh (whose
# functions it uses), empty Maildirs, both servers on loopback with
# implicit TLS, then `imapbench tls` (arguments are passed on, e.g.
# -rounds 3 -logins 50).
set -eu
IMAPBENCH_LIB=1
. "$(dirname "$0")/folder.sh"

bench_setup
trap 'stop_imapd; stop_dovecot' EXIT INT TERM
# Empty INBOXes: imapbench APPENDs the large message through each server.
for m in "$BENCH_DIR/imapd-mail/$BENCH_USER" "$BENCH_DIR/dovecot-mail/$BENCH_USER"; do
	rm -rf "$m" && mkdir -p "$m"/{cur,new,tmp} && chmod 755 "$(dirname "$m")" &&
		chown -R "$BENCH_USER:" "$m" && chmod -R go-rwx "$m"
done
stop_dovecot
start_dovecot
imapd_flag=127.0.0.1:$IMAPD_TLS_PORT
if [ -n "${NO_IMAPD:-}" ] || ! start_imapd; then
	imapd_flag=
fi
imapd_pid=${IMAPD_PID:-0}
[ -n "$imapd_flag" ] || imapd_pid=0
"$IMAPBENCH" tls -imapd-pid "$imapd_pid" -dovecot-pid "$(cat "$BENCH_DIR/dovecot/run/master.pid")" -user "$BENCH_USER" -pass "$BENCH_PASS" -ca "$BENCH_DIR/cert.pem" -servername localhost \
	-imapd "$imapd_flag" -dovecot 127.0.0.1:$DOVECOT_TLS_PORT "$@"
# Beside it, what keyd adds to a handshake, in process (handshake.sh).
if [ -z "${NO_HANDSHAKE:-}" ]; then
	echo
	echo "keyd's handshake cost (authd/keyd BenchmarkHandshake, same certificate):"
	"$(dirname "$0")/handshake.sh"
fi
