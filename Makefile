# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create (or refresh) the project's own virtual environment in .venv and install exactly
# the committed lock, requirements/dev.txt (every package pinned with its hashes), so a new
# upstream release cannot change what a fresh clone runs. `make lock` re-resolves the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_LOCK := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
RAY_LOCK := requirements/ray.txt
DEMO_OUT ?= out/demo

.PHONY: venv demo test lint docs bench clean proto prometheus keda-go keda-go-for-tests lock

venv: $(STAMP)

# The lock pins the build backend too, so the editable install builds without fetching one
# (--no-build-isolation); pip checks every wheel against its hash.
$(STAMP): $(DEV_LOCK) pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

# Re-resolves the locks to the newest releases within pyproject's ranges, for Python 3.11 and
# later on any platform: the dev lock (what make installs: the dev and ray extras), the
# runtime lock (what the Dockerfile installs: no extra) and the ray lock (runtime + the ray
# extra: the image built with WITH_RAY=true), the last two constrained to the dev lock's
# versions. Run `make proto` and `make test` after.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --upgrade --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" \
		--extra dev --extra ray pyproject.toml requirements/build.in requirements/tools.in -o $(DEV_LOCK)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" \
		--constraint $(DEV_LOCK) pyproject.toml requirements/build.in -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" \
		--constraint $(DEV_LOCK) --extra ray pyproject.toml requirements/build.in -o $(RAY_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	touch $(STAMP)

# The comparison table, then every family's frontier over its headroom (target utilisation
# 0.5-0.9) on the same trace: 20 replays (~30 s of CPU), cached in $(DEMO_OUT)/cache.
demo: $(STAMP)
	$(BIN)/prewarm simulate --out $(DEMO_OUT)
	$(BIN)/prewarm sweep --set target_utilisation=0.5:0.9:0.1 --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy autoscaler scheduler simulations prewarm_cli benchmarks

test: $(STAMP) lint docs prometheus keda-go-for-tests
	$(BIN)/pytest

# The reference docs (docs/, mkdocs.yml) into out/site/. --strict fails the build on any warning:
# a broken link or anchor, a page missing from the nav. Not --quiet: it drops the warnings
# before --strict counts them (mkdocs issue 4126), so the log is kept and shown on failure.
docs: $(STAMP)
	@mkdir -p out
	@$(BIN)/mkdocs build --strict > out/mkdocs.log 2>&1 \
		|| { cat out/mkdocs.log; echo "make docs: mkdocs build --strict failed"; exit 1; }

# Integration tests run a real Prometheus (Debian package `prometheus`, which ships promtool).
# As root with apt-get (CI), install it when missing; otherwise say so and go on: the tests
# then skip, or fail under CI=true.
prometheus:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing the Debian package prometheus for the integration tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; } \
			>/dev/null || echo "note: installing prometheus failed: integration tests will skip (fail under CI=true)"; \
	else \
		echo "note: prometheus/promtool not on PATH and not root with apt-get: integration tests will skip (fail under CI=true)"; \
	fi

# The Go load generator's own test (tests/simulations/test_keda_client.py) runs the built
# binary. As root with apt-get (CI) `keda-go` installs Debian's Go packages when missing;
# otherwise say so and go on: that test then skips, or fails under CI=true.
keda-go-for-tests:
	@$(MAKE) --no-print-directory keda-go \
		|| echo "note: out/keda-go not built: its test will skip (fail under CI=true)"

bench: $(STAMP)
	$(BIN)/python benchmarks/replay_week.py

# The scaler benchmark's KEDA side on grpc-go, KEDA's own gRPC stack
# (benchmarks/scaler_load.py --client go). Built from Debian's Go packages, no module
# download; as root with apt-get they are installed when missing.
GO_PACKAGES := golang-go golang-google-grpc-dev golang-google-protobuf-dev
keda-go: out/keda-go

out/keda-go: benchmarks/keda_go/main.go
	@if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/google.golang.org/grpc ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's $(GO_PACKAGES)"; \
			export DEBIAN_FRONTEND=noninteractive; \
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $(GO_PACKAGES); } >/dev/null; \
		else \
			echo "keda-go needs Debian's $(GO_PACKAGES) (run as root to install them)"; exit 1; \
		fi; \
	fi
	mkdir -p out
	cd benchmarks/keda_go && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
		GOCACHE=$(CURDIR)/out/.gocache go build -o $(CURDIR)/out/keda-go .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

proto: $(STAMP)
	$(BIN)/python external_scaler_proto/generate.py
