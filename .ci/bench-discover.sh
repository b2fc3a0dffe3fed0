#!/usr/bin/env bash
# bench-discover.sh: wall time and peak RSS of `ibemu discover` on the
# 3-level fat trees of radix 24 (3,456 HCAs, 720 switches) and 36 (11,664
# HCAs, 1,620 switches). Prints one line per size.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${IBEMU:-bin/ibemu}
[ -x "$bin" ] || go build -o "$bin" ./cmd/ibemu
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for radix in ${RADIXES:-24 36}; do
  "$bin" topo gen fattree --levels 3 --radix "$radix" > "$tmp/ft.net"
  /usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "$bin" discover "$tmp/ft.net" --quiet > "$tmp/out"
  read -r wall rss user sys < "$tmp/time"
  nodes=$(grep -cE '^(Switch|Ca)' "$tmp/out")
  printf 'discover fattree levels=3 radix=%s: %s nodes, wall %ss, cpu %.2fs, peak RSS %d MiB\n' \
    "$radix" "$nodes" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$((rss / 1024))"
done
