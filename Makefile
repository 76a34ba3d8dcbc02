# sso: the two commands a newcomer needs.
#
#   make demo   install missing Debian packages (as root; otherwise print the apt-get line and
#               stop), build, simulate a small Euclid VIS quartet, ingest it, detect its movers,
#               publish the alerts to a subscriber, and score them against the truth
#   make test   install, build twice (release with CUDA when a toolkit is present; clang with
#               address+undefined sanitizers and the libFuzzer target), run every test
#
# Other targets: build, build-asan, deps, clean. Variables: BUILD, ASAN_BUILD, JOBS, DEMO_OUT.

SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
DEMO_OUT ?= demo-out
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages the project builds and tests with (names as in Debian 12 "bookworm").
DEB_PKGS := cmake make gcc g++ pkg-config libcfitsio-dev wcslib-dev libfftw3-dev libcmocka-dev \
            libzmq3-dev libsqlite3-dev libjansson-dev clang libclang-rt-dev python3 python3-numpy python3-astropy python3-jsonschema python3-zmq bsdextrautils \
            gnuplot-nox source-extractor

# The CUDA toolkit is optional: use nvcc from PATH or the default toolkit location.
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_FLAGS := $(if $(NVCC),-DCMAKE_CUDA_COMPILER=$(NVCC),)

.PHONY: all deps build build-asan test demo clean

all: build

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "== installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages; run as root:"; \
	    echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CUDA_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSSO_CUDA=OFF \
	  -DSSO_SANITIZE=ON -DSSO_FUZZ=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test: build build-asan
	@echo "== tests: release build ($(BUILD))"
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900
	@echo "== tests: address+undefined sanitizer build ($(ASAN_BUILD))"
	cd $(ASAN_BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900

demo: build
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	@echo "== 1. simulating the demo quartet (1 CCD, 20 movers) into $(DEMO_OUT)/quartet"
	$(BUILD)/sso sim --preset demo --seed 1 --quiet --out $(DEMO_OUT)/quartet > /dev/null
	@ls -1 $(DEMO_OUT)/quartet
	@echo
	@echo "== 2. ingesting it: what sso reads from the 4 exposures"
	$(BUILD)/sso info $(DEMO_OUT)/quartet
	@echo
	@echo "== 3. detecting movers, storing and publishing the alerts; a subscriber listens"
	@set -e; ep=ipc://$(abspath $(DEMO_OUT))/pub.sock; rp=ipc://$(abspath $(DEMO_OUT))/replay.sock; \
	$(BUILD)/sso run $(DEMO_OUT)/quartet --out $(DEMO_OUT)/run --publish $$ep --replay $$rp --linger 5 & run=$$!; \
	while [ ! -s $(DEMO_OUT)/run/alerts.jsonl ] && kill -0 $$run 2>/dev/null; do sleep 0.2; done; \
	n=$$(wc -l < $(DEMO_OUT)/run/alerts.jsonl 2>/dev/null || echo 0); \
	echo "== the subscriber (sso listen) receives the $$n alerts:"; \
	$(BUILD)/sso listen --connect $$ep --replay $$rp --count $$n --timeout 20 || true; \
	wait $$run
	@echo
	@echo "== 4. what was found, against the simulator's truth ($(DEMO_OUT)/quartet/truth.csv)"
	$(BUILD)/sso score --truth $(DEMO_OUT)/quartet/truth.csv --alerts $(DEMO_OUT)/run/alerts.jsonl \
	  --json $(DEMO_OUT)/score.json | sed -n '1,4p;/^slow movers/,/^  by stacked/p;/^fast movers/,/^  by per-epoch/p;/^astrometry/,$$p'
	@echo
	@echo "   (fast movers, > 10\"/h: the streak search, 2 epochs on a detector needed; sso run --no-fast skips it)"
	@echo "   outputs: $(DEMO_OUT)/run/alerts.jsonl, $(DEMO_OUT)/run/regions-*.reg (ds9), $(DEMO_OUT)/run/alerts.db"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEMO_OUT)
