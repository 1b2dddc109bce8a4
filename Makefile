# otelcol-phoenix — build, run and test the distribution.
# Needs only Go and make: every dev tool comes from tools/go.mod (`go tool -modfile=tools/go.mod …`).

SHELL       := /bin/bash
GO          ?= go
TOOL        := $(GO) tool -modfile=$(CURDIR)/tools/go.mod
BUILD_DIR   := distribution/_build
BINARY      := $(BUILD_DIR)/otelcol-phoenix
CONFIG      ?= examples/control.yaml
GOTEST_FLAGS ?= -race -count=1
BENCH       ?= .
BENCH_TIME  ?= 1s
# Test-only modules kept out of the root go.mod (their dependencies would enter the distribution's graph).
TEST_MODULES := tests/browser tests/chart
HELM        := .bin/helm
NFPM        := .bin/nfpm
# One version for the binary, the image tag, the packages and the chart's appVersion: builder-config's dist.version.
VERSION     := $(shell ./scripts/version.sh)
IMAGE       ?= otelcol-phoenix
IMAGE_DIR   := $(BUILD_DIR)/image
PACKAGE_DIR := $(BUILD_DIR)/packages

# Every compile that is neither -race nor fuzzing uses the build configuration ocb builds the binary with
# (static, -trimpath), and go.mod selects the binary's module versions (scripts/build.sh checks): vet, the e2e,
# chart and browser tests and the binary then share one compile of the dependency graph in Go's build cache,
# instead of three (a cold `make test` spent ~7 minutes compiling the graph again for the binary).
SHARED_BUILD_TARGETS := lint e2e-test browser-test chart-test chart-examples package-test validate-examples soak bench-e2e
$(SHARED_BUILD_TARGETS): export CGO_ENABLED := 0
$(SHARED_BUILD_TARGETS): export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

# Everything that, when changed, must rebuild the binary.
OWN_SOURCES := $(shell find . -path ./$(BUILD_DIR) -prune -o -path ./tests -prune -o -path ./tools -prune \
                 -o \( -name '*.go' -o -name '*.yaml' -o -name 'go.mod' -o -name 'go.sum' -o -path '*/ui/*' \) -print 2>/dev/null \
                 | grep -v -e '_test.go$$' -e '/testdata/' -e '^./examples/' -e '^./charts/' -e '^./distribution/')

.PHONY: all build run test unit-test fuzz soak e2e-test validate-examples generate check-generated check-versions \
        lint bench bench-fleet bench-e2e browser-test chart-test chart-examples clean help \
        image image-rootfs package package-test deps test-prerequisites

all: build

help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: $(BINARY) ## build the distribution with ocb into distribution/_build/otelcol-phoenix

# ocb regenerates the sources and runs `go build`; Go's build cache makes a rebuild incremental.
# ocb builds with CGO_ENABLED=0 (dist.cgo_enabled is false): a static binary, for the scratch image and any glibc.
# scripts/build.sh prints ocb's steps and, while Go compiles, a progress line every 30 s; ocb's log is in
# $(BUILD_DIR)/build.log, printed on failure.
$(BINARY): builder-config.yaml tools/go.mod $(OWN_SOURCES)
	@TOOL="$(TOOL)" ./scripts/build.sh $(BUILD_DIR)
	@touch $(BINARY)

run: build ## the main job: a simulated node through a 3-variant experiment, dashboard on localhost:8999 (CONFIG=… for another)
	@if [ "$(CONFIG)" = examples/control.yaml ]; then \
		echo "otelcol-phoenix: a simulated node through an experiment (full / top20 / by_executable)"; \
		echo "  dashboard and API  http://localhost:8999/"; \
		echo "  Prometheus         http://localhost:8889/metrics"; \
		echo "  health             http://localhost:13133/"; fi
	$(BINARY) --config $(CONFIG)

# `make test` is what CI runs, run as CI runs it: as root, with the Debian packages of the real programs the tests
# drive (Prometheus, Chromium, dpkg, …; `deps` installs the missing ones), and CI=true, under which a test whose
# program or privilege is missing fails instead of skipping. The single targets below skip those cases instead.
test: export CI := true
test: test-prerequisites lint check-versions check-generated unit-test fuzz build validate-examples chart-test e2e-test ## everything CI runs, as CI runs it (root; installs missing Debian packages)

test-prerequisites:
	@[ "$$(id -u)" = 0 ] || { echo "make test runs what CI runs, as CI does: as root (it installs and purges the .deb, mounts"; \
		echo "a tmpfs, emulates a pod's mounts, installs missing Debian packages). Run:  sudo env \"PATH=\$$PATH\" make test"; \
		echo "(as any user: sudo scripts/install-deps.sh once, then make unit-test, e2e-test, chart-test, … skip what needs root)"; exit 1; }
	@./scripts/install-deps.sh

deps: ## install the Debian packages the tests drive, if missing (root: apt-get; otherwise it names the command)
	@./scripts/install-deps.sh

# The package whose tests link the distribution's whole processor set (internal/components): the crosscheck
# converter. Its tests are single-threaded; they run without -race, in the binary's build configuration, so
# the race build never compiles the Kubernetes and cloud clients of k8s_attributes and resource_detection
# (~460 packages, about 2 minutes cold).
WHOLE_BUILD_PKGS := ./converter/crosscheckconverter
UNIT_PKGS = $$($(GO) list ./... | grep -v '/tests/')
RACE_PKGS = $$($(GO) list ./... | grep -v -e '/tests/' $(patsubst ./%,-e '/%$$',$(WHOLE_BUILD_PKGS)))

unit-test: ## unit tests of our own packages, with -race (those linking every component: without)
	$(GO) test $(GOTEST_FLAGS) $(RACE_PKGS)
	CGO_ENABLED=0 GOFLAGS="$(strip $(GOFLAGS) -trimpath)" $(GO) test $(filter-out -race,$(GOTEST_FLAGS)) $(WHOLE_BUILD_PKGS)

# Each go-fuzz target, package:name. Their corpora are committed in the package's testdata/fuzz/<name>/.
FUZZ_TARGETS := extension/phoenixcontrolextension:FuzzAPI extension/phoenixcontrolextension:FuzzDesiredState \
                extension/phoenixcontrolextension:FuzzConfig \
                extension/phoenixfleetextension:FuzzAPI extension/phoenixfleetextension:FuzzConfig \
                processor/topkprocessor:FuzzConfig processor/experimentprocessor:FuzzConfig \
                receiver/simulatedprocessreceiver:FuzzConfig
FUZZ_TIME ?= 20s

# Go's fuzz engine can end a run at its deadline with "context deadline exceeded" while a worker is between
# inputs (no failing input: none is written); such a run is tried once more. A failing input always fails.
fuzz: ## run every go-fuzz target for FUZZ_TIME each (a crash is written to testdata/fuzz and fails)
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		printf '  fuzz %-44s ' "$$name ./$$pkg"; \
		for try in 1 2; do \
			if out=$$($(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) ./$$pkg 2>&1); then \
				echo "$$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1)"; break; fi; \
			if [ $$try = 2 ] || ! echo "$$out" | grep -q 'context deadline exceeded' || echo "$$out" | grep -q 'Failing input written'; then \
				echo "$$out"; exit 1; fi; \
			printf '(the engine stopped at its deadline, no failing input: once more) '; \
		done; done

validate-examples: $(BINARY) ## `otelcol-phoenix validate` every examples/*.yaml and the package's and image's default configs
	@set -e; for f in examples/*.yaml distribution/config.yaml distribution/image-config.yaml; do \
		printf '  validate %-40s ' "$$f"; $(BINARY) validate --config "$$f" && echo ok; done

# The differential suite runs first and alone: two of its cases judge this machine's real processes, and
# the other suites' collectors, servers and package installs are churn those cases cannot account for.
e2e-test: $(BINARY) browser-test ## end-to-end tests against the built binary (smoke, compatibility, Grafana, dashboard)
	OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) $(GO) test -count=1 -timeout 15m ./tests/differential/
	OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) $(GO) test -count=1 -timeout 15m $$($(GO) list ./tests/... | grep -v '/tests/differential$$')

# The image (FROM scratch, nothing pulled) is distribution/Dockerfile over the tree image-rootfs assembles; the
# .deb/.rpm come from packaging/nfpm.yaml. tests/packaging (in e2e-test) checks both without Docker.
image-rootfs: $(BINARY) ## assemble the image's file tree (binary, CA bundle, config) in distribution/_build/image/rootfs
	@./scripts/image-rootfs.sh $(IMAGE_DIR)/rootfs

image: image-rootfs ## docker build otelcol-phoenix:<version> (IMAGE=… for another name) from distribution/Dockerfile (needs a Docker daemon)
	@docker info >/dev/null 2>&1 || { echo "image: no Docker daemon here (the tree is in $(IMAGE_DIR)/rootfs; make package-test checks it)"; exit 1; }
	docker build -f distribution/Dockerfile --build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) -t $(IMAGE):$(VERSION) $(IMAGE_DIR)

package: $(BINARY) $(NFPM) ## build the .deb and .rpm (nfpm) into distribution/_build/packages
	@set -o pipefail; NFPM=$(CURDIR)/$(NFPM) BINARY=$(BINARY) ./scripts/package.sh $(PACKAGE_DIR) | while read -r p; do \
		printf '  %-64s %s\n' "$$p" "$$(du -h "$$p" | cut -f1)"; done

package-test: package ## the image tree and the packages: layout, TLS trust, chrooted runs; dpkg install/purge (root)
	OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) OTELCOL_PHOENIX_PACKAGES=$(CURDIR)/$(PACKAGE_DIR) \
		$(GO) test -count=1 -timeout 10m ./tests/packaging/

# nfpm from tools/go.mod, stamped with its version.
$(NFPM): tools/go.mod tools/go.sum
	@mkdir -p $(dir $@)
	@v=$$($(GO) list -modfile=tools/go.mod -m -f '{{.Version}}' github.com/goreleaser/nfpm/v2); echo "nfpm: building $$v"; \
	 $(GO) build -modfile=tools/go.mod -o $@ -ldflags "-X main.version=$$v" github.com/goreleaser/nfpm/v2/cmd/nfpm

SOAK_DURATION ?= 30m

soak: $(BINARY) ## opt-in: SOAK_DURATION (30m) of chaos, three variants and a switching client; RSS, goroutines, no loss
	SOAK_DURATION=$(SOAK_DURATION) OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) $(GO) test -count=1 -v -timeout 0 -run TestSoak ./tests/soak/ \
		| grep -v '^\s*[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T'

browser-test: $(BINARY) ## the dashboard in headless Chromium (Debian chromium); screenshots in tests/browser/artifacts
	cd tests/browser && OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) $(GO) test -count=1 -timeout 5m ./...

# helm from tools/go.mod, stamped like a release build: its version, and the Kubernetes version of its client-go
# (which `helm template` and `helm lint` assume).
$(HELM): tools/go.mod tools/go.sum
	@mkdir -p $(dir $@)
	@v=$$($(GO) list -modfile=tools/go.mod -m -f '{{.Version}}' helm.sh/helm/v3); \
	 k=$$($(GO) list -modfile=tools/go.mod -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2); \
	 pkg=helm.sh/helm/v3; echo "helm: building $$v (Kubernetes 1.$$k)"; \
	 $(GO) build -modfile=tools/go.mod -o $@ -ldflags "-X $$pkg/internal/version.version=$$v \
	   -X $$pkg/pkg/chartutil.k8sVersionMajor=1 -X $$pkg/pkg/chartutil.k8sVersionMinor=$$k \
	   -X $$pkg/pkg/lint/rules.k8sVersionMajor=1 -X $$pkg/pkg/lint/rules.k8sVersionMinor=$$k" $$pkg/cmd/helm

CHART_TEST = cd tests/chart && HELM=$(CURDIR)/$(HELM) OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) $(GO) test -count=1 -timeout 5m

chart-test: $(BINARY) $(HELM) ## the Helm chart offline: lint, renders strictly decoded, config validated, examples diffed
	$(CHART_TEST) ./...

chart-examples: $(BINARY) $(HELM) ## re-render charts/otelcol-phoenix/examples/ from ci/*-values.yaml (review the diff)
	export UPDATE_GOLDEN=1; $(CHART_TEST) -run TestCIValues ./...

generate: ## regenerate mdatagen code for every component
	$(GO) generate ./...

check-generated: ## fail when generated files do not match their metadata.yaml (regenerates them; unchanged files keep their times)
	@GO=$(GO) BUILD_DIR=$(BUILD_DIR) ./scripts/check-generated.sh

check-versions: ## fail when core/stable/contrib versions disagree across go.mod, builder-config.yaml, tools/go.mod, chart
	@./scripts/check-versions.sh

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(find . -path ./$(BUILD_DIR) -prune -o -name '*.go' -print)); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for m in $(TEST_MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

bench: ## Go benchmarks of our own packages (BENCH=regex, BENCH_TIME=…)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCH_TIME) -benchmem $(UNIT_PKGS)

bench-fleet: ## the fleet controller with 2,000 OpAMP agents on loopback: heap per agent, CPU per report, a wave to 10% (~1 min)
	PHOENIX_FLEET_SCALE=1 $(GO) test -count=1 -timeout 10m -run '^TestFleetScale$$' -v ./extension/phoenixfleetextension/ | grep -E '^(BENCH|---|ok|FAIL)|fleet scale'

bench-e2e: $(BINARY) ## end-to-end: the binary with the experiment vs forward-connector fan-out, alternating and side by side (~8 min)
	OTELCOL_PHOENIX_BIN=$(CURDIR)/$(BINARY) PHOENIX_BENCH_E2E=1 $(GO) test -count=1 -v -timeout 20m \
		-run TestExperimentVsForwardConnectors ./tests/bench/ | grep -E '^(e2e|---|ok|FAIL|\s+e2e_test)'

clean: ## remove build outputs
	rm -rf $(BUILD_DIR) .bin
