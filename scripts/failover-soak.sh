#!/usr/bin/env bash
# Repeated failovers, outside CI: runs test/failover.test.ts FAILOVER_RUNS times. Each run is
# two failovers under keyed load through two Coffer processes, every request retried with its
# key and coffer verify after each: a pg_auto_failover formation (monitor + two nodes; the
# primary node's keeper and postmaster SIGKILLed, the monitor promotes the standby) and a
# hand-made primary + synchronous standby (postmaster SIGKILLed, pg_ctl promote by the test).
# Prints each failover's times (kill → promoted, promotion → both processes healthy, kill →
# both healthy). Stops at the first failure. Needs pg_autoctl (Debian: postgresql-15-auto-failover).
#
#   FAILOVER_RUNS=20 TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/failover-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL (the PostgreSQL variants run only with it; the test builds its own clusters)}"
runs=${FAILOVER_RUNS:-10}
for run in $(seq 1 "$runs"); do
  log=$(mktemp)
  if ! node --import tsx --test --test-concurrency=1 test/failover.test.ts >"$log" 2>&1; then
    echo "run $run of $runs FAILED:"; cat "$log"; rm -f "$log"; exit 1
  fi
  echo "run $run of $runs:"
  grep -oE '(pg_auto_failover|pg_ctl promote by the test): kill → promoted .*|[0-9]+ requests: [0-9]+ succeeded, [0-9]+ were 503' "$log" | sed 's/^/  /'
  rm -f "$log"
done
echo "$runs runs: no acknowledged answer lost, every request executed once, verify passed each time"
