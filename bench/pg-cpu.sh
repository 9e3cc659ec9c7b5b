#!/usr/bin/env bash
# The CPU of the local PostgreSQL server's processes over a window, summed by session name
# (pg_stat_activity's application_name: Coffer's pools are `coffer` and `coffer-background`)
# or, for the server's own processes, by backend type. Run it beside a load, e.g. during the
# `+webhook` load of `BENCH_EVENTS=webhook npm run bench`:
#   bench/pg-cpu.sh 8        # prints "name milliseconds-of-CPU" over the next 8 s
# Sessions that start or end inside the window are left out.
set -euo pipefail
seconds="${1:-8}"
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
tick_ms=$((1000 / $(getconf CLK_TCK)))
snapshot() {
  psql "$url" -AtF' ' -c "SELECT pid, coalesce(nullif(application_name, ''), backend_type) FROM pg_stat_activity" |
    while read -r pid name; do
      ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || true)
      [ -n "$ticks" ] && echo "$pid ${name// /_} $ticks"
    done | sort
}
before=$(snapshot)
sleep "$seconds"
after=$(snapshot)
join <(echo "$before") <(echo "$after") | awk -v ms="$tick_ms" '$2 == $4 { cpu[$2] += ($5 - $3) * ms } END { for (name in cpu) print name, cpu[name] }' | sort -k2 -n -r
