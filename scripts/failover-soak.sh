#!/usr/bin/env bash
# Repeated failovers, outside CI: runs test/failover.test.ts (a fresh primary with a
# synchronous standby, two Coffer processes under keyed load, SIGKILL of the primary,
# promotion, every request retried with its key, coffer verify) FAILOVER_RUNS times and prints
# each run's time from promotion to both processes healthy. Stops at the first failure.
#
#   FAILOVER_RUNS=20 TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/failover-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL (the PostgreSQL variants run only with it; the test builds its own cluster)}"
runs=${FAILOVER_RUNS:-10}
for run in $(seq 1 "$runs"); do
  log=$(mktemp)
  if ! node --import tsx --test --test-concurrency=1 test/failover.test.ts >"$log" 2>&1; then
    echo "run $run of $runs FAILED:"; cat "$log"; rm -f "$log"; exit 1
  fi
  echo "run $run of $runs: $(grep -oE 'promotion → both processes healthy: [0-9]+ ms' "$log"); $(grep -oE '[0-9]+ requests: [0-9]+ succeeded, [0-9]+ were 503' "$log")"
  rm -f "$log"
done
echo "$runs failovers: no acknowledged answer lost, every request executed once, verify passed each time"
