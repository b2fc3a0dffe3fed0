#!/usr/bin/env bash
# bench-xproc.sh: the cross-process data path (stack/attach/DATAPATH.md)
# under perftest-style load. One `ibemu serve` on a one-switch fabric, our
# SM on a third HCA, and for every test two `ibemu perf --attach`
# processes, each with its own emulated HCA in place of a CA of the served
# fabric; the frames cross the server's switch. It reports, per run, what
# the client side's table says: bandwidth tests their average bandwidth
# (MB/s) and message rate (Mpps), latency tests t_typical (the median
# half round trip) and t_avg in microseconds; then the CPU time (user +
# system, seconds) the server spent during the test, the CPU time of the
# two perf processes (their whole life, setup included), and the read and
# write system calls the server made during the test (syscr + syscw of
# /proc/PID/io: batching is about frames per system call). On a shared
# machine the CPU columns vary less than the rates: compare them too, and
# compare builds interleaved (IBEMU=old, IBEMU=new, old, new, ...).
#
# Usage: .ci/bench-xproc.sh [TESTS...]
#   TESTS: write_bw:65536 write_bw:1048576 send_bw:8 send_lat:2 write_lat:2
#          (default: all five; NAME:SIZE)
# Env: IBEMU (default bin/ibemu), RUNS (runs per test, default 1),
#      ITERS_BW (default 5000; 1 MiB writes use a fifth, messages of 4 KiB
#      and less twenty times as many: a message rate needs them), ITERS_LAT
#      (default 5000), PROFILE=DIR (the server writes DIR/serve.cpu.pprof;
#      with PERF_RECORD=1 each perf process runs under `perf record -g`
#      into DIR/<test>-<side>.perf.data).
set -euo pipefail

IBEMU=${IBEMU:-bin/ibemu}
RUNS=${RUNS:-1}
ITERS_BW=${ITERS_BW:-5000}
ITERS_LAT=${ITERS_LAT:-5000}
PROFILE=${PROFILE:-}
PERF_RECORD=${PERF_RECORD:-}
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(write_bw:65536 write_bw:1048576 send_bw:8 send_lat:2 write_lat:2)

[ -x "$IBEMU" ] || { echo "bench-xproc: $IBEMU missing (make build)" >&2; exit 1; }
IBEMU=$(readlink -f "$IBEMU")

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export IBSIM_SOCKNAME="ibemu-bx-$$"
unset IBSIM_SERVER_NAME SIM_HOST

cat >"$work/net" <<'EOF'
Switch	8 "s1"
[1]	"h1"[1]
[2]	"h2"[1]
[3]	"h3"[1]

Hca	1 "h1"
[1]	"s1"[1]

Hca	1 "h2"
[1]	"s1"[2]

Hca	1 "h3"
[1]	"s1"[3]
EOF

sargs=(serve "$work/net" --no-console)
if [ -n "$PROFILE" ]; then
  mkdir -p "$PROFILE"
  sargs+=(--cpuprofile "$(readlink -f "$PROFILE")/serve.cpu.pprof")
fi
"$IBEMU" "${sargs[@]}" >"$work/serve.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 300); do
  grep -q "@$IBSIM_SOCKNAME:data" /proc/net/unix && break
  kill -0 "$server_pid" 2>/dev/null || { echo "bench-xproc: server exited" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "@$IBSIM_SOCKNAME:data" /proc/net/unix || { echo "bench-xproc: no data path endpoint" >&2; exit 1; }

"$IBEMU" sm --host h3 --quiet >"$work/sm.log" 2>&1 &
pids+=("$!")

# A free TCP port for the out-of-band exchange of the perf processes.
oob_port=$(( 20000 + ($$ % 20000) ))

# perfcmd NAME SIDE ARGS...: the perf command line, under perf record when
# asked.
perfcmd() {
  local name=$1 side=$2
  shift 2
  if [ -n "$PROFILE" ] && [ -n "$PERF_RECORD" ]; then
    echo perf record -g -o "$PROFILE/$name-$side.perf.data" -- "$IBEMU" perf "$@"
  else
    echo "$IBEMU" perf "$@"
  fi
}

clk=$(getconf CLK_TCK)
# srvsys: the server's read and write system calls so far.
srvsys() { awk '/^sysc[rw]:/ {n += $2} END {print n}' "/proc/$server_pid/io"; }
# srvcpu: the server's CPU time so far, in clock ticks.
srvcpu() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
# kidcpu: the CPU time of the waited-for children, in seconds, in $kid
# (times runs in this shell: in a command substitution it would see the
# subshell's children).
kidcpu() {
  times >"$work/times"
  kid=$(awk 'NR == 2 {split($1, u, "m"); split($2, s, "m"); printf "%.3f\n", u[1]*60 + u[2] + s[1]*60 + s[2]}' "$work/times")
}

row="%-10s %8s %4s %14s %14s %9s %9s %10s\n"
# shellcheck disable=SC2059
printf "$row" test size run "bw(MB/s)|t_typ" "Mpps|t_avg" "srv-cpu" "perf-cpu" "srv-rw"

for spec in "${tests[@]}"; do
  name=${spec%%:*}
  size=${spec#*:}
  case $name in
    *_lat) iters=$ITERS_LAT ;;
    *) iters=$ITERS_BW
       [ "$size" -ge 1048576 ] && iters=$(( ITERS_BW / 5 ))
       [ "$size" -le 4096 ] && iters=$(( ITERS_BW * 20 )) ;;
  esac
  for run in $(seq 1 "$RUNS"); do
    oob_port=$(( oob_port + 1 ))
    common=("$name" -s "$size" -n "$iters" -p "$oob_port" --attach-wait 60s)
    s0=$(srvcpu)
    y0=$(srvsys)
    kidcpu
    k0=$kid
    # shellcheck disable=SC2046
    $(perfcmd "$name" server "${common[@]}" --attach h2 --server) >"$work/srv.out" 2>&1 &
    srv=$!
    pids+=("$srv")
    # shellcheck disable=SC2046
    if ! $(perfcmd "$name" client "${common[@]}" --attach h1 --connect h2) >"$work/cli.out" 2>&1; then
      echo "bench-xproc: $name $size: client failed:" >&2
      cat "$work/cli.out" "$work/srv.out" >&2
      exit 1
    fi
    wait "$srv" || { echo "bench-xproc: $name $size: server side failed:" >&2; cat "$work/srv.out" >&2; exit 1; }
    s1=$(srvcpu)
    y1=$(srvsys)
    kidcpu
    k1=$kid
    # The result row: the first line after the table header whose first
    # field is the size.
    case $name in
      *_lat) vals=$(awk -v s="$size" '/t_typical/ {h=1; next} h && $1 == s {print $5, $6; exit}' "$work/cli.out") ;;
      *) vals=$(awk -v s="$size" '/BW average/ {h=1; next} h && $1 == s {print $4, $5; exit}' "$work/cli.out") ;;
    esac
    [ -n "$vals" ] || { echo "bench-xproc: $name $size: no result row:" >&2; cat "$work/cli.out" >&2; exit 1; }
    # shellcheck disable=SC2059,SC2086
    printf "$row" "$name" "$size" "$run" $vals "$(awk -v a="$s0" -v b="$s1" -v c="$clk" 'BEGIN { printf "%.2f", (b - a) / c }')" \
      "$(awk -v a="$k0" -v b="$k1" 'BEGIN { printf "%.2f", b - a }')" "$((y1 - y0))"
  done
done

kill -INT "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
