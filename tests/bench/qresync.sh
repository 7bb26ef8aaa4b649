#!/bin/bash
# tests/bench/qresync.sh: issue 12's resync benchmark of imapd against
# Dovecot (docs/performance.md). As root: sets up the bench user and both
# servers as tests/bench/folder.sh does, then runs tests/bench/qresync on
# a fresh folder per server (arguments are passed on, e.g. -messages 20000
# -rounds 3): after another client flagged 1,000 messages and expunged
# 100, the time and bytes of a QRESYNC SELECT against a full
# SELECT + UID FETCH 1:* (FLAGS) resync. Prints a Markdown table.
#
#   tests/bench/qresync.sh                  # 100,000 messages
#   NO_IMAPD=1 tests/bench/qresync.sh ...   # Dovecot alone
set -eu
IMAPBENCH_LIB=1
. "$(dirname "$0")/folder.sh"

bench_setup
trap 'stop_imapd; stop_dovecot' EXIT INT TERM
(cd "$REPO" && go build -o bin/qresync-bench ./tests/bench/qresync) || die "tests/bench/qresync does not build"
stop_dovecot
start_dovecot
imapd_flag=127.0.0.1:$IMAPD_PORT
if [ -n "${NO_IMAPD:-}" ] || ! start_imapd; then
	imapd_flag=
fi
"$REPO/bin/qresync-bench" -owner "$BENCH_USER" -user "$BENCH_USER" -pass "$BENCH_PASS" \
	-imapd "$imapd_flag" -imapd-maildir "$BENCH_DIR/imapd-mail/$BENCH_USER" \
	-dovecot 127.0.0.1:$DOVECOT_PORT -dovecot-maildir "$BENCH_DIR/dovecot-mail/$BENCH_USER" "$@"
