#!/usr/bin/env bash
# Runs every fuzz target of the repository for a bounded time each
# (FUZZTIME, default 10s). Seed corpora live in each package's testdata/fuzz.
# Each package's fuzzing test binary is built once (go test -c -fuzz) and
# run once per target from the package's directory, with the fuzz cache
# go test itself would use: a go test -fuzz per target relinked the binary
# each time, which cost more than the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
cache=$(go env GOCACHE)/fuzz
# One go list for every package: a go list per package cost seconds each.
while read -r pkg dir; do
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
	[ -n "$targets" ] || continue
	bin=$tmp/$(echo "$pkg" | tr / _).test
	go test -c -fuzz=. -o "$bin" "$pkg"
	for target in $targets; do
		for try in 1 2; do
			echo "fuzz $pkg $target ($FUZZTIME)"
			if (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$FUZZTIME" \
				-test.fuzzcachedir "$cache/$pkg") >"$log" 2>&1; then
				break
			fi
			# Go's fuzzing coordinator sometimes gives up on a busy machine
			# with "context deadline exceeded" and no failing input: that is
			# the engine, not a finding, and is tried once more. A real
			# finding ("Failing input written to ...") fails at once.
			if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
				echo "fuzz $pkg $target: fuzzing engine timed out without a finding; once more"
				continue
			fi
			cat "$log"
			exit 1
		done
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
