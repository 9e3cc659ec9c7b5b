#!/usr/bin/env bash
# `coffer serve --workers N` measured: for each N in WORKERS_LIST (default "1 2"), a fresh
# database, the server with N workers, 200 funded wallets, then wrk with bench/load.lua for
# BENCH_SECONDS (default 10) per scenario (debit-uniform, get-wallet) at 64 connections. Prints
# one line per run. Run it alone on the machine (flock /tmp/coffer-heavy.lock …): the server,
# PostgreSQL and wrk share its cores.
#
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/workers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
base=${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL server (a database is made and dropped per run)}
seconds=${BENCH_SECONDS:-10}
port=${BENCH_PORT:-18561}
for workers in ${WORKERS_LIST:-1 2}; do
  db="coffer_workers_$$_$workers"
  psql "$base" -qc "CREATE DATABASE $db"
  url="${base%/*}/$db"
  DATABASE_URL="$url" PORT=$port LOG_LEVEL=silent node dist/cli/index.js serve --workers "$workers" &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/_healthcheck" >/dev/null && break; sleep 0.1; done
  wallets=$(mktemp)
  for i in $(seq 0 200); do
    id=$(curl -s -X POST "http://127.0.0.1:$port/wallets" -H 'content-type: application/json' -d '{}' | sed -E 's/^\{"data":\{"id":"([^"]+)".*/\1/')
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/wallets/$id/credit" -H 'content-type: application/json' -d '{"amount":{"asset":"USD/2","amount":1000000000}}'
    echo "$id" >> "$wallets"
  done
  for scenario in debit-uniform get-wallet; do
    result=$(SCENARIO=$scenario wrk -t 2 -c 64 -d "${seconds}s" --timeout 10s -s bench/load.lua "http://127.0.0.1:$port" -- "$wallets" | tail -1)
    echo "workers=$workers $scenario $result"
  done
  kill -TERM "$server"; wait "$server" || true
  rm -f "$wallets"
  psql "$base" -qc "DROP DATABASE $db WITH (FORCE)"
done
