/**
 * Reads what `bench/pglite-statements.ts` wrote. `node --import tsx
 * bench/pglite-statements-report.ts FILE` prints each second's time in PGlite (a load's
 * window is the run of busy seconds); with FROM and TO (line numbers of that listing), the
 * time each statement took between them: per second of the window, its calls, per call.
 */
import { readFileSync } from 'node:fs';

const [file, from, to] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node --import tsx bench/pglite-statements-report.ts FILE [FROM TO]');
  process.exit(2);
}
interface Line {
  readonly at: number;
  readonly totals: Record<string, { readonly ms: number; readonly calls: number }>;
}
const lines = readFileSync(file, 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as Line);
const sum = (line: Line) => Object.values(line.totals).reduce((total, entry) => total + entry.ms, 0);
if (from === undefined || to === undefined) {
  lines.forEach((line, index) => console.log(`${index}\t${new Date(line.at).toISOString().slice(11, 19)}\t${Math.round(sum(line) - (index > 0 ? sum(lines[index - 1]!) : 0))} ms`));
} else {
  const [first, last] = [lines[Number(from)], lines[Number(to)]];
  if (first === undefined || last === undefined) {
    console.error(`no such lines: ${from}, ${to} (the file has ${lines.length})`);
    process.exit(2);
  }
  const seconds = (last.at - first.at) / 1_000;
  const rows = Object.entries(last.totals)
    .map(([statement, entry]) => {
      const before = first.totals[statement] ?? { ms: 0, calls: 0 };
      return { statement, ms: entry.ms - before.ms, calls: entry.calls - before.calls };
    })
    .filter((row) => row.calls > 0)
    .sort((a, b) => b.ms - a.ms);
  console.log(`${seconds} s: ${Math.round(rows.reduce((total, row) => total + row.ms, 0))} ms in PGlite`);
  for (const row of rows) {
    console.log(`${(row.ms / seconds).toFixed(1).padStart(7)} ms/s ${String(row.calls).padStart(7)} calls ${((1_000 * row.ms) / row.calls).toFixed(0).padStart(6)} µs/call  ${row.statement}`);
  }
}
