#!/usr/bin/env bash
# bench-sm.sh: real OpenSM (`opensm -o` through libumad2sim.so) against
# `ibemu sm --once`, each attached to a fresh real ibsim simulating the same
# topology, in the same run: wall time to SUBNET UP, SMPs sent, the SM's
# CPU time and peak RSS, and ibsim's CPU time. Prints one row per SM and
# the ibemu/OpenSM wall-time ratio per topology.
#
# Both SMs attach at the same port (SIM_HOST = the first CA of the file) of
# an ibsim started fresh for each run, so neither finds a configured
# subnet. SMPs are counted the same way for both, from a second run under
# strace: the 288-byte datagrams the SM process writes to ibsim (every MAD
# of the attach protocol is one; retries included). Set COUNT_SMPS=0 to
# skip the counting runs.
#
# Usage: .ci/bench-sm.sh [TOPOLOGIES...]
#   TOPOLOGIES: ft2r36 (2-level fat tree, radix 36: 648 HCAs), ft3r24
#   (3-level, radix 24: 3,456 HCAs), ft2r8, or a net file. Default:
#   ft2r36 ft3r24.
# Env: IBEMU (default bin/ibemu), RUNS (default 1), COUNT_SMPS (default 1),
#      IBEMU_SM_ARGS / OPENSM_ARGS (extra arguments).
set -euo pipefail
cd "$(dirname "$0")/.."

IBEMU=${IBEMU:-bin/ibemu}
RUNS=${RUNS:-1}
COUNT_SMPS=${COUNT_SMPS:-1}
UMAD2SIM=${UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
tops=("$@")
[ ${#tops[@]} -eq 0 ] && tops=(ft2r36 ft3r24)

for tool in opensm ibsim /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-sm: $tool not installed (make deps)" >&2; exit 1; }
done
if [ "$COUNT_SMPS" = 1 ] && ! command -v strace >/dev/null; then
  echo "bench-sm: strace not installed; SMPs not counted" >&2
  COUNT_SMPS=0
fi
[ -e "$UMAD2SIM" ] || { echo "bench-sm: $UMAD2SIM missing (make deps)" >&2; exit 1; }
[ -x "$IBEMU" ] || go build -o "$IBEMU" ./cmd/ibemu
IBEMU=$(realpath "$IBEMU")

work=$(mktemp -d)
sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill -- "-$sim_pid" 2>/dev/null || kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
  fi
}
cleanup() {
  stop_sim
  rm -rf "$work"
}
trap cleanup EXIT
clk=$(getconf CLK_TCK)

# start_sim NET SOCK DIR: a fresh ibsim in its own process group.
start_sim() {
  local net=$1 sock=$2 dir=$3 nodes sw ports
  nodes=$(grep -cE '^(Switch|Ca|Hca)' "$net")
  sw=$(grep -cE '^Switch' "$net")
  ports=$(awk '/^(Switch|Ca|Hca)/ {n += $2 + 1} END {print n + 16}' "$net")
  IBSIM_SOCKNAME=$sock setsid ibsim -s -n -N $((nodes + 16)) -S $((sw + 16)) -P "$ports" "$net" \
    >"$dir/ibsim.out" 2>&1 &
  sim_pid=$!
  for _ in $(seq 1 600); do
    grep -q "@$sock:ctl@" /proc/net/unix && return 0
    kill -0 "$sim_pid" 2>/dev/null || { echo "bench-sm: ibsim exited:" >&2; cat "$dir/ibsim.out" >&2; return 1; }
    sleep 0.1
  done
  echo "bench-sm: ibsim did not start" >&2
  return 1
}

# run_sm WHICH NET HOST DIR [strace]: one bring-up; prints
# "wall cpu rssMB simcpu ok".
run_sm() {
  local which=$1 net=$2 host=$3 dir=$4 count=${5:-} sock pre=() start end ut st ok=0
  sock="bsm$$-$RANDOM-$which"
  mkdir -p "$dir"
  start_sim "$net" "$sock" "$dir"
  [ -n "$count" ] && pre=(strace -f -qq -e trace=write,sendto -o "$dir/strace")
  start=$(date +%s.%N)
  if [ "$which" = opensm ]; then
    # shellcheck disable=SC2086
    (cd "$dir" && LD_PRELOAD=$UMAD2SIM IBSIM_SOCKNAME=$sock SIM_HOST=$host OSM_TMP_DIR=$dir OSM_CACHE_DIR=$dir \
      timeout 1800 /usr/bin/time -f '%U %S %M' -o "$dir/time" "${pre[@]}" opensm -o -f "$dir/opensm.log" ${OPENSM_ARGS:-} \
      >"$dir/sm.out" 2>&1) || true
    grep -q "SUBNET UP" "$dir/opensm.log" && ok=1
  else
    # shellcheck disable=SC2086
    (cd "$dir" && IBSIM_SOCKNAME=$sock SIM_HOST=$host \
      timeout 1800 /usr/bin/time -f '%U %S %M' -o "$dir/time" "${pre[@]}" "$IBEMU" sm --once ${IBEMU_SM_ARGS:-} \
      >"$dir/sm.out" 2>"$dir/sm.err") || true
    # Up is up, as for OpenSM's "SUBNET UP": a sweep problem such as a
    # credit loop in min-hop routes (which OpenSM does not check) makes
    # `ibemu sm --once` exit 1 but is printed, not hidden.
    grep -q "^SUBNET UP" "$dir/sm.out" && ok=1
    grep "^  problem:" "$dir/sm.out" >&2 || true
  fi
  end=$(date +%s.%N)
  read -r ut st < <(awk '{print $14, $15}' "/proc/$sim_pid/stat")
  stop_sim
  read -r u s m < <(tail -1 "$dir/time")
  awk -v a="$start" -v b="$end" -v u="$u" -v s="$s" -v m="$m" -v su="$ut" -v ss="$st" -v c="$clk" -v ok="$ok" \
    'BEGIN { printf "%.3f %.2f %.0f %.2f %d\n", b - a, u + s, m / 1024, (su + ss) / c, ok }'
}

# smps DIR: 288-byte datagrams the SM wrote (strace log of a counting run).
smps() { grep -cE '(write|sendto)\(.*= 288$' "$1/strace" || true; }

printf "%-10s %-7s %6s %9s %8s %8s %10s %8s\n" topology sm hcas "wall(s)" "cpu(s)" "rss(MB)" "ibsim-cpu" smps
for top in "${tops[@]}"; do
  case $top in
  ft2r8) gen=(fattree --levels 2 --radix 8) ;;
  ft2r36) gen=(fattree --levels 2 --radix 36) ;;
  ft3r24) gen=(fattree --levels 3 --radix 24) ;;
  *) gen=() ;;
  esac
  net="$work/$top.net"
  if [ ${#gen[@]} -gt 0 ]; then
    "$IBEMU" topo gen "${gen[@]}" >"$net"
  else
    cp "$top" "$net"
    top=$(basename "$top")
  fi
  hcas=$(grep -cE '^(Ca|Hca)' "$net")
  host=$(awk '/^(Ca|Hca)/ { match($0, /"[^"]*"/); print substr($0, RSTART + 1, RLENGTH - 2); exit }' "$net")
  declare -A wall=()
  for run in $(seq 1 "$RUNS"); do
    for which in opensm ibemu; do
      dir="$work/$top-$which-$run"
      read -r w cpu rss simcpu ok < <(run_sm "$which" "$net" "$host" "$dir")
      if [ "$ok" != 1 ]; then
        echo "bench-sm: $which on $top did not bring the subnet up:" >&2
        tail -5 "$dir/sm.out" "$dir/sm.err" "$dir/opensm.log" 2>/dev/null >&2 || true
        w=-
      fi
      n=-
      if [ "$COUNT_SMPS" = 1 ]; then
        run_sm "$which" "$net" "$host" "$dir-count" strace >/dev/null
        n=$(smps "$dir-count")
      fi
      wall[$which]=$w
      printf "%-10s %-7s %6d %9s %8s %8s %10s %8s\n" "$top" "$which" "$hcas" "$w" "$cpu" "$rss" "$simcpu" "$n"
    done
    awk -v o="${wall[opensm]}" -v i="${wall[ibemu]}" -v t="$top" \
      'BEGIN { if (o != "-" && i != "-" && i > 0) printf "# %s: ibemu sm is %.2fx the speed of opensm (wall %s s vs %s s)\n", t, o / i, i, o }'
  done
done
