#!/usr/bin/env bash
# Runs every fuzz target of the repository for a bounded time each
# (FUZZTIME, default 10s). Seed corpora live in each package's testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# One go list for every package: a go list per package cost seconds each.
while read -r pkg dir; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		for try in 1 2; do
			echo "fuzz $pkg $target ($FUZZTIME)"
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
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
