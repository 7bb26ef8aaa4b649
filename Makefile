# imapd: see README.md. `make run` starts the dev server, `make test` runs the suite.
GO ?= go
BIN := bin
PAM_HEADER := /usr/include/security/pam_appl.h
# imapd-authd links PAM only where its headers exist (the dev build of a
# normal user may lack libpam0g-dev and authenticates from a passwd-file).
AUTHD_TAGS := $(if $(wildcard $(PAM_HEADER)),pam,)

.PHONY: all build run test test-deps check proto install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/imapd ./cmd/imapd
	CGO_ENABLED=0 $(GO) build -o $(BIN)/imapctl ./cmd/imapctl
	$(GO) build -tags '$(AUTHD_TAGS)' -o $(BIN)/imapd-authd ./cmd/imapd-authd

# The dev server runs unprivileged. Started by root, it runs as nobody from a
# copy in $(DEVROOT), since the tree may sit where nobody cannot read it.
DEVROOT := /tmp/imapd-dev-root
run: build
	@echo "imapd dev server on 127.0.0.1:10143, in-memory storage: log in as demo / demo"
ifeq ($(shell id -u),0)
	@echo "process tree: $(BIN)/imapctl -c examples/dev.conf status"
	rm -rf $(DEVROOT) && mkdir -p $(DEVROOT)/bin $(DEVROOT)/examples
	cp $(BIN)/imapd $(BIN)/imapd-authd $(BIN)/imapctl $(DEVROOT)/bin/
	cp examples/dev.conf examples/dev-passwd $(DEVROOT)/examples/
	chown -R nobody $(DEVROOT)
	# imapctl -c examples/dev.conf, run from the tree, finds the copy's socket.
	ln -sfn $(DEVROOT)/bin/control.sock $(BIN)/control.sock
	cd $(DEVROOT) && exec setpriv --reuid=nobody --regid=nogroup --clear-groups bin/imapd -c examples/dev.conf
else
	@echo "process tree: $(BIN)/imapctl -c examples/dev.conf status"
	$(BIN)/imapd -c examples/dev.conf
endif

# make test: the whole suite (FUZZTIME=2s per fuzz target by default). It
# runs test-deps first, which installs the packages README.md lists.
test: test-deps
	@echo "== make test: test-deps done; running the suite (.ci/test.sh)"
	.ci/test.sh

# make check: the quick loop: gofmt, vet, staticcheck, package tests.
check: test-deps
	.ci/test.sh quick

test-deps:
	.ci/deps.sh

proto:
	protoc --go_out=. --go_opt=module=imapd proto/imapd.proto proto/keyd.proto

# make install [DESTDIR=/tmp/stage] [PREFIX=/usr/local] installs the
# binaries, man pages, /etc/imapd.conf and /etc/pam.d/imapd (each only when
# absent), the systemd unit and the /var/empty chroot; on a real install
# (empty DESTDIR) it also creates the _imapd user. It records what it added
# in $(PREFIX)/share/imapd/installed, and `make uninstall` with the same
# DESTDIR and PREFIX removes that and nothing an administrator changed.
# systemd reads the units of packages from /lib/systemd/system and those of
# the administrator from /etc/systemd/system: a /usr/local install is the
# administrator's.
PREFIX ?= /usr/local
SYSTEMDDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' SYSTEMDDIR='$(SYSTEMDDIR)' BIN='$(BIN)'
.PHONY: uninstall deb
install: build
	@$(INSTALL_ENV) sh packaging/install.sh install

uninstall:
	@$(INSTALL_ENV) sh packaging/install.sh uninstall

# make deb builds $(DEBDIR)/imapd_VERSION_ARCH.deb with debhelper from
# packaging/debian (packages debhelper, lintian, libpam0g-dev), from the
# binaries of `make build` and an imapd-authd that must have PAM, built with
# Debian's hardening flags; lintian checks it.
DEBDIR := $(BIN)/deb
LINTIAN ?= lintian --fail-on error,warning
deb: build
	rm -rf $(DEBDIR) && mkdir -p $(DEBDIR)/imapd/bin $(DEBDIR)/imapd/docs $(DEBDIR)/imapd/examples
	cp -r packaging/debian $(DEBDIR)/imapd/debian
	cp $(BIN)/imapd $(BIN)/imapctl $(DEBDIR)/imapd/bin/
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all; \
	CGO_CFLAGS="$$(dpkg-buildflags --get CPPFLAGS) $$(dpkg-buildflags --get CFLAGS)" \
	CGO_LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" \
		$(GO) build -buildmode=pie -tags pam -o $(DEBDIR)/imapd/bin/imapd-authd ./cmd/imapd-authd
	cp -r docs/man $(DEBDIR)/imapd/docs/
	cp examples/imapd.conf examples/imapd.service examples/pam.d-imapd $(DEBDIR)/imapd/examples/
	cd $(DEBDIR)/imapd && dpkg-buildpackage --build=binary --no-sign
	$(LINTIAN) $(DEBDIR)/imapd_*.deb
	@echo "built" $(DEBDIR)/imapd_*.deb

clean:
	rm -rf $(BIN)
