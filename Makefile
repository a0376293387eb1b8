# The two commands a fresh machine needs: `make demo` and `make test`.
# Everything else here is a step they call, or a tool for developers.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install interop interop-peer sil-net fuzz-tools chromium demo test lint typecheck check-generated generate docs bench mosquitto clean

install: $(STAMP)

# Re-install when the packaging or any C source changes: the C extensions are built by this step.
$(STAMP): pyproject.toml setup.py $(wildcard ext/*/*.c ext/*/*.h ext/*/build_*.py) generated/exi/exi_tables.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The dashboard ends the run when both scripted sessions are done (exit 0) or past its deadline
# (exit 1); module INFO logs would scroll through its live view, hence WARNING.
# `make demo CONFIG=sil-ac-ocpp`: the same charger with an OCPP 2.0.1 station, run against the
# demo CSMS (tools/ocpp_demo_csms.py), which prints at the end what it received.
CONFIG ?= sil-ac
DEMO_RUN = $(VENV)/bin/ev-manager run config/$(CONFIG).yaml --log-level WARNING --summary-json var/demo-summary.json
# The high-level charging configs (sil-dc-*, sil-ac-iso*) need the V2G link's namespaces first.
demo: install $(if $(filter sil-dc-% sil-ac-iso%,$(CONFIG)),sil-net)
	mkdir -p var
ifeq ($(CONFIG),sil-ac-ocpp)
	$(PY) tools/ocpp_demo_csms.py --port 9210 --summary-json var/csms-summary.json -- $(DEMO_RUN)
else
	$(DEMO_RUN)
endif

# The test suite's shared, anonymous broker (tests/mosquitto-shared.conf says why); a charger's
# own is config/mosquitto/local.conf, locked down with `ev-codegen broker-acl`'s files.
mosquitto:
	@command -v mosquitto >/dev/null || { apt-get update -qq && apt-get install -y -qq mosquitto; }
	@$(PY) -c "import socket; socket.create_connection(('127.0.0.1', 1883), 1).close()" 2>/dev/null \
		|| mosquitto -d -c tests/mosquitto-shared.conf

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy -p evstack
	$(VENV)/bin/mypy tests
	$(VENV)/bin/mypy bench tools

check-generated: install
	$(VENV)/bin/ev-codegen check --docs docs/api
	$(VENV)/bin/ev-codegen ocpp-import --check

generate: install
	$(VENV)/bin/ev-codegen generate

# The API pages from the manifests, then the site (MkDocs Material, strict: a broken link or
# reference fails the build) into site/; tests/guide/test_docs_site.py builds it in CI.
docs: install
	$(VENV)/bin/ev-codegen docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# EXIficient and the official XSDs for the EXI oracle tests (tests/exi/oracle): the `iso15118`
# wheel's files only, without its dependencies (it pins pydantic 1), never imported.
INTEROP := $(VENV)/interop/iso15118-0.31.2
interop: $(INTEROP)/iso15118/shared/EXICodec.jar
$(INTEROP)/iso15118/shared/EXICodec.jar: | $(STAMP)
	$(PY) -m pip install --quiet --no-deps --target $(INTEROP) iso15118==0.31.2
	@command -v javac >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless; }

# The `iso15118` package as the ISO 15118 peer of the HLC interop tests (tests/hlc/peer.py): its
# EVCC and SECC run from their own virtualenv, apart from ours (it pins pydantic 1), never imported
# by evstack; Java 17 for its codec, iproute2 for the tests' namespaces, openssl for its test PKI.
PEER := $(VENV)/iso15118-peer
interop-peer: $(PEER)/.installed
$(PEER)/.installed:
	@command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless; }
	@command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2; }
	@command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }
	test -x $(PEER)/bin/python || $(PYTHON) -m venv $(PEER)
	$(PEER)/bin/pip install --quiet iso15118==0.31.2 aiofile==3.8.8
	touch $@

# The V2G link of the high-level charging SIL configs (config/sil-dc-*.yaml): two network
# namespaces joined by a veth pair, `v2g0` in each, the EV's (Iso15118Ev netns) and the charger's
# (Iso15118Charger netns); MQTT stays on the host. Idempotent; needs root, as `ip netns` does.
SIL_EV_NS := evs-sil-ev
SIL_CS_NS := evs-sil-cs
sil-net:
	@command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2; }
	@ip netns list | grep -qw $(SIL_EV_NS) || { \
		ip netns add $(SIL_EV_NS) && ip netns add $(SIL_CS_NS) && \
		ip link add evs-sil-l type veth peer name evs-sil-r && \
		ip link set evs-sil-l netns $(SIL_EV_NS) && ip link set evs-sil-r netns $(SIL_CS_NS) && \
		for ns in $(SIL_EV_NS) $(SIL_CS_NS); do \
			end=$$( [ $$ns = $(SIL_EV_NS) ] && echo evs-sil-l || echo evs-sil-r ); \
			ip -n $$ns link set $$end name v2g0 && \
			ip netns exec $$ns sysctl -qw net.ipv6.conf.v2g0.accept_dad=0 && \
			ip -n $$ns link set lo up && ip -n $$ns link set v2g0 up || exit 1; \
		done; }

# clang brings libFuzzer and the sanitizers for the EXI decoder's fuzz smoke run (ext/exi/fuzz).
fuzz-tools:
	@command -v clang >/dev/null || { apt-get update -qq && apt-get install -y -qq clang libclang-rt-14-dev; }

# Debian's Chromium for the dashboard's browser test (tests/api), driven by Playwright's Python
# package by its path: Playwright's own browser downloads are never used.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# The committed EXI tables are checked against a fresh import of the official XSDs.
test: export EVSTACK_XSD_DIR := $(abspath $(INTEROP))/iso15118/shared/schemas
test: install mosquitto interop interop-peer fuzz-tools chromium lint typecheck check-generated
	$(PY) -m pytest

# The sdist (the source, tests included), then the wheels built from it: the product, which
# holds no tests or C sources, natively and for aarch64 in a Debian arm64 root under qemu
# (tools/arm64.sh; docs/design/packaging.md). The root is made once, outside the checkout.
# (its own .PHONY line: fewer merge conflicts on the shared one)
EVSTACK_ARM64_ROOT ?= /var/tmp/evstack-arm64-root
.PHONY: wheel
wheel: install
	rm -rf dist
	nice $(PY) -m build --no-isolation --outdir dist .
	tools/arm64.sh root $(EVSTACK_ARM64_ROOT)
	tools/arm64.sh wheel $(EVSTACK_ARM64_ROOT) dist/evstack-*.tar.gz dist
	@ls -l dist

bench: install mosquitto
	@for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
