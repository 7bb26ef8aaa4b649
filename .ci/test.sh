#!/usr/bin/env bash
# `make test` and `make check`: the suite in stages, each timed.
#   .ci/test.sh         lint, package tests (-race), end-to-end tests, fuzzing
#   .ci/test.sh quick   lint and package tests only (make check)
# FUZZTIME (default 2s) is the time each fuzz target gets. As root the
# tests run in namespaces of their own (tests/hermetic); the host's
# accounts, PAM files, services and sockets are checksummed around the test
# stages and must come out unchanged (.ci/hostsnap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
mode=${1:-full}
export FUZZTIME=${FUZZTIME:-2s}

logdir=$(mktemp -d /tmp/imapd-test.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
stages=""
status=0
stage_start=0
begin() {
	echo "== $1"
	stage_name=$1
	stage_start=$SECONDS
}
end() {
	stages="$stages  $stage_name: $((SECONDS - stage_start)) s"$'\n'
}

.ci/hostsnap.sh >"$logdir/host.before"

begin "gofmt, go vet, staticcheck, go mod tidy"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi
go vet ./...
go vet -tags pam ./authd/... ./cmd/imapd-authd/...
staticcheck ./...
go mod tidy -diff || { echo "go mod tidy would change go.mod or go.sum (above)"; exit 1; }
end

TAGS=""
[ -f /usr/include/security/pam_appl.h ] && TAGS="pam"

# Runs go test -v on the named packages, printing each package's result
# (or, with "each", each top-level test's name and time) as it ends.
run_tests() {
	local log=$1 each=$2
	shift 2
	local filter='^(ok|FAIL|---)'
	[ "$each" = each ] || filter='^(ok |FAIL|--- FAIL)'
	go test -v -tags "$TAGS" -count=1 "$@" 2>&1 | tee "$log" | grep --line-buffered -E "$filter" || true
	# tee hides go test's status: a FAIL line or a missing ok says it.
	! grep -qE '^(FAIL|--- FAIL|panic:)' "$log"
}

begin "go test -race (packages)"
run_tests "$logdir/pkg.log" packages -race -timeout 15m $(go list ./... | grep -v '^imapd/tests$') || status=1
end
if grep -qE '^(FAIL|--- FAIL|panic:)' "$logdir/pkg.log"; then
	echo "== package failures: output"
	grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)' "$logdir/pkg.log"
fi

if [ "$mode" = full ]; then
	# The end-to-end tests run the whole server and time some of its
	# answers: they run on their own, after the package tests.
	begin "go test (end to end, tests/)"
	run_tests "$logdir/e2e.log" each -timeout 20m ./tests/ || status=1
	end
	if grep -q '^--- FAIL' "$logdir/e2e.log"; then
		echo "== end-to-end failures: full output"
		cat "$logdir/e2e.log"
	fi
	if [ "$status" = 0 ]; then
		begin "fuzz ($FUZZTIME per target)"
		./.ci/fuzz.sh || status=1
		end
	fi
fi

.ci/hostsnap.sh >"$logdir/host.after"
if ! diff -u "$logdir/host.before" "$logdir/host.after"; then
	echo "== the host changed during the tests (above): that is a failure"
	status=1
fi

count() { cat "$logdir"/*.log 2>/dev/null | grep -c "^--- $1:" || true; }
echo "== stage times"
printf '%s' "$stages"
echo "tests: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
exit $status
