# ibemu Makefile. `make demo` runs the main job on the built-in default
# topology; `make test` runs every test (installing the Debian packages the
# interop tests need first).
GO      ?= go
IBEMU   := $(CURDIR)/bin/ibemu
PKGS    := ./...
TESTTIMEOUT ?= 28m

.PHONY: all build deps demo test unit check fuzz bench bench-discover bench-sm bench-interop bench-verbs bench-instr clean scenarios wine-test

all: build

# Nothing in ibemu needs cgo: a static binary maps no libc (1.5 MB less RSS
# for `ibemu serve`).
build:
	CGO_ENABLED=0 $(GO) build -o $(IBEMU) ./cmd/ibemu

deps:
	@bash .ci/deps.sh

demo: build
	$(IBEMU) demo

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=windows $(GO) build $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)

unit:
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(PKGS)

# The ginkgo scenario suites (scenarios/...), in parallel and random
# order, with a JUnit report; specs needing root or hardware are left out.
scenarios:
	$(GO) run github.com/onsi/ginkgo/v2/ginkgo -r -p --randomize-all --junit-report=junit.xml --label-filter='!(env: containsAny {root, hw})' ./scenarios/

test: deps check build scenarios
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(PKGS)
	$(GO) test -count=1 -race -timeout 10m ./emu/

fuzz:
	@bash .ci/fuzz.sh $${FUZZTIME:-5}

# The Windows-facing packages (the emulated hosts, the WinOF installer and
# its scenarios, the wire codecs) as real Windows binaries under Wine
# (installs wine64 and mingw-w64 on first use, as root).
WINEPKGS ?= ./emu/wire ./emu/capture ./conformance ./stack/host ./stack/install ./scenarios/install ./scenarios/uninstall ./scenarios/failure
wine-test:
	@bash ../shared/tools/wine-go-test $(WINEPKGS)

# The verbs benchmarks run again on one processor (GOMAXPROCS 1): the
# fabric's work runs inline on the posting goroutine, and a second core
# mostly adds cache-line transfers between the two sides of a test.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m $(PKGS)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -cpu 1 ./stack/verbs/
	@bash .ci/bench-discover.sh

bench-discover: build
	@bash .ci/bench-discover.sh

# Real OpenSM against ibemu sm, each on the same real ibsim topology.
bench-sm: build
	@bash .ci/bench-sm.sh

# Real ibsim against ibemu serve, same opensm -o, same net files (648 and
# 11,664 HCAs): wall time, OpenSM phases, server CPU, CPU per SMP, peak RSS.
bench-interop: build
	@bash .ci/bench-interop.sh

bench-xproc: build
	@bash .ci/bench-xproc.sh

# The verbs issue's in-process table (RDMA WRITE bandwidth, SEND message
# rate, SEND and WRITE latency, memmove) over ROUNDS interleaved rounds:
# best, median and worst, and whether each meets its goal.
bench-verbs:
	@bash .ci/bench-verbs.sh

# Instructions per operation of the verbs data-path benchmarks, counted
# by valgrind (independent of the machine's load), with the functions
# that spend them: BENCH_INSTR_ARGS="PKG BENCH..." for others.
bench-instr:
	@bash .ci/bench-instr.sh $(BENCH_INSTR_ARGS)

clean:
	rm -rf bin
