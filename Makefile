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

# make test: the whole suite (FUZZTIME=5s per fuzz target by default). It
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
	protoc --go_out=. --go_opt=module=imapd proto/imapd.proto

# make install [DESTDIR=/tmp/stage] [PREFIX=/usr/local]. imapd-authd goes next
# to imapd, where the parent looks for it. /etc/imapd.conf and
# /etc/pam.d/imapd are installed only when absent; the _imapd user is
# created only on a real install (empty DESTDIR).
PREFIX ?= /usr/local
SYSTEMDDIR ?= /lib/systemd/system
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)/etc/pam.d $(DESTDIR)$(SYSTEMDDIR)
	install -m 0755 $(BIN)/imapd $(BIN)/imapd-authd $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(BIN)/imapctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/man/imapd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/man/imapd.8 docs/man/imapctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	test -e $(DESTDIR)/etc/imapd.conf || install -m 0644 examples/imapd.conf $(DESTDIR)/etc/imapd.conf
	test -e $(DESTDIR)/etc/pam.d/imapd || install -m 0644 examples/pam.d-imapd $(DESTDIR)/etc/pam.d/imapd
	sed 's|/usr/local/|$(PREFIX)/|g' examples/imapd.service > $(DESTDIR)$(SYSTEMDDIR)/imapd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/imapd.service
	install -d -m 0755 $(DESTDIR)/var/empty
	if [ "$$(id -u)" = 0 ]; then chown root:root $(DESTDIR)/var/empty; fi
	if [ -z "$(DESTDIR)" ] && ! id _imapd >/dev/null 2>&1; then \
		useradd -r -s /usr/sbin/nologin -d /var/empty _imapd; fi

clean:
	rm -rf $(BIN)
