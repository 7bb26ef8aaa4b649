#!/usr/bin/env bash
# Prints what `make test` must leave as it found it on the host
# (docs/testing.md#hermetic): checksums of the account and PAM files,
# root's password field, the homes, the test runs' temporary directories
# (tests/hermetic), the running services and the listening sockets.
# .ci/test.sh runs it before and after the test stages and fails if the
# two differ.
set -uo pipefail
echo "# files"
for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/pam.d/*; do
	[ -e "$f" ] && sha256sum "$f"
done
echo "# root's password field"
getent shadow root | cut -d: -f2 | sha256sum | cut -d' ' -f1
echo "# homes"
ls -A /home
echo "# temporary directories of hermetic test runs"
ls -d /tmp/ih-* 2>/dev/null
echo "# services"
if [ -d /run/systemd/system ]; then
	systemctl list-units --type=service --state=running --no-legend --plain | awk '{print $1}'
else
	# Without systemd: the daemons, processes whose parent is init.
	ps -eo ppid=,comm= | awk '$1 == 1 {print $2}' | sort -u
fi
echo "# listening sockets"
ss -Hltnu 2>/dev/null | awk '{print $1, $5}' | sort -u
