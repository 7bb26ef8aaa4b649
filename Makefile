# imapd: see README.md. `make run` starts the dev server, `make test` runs the suite.
GO ?= go
BIN := bin
PAM_HEADER := /usr/include/security/pam_appl.h
# imapd-authd links PAM only where its headers exist (the dev build of a
# normal user may lack libpam0g-dev and authenticates from a passwd-file).
AUTHD_TAGS := $(if $(wildcard $(PAM_HEADER)),pam,)

.PHONY: all build run test proto install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/imapd ./cmd/imapd
	CGO_ENABLED=0 $(GO) build -o $(BIN)/imapctl ./cmd/imapctl
	$(GO) build -tags '$(AUTHD_TAGS)' -o $(BIN)/imapd-authd ./cmd/imapd-authd

run: build
	$(BIN)/imapd -c examples/dev.conf

test:
	.ci/test.sh

proto:
	protoc --go_out=. --go_opt=module=imapd proto/imapd.proto

install:
	@echo "install: not yet written" >&2; exit 1

clean:
	rm -rf $(BIN)
