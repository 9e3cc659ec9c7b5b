/** Renders a benchmark result as a Markdown table and an SVG bar chart (Coffer vs pgbench). */

export interface Row {
  readonly backend: 'postgres' | 'pglite';
  readonly scenario: string;
  /** Run with AUTH=required: every request carries a bearer token (BENCH_AUTH). */
  readonly auth?: boolean;
  readonly operationsPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly errors: number;
  readonly peakRssMiB: number;
  /** The Coffer process's CPU time (user + system) per HTTP request, in µs. */
  readonly serverCpuMicrosPerRequest: number;
  /** The local PostgreSQL server's CPU time per HTTP request, in µs (null on PGlite or a remote server). */
  readonly postgresCpuMicrosPerRequest: number | null;
}

export interface BenchResult {
  readonly date: string;
  readonly machine: string;
  readonly command: string;
  readonly seconds: number;
  readonly connections: number;
  /** Connections of the bulk scenarios (absent in results from before they had their own). */
  readonly bulkConnections?: number;
  readonly pgbenchClients: number;
  /** uniform and hot in transactions (= transfers) per second; batched in transfers per second (100 per transaction). */
  readonly pgbench: {
    readonly uniform: number;
    readonly hot: number;
    /** At the same clients as Coffer's connections. */
    readonly batched?: number;
    /** At a few clients (batchedFewClients), where batches wait less on each other's row locks. */
    readonly batchedFew?: number;
    readonly batchedFewClients?: number;
    /** The records' limit: batched at batchedFewClients, writing Coffer's records for each debit on its schema (bench/run.ts `recordsScript`), in debits per second. */
    readonly records?: number;
  };
  readonly rows: readonly Row[];
}

/** The batched-SQL limit: the higher of pgbench's batched figures (at Coffer's concurrency and at a few clients). */
export function batchedLimit(result: BenchResult): number | null {
  const figures = [measured(result.pgbench.batched), measured(result.pgbench.batchedFew)].filter((value): value is number => value !== null);
  return figures.length > 0 ? Math.max(...figures) : null;
}

/** A figure the run measured (JSON keeps an unmeasured NaN as null), or null. */
function measured(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The records' limit (bench/run.ts `recordsScript`), when the run measured it. */
export function recordsLimit(result: BenchResult): number | null {
  return measured(result.pgbench.records);
}

/** The pgbench figure a Coffer scenario is compared with, if any. */
function baseline(result: BenchResult, row: Row): number | null {
  if (row.scenario === 'debit-uniform') return result.pgbench.uniform;
  if (row.scenario === 'debit-hot') return result.pgbench.hot;
  if (row.scenario.startsWith('bulk-')) return batchedLimit(result);
  return null;
}

export function renderTable(result: BenchResult): string {
  const lines = [
    `# Coffer benchmark, ${result.date}`,
    '',
    `Machine: ${result.machine}. Command: \`${result.command}\`, ${result.seconds} s per scenario, ` +
      `Coffer at ${result.connections} keep-alive connections (every mutation with its own Idempotency-Key)` +
      (result.bulkConnections !== undefined ? `, the bulk rows at ${result.bulkConnections}` : '') +
      `, pgbench at ${result.pgbenchClients} clients.`,
    '',
    measured(result.pgbench.uniform) === null
      ? 'pgbench was not run (BENCH_ONLY without `pgbench`): no ratios.'
      : `pgbench bare transfer (BEGIN; 2 UPDATE; INSERT; COMMIT): uniform over 1,000 accounts **${Math.round(result.pgbench.uniform)} tps**, ` +
        `one hot account **${Math.round(result.pgbench.hot)} tps**` +
        (batchedLimit(result) !== null
          ? `; batched, 100 transfers per transaction: **${Math.round(result.pgbench.batched!)} transfers/s** at ${result.pgbenchClients} clients` +
            (measured(result.pgbench.batchedFew) !== null ? `, **${Math.round(result.pgbench.batchedFew!)} transfers/s** at ${result.pgbench.batchedFewClients} clients` : '') +
            ` (the batched-SQL limit: the higher)` +
            (recordsLimit(result) !== null
              ? `; the same batches writing Coffer's records for each debit (its schema: transaction, posting, key with outcome, event, volume), **${Math.round(recordsLimit(result)!)} debits/s** at ${result.pgbench.batchedFewClients} clients (the records' limit, ${Math.round((100 * recordsLimit(result)!) / batchedLimit(result)!) / 100}× the batched-SQL limit)`
              : '')
          : '') +
        '.',
    '',
    ...(measured(result.pgbench.uniform) === null
      ? []
      : [
          `Ratios: single debits against the one-per-commit loop${batchedLimit(result) !== null ? `, bulk rows against the batched-SQL limit${recordsLimit(result) !== null ? " (and the records' limit)" : ''}` : ''}.`,
          '',
        ]),
    '| backend | scenario | ops/s | vs pgbench | p50 ms | p99 ms | errors | server peak RSS MiB | server CPU µs/request | PostgreSQL CPU µs/request |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of result.rows) {
    const base = baseline(result, row);
    const records = row.scenario.startsWith('bulk-') ? recordsLimit(result) : null;
    const ratio = [
      base ? `${Math.round((100 * row.operationsPerSecond) / base) / 100}×` : '',
      records !== null ? `(${Math.round((100 * row.operationsPerSecond) / records) / 100}× the records' limit)` : '',
    ]
      .filter(Boolean)
      .join(' ');
    lines.push(
      `| ${row.backend} | ${row.scenario}${row.auth ? ' +auth' : ''} | ${row.operationsPerSecond} | ${ratio} | ${row.latencyP50Ms} | ${row.latencyP99Ms} | ${row.errors} | ${row.peakRssMiB} | ` +
        `${row.serverCpuMicrosPerRequest} | ${row.postgresCpuMicrosPerRequest ?? ''} |`,
    );
  }
  lines.push(
    '',
    'pending-confirm counts one operation per debit + confirm pair (two requests); a bulk request counts its 100 debits, and its CPU ' +
      'is per debit. Errors include refused bulk items. CPU per request is sampled from /proc over the ' +
      'load: the Coffer process (on PGlite it includes the database), and every process of the local PostgreSQL server.',
    '',
  );
  return lines.join('\n');
}

export function renderChart(result: BenchResult): string {
  const bars: { label: string; value: number; color: string }[] = [
    { label: 'pgbench uniform', value: result.pgbench.uniform, color: '#8a8a8a' },
    { label: 'pgbench hot', value: result.pgbench.hot, color: '#b5b5b5' },
    ...(batchedLimit(result) !== null ? [{ label: 'pgbench batched (100/tx)', value: batchedLimit(result)!, color: '#6a6a6a' }] : []),
    ...(recordsLimit(result) !== null ? [{ label: "pgbench batched, Coffer's records", value: recordsLimit(result)!, color: '#c08a3e' }] : []),
    ...result.rows.map((row) => ({
      label: `coffer ${row.backend} ${row.scenario}${row.auth ? ' +auth' : ''}`,
      value: row.operationsPerSecond,
      color: row.backend === 'postgres' ? '#2f6fb3' : '#3c9a5f',
    })),
  ];
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const width = 760;
  const labelWidth = 260;
  const barHeight = 22;
  const height = 56 + bars.length * (barHeight + 8);
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = bars.map((bar, index) => {
    const y = 46 + index * (barHeight + 8);
    const length = Math.max(1, ((width - labelWidth - 80) * bar.value) / max);
    return [
      `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${Math.round(length)}" height="${barHeight}" fill="${bar.color}"/>`,
      `<text x="${Math.round(labelWidth + length + 6)}" y="${y + 16}">${Math.round(bar.value)}</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-weight="bold">Operations per second, Coffer vs pgbench (${escape(result.date)})</text>`,
    `<text x="10" y="36" font-size="11">${escape(result.machine)}; ${result.seconds} s per scenario</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}
