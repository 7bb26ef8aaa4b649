#!/bin/bash
# tests/bench/private.sh: sourced first by every benchmark script. As root it
# runs the calling script again in new mount, network, PID and UTS
# namespaces, so the accounts, PAM file, configurations and ports a
# benchmark needs never reach the host (docs/testing.md#benchmarks):
#   - /etc and /var are overlays whose writes go to $BENCH_STATE/upper;
#   - /home is $BENCH_STATE/home, /run a fresh tmpfs;
#   - the loopback is the namespace's own.
# $BENCH_STATE (default /tmp/imapbench-ns) keeps the overlays' writes, so a
# second run finds its accounts and generated folders; `rm -rf` it to start
# afresh. Packages are installed before entering (dpkg's database is under
# /var and its files under /usr), the one change a benchmark makes to the host.
# fs.inotify.max_user_instances is not namespaced: compare.sh raises it for
# the run and puts it back on exit.
#
#   bench_private PACKAGE... -- "$0" "$@"
bench_private() {
	local pkgs=(openssl iproute2)
	while [ "$1" != -- ]; do pkgs+=("$1"); shift; done
	shift
	[ "${IMAPBENCH_PRIVATE:-}" = 1 ] && return 0
	[ "$(id -u)" = 0 ] || { echo "bench: run as root (accounts, PAM, privilege separation, all in private namespaces)" >&2; exit 1; }
	# Installed as `make test-deps` does: no service is started on the host.
	"$(dirname "${BASH_SOURCE[0]}")/../../.ci/deps.sh" "${pkgs[@]}" || { echo "bench: could not install ${pkgs[*]}" >&2; exit 1; }
	local state=${BENCH_STATE:-/tmp/imapbench-ns}
	mkdir -p "$state"/upper/{etc,var} "$state"/work/{etc,var} "$state/home"
	export IMAPBENCH_PRIVATE=1 BENCH_STATE=$state
	exec unshare --mount --net --pid --uts --fork --mount-proc --propagation private bash -c '
		set -e
		s=$BENCH_STATE
		for d in etc var; do
			mount -t overlay overlay -o "lowerdir=/$d,upperdir=$s/upper/$d,workdir=$s/work/$d" "/$d"
		done
		mount --bind "$s/home" /home
		mount -t tmpfs -o mode=755 tmpfs /run
		ip link set lo up
		hostname imapbench
		exec "$@"' bench "$@"
}
