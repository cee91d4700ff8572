# berth: build, demo, test, install, benchmark.
#   make demo    install dependencies, build, and run a first container
#   make test    everything CI runs
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BERTH       := $(CURDIR)/bin/berth
SOURCES     := $(shell find src -type f -name '*.ts' -o -type f -name '*.c' -o -type f -name '*.cc' -o -type f -name '*.cjs') scripts/build.mjs
NPM_STAMP   := node_modules/.package-lock.json
DEMO_DIR    := build/demo
DEMO_IMAGE  := busybox-demo
DEMO_NAME   := berth-demo
# Per test (not per file): the slowest integration tests start several containers.
TEST_TIMEOUT_MS := 300000

.PHONY: build deps node_modules demo test test-cri-peer typecheck install bench clean distclean

deps:
	bash scripts/install-deps.sh

# npm writes node_modules/.package-lock.json on every install: it is newer than
# package-lock.json exactly when the tree is up to date. better-sqlite3 and esbuild build
# from source here (package.json allowScripts), about a minute.
node_modules: $(NPM_STAMP)
$(NPM_STAMP): package.json package-lock.json
	npm ci
	touch $@

# The native addon (build/berth_sys.node), the CLI bundle (bin/berth) and berthd's
# (bin/berthd, build/berthd.cjs; it reads proto/api.proto at start).
build: bin/berth bin/berthd
bin/berth bin/berthd build/berth_sys.node &: $(SOURCES) $(NPM_STAMP)
	node scripts/build.mjs
	touch bin/berth bin/berthd build/berth_sys.node

typecheck: $(NPM_STAMP)
	npx tsc -p . --noEmit

# A first container. Uses the default root (/var/lib/berth) like any user would, and
# removes what the previous demo made first, so it can run again.
demo: deps build
	@echo '--- building a busybox rootfs tarball from the host busybox-static'
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)/rootfs/bin $(DEMO_DIR)/rootfs/etc $(DEMO_DIR)/rootfs/root $(DEMO_DIR)/rootfs/tmp
	chmod 1777 $(DEMO_DIR)/rootfs/tmp
	cp /bin/busybox $(DEMO_DIR)/rootfs/bin/busybox
	cd $(DEMO_DIR)/rootfs/bin && for a in $$(./busybox --list); do [ -e "$$a" ] || ln -s busybox "$$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > $(DEMO_DIR)/rootfs/etc/passwd
	printf 'root:x:0:\nnogroup:x:65534:\n' > $(DEMO_DIR)/rootfs/etc/group
	tar -C $(DEMO_DIR)/rootfs -cf $(DEMO_DIR)/busybox.tar --numeric-owner --sort=name --mtime=@0 bin etc root tmp
	@echo '--- removing the previous demo container and image, if any'
	@$(BERTH) rm -f $(DEMO_NAME) >/dev/null 2>&1 || true
	@$(BERTH) rmi $(DEMO_IMAGE) >/dev/null 2>&1 || true
	@echo '--- berth import'
	$(BERTH) import $(DEMO_DIR)/busybox.tar $(DEMO_IMAGE)
	$(BERTH) images
	@echo '--- berth run --rm'
	$(BERTH) run --rm $(DEMO_IMAGE) echo "Hello from berth"
	@echo '--- a named container that greets and exits'
	$(BERTH) run --name $(DEMO_NAME) $(DEMO_IMAGE) sh -c 'echo "Hi, I am $$(hostname), running $$(uname -s) as $$(id -un)"'
	$(BERTH) ps -a
	@echo "--- done: try '$(BERTH) logs $(DEMO_NAME)' or 'make install' to put berth on PATH"

# Type errors fail the run; the suite runs file by file, two at a time; then
# one-iteration benchmark smoke runs; then, whatever failed before, the leak check; last, what
# failed (the suite's TAP is kept in out/tests.tap).
test: deps node_modules build
	rm -rf out
	npx tsc -p . --outDir out
	# The Go spdystream peer of test/stream/spdy.test.ts, built before the clock of its test starts.
	if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/moby/spdystream ]; then \
	  GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(CURDIR)/out/gocache go build -o out/spdystream-peer $(CURDIR)/test/stream/spdystream-peer.go \
	    || echo 'make test: the Go spdystream peer did not build; its test will say why'; fi
	failed=; \
	node --test --test-concurrency=2 --test-timeout=$(TEST_TIMEOUT_MS) \
	  --test-reporter=tap --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=out/tests.tap \
	  $$(find out/test -name '*.test.js' | sort) || failed="$$failed tests"; \
	bench/run-latency --runs 1 --stopped 3 || failed="$$failed bench/run-latency"; \
	bench/network --runs 1 || failed="$$failed bench/network"; \
	bench/pull --runs 1 --size-mb 20 || failed="$$failed bench/pull"; \
	bench/loop-lag --smoke || failed="$$failed bench/loop-lag"; \
	bench/cri --runs 1 --concurrent 2 --pods 2 || failed="$$failed bench/cri"; \
	bench/stream --runs 1 --transfers 1 --size-mb 5 || failed="$$failed bench/stream"; \
	bench/docker-api --runs 1 --stopped 3 --running 2 || failed="$$failed bench/docker-api"; \
	node --test out/test/leaks.check.js || failed="$$failed leak-check"; \
	if [ -n "$$failed" ]; then \
	  echo "make test: failed:$$failed"; awk -f scripts/tap-failures.awk out/tests.tap; exit 1; fi

# The CRI suite against containerd (test/cri/containerd.ts starts it with its own config):
# shows the tests encode CRI behaviour; where the two differ, the test says why.
test-cri-peer: deps node_modules build
	rm -rf out
	npx tsc -p . --outDir out
	BERTH_CRI_PEER=containerd node --test --test-concurrency=2 --test-timeout=$(TEST_TIMEOUT_MS) \
	  $$(find out/test/cri -name '*.test.js' | sort)

install: build
	ln -sfn $(BERTH) /usr/local/bin/berth
	ln -sfn $(CURDIR)/bin/berthd /usr/local/bin/berthd
	@echo "berth -> $(BERTH), berthd -> $(CURDIR)/bin/berthd"

bench: deps node_modules build
	bench/run-latency
	bench/network
	bench/pull
	bench/loop-lag
	bench/cri
	bench/stream
	bench/docker-api

clean:
	rm -rf build bin/berth bin/berthd out out-bench

distclean: clean
	rm -rf node_modules
