/**
 * No route reads a large table from end to end. A PostgreSQL database is filled by the
 * benchmark's loader (bench/populate.ts: 30,000 wallets, 150,000 transactions with their
 * postings and stored keys, holds open and closed), a feed of 200,000 events and an endpoint
 * with 100,000 deliveries and attempts behind it, and analyzed; then every route — reads,
 * mutations, a bulk request, keyed replays, the feed, webhooks — runs over HTTP on a database
 * handle that records each statement it sends, and the hold sweeper, the idempotency purge and
 * the webhook delivery loop (a success and a failure) run once. Every
 * recorded statement is then EXPLAINed with the parameters it was sent with, twice: as planned
 * for those values, and as a generic plan (what a prepared statement may settle on after five
 * runs). A sequential scan of one of the large tables fails the test, naming the statement.
 * The delivery loop's statements go through the background pool, whose sessions keep one
 * generic plan per statement made with scans ruled out (BACKGROUND_SETTINGS): those are also
 * explained so, here and on an empty database, where a plan made with no such rule would scan.
 *
 * PostgreSQL only: the embedded PGlite runs the same SQL with the same planner, and filling it
 * costs more than the whole test budget.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';

import { populate } from '../bench/populate.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { instantFromDate } from '../src/domain/time.ts';
import { buildApp } from '../src/http/app.ts';
import { purgeExpiredKeys } from '../src/idempotency/retention.ts';
import { BACKGROUND_SESSION, openPostgres, type Database, type Queryable, type Transaction } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { releaseDeliveries, type ClaimedDelivery } from '../src/storage/webhooks.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { freshPostgresDatabase, json, postgresSkipped } from './support/harness.ts';

/** node-postgres's own conversion of a parameter to the text it sends. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

const LARGE_TABLES = new Set([
  'wallets',
  'balances',
  'accounts',
  'volumes',
  'transactions',
  'postings',
  'holds',
  'idempotency_keys',
  'wallet_status_changes',
  'events',
  'webhook_deliveries',
  'webhook_attempts',
]);
/** Events in the feed before the routes run, and deliveries (with an attempt each) already made of them. */
const EVENTS = 200_000;
const DELIVERED = 100_000;
const WALLETS = 30_000;
const PER_WALLET = 5;
const LEDGER = 'default';

interface Recorded {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Sent through the background pool (`Database.background`). */
  readonly background: boolean;
}

/** A database handle that records every statement with parameters sent through it. */
function recording(db: Database, seen: Map<string, Recorded>): Database {
  const record = (sql: string, params?: readonly unknown[], background = false) => {
    if (!seen.has(sql)) seen.set(sql, { sql, params: params ?? [], background });
  };
  const background = db.background;
  const wrap = <Q extends Queryable>(q: Q): Q =>
    new Proxy(q, {
      get(target, name, receiver) {
        if (name === 'query') {
          return (sql: string, params?: readonly unknown[]) => {
            record(sql, params);
            return target.query(sql, params);
          };
        }
        if (name === 'defer') {
          return (sql: string, params?: readonly unknown[], rows?: number) => {
            record(sql, params);
            (target as unknown as Transaction).defer(sql, params, rows);
          };
        }
        return Reflect.get(target, name, receiver);
      },
    });
  return {
    ...db,
    kind: db.kind,
    query: (sql, params) => {
      record(sql, params);
      return db.query(sql, params);
    },
    exec: (sql) => db.exec(sql),
    transaction: (body) => db.transaction((tx) => body(wrap(tx))),
    snapshot: (body) => db.snapshot((q) => body(wrap(q))),
    poolStats: () => db.poolStats(),
    close: () => db.close(),
    ...(background === undefined
      ? {}
      : {
          background: {
            query: (sql: string, params?: readonly unknown[]) => {
              record(sql, params, true);
              return background.query(sql, params);
            },
            exec: (sql: string) => background.exec(sql),
          } as Queryable,
        }),
  };
}

/** A session as the background pool's are (BACKGROUND_SESSION), in the schema of `schema`. */
async function backgroundSession(url: string, schema: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: `${BACKGROUND_SESSION} -c search_path=${schema}` });
  await client.connect();
  return client;
}

/** The plan a prepared statement runs with these parameters (EXECUTE takes them as SQL text: each value as node-postgres would send it, quoted). */
async function explainPrepared(client: pg.Client, name: string, { sql, params }: Recorded): Promise<PlanNode> {
  await client.query(`PREPARE ${name} AS ${sql}`);
  const literals = params.map((value) => (value === null || value === undefined ? 'NULL' : client.escapeLiteral(String(prepareValue(value)))));
  const plans = (await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${literals.length > 0 ? `(${literals.join(', ')})` : ''}`)).rows;
  return plans[0]!['QUERY PLAN'][0]!.Plan;
}

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' && node['Relation Name'] && LARGE_TABLES.has(node['Relation Name']) ? [node['Relation Name']] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

const walletOf = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const holdOf = (i: number) => `00000000-0000-4000-9000-${i.toString(16).padStart(12, '0')}`;

if (!process.env.TEST_DATABASE_URL) {
  postgresSkipped('explain: no route scans a large table [postgres]');
} else {
  describe('explain: no route scans a large table [postgres]', () => {
    let fresh: { url: string; drop: () => Promise<void> };
    let db: Database;
    const seen = new Map<string, Recorded>();

    before(async () => {
      fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
      db = openPostgres({ url: fresh.url, poolSize: 4 } as Parameters<typeof openPostgres>[0]);
      await migrate(db);
      await populate(db, { ledger: LEDGER, wallets: WALLETS, perWallet: PER_WALLET, chunk: 10_000 });
      // A feed kept for a while, and an endpoint that has received much of it and is 10 events
      // behind: every event one of four types, about one wallet's; a delivery and an attempt
      // for each of the first DELIVERED.
      await db.exec(`
        INSERT INTO events (position, ledger, id, type, occurred_at, wallet_ids, data, cause)
          SELECT n, '${LEDGER}', 'event-' || n, (ARRAY['wallet.debited', 'wallet.credited', 'hold.created', 'wallet.created'])[1 + n % 4],
            timestamptz '2026-01-01T00:00:00Z' + n * interval '1 second',
            ARRAY['00000000-0000-4000-8000-' || lpad(to_hex(1 + n % ${WALLETS}), 12, '0')], '{}'::jsonb,
            '{"requestId": null, "idempotencyKey": null, "clientId": null}'::jsonb
          FROM generate_series(1, ${EVENTS}) AS n;
        UPDATE event_feed_top SET position = ${EVENTS};
        INSERT INTO webhook_endpoints (id, ledger, url, event_types, description, secret, enabled, created_at, feed_position)
          VALUES ('old-endpoint', '${LEDGER}', 'http://127.0.0.1:9/old', '{}', '', 'whsec_MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz', true, timestamptz '2026-01-01T00:00:00Z', ${EVENTS - 10});
        INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, attempts, created_at, next_attempt_at)
          SELECT 'old-endpoint', seq, 'delivered', 1, occurred_at, occurred_at FROM events WHERE position <= ${DELIVERED};
        INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, response_body)
          SELECT 'old-endpoint', d.id, e.id, e.occurred_at, 204, 3, '' FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq;
        ANALYZE events, webhook_endpoints, webhook_deliveries, webhook_attempts;
      `);
    });
    after(async () => {
      await db.close();
      await fresh.drop();
    });

    it('every statement of every route, the sweeper, the purge and the webhook loop: no sequential scan of a large table, custom or generic plan', async () => {
      const recorded = recording(db, seen);
      const app = buildApp({ db: recorded, ledger: LEDGER, limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, webhooks: { allowPrivate: true, intervalMs: null }, feedWatchIntervalMs: null });
      await app.ready();
      // A receiver for a new endpoint (every delivery succeeds); the old one's port refuses (every delivery fails).
      const receiver = createServer((request, response) => request.resume().on('end', () => response.writeHead(204).end()));
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) => {
        const response = await app.inject({ method, url, ...(body !== undefined ? { payload: json(body), headers: { 'content-type': 'application/json', ...headers } } : { headers }) });
        assert.ok(response.statusCode < 500, `${method} ${url}: ${response.statusCode} ${response.body}`);
        return { status: response.statusCode, text: response.body, body: response.body ? JSON.parse(response.body) : undefined };
      };
      try {
        const w = walletOf(1234);
        const rich = walletOf(2001);
        const usd = (amount: number) => ({ asset: 'USD/2', amount });
        // Reads, with every filter and a deep cursor.
        const page = await call('GET', '/wallets?pageSize=100');
        await call('GET', `/wallets?cursor=${page.body.cursor.next}`);
        await call('GET', '/wallets?name=customer-77');
        await call('GET', '/wallets?metadata[tier]=gold&expand=balances');
        await call('GET', `/wallets/${w}`);
        await call('GET', `/wallets/${w}/summary`);
        await call('GET', `/wallets/${w}/balances`);
        await call('GET', `/wallets/${walletOf(3)}/balances/promo`);
        const holds = await call('GET', `/holds?walletID=${walletOf(15)}`);
        await call('GET', '/holds?status=open&pageSize=50');
        await call('GET', '/holds?metadata[order]=h-25');
        const holdsPage = await call('GET', '/holds?pageSize=100');
        await call('GET', `/holds?cursor=${holdsPage.body.cursor.next}`);
        await call('GET', `/holds/${holdOf(15)}`);
        assert.equal(holds.body.cursor.data.length, 1);
        const transactions = await call('GET', `/transactions?walletID=${w}&pageSize=2`);
        await call('GET', `/transactions?walletID=${w}&cursor=${transactions.body.cursor.next}`);
        const all = await call('GET', '/transactions?pageSize=100');
        await call('GET', `/transactions?cursor=${all.body.cursor.next}`);
        // Mutations, keyed (so the claims and replays run too), and their replays.
        const keyed = { 'idempotency-key': 'explain-1' };
        assert.equal((await call('POST', `/wallets/${rich}/debit`, { amount: usd(1) }, keyed)).status, 204);
        await call('POST', `/wallets/${rich}/debit`, { amount: usd(1) }, keyed);
        await call('POST', `/wallets/${rich}/debit`, { amount: usd(2) }, { 'idempotency-key': 'load-7' });
        const hold = await call('POST', `/wallets/${rich}/debit`, { amount: usd(10), pending: true, balances: ['*'], expiresAt: '2031-01-01T00:00:00Z' }, { 'idempotency-key': 'explain-2' });
        await call('PATCH', `/holds/${hold.body.data.id}`, { expiresAt: null });
        await call('POST', `/holds/${hold.body.data.id}/confirm`, { amount: 5 }, { 'idempotency-key': 'explain-3' });
        await call('POST', `/holds/${hold.body.data.id}/void`, undefined, { 'idempotency-key': 'explain-4' });
        await call('POST', `/holds/${holdOf(25)}/void`);
        await call('POST', `/wallets/${w}/credit`, { amount: usd(3), sources: [{ type: 'WALLET', identifier: rich }], reference: 'explain-ref' });
        const created = await call('POST', '/wallets', { name: 'explain', metadata: { a: 'b' } }, { 'idempotency-key': 'explain-5' });
        await call('PATCH', `/wallets/${w}`, { metadata: { tier: 'platinum' } });
        await call('POST', `/wallets/${w}/balances`, { name: 'gift', overdraft: { 'USD/2': 10 } });
        await call('PATCH', `/wallets/${w}/balances/gift`, { priority: 2 });
        await call('PATCH', `/wallets/${created.body.data.id}`, { status: 'frozen' });
        await call('PATCH', `/wallets/${created.body.data.id}`, { status: 'closed' });
        await call('POST', '/bulk', {
          atomic: true,
          operations: [
            { action: 'CREATE_WALLET', ik: 'explain-6', data: { name: 'bulk' } },
            { action: 'DEBIT_WALLET', ik: 'explain-7', data: { walletID: rich, amount: usd(1) } },
            { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(1) } },
          ],
        });
        await call('POST', '/bulk', { operations: [{ action: 'DEBIT_WALLET', ik: 'explain-7', data: { walletID: rich, amount: usd(1) } }] }, { 'idempotency-key': 'explain-8' });
        await call('GET', '/_healthcheck');
        await app.holdSweeper.sweep();
        // The feed, with every filter and deep; webhooks, their attempts, replay, test; the delivery loop; metrics.
        const feed = await call('GET', '/events?pageSize=100');
        await call('GET', `/events?cursor=${feed.body.cursor.next}`);
        await call('GET', `/events?after=${EVENTS - 500}&type=hold.created`);
        await call('GET', `/events?walletID=${w}&pageSize=5`);
        const hook = await call('POST', '/webhooks', { url: receiverUrl, description: 'explain' });
        await call('GET', '/webhooks');
        await call('GET', `/webhooks/${hook.body.data.id}`);
        await call('PATCH', `/webhooks/${hook.body.data.id}`, { eventTypes: [] });
        await call('POST', `/webhooks/${hook.body.data.id}/rotate-secret`);
        await call('POST', `/webhooks/${hook.body.data.id}/replay`, { after: EVENTS - 20 });
        await call('POST', `/webhooks/${hook.body.data.id}/test`);
        await call('POST', `/wallets/${rich}/debit`, { amount: usd(1) }, { 'idempotency-key': 'explain-9' });
        await app.webhooks.run();
        // A claimed delivery given back unsent (a stopping process does so): the loop's fourth statement.
        const [delivery] = await db.query<{ id: bigint }>("SELECT id FROM webhook_deliveries WHERE endpoint_id = 'old-endpoint' ORDER BY id DESC LIMIT 1");
        await releaseDeliveries(recorded.background ?? recorded, [{ id: BigInt(delivery!.id), leaseUntil: instantFromDate(new Date()) } as ClaimedDelivery]);
        const attempts = await call('GET', '/webhooks/old-endpoint/attempts?pageSize=10');
        assert.equal(attempts.body.data.length, 10);
        await call('GET', `/webhooks/${hook.body.data.id}/attempts`);
        const metrics = await app.inject({ method: 'GET', url: '/metrics' });
        assert.match(metrics.body, /coffer_webhook_deliveries_pending \d+/);
        await call('DELETE', `/webhooks/${hook.body.data.id}`);
      } finally {
        await app.close();
        receiver.close();
      }
      // The purge in its steady state: a few keys past the retention window among many within it
      // (the loaded keys date from 2026-01-01T00:00Z on, one a minute per wallet). When most keys
      // are past it, a sequential scan that stops after the batch's 1,000 rows is the cheap plan.
      await purgeExpiredKeys(recording(db, seen), 3_600_000_000n, instantFromDate(new Date('2026-01-01T01:10:00Z')));

      // A raw connection finds Coffer's tables in its schema (DATABASE_SCHEMA), as its own do.
      const client = new pg.Client({ connectionString: fresh.url, options: `-c search_path=${db.schema}` });
      await client.connect();
      const backgroundClient = await backgroundSession(fresh.url, db.schema);
      const failures: string[] = [];
      const explained = { auto: 0, force_generic_plan: 0 };
      let customOnly = 0;
      try {
        for (const mode of ['auto', 'force_generic_plan']) {
          await client.query(`SET plan_cache_mode = ${mode}`);
          for (const statement of seen.values()) {
            const { sql, params } = statement;
            if (!/^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b/i.test(sql)) continue;
            // Deleting an endpoint deletes every row it has. It runs in a write transaction,
            // whose statements are always planned with their values (force_custom_plan,
            // src/storage/database.ts): an index scan for an endpoint with few rows among many. A generic plan would assume an endpoint owns
            // its share of the table (here: half, of two) and scan it.
            if (mode === 'force_generic_plan' && /^WITH a AS \(DELETE FROM webhook_attempts WHERE endpoint_id = \$1\)/.test(sql)) {
              customOnly++;
              continue;
            }
            // A generic plan of a statement with parameters is what EXPLAIN shows for a prepared
            // statement; a background statement's is made as its own sessions make it.
            const name = `explain_${Math.abs(hash(sql))}_${mode}`;
            let plan: PlanNode;
            if (mode === 'auto') {
              plan = (await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({ text: `EXPLAIN (FORMAT JSON) ${sql}`, values: [...params] })).rows[0]!['QUERY PLAN'][0]!.Plan;
            } else {
              plan = await explainPrepared(statement.background ? backgroundClient : client, name, statement);
            }
            explained[mode as keyof typeof explained]++;
            const scans = seqScans(plan);
            if (scans.length > 0) failures.push(`${mode}: Seq Scan on ${scans.join(', ')}: ${sql.replace(/\s+/g, ' ').slice(0, 400)}`);
          }
        }
      } finally {
        await client.end();
        await backgroundClient.end();
      }
      assert.ok(seen.size >= 30, `statements recorded: ${seen.size}`);
      // The loop's fan-out, claim and record of successes went through the background pool.
      for (const needle of ['INSERT INTO webhook_deliveries (endpoint_id, event_seq', 'WITH picked AS MATERIALIZED', 'DELETE FROM webhook_deliveries AS d', 'attempts = d.attempts - 1']) {
        assert.ok([...seen.values()].some((r) => r.background && r.sql.includes(needle)), `the background pool sent ${needle}`);
      }
      assert.equal(customOnly, 1);
      assert.equal(explained.force_generic_plan + customOnly, explained.auto, 'every other statement explained as a generic plan too');
      // The webhook loop ran each of its statements: fan-out, claim, success and failure records, the feed's reads.
      for (const needle of [
        'INSERT INTO webhook_deliveries (endpoint_id, event_seq',
        'WITH picked AS MATERIALIZED',
        'DELETE FROM webhook_deliveries AS d',
        'INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, error',
        'min(created_at)',
      ]) {
        assert.ok([...seen.keys()].some((sql) => sql.includes(needle)), `a statement with ${needle} was explained`);
      }
      assert.deepEqual(failures, [], `statements that scan a large table:\n${failures.join('\n')}`);
    });

    it('the background statements, planned once on an empty database as their sessions plan them: no sequential scan of a large table', async () => {
      const background = [...seen.values()].filter((r) => r.background);
      assert.ok(background.length >= 4, `background statements recorded: ${background.length}`);
      const empty = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
      const emptyDb = openPostgres({ url: empty.url, poolSize: 1 } as Parameters<typeof openPostgres>[0]);
      try {
        await migrate(emptyDb);
        const client = await backgroundSession(empty.url, emptyDb.schema);
        const failures: string[] = [];
        try {
          for (const [index, statement] of background.entries()) {
            const scans = seqScans(await explainPrepared(client, `empty_${index}`, statement));
            if (scans.length > 0) failures.push(`Seq Scan on ${scans.join(', ')}: ${statement.sql.replace(/\s+/g, ' ').slice(0, 400)}`);
          }
        } finally {
          await client.end();
        }
        assert.deepEqual(failures, [], `background statements whose kept plan, made on empty tables, scans one:\n${failures.join('\n')}`);
      } finally {
        await emptyDb.close();
        await empty.drop();
      }
    });

    it("the loader's ledger, and what the routes did on it, keep every ledger invariant", async () => {
      assert.deepEqual(await findViolations(db), []);
    });
  });
}

function hash(text: string): number {
  let value = 0;
  for (let i = 0; i < text.length; i++) value = (value * 31 + text.charCodeAt(i)) | 0;
  return value;
}
