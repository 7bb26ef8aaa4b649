#!/usr/bin/env bash
# `make test-deps`: installs what the test suite needs, and nothing else.
# As root: the Debian packages below (apt-get, only those missing). As any
# user: protoc-gen-go and staticcheck (go install, into $(go env GOPATH)/bin),
# the Go modules (go mod download) and imapflow (npm ci in tests/node).
# It starts, stops and configures no service.
#   .ci/deps.sh PACKAGE...   installs just these Debian packages, the same way
#                            (the benchmarks' Dovecot and its Xapian plugin)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

APT_ONLY=""
[ $# -gt 0 ] && APT_ONLY=1
DEB_PACKAGES="${*:-libpam0g-dev protobuf-compiler mandoc isync curl openssl python3 whois dovecot-imapd nodejs npm iproute2 ssl-cert debhelper lintian systemd}"
if [ "$(id -u)" = 0 ]; then
	missing=""
	for p in $DEB_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	# A machine whose node and npm came from elsewhere needs no Debian ones.
	if command -v node >/dev/null && command -v npm >/dev/null; then
		missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
	fi
	if [ -n "${missing// /}" ]; then
		echo "== test-deps: apt-get install$missing"
		apt-get update -qq
		# policy-rc.d keeps Debian from starting the services it installs
		# (dovecot): the tests run their own instances, the host runs none
		# it did not run before.
		norestart=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			norestart=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || { [ -n "$norestart" ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
		[ -n "$norestart" ] && rm -f /usr/sbin/policy-rc.d
	fi
fi
[ -z "$APT_ONLY" ] || exit 0
PROTOC_GEN_GO_VERSION=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
if ! command -v protoc-gen-go >/dev/null || ! protoc-gen-go --version 2>/dev/null | grep -q "$PROTOC_GEN_GO_VERSION"; then
	echo "== test-deps: go install protoc-gen-go@$PROTOC_GEN_GO_VERSION"
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if ! command -v staticcheck >/dev/null; then
	echo "== test-deps: go install staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# The end-to-end tests run without a network: everything is fetched now.
go mod download
if command -v npm >/dev/null; then
	(cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
