#!/bin/bash
# tests/bench/handshake.sh: the handshake cost keyd adds (issue 16). Runs
# authd/keyd's BenchmarkHandshake (the same certificate, ECDSA P-256, RSA
# 2048 and Ed25519, TLS 1.3 and 1.2, the key in process against signing
# through keyd over a socketpair) and prints each pair side by side. Needs
# no accounts, ports or root. Run it on a quiet machine only:
#   BENCHTIME=2s COUNT=5 tests/bench/handshake.sh
# tls.sh runs it after `imapbench tls` (NO_HANDSHAKE=1 skips it).
set -eu
cd "$(dirname "$0")/../.."
out=$(go test -run '^$' -bench '^BenchmarkHandshake$' -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" ./authd/keyd/)
echo "$out" | awk '
/^BenchmarkHandshake\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[4])
	k = p[2] " " p[3]; ns[k, p[4]] += $3; n[k, p[4]]++
	if (!(k in seen)) { seen[k] = 1; order[++m] = k }
}
END {
	if (m == 0) { print "handshake.sh: no benchmark results" > "/dev/stderr"; exit 1 }
	printf "%-14s %-6s %12s %12s %8s\n", "certificate", "tls", "local µs", "keyd µs", "keyd/local"
	for (i = 1; i <= m; i++) {
		k = order[i]; split(k, f, " ")
		l = ns[k, "local"] / n[k, "local"] / 1000; d = ns[k, "keyd"] / n[k, "keyd"] / 1000
		printf "%-14s %-6s %12.1f %12.1f %7.2fx\n", f[1], f[2], l, d, d / l
	}
}'
