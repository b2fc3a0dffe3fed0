#!/usr/bin/env bash
# bench-interop.sh: the same unmodified `opensm -o` against real ibsim and
# against `ibemu serve`, on the same net files, in the same run.
#
# For each topology and server it reports: OpenSM's wall time to SUBNET UP,
# the time of its MAD-bound phases from its own log timestamps (discovery:
# "Entering DISCOVERING state" to "Entering MASTER state"; LFT distribution
# and port activation: "minhop tables configured" to "SUBNET UP"), the
# server's CPU time (user+sys), its peak RSS (VmHWM),
# SMPs served per second and CPU microseconds per SMP. The SMP count is
# the number of MADs OpenSM sent, which ibemu serve counts; ibsim does not
# count them, but reads each with one read(2), so its rows use the read
# calls it made while OpenSM ran (/proc/PID/io syscr; a handful are the
# client's attach and detach). OpenSM does not send both servers the same
# number: at 648 HCAs it sends ibsim about 3% more. The CPU columns count
# the server's whole life, loading the topology included (the issue's
# measure); the run-cpu columns count only the CPU spent after the server
# was ready for clients, while OpenSM ran (ibsim's loading grows faster
# than linearly with the fabric, so the two tell loading and serving
# apart). The usr and sys columns split the CPU per SMP into user time
# and kernel time (utime and stime of /proc/PID/stat): the kernel's share
# (receiving and sending the datagrams, waking OpenSM, switching between
# processes) is a floor that any server moving the same datagrams through
# the same sockets pays, so they show what part of the difference between
# the servers is their own code.
#
# CPU time is read in nanoseconds: the sum over the server's threads of
# the first field of /proc/PID/task/TID/schedstat (time on CPU), sampled
# just before OpenSM starts and just before the server is stopped. (It
# matches `perf stat -e task-clock -p PID` over the same span; /proc/PID/stat
# counts in clock ticks, 10 ms, which is 0.5 us per SMP at 648 HCAs.) The
# sum misses threads that exited before a sample: Go's runtime seldom ends
# its threads and ibsim has one. The user/sys split comes from utime and
# stime of /proc/PID/stat, in ticks, applied to the precise total: usr-us
# is cpu-us/smp times utime/(utime+stime) over the same span, so the two
# split columns are as coarse as the ticks but add up to the precise one.
#
# Usage: .ci/bench-interop.sh [SIZES...]   SIZES: 648 11664 (default both)
# Env: IBEMU (default bin/ibemu), RUNS (runs per server, default 1),
#      OPENSM_ARGS (extra opensm arguments, e.g. "--maxsmps 0"),
#      PIN (a CPU list for taskset, e.g. 1: the server and OpenSM both run
#      there). On a small shared machine most of the spread between runs
#      comes from whether the kernel puts the server and OpenSM on one CPU
#      or two (one is about twice as fast for either server); pinning both
#      to one CPU cut the wall time's range at 648 HCAs from 0.41-1.40 s to
#      0.50-0.76 s, so A/B comparisons need far fewer runs.
#      SERVERS (default "ibemu ibsim": the servers of each run, in order;
#      "ibemu-b" is a second ibemu build, IBEMU_B, for an A/B comparison of
#      two builds without ibsim: SERVERS="ibemu ibemu-b" IBEMU_B=old/ibemu).
set -euo pipefail

IBEMU=${IBEMU:-bin/ibemu}
RUNS=${RUNS:-1}
SERVERS=${SERVERS:-ibemu ibsim}
IBEMU_B=${IBEMU_B:-}
UMAD2SIM=${UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
pin=()
[ -n "${PIN:-}" ] && pin=(taskset -c "$PIN")
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(648 11664)

tools=(opensm)
for server in $SERVERS; do
  case $server in
  ibsim) tools+=(ibsim) ;;
  ibemu) ;;
  ibemu-b) [ -x "$IBEMU_B" ] || { echo "bench-interop: SERVERS names ibemu-b: set IBEMU_B to a built ibemu" >&2; exit 2; } ;;
  *) echo "bench-interop: unknown server $server in SERVERS (ibemu, ibsim, ibemu-b)" >&2; exit 2 ;;
  esac
done
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "bench-interop: $tool not installed (make deps)" >&2; exit 1; }
done
[ -e "$UMAD2SIM" ] || { echo "bench-interop: $UMAD2SIM missing (make deps)" >&2; exit 1; }
[ -x "$IBEMU" ] || { echo "bench-interop: $IBEMU missing (make build)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# cpu_ns PID: nanoseconds on CPU of PID's live threads (schedstat).
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# secs LOGLINE: seconds since midnight of an OpenSM log line's timestamp.
secs() { awk '{split($3, t, ":"); printf "%.6f\n", t[1]*3600 + t[2]*60 + t[3] + $4/1e6}'; }

# phase LOG FROM TO: seconds between the first line matching FROM and the
# first line matching TO after it.
phase() {
  local a b
  a=$(grep -m1 -- "$2" "$1" | secs) || true
  b=$(grep -m1 -- "$3" "$1" | secs) || true
  if [ -z "$a" ] || [ -z "$b" ]; then echo "-"; return; fi
  awk -v a="$a" -v b="$b" 'BEGIN { d = b - a; if (d < 0) d += 86400; printf "%.3f", d }'
}

# wait_sock NAME: wait until the abstract socket @NAME:ctl exists.
wait_sock() {
  for _ in $(seq 1 600); do
    grep -q "@$1:ctl@" /proc/net/unix && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "bench-interop: server exited" >&2; return 1; }
    sleep 0.1
  done
  echo "bench-interop: server did not start" >&2
  return 1
}

declare -A smps simsmps

row="%-8s %-7s %8s %10s %10s %8s %9s %10s %10s %8s %8s %11s %10s %8s %8s\n"
# shellcheck disable=SC2059
printf "$row" size server "wall(s)" "discov(s)" "lft+act(s)" "cpu(s)" "rss(MB)" "smp/s" "cpu-us/smp" "usr-us" "sys-us" \
  "run-cpu(s)" "run-us/smp" "run-usr" "run-sys"
for size in "${sizes[@]}"; do
  case $size in
  648) gen=(fattree --levels 2 --radix 36) ;;
  11664) gen=(fattree --levels 3 --radix 36) ;;
  *) echo "bench-interop: unknown size $size (648 or 11664)" >&2; exit 2 ;;
  esac
  net="$work/ft$size.net"
  "$IBEMU" topo gen "${gen[@]}" >"$net"
  nodes=$(grep -cE '^(Switch|Ca|Hca)' "$net")
  for run in $(seq 1 "$RUNS"); do
    for server in $SERVERS; do
      sock="bench$$-$size-$server-$run"
      dir="$work/$sock"
      mkdir -p "$dir"
      if [ "$server" = ibsim ]; then
        IBSIM_SOCKNAME=$sock ${pin[@]+"${pin[@]}"} ibsim -s -n -N $((nodes + 16)) -S $((nodes + 16)) -P $((nodes * 40)) "$net" \
          >"$dir/server.out" 2>&1 &
      else
        bin=$IBEMU
        [ "$server" = ibemu-b ] && bin=$IBEMU_B
        ${pin[@]+"${pin[@]}"} "$bin" serve --no-console --sockname "$sock" "$net" >"$dir/server.out" 2>"$dir/server.err" &
      fi
      server_pid=$!
      wait_sock "$sock"
      read -r ut0 st0 < <(awk '{print $14, $15}' "/proc/$server_pid/stat")
      rd0=$(awk '/^syscr/ {print $2}' "/proc/$server_pid/io")
      ns0=$(cpu_ns "$server_pid")
      start=$(date +%s.%N)
      # shellcheck disable=SC2086
      (cd "$dir" && LD_PRELOAD=$UMAD2SIM IBSIM_SOCKNAME=$sock OSM_TMP_DIR=$dir OSM_CACHE_DIR=$dir \
        ${pin[@]+"${pin[@]}"} timeout 1200 opensm -o -f "$dir/opensm.log" ${OPENSM_ARGS:-} >"$dir/opensm.out" 2>&1) || true
      end=$(date +%s.%N)
      ns=$(cpu_ns "$server_pid")
      rd=$(awk '/^syscr/ {print $2}' "/proc/$server_pid/io")
      read -r ut st < <(awk '{print $14, $15}' "/proc/$server_pid/stat")
      rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
      if [ "$server" = ibsim ]; then kill -TERM "$server_pid"; else kill -INT "$server_pid"; fi
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      if ! grep -q "SUBNET UP" "$dir/opensm.log"; then
        echo "bench-interop: $server $size: OpenSM did not reach SUBNET UP; log:" >&2
        tail -20 "$dir/opensm.log" >&2
        continue
      fi
      wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
      cpu=$(awk -v t="$ns" 'BEGIN { printf "%.3f", t / 1e9 }')
      runcpu=$(awk -v a="$ns0" -v b="$ns" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
      disc=$(phase "$dir/opensm.log" "Entering DISCOVERING state" "Entering MASTER state")
      lft=$(phase "$dir/opensm.log" "tables configured on all switches" "SUBNET UP")
      if [ "$server" != ibsim ]; then
        n=$(sed -n 's/^# ibemu serve: \([0-9]*\) datagrams from clients.*/\1/p' "$dir/server.out")
        smps[$size]=$n
      else
        # ibsim reads each datagram with one read(2): its read calls
        # while OpenSM ran (a handful are the client's attach and
        # detach on the control socket).
        n=$((rd - rd0))
        simsmps[$size]=$n
      fi
      n=${n:-0}
      # persmp NS: nanoseconds of CPU as microseconds per SMP.
      persmp() { awk -v n="$n" -v t="$1" 'BEGIN { if (n > 0) printf "%.2f", t / 1e3 / n; else print "-" }'; }
      # share NS U S: the part U/(U+S) of NS (the tick-based user or kernel share).
      share() { awk -v t="$1" -v u="$2" -v s="$3" 'BEGIN { if (u + s > 0) printf "%.0f", t * u / (u + s); else print 0 }'; }
      usr=$(persmp "$(share "$ns" "$ut" "$st")")
      sys=$(persmp "$(share "$ns" "$st" "$ut")")
      runusr=$(persmp "$(share "$((ns - ns0))" "$((ut - ut0))" "$((st - st0))")")
      runsys=$(persmp "$(share "$((ns - ns0))" "$((st - st0))" "$((ut - ut0))")")
      rate=$(awk -v n="$n" -v w="$wall" 'BEGIN { if (w > 0 && n > 0) printf "%.0f", n / w; else print "-" }')
      per=$(persmp "$ns")
      runper=$(persmp "$((ns - ns0))")
      # shellcheck disable=SC2059
      printf "$row" "$size" "$server" "$wall" "$disc" "$lft" "$cpu" "$rss" "$rate" "$per" "$usr" "$sys" \
        "$runcpu" "$runper" "$runusr" "$runsys"
    done
  done
done
echo "# cpu and run-cpu: ns on CPU from /proc/PID/task/*/schedstat; usr-us and sys-us: user and kernel CPU microseconds per SMP (whole life, split by the tick ratio of /proc/PID/stat); run-usr and run-sys: the same while OpenSM ran"
echo "# SMP counts of the last run (ibemu serve counts the datagrams; ibsim's are its read calls while OpenSM ran): $(for k in "${!smps[@]}"; do printf '%s: ibemu %s ibsim %s  ' "$k" "${smps[$k]}" "${simsmps[$k]:-}"; done)"
