/**
 * What each outbox publisher costs per event, alone, with no load beside it: a backlog of
 * DRAIN_EVENTS events (default 30,000) written straight into a fresh database's feed, then
 * drained by Coffer's own loops in this process — the webhook loop delivering to one endpoint
 * (a node:http receiver in a child process answering 204) and the NATS publisher (JetStream,
 * BENCH_NATS_URL, default nats://127.0.0.1:4222; a first backlog on another ledger warms it
 * up) — and this process's CPU, PostgreSQL's (the local server's processes) and
 * nats-server's, per event. DRAIN_BACKEND=pglite drains from PGlite (its CPU is in this
 * process's). Run: `node --import tsx bench/outbox-drain.ts`. The figures are the loops' own
 * cost; `BENCH_EVENTS=1 npm run bench` measures them under a load of debits.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openPglite, openPostgres, type Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { startWebhookWorker, DEFAULT_WEBHOOK_SETTINGS } from '../src/events/webhooks.ts';
import { startNatsPublisher, streamName } from '../src/events/nats.ts';
import { instantFromDate } from '../src/domain/time.ts';
import { freshPostgresDatabase } from '../test/support/harness.ts';
import { CpuMeter, pidsNamed, postgresPids } from './cpu.ts';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const EVENTS = Number(process.env.DRAIN_EVENTS ?? 30_000);
const BACKEND = process.env.DRAIN_BACKEND ?? 'postgres';
if (!['postgres', 'pglite'].includes(BACKEND)) throw new Error(`DRAIN_BACKEND must be postgres or pglite, got ${BACKEND}`);
const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_URL = process.env.BENCH_NATS_URL || 'nats://127.0.0.1:4222';
const clock = () => instantFromDate(new Date());

/** `count` `wallet.debited` events of a realistic size at the end of `ledger`'s feed. */
async function backlog(db: Database, ledger: string, count: number): Promise<void> {
  await db.query(
    `INSERT INTO events (position, ledger, id, type, occurred_at, wallet_ids, data, cause)
     SELECT coalesce((SELECT max(position) FROM events), 0) + g, $2, gen_random_uuid()::text, 'wallet.debited', now(), ARRAY[gen_random_uuid()::text],
       jsonb_build_object('walletID', gen_random_uuid()::text, 'amount', jsonb_build_object('asset', 'USD/2', 'amount', 100), 'destination', jsonb_build_object('type', 'ACCOUNT', 'identifier', 'world'),
         'transaction', jsonb_build_object('id', g, 'timestamp', '2026-12-01T00:00:00Z', 'metadata', '{}'::jsonb,
           'postings', jsonb_build_array(jsonb_build_object('source', 'wallets:x:main', 'destination', 'world', 'amount', 100, 'asset', 'USD/2')))),
       jsonb_build_object('requestId', gen_random_uuid()::text, 'idempotencyKey', gen_random_uuid()::text, 'clientId', null)
     FROM generate_series(1, $1) AS g`,
    [count, ledger],
  );
}

/** Runs `drain` and prints the CPU per event of this process, PostgreSQL and nats-server. */
async function measure(name: string, count: number, drain: () => Promise<void>): Promise<void> {
  const meters = { Coffer: new CpuMeter(() => [process.pid]), ...(BACKEND === 'postgres' ? { PostgreSQL: new CpuMeter(postgresPids) } : {}), 'nats-server': new CpuMeter(() => pidsNamed('nats-server')) };
  const started = performance.now();
  await drain();
  const seconds = (performance.now() - started) / 1000;
  const costs = Object.entries(meters).map(([who, meter]) => `${who} ${Math.round((1e6 * meter.seconds()) / count)} µs`);
  console.log(`${BACKEND}: ${name}: ${count} events in ${seconds.toFixed(1)} s (${Math.round(count / seconds)} a second); CPU per event: ${costs.join(', ')}`);
}

/** A receiver answering 204, in a child process; resolves once `count` POSTs have been answered. */
async function receiver(): Promise<{ url: string; received: (count: number) => Promise<void>; stop: () => void }> {
  const child = spawn(
    process.execPath,
    // It tells its count every 50 ms while it changes (not per request: its own output would cost it more than answering).
    ['-e', `let n = 0, told = 0; const s = require('node:http').createServer((q, r) => q.resume().on('end', () => { n++; r.writeHead(204).end(); })); setInterval(() => { if (n !== told) console.log(told = n); }, 50); s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let port = 0;
  let got = 0;
  let exited: number | null | undefined;
  let wake = () => {};
  child.on('exit', (code) => {
    exited = code;
    wake();
  });
  /** Waits for the receiver's next line; fails if it has ended. */
  const next = async () => {
    if (exited !== undefined) throw new Error(`the receiver ended (exit code ${exited})`);
    await new Promise<void>((resolve) => (wake = resolve));
  };
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString()).split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      if (line.startsWith('port ')) port = Number(line.slice(5));
      else got = Number(line);
    }
    wake();
  });
  while (port === 0) await next();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    async received(count) {
      while (got < count) await next();
    },
    stop: () => child.kill(),
  };
}

const fresh = BACKEND === 'postgres' ? await freshPostgresDatabase(SERVER_URL) : undefined;
const db = fresh ? openPostgres({ url: fresh.url, poolSize: 10, statementTimeoutMs: 60_000 }) : await openPglite(undefined);
try {
  await migrate(db);

  // Webhooks: one endpoint created before the backlog, so its deliveries are the backlog's.
  const target = await receiver();
  try {
    await db.query(
      `INSERT INTO webhook_endpoints (id, ledger, url, event_types, description, secret, enabled, created_at, feed_position)
       VALUES ($1, 'hooks', $2, '{}', 'outbox-drain', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', true, now(), 0)`,
      [randomUUID(), target.url],
    );
    await backlog(db, 'hooks', EVENTS);
    const worker = startWebhookWorker({ db, clock, settings: { ...DEFAULT_WEBHOOK_SETTINGS, allowPrivate: true }, intervalMs: 250 });
    await measure('webhook deliveries, one endpoint', EVENTS, async () => {
      worker.kick();
      await target.received(EVENTS);
    });
    await worker.stop();
    await db.query('UPDATE webhook_endpoints SET enabled = false');
  } finally {
    target.stop();
  }

  // NATS: a warm-up ledger, then the measured one (each a stream of its own, deleted after).
  const nc = await connect({ servers: NATS_URL, timeout: 5_000 });
  const jsm = await jetstreamManager(nc);
  const ledgers = [`drain-warm-${Date.now()}`, `drain-${Date.now()}`];
  try {
    for (const [i, ledger] of ledgers.entries()) {
      const count = i === 0 ? Math.ceil(EVENTS / 10) : EVENTS;
      await backlog(db, ledger, count);
      const publisher = startNatsPublisher({ db, url: NATS_URL, ledger, clock, intervalMs: 250 }, false);
      const drain = async () => {
        const published = await publisher.run();
        if (published !== count) throw new Error(`published ${published} of ${count}`);
      };
      if (i === 0) await drain();
      else await measure('NATS JetStream publishing', count, drain);
      await publisher.stop();
    }
  } finally {
    for (const ledger of ledgers) await jsm.streams.delete(streamName(ledger)).catch(() => {});
    await nc.close();
  }
} finally {
  await db.close();
  await fresh?.drop();
}
