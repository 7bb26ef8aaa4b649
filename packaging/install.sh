#!/bin/sh
# make install / make uninstall: see README.md ("Running it for real").
#
#   install.sh install | uninstall
#
# with DESTDIR, PREFIX, SYSTEMDDIR and BIN from the Makefile. install records
# what it added in a manifest, $PREFIX/share/imapd/installed, one line each:
#   <sha256>  <path>    a file it wrote, with the checksum of what it wrote
#   dir  <path>         a directory it created
#   user  _imapd        the system user it created (only when DESTDIR is empty)
# Paths are without DESTDIR. uninstall removes a file only if its checksum is
# still the recorded one, a directory only if it is empty, and the user only
# if install created it: what an administrator changed or added stays.
set -eu

: "${PREFIX:=/usr/local}" "${SYSTEMDDIR:=/etc/systemd/system}" "${BIN:=bin}"
DESTDIR=${DESTDIR:-}
MANIFEST=$PREFIX/share/imapd/installed
USER_NAME=_imapd
CHROOT=/var/empty

new=$(mktemp)
trap 'rm -f "$new" "$new.unit"' EXIT

sum() { sha256sum "$DESTDIR$1" | cut -d' ' -f1; }

# mkd DIR: create DIR and any missing parents, recording each one created.
mkd() {
	if [ -d "$DESTDIR$1" ] || [ "$1" = / ]; then return; fi
	mkd "$(dirname "$1")"
	mkdir "$DESTDIR$1"
	echo "dir  $1" >>"$new"
}

# put SRC DEST MODE [keep]: install a file and record it. With keep, an
# existing DEST is left as it is (the administrator's configuration): its
# line from an earlier install, if any, is carried over by the merge below.
put() {
	if [ "${4:-}" = keep ] && [ -e "$DESTDIR$2" ]; then
		echo "kept $DESTDIR$2 (exists)"
		return
	fi
	mkd "$(dirname "$2")"
	install -m "$3" "$1" "$DESTDIR$2"
	echo "$(sum "$2")  $2" >>"$new"
}

do_install() {
	if [ -n "$DESTDIR" ]; then mkdir -p "$DESTDIR"; fi
	put "$BIN/imapd" "$PREFIX/sbin/imapd" 0755
	# imapd-authd goes next to imapd, where the parent looks for it.
	put "$BIN/imapd-authd" "$PREFIX/sbin/imapd-authd" 0755
	put "$BIN/imapctl" "$PREFIX/bin/imapctl" 0755
	put docs/man/imapd.conf.5 "$PREFIX/share/man/man5/imapd.conf.5" 0644
	put docs/man/imapd.8 "$PREFIX/share/man/man8/imapd.8" 0644
	put docs/man/imapctl.8 "$PREFIX/share/man/man8/imapctl.8" 0644
	put examples/imapd.conf /etc/imapd.conf 0644 keep
	put examples/pam.d-imapd /etc/pam.d/imapd 0644 keep
	sed "s|/usr/local/|$PREFIX/|g" examples/imapd.service >"$new.unit"
	put "$new.unit" "$SYSTEMDDIR/imapd.service" 0644
	# The preauth workers' chroot: empty, and root's. One that exists is the
	# administrator's, and left as it is.
	if [ ! -d "$DESTDIR$CHROOT" ]; then
		mkd "$CHROOT"
		chmod 0755 "$DESTDIR$CHROOT"
		if [ "$(id -u)" = 0 ]; then chown root:root "$DESTDIR$CHROOT"; fi
	fi
	if [ -z "$DESTDIR" ] && ! id "$USER_NAME" >/dev/null 2>&1; then
		useradd --system --shell /usr/sbin/nologin --home-dir "$CHROOT" --no-create-home "$USER_NAME"
		echo "user  $USER_NAME" >>"$new"
	fi
	mkd "$(dirname "$MANIFEST")"
	# Lines of an earlier install stay unless this one wrote the same path.
	if [ -f "$DESTDIR$MANIFEST" ]; then
		awk 'NR == FNR { seen[$2] = 1; next } !($2 in seen)' "$new" "$DESTDIR$MANIFEST" >>"$new"
	fi
	install -m 0644 "$new" "$DESTDIR$MANIFEST"

	if [ -n "$DESTDIR" ]; then
		echo "imapd installed into $DESTDIR; the files are listed in $DESTDIR$MANIFEST"
		return
	fi
	cat <<EOF

imapd is installed ($MANIFEST lists what was added). Next:
  1. Edit /etc/imapd.conf. Its certificate is Debian's snakeoil pair (package
     ssl-cert), which clients warn about: see the comment above "tls certificate".
  2. imapd -n                       check it; errors name file:line
  3. systemctl daemon-reload && systemctl enable --now imapd
  4. imapctl status                 processes, sessions, auth counters
Logs: journalctl -u imapd. Undo: systemctl disable --now imapd; make uninstall PREFIX=$PREFIX
EOF
}

do_uninstall() {
	if [ ! -f "$DESTDIR$MANIFEST" ]; then
		echo "uninstall: no $DESTDIR$MANIFEST: imapd was not installed with this DESTDIR and PREFIX" >&2
		exit 1
	fi
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] &&
		{ systemctl -q is-active imapd || systemctl -q is-enabled imapd; } 2>/dev/null; then
		echo "uninstall: imapd.service is enabled or running: systemctl disable --now imapd first" >&2
		exit 1
	fi
	# Started by hand, imapd shows as the preauth workers' processes; userdel
	# would refuse halfway.
	if [ -z "$DESTDIR" ] && grep -qx "user  $USER_NAME" "$MANIFEST" && pgrep -u "$USER_NAME" >/dev/null 2>&1; then
		echo "uninstall: imapd is running (processes of $USER_NAME): stop it first" >&2
		exit 1
	fi
	# Files first, then the user, then directories deepest first.
	while read -r what path; do
		case $what in
		dir | user) ;;
		*)
			if [ ! -e "$DESTDIR$path" ]; then
				:
			elif [ "$(sum "$path")" = "$what" ]; then
				rm -f "$DESTDIR$path"
			else
				echo "kept $DESTDIR$path (changed since make install)"
			fi
			;;
		esac
	done <"$DESTDIR$MANIFEST"
	if [ -z "$DESTDIR" ] && grep -qx "user  $USER_NAME" "$DESTDIR$MANIFEST" && id "$USER_NAME" >/dev/null 2>&1; then
		userdel "$USER_NAME"
	fi
	awk '$1 == "dir" { print $2 }' "$DESTDIR$MANIFEST" | sort -r >"$new"
	rm -f "$DESTDIR$MANIFEST"
	while read -r dir; do
		rmdir "$DESTDIR$dir" 2>/dev/null || echo "kept $DESTDIR$dir (not empty)"
	done <"$new"
	echo "imapd uninstalled from $DESTDIR$PREFIX"
}

case ${1:-} in
install) do_install ;;
uninstall) do_uninstall ;;
*)
	echo "usage: $0 install | uninstall" >&2
	exit 2
	;;
esac
