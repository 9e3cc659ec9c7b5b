/**
 * Where an embedded server's thread goes inside PGlite, by statement: a preload for the
 * server (`BENCH_SERVER_NODE_ARGS='--import tsx --import ./bench/pglite-statements.ts' npm run bench`)
 * that times every call into PGlite's WebAssembly (`execProtocolRawSync`, each a part of one
 * statement's extended-protocol exchange, the COMMIT's fsync included) and charges it to the
 * statement whose text the last Parse message carried (a simple query: its own text). Each
 * second it appends the running totals per statement to `/tmp/pglite-statements.<pid>.jsonl`;
 * `node --import tsx bench/pglite-statements-report.ts FILE [FROM TO]` prints them per second, or the
 * time each statement took between two of those lines (a load's window). PGlite runs one
 * statement at a time, so the timings do not overlap. Not for production: it wraps a method
 * of PGlite's class.
 */
import { writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

const PARSE = 0x50; // 'P'
const QUERY = 0x51; // 'Q'
const LABEL_MAX = 150;
/** Statement text → total milliseconds and calls. */
const totals = new Map<string, { ms: number; calls: number }>();
let statement = '?';

function text(message: Uint8Array, from: number): string {
  let end = from;
  while (end < message.length && message[end] !== 0 && end < from + 4 * LABEL_MAX) end++;
  return Buffer.from(message.subarray(from, end)).toString().replace(/\s+/g, ' ').trim().slice(0, LABEL_MAX);
}

const execute = PGlite.prototype.execProtocolRawSync;
PGlite.prototype.execProtocolRawSync = function (this: PGlite, message: Uint8Array) {
  if (message[0] === PARSE) {
    // 'P', its length (4 bytes), the statement's name (NUL-terminated), then its text.
    let at = 5;
    while (message[at] !== 0) at++;
    statement = text(message, at + 1);
  } else if (message[0] === QUERY) {
    statement = text(message, 5);
  }
  const started = performance.now();
  try {
    return execute.call(this, message);
  } finally {
    const total = totals.get(statement) ?? { ms: 0, calls: 0 };
    total.ms += performance.now() - started;
    total.calls += 1;
    totals.set(statement, total);
  }
};

const file = `/tmp/pglite-statements.${process.pid}.jsonl`;
setInterval(() => writeFileSync(file, `${JSON.stringify({ at: Date.now(), totals: Object.fromEntries(totals) })}\n`, { flag: 'a' }), 1_000).unref();
