#!/usr/bin/env bash
# fuzz.sh [SECONDS]: a short smoke run of every fuzz target in the module.
set -euo pipefail
t=${1:-5}
rc=0
for pkg in $(go list ./...); do
  for fz in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $fz (${t}s)"
    go test -run '^$' -fuzz "^${fz}\$" -fuzztime "${t}s" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { rc=1; tail -30 /tmp/fuzz.$$.log; }
  done
done
rm -f /tmp/fuzz.$$.log
exit $rc
