#!/usr/bin/env bash
# `make test`: the whole suite. As root it first installs what the tests
# need, so a fresh Debian machine with Go runs everything, nothing skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

PROTOC_GEN_GO_VERSION=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
DEB_PACKAGES="libpam0g-dev protobuf-compiler mandoc isync curl openssl python3 whois dovecot-imapd"

if [ "$(id -u)" = 0 ]; then
	missing=""
	for p in $DEB_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== installing:$missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	fi
	# Debian starts dovecot on install; tests run their own instances.
	if command -v systemctl >/dev/null && systemctl is-active -q dovecot 2>/dev/null; then
		systemctl stop dovecot || true
	fi
fi
if ! command -v protoc-gen-go >/dev/null || ! protoc-gen-go --version 2>/dev/null | grep -q "$PROTOC_GEN_GO_VERSION"; then
	echo "== installing protoc-gen-go $PROTOC_GEN_GO_VERSION"
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if ! command -v staticcheck >/dev/null; then
	echo "== installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi
echo "== go vet"
go vet ./...
go vet -tags pam ./authd/... ./cmd/imapd-authd/...
echo "== staticcheck"
staticcheck ./...

TAGS=""
[ -f /usr/include/security/pam_appl.h ] && TAGS="pam"
# The end-to-end tests (tests/) run the whole server and time some of its
# answers: they run on their own, after the package tests, not beside them.
echo "== go test (packages)"
status=0
go test -tags "$TAGS" -count=1 -timeout 20m $(go list ./... | grep -v '^imapd/tests$') 2>&1 | tee /tmp/imapd-test.$$.log || status=1
echo "== go test (end to end, tests/)"
go test -tags "$TAGS" -count=1 -timeout 20m -v ./tests/ > /tmp/imapd-e2e.$$.log 2>&1 || status=1
grep -E '^(--- |ok|FAIL|PASS)|_test.go:[0-9]+:' /tmp/imapd-e2e.$$.log | tee -a /tmp/imapd-test.$$.log
if grep -q '^--- FAIL' /tmp/imapd-e2e.$$.log; then
	echo "== end-to-end failures: full output"
	cat /tmp/imapd-e2e.$$.log
fi
rm -f /tmp/imapd-e2e.$$.log
passed=$(grep -c '^ok ' /tmp/imapd-test.$$.log || true)
failed=$(grep -c '^FAIL' /tmp/imapd-test.$$.log || true)
rm -f /tmp/imapd-test.$$.log
[ "$status" = 0 ] || { echo "go test failed"; echo "packages: $passed passed, $failed failed"; exit 1; }

echo "== fuzz (bounded)"
./.ci/fuzz.sh

echo "packages: $passed passed, $failed failed"
