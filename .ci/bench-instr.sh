#!/usr/bin/env bash
# bench-instr.sh: instructions per operation of Go benchmarks, counted by
# valgrind's cachegrind, which does not depend on the machine's load.
#
# On a shared machine one timed round of a benchmark is not a measurement
# (.ci/bench-verbs.sh reports the spread of many). An instruction count
# is: the same binary gives the same count, so a change to the data path
# can be judged in one run each, before and after. It says nothing about
# cache misses or cores, only about the work; time the change too.
#
# Each benchmark runs twice under cachegrind, with N and 3N iterations
# (-test.benchtime Nx); the difference divided by 2N is the count per
# operation, free of the set-up both runs share. The collector is off
# (GOGC=off): under valgrind a collection started in set-up stays in its
# mark phase for much of the run, and its write barriers would be counted
# as the benchmark's. The functions with the most instructions per
# operation follow each figure.
#
# Usage: .ci/bench-instr.sh [PKG [BENCH_REGEXP...]]
#        (default: ./stack/verbs and the single-goroutine latency, 8-byte
#        SEND and 64 KiB RDMA WRITE benchmarks on the wall clock)
# Env:   N (iterations of the first run, default 20000), TOP (functions
#        listed per benchmark, default 15), CPU (-test.cpu, default 1),
#        TEST_BIN (a test binary built already, e.g. of another commit, to
#        compare).
set -euo pipefail

PKG=${1:-./stack/verbs}
shift || true
BENCHES=("$@")
if [ ${#BENCHES[@]} -eq 0 ]; then
  BENCHES=('SendLatencyWallOneGoroutine$' 'RCSend8BWall$' 'RCWrite64KWall$')
fi
N=${N:-20000}
TOP=${TOP:-15}
CPU=${CPU:-1}
GO=${GO:-go}

if ! command -v valgrind >/dev/null || ! command -v cg_diff >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
  else
    echo "bench-instr: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${TEST_BIN:-$work/pkg.test}
if [ -z "${TEST_BIN:-}" ]; then
  "$GO" test -c -o "$bin" "$PKG"
fi
# Benchmarks find their test data relative to the package directory.
dir=$("$GO" list -f '{{.Dir}}' "$PKG")

run() { # run BENCH ITERS OUT
  (cd "$dir" && GOGC=off valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$3" \
    "$bin" -test.run '^$' -test.bench "$1" -test.benchtime "$2x" -test.cpu "$CPU" >"$3.log" 2>&1) || {
    echo "bench-instr: $1 failed under valgrind:" >&2
    tail -20 "$3.log" >&2
    exit 1
  }
}

total() { grep '^summary:' "$1" | awk '{print $2}'; }

printf '%-40s %14s\n' benchmark 'instr/op'
for b in "${BENCHES[@]}"; do
  run "$b" "$N" "$work/a.out"
  run "$b" $((3 * N)) "$work/b.out"
  a=$(total "$work/a.out")
  c=$(total "$work/b.out")
  printf '%-40s %14.0f\n' "$b" "$(echo "($c - $a) / (2 * $N)" | bc -l)"
  cg_diff "$work/a.out" "$work/b.out" >"$work/diff.out" 2>/dev/null
  cg_annotate --show-percs=yes "$work/diff.out" 2>/dev/null |
    awk -v top="$TOP" -v n="$((2 * N))" '
      /file:function/ { on = 1; next }
      on && /^-+$/ { if (seen) on = 0; next }
      on && NF >= 2 && $1 ~ /^[0-9,]+$/ {
        seen = 1
        gsub(",", "", $1)
        fn = $NF; sub(/^.*:/, "", fn)
        if (++k <= top) printf "    %10.0f  %s\n", $1 / n, fn
      }'
done
