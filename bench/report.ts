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
  readonly pgbenchClients: number;
  readonly pgbench: { readonly uniform: number; readonly hot: number };
  readonly rows: readonly Row[];
}

/** The pgbench figure a Coffer scenario is compared with, if any. */
function baseline(result: BenchResult, row: Row): number | null {
  if (row.scenario === 'debit-uniform') return result.pgbench.uniform;
  if (row.scenario === 'debit-hot') return result.pgbench.hot;
  return null;
}

export function renderTable(result: BenchResult): string {
  const lines = [
    `# Coffer benchmark, ${result.date}`,
    '',
    `Machine: ${result.machine}. Command: \`${result.command}\`, ${result.seconds} s per scenario, ` +
      `Coffer at ${result.connections} keep-alive connections (every mutation with its own Idempotency-Key), pgbench at ${result.pgbenchClients} clients.`,
    '',
    `pgbench bare transfer (BEGIN; 2 UPDATE; INSERT; COMMIT): uniform over 1,000 accounts **${Math.round(result.pgbench.uniform)} tps**, ` +
      `one hot account **${Math.round(result.pgbench.hot)} tps**.`,
    '',
    '| backend | scenario | ops/s | vs pgbench | p50 ms | p99 ms | errors | server peak RSS MiB | server CPU µs/request | PostgreSQL CPU µs/request |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of result.rows) {
    const base = baseline(result, row);
    const ratio = base ? `${Math.round((100 * row.operationsPerSecond) / base) / 100}×` : '';
    lines.push(
      `| ${row.backend} | ${row.scenario}${row.auth ? ' +auth' : ''} | ${row.operationsPerSecond} | ${ratio} | ${row.latencyP50Ms} | ${row.latencyP99Ms} | ${row.errors} | ${row.peakRssMiB} | ` +
        `${row.serverCpuMicrosPerRequest} | ${row.postgresCpuMicrosPerRequest ?? ''} |`,
    );
  }
  lines.push(
    '',
    'pending-confirm counts one operation per debit + confirm pair (two requests). CPU per request is sampled from /proc over the ' +
      'load: the Coffer process (on PGlite it includes the database), and every process of the local PostgreSQL server.',
    '',
  );
  return lines.join('\n');
}

export function renderChart(result: BenchResult): string {
  const bars: { label: string; value: number; color: string }[] = [
    { label: 'pgbench uniform', value: result.pgbench.uniform, color: '#8a8a8a' },
    { label: 'pgbench hot', value: result.pgbench.hot, color: '#b5b5b5' },
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
