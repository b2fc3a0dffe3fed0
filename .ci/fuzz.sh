#!/usr/bin/env bash
# fuzz.sh [SECONDS]: a short smoke run of every fuzz target in the module.
# A run that fails without writing a failing input (Go's fuzzer sometimes
# reports "context deadline exceeded" when -fuzztime ends mid-iteration)
# is run once more; a failing input always fails the script.
set -euo pipefail
t=${1:-5}
rc=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
run() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${t}s" "$1" >"$log" 2>&1; }
for pkg in $(go list ./...); do
  for fz in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $fz (${t}s)"
    if run "$pkg" "$fz"; then continue; fi
    if ! grep -q 'Failing input written' "$log" && grep -q 'context deadline exceeded' "$log"; then
      echo "  (fuzzer stopped mid-iteration without a failing input; running again)"
      if run "$pkg" "$fz"; then continue; fi
    fi
    rc=1; tail -30 "$log"
  done
done
exit $rc
