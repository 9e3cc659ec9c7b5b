/**
 * Failover, twice: (1) a pg_auto_failover formation (test/support/pg-auto-failover.ts: a
 * monitor and two nodes, Coffer's DATABASE_URL the monitor's `pg_autoctl show uri`), the
 * primary node lost — its keeper and postmaster SIGKILLed — and the monitor promoting the
 * standby; (2) a hand-made primary with a synchronous standby (test/support/pg-replication.ts),
 * its postmaster SIGKILLed and the standby promoted by the test with `pg_ctl promote`, so that
 * the time measured there is Coffer's alone. Each: two Coffer processes with both servers in
 * DATABASE_URL, keyed money requests through both; while there is no primary every answer is
 * 503 SERVICE_UNAVAILABLE JSON and /_healthcheck is 503; after the promotion both processes,
 * never restarted, serve again on the new primary.
 *
 * Then every request is sent again with its key: every answer acknowledged before the kill
 * replays byte for byte from the new primary (zero acknowledged loss: synchronous commit made
 * the standby flush it before the answer), a 503 one now runs or replays, every executed
 * request moved money exactly once, and `coffer verify` passes on the new primary. The times
 * from the kill to the promotion and to both processes healthy are reported.
 * scripts/failover-soak.sh repeats the whole file.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { openPostgres } from '../src/storage/database.ts';
import { postgresSkipped } from './support/harness.ts';
import { startAutoFailover } from './support/pg-auto-failover.ts';
import { startReplicatedCluster } from './support/pg-replication.ts';
import { runCommand, send, startServer, type HttpAnswer, type ServerProcess } from './support/server-process.ts';

const WORKERS = 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  readonly via: number;
  readonly method: string;
  readonly path: string;
  readonly body: string;
  readonly key: string;
  readonly kind: 'hold' | 'transfer' | 'credit' | 'confirm';
  readonly first: HttpAnswer;
  /** Answered before the primary was killed. */
  readonly beforeKill: boolean;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function healthy(server: ServerProcess): Promise<boolean> {
  return (await fetch(`${server.url}/_healthcheck`)).status === 200;
}

/** One way of losing the primary and getting a new one. */
interface Failover {
  /** Coffer's DATABASE_URL: both servers. */
  readonly url: string;
  /** Environment for Coffer's processes besides DATABASE_URL. */
  readonly env: Record<string, string>;
  /** What promotes the standby, for the report. */
  readonly promotion: string;
  kill(): void;
  /** Resolves once the standby is a primary. */
  promote(): Promise<void>;
  destroy(): Promise<void>;
}

async function failoverUnderLoad(t: TestContext, cluster: Failover): Promise<void> {
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) servers.push(await startServer({ ...cluster.env, DATABASE_URL: cluster.url, POOL_SIZE: '4' }));
    const wallets: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await send(servers[i % 2]!.url, 'POST', '/wallets', `{"name":"failover-${i}"}`, { 'idempotency-key': `failover-wallet-${i}` });
      assert.equal(created.status, 201, created.text);
      const id = JSON.parse(created.text).data.id as string;
      assert.equal((await send(servers[0]!.url, 'POST', `/wallets/${id}/credit`, '{"amount":{"asset":"USD/2","amount":1000000}}', { 'idempotency-key': `failover-funds-${i}` })).status, 204);
      wallets.push(id);
    }

    const sent: Sent[] = [];
    const open: string[] = [];
    let killed = false;
    let running = true;
    let keys = 0;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const key = `failover-${keys++}`;
        const via = w % 2;
        const from = wallets[(w + i) % 3]!;
        const to = wallets[(w + i + 1) % 3]!;
        const metadata = { req: key };
        const holdId = i % 4 === 3 ? open.shift() : undefined;
        const [kind, path, body]: [Sent['kind'], string, unknown] =
          holdId !== undefined
            ? ['confirm', `/holds/${holdId}/confirm`, {}]
            : i % 4 === 0
              ? ['hold', `/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 3 }, pending: true, metadata }]
              : i % 4 === 1
                ? ['transfer', `/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 2 }, destination: { type: 'WALLET', identifier: to }, metadata }]
                : ['credit', `/wallets/${to}/credit`, { amount: { asset: 'USD/2', amount: 1 }, sources: [{ type: 'WALLET', identifier: from }], metadata }];
        const text = JSON.stringify(body);
        const first = await send(servers[via]!.url, 'POST', path, text, { 'idempotency-key': key });
        sent.push({ via, method: 'POST', path, body: text, key, kind, first, beforeKill: !killed });
        if (first.status === 201) open.push(JSON.parse(first.text).data.id);
        if (first.status === 503) await sleep(200); // a client's backoff: no flood while there is no primary
      }
    };
    const ok = () => sent.filter((s) => s.first.status < 300).length;
    const unavailable = () => sent.filter((s) => s.first.status === 503).length;
    const load = Array.from({ length: WORKERS }, (_, w) => worker(w));

    await until('traffic before the failover', () => ok() >= 100);
    // Answers in flight at the kill may still be counted as "before": a 2xx among them was
    // acknowledged, so it must survive too. Only those sent after the flag are "after".
    killed = true;
    cluster.kill();
    const killedAt = Date.now();
    await until('503s while there is no primary', () => unavailable() >= 20);
    for (const server of servers) {
      const health = await send(server.url, 'GET', '/_healthcheck');
      assert.equal(health.status, 503, health.text);
      assert.equal(JSON.parse(health.text).errorCode, 'SERVICE_UNAVAILABLE');
      const write = await send(server.url, 'POST', `/wallets/${wallets[0]}/credit`, '{"amount":{"asset":"USD/2","amount":1}}');
      assert.equal(write.status, 503, write.text);
      assert.equal(JSON.parse(write.text).errorCode, 'SERVICE_UNAVAILABLE');
    }
    const waitedAt = Date.now();
    await cluster.promote();
    const promotedAt = Date.now();
    await until('both processes healthy on the promoted standby', async () => (await healthy(servers[0]!)) && (await healthy(servers[1]!)), 60_000);
    const recoveredAt = Date.now();
    const after = ok();
    await until('traffic after the failover', () => ok() >= after + 100);
    running = false;
    await Promise.all(load);
    t.diagnostic(`${cluster.promotion}: kill → promoted ${promotedAt - killedAt} ms (${promotedAt - waitedAt} ms of it waiting for the promotion); promotion → both processes healthy: ${recoveredAt - promotedAt} ms; kill → both processes healthy: ${recoveredAt - killedAt} ms`);
    t.diagnostic(`${sent.length} requests: ${ok()} succeeded, ${unavailable()} were 503`);

    for (const { path, first } of sent) {
      if (first.status === 503) {
        assert.equal(JSON.parse(first.text).errorCode, 'SERVICE_UNAVAILABLE', first.text);
        continue;
      }
      assert.ok(first.status === 201 || first.status === 204, `${path} → ${first.status} ${first.text}`);
    }

    // Every request again, with its key, through the other process.
    let executed = 0;
    let holds = 0;
    let acknowledgedBeforeKill = 0;
    const executedKeys = new Set<string>();
    for (const request of sent) {
      const again = await send(servers[1 - request.via]!.url, request.method, request.path, request.body, { 'idempotency-key': request.key });
      assert.ok(again.status === 201 || again.status === 204, `${request.path} retried → ${again.status} ${again.text}`);
      if (request.first.status !== 503) {
        assert.ok(again.replayed, `${request.key} was acknowledged (${request.beforeKill ? 'before' : 'after'} the kill), so the new primary has it and replays it`);
        assert.equal(again.text, request.first.text, 'the stored answer is the one given');
        if (request.beforeKill) acknowledgedBeforeKill++;
      }
      executed++;
      if (request.kind === 'hold') holds++;
      if (request.kind !== 'confirm') executedKeys.add(request.key);
    }
    t.diagnostic(`${acknowledgedBeforeKill} answers acknowledged before the kill: every one replayed from the new primary`);

    const db = openPostgres({ url: cluster.url, poolSize: 1, statementTimeoutMs: 10_000 });
    try {
      const byKey = await db.query<{ req: string; count: bigint }>(`SELECT metadata->>'req' AS req, count(*)::int8 AS count FROM transactions WHERE metadata ? 'req' GROUP BY 1`);
      assert.deepEqual(byKey.filter((row) => row.count !== 1n), [], 'no request moved money twice');
      assert.deepEqual(new Set(byKey.map((row) => row.req)), executedKeys, 'every executed request moved money once');
      const [{ count } = { count: -1n }] = await db.query<{ count: bigint }>('SELECT count(*)::int8 AS count FROM transactions');
      assert.equal(count, BigInt(3 + executed), 'one transaction per executed request, the 3 fundings besides');
      const [{ count: holdRows } = { count: -1n }] = await db.query<{ count: bigint }>('SELECT count(*)::int8 AS count FROM holds');
      assert.equal(holdRows, BigInt(holds));
    } finally {
      await db.close();
    }
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|DATABASE_SCHEMA|DATA_DIR)$/.test(name)));
    const verify = await runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'verify'], { ...env, ...cluster.env, DATABASE_URL: cluster.url });
    assert.equal(verify.code, 0, `coffer verify on the new primary: ${verify.stdout}${verify.stderr}`);
  } finally {
    await Promise.all(servers.map((server) => server.kill('SIGTERM')));
    await cluster.destroy();
  }
}

if (process.env.TEST_DATABASE_URL) {
  describe('failover [postgres, a primary and a synchronous standby]', () => {
    it('SIGKILL the primary under keyed load through two processes → 503 JSON and health 503; promote the standby by hand → both serve again; zero acknowledged loss, each request once, verify passes', { timeout: 120_000 }, async (t) => {
      const cluster = await startReplicatedCluster();
      await failoverUnderLoad(t, {
        url: cluster.url,
        env: {},
        promotion: 'pg_ctl promote by the test',
        kill: () => cluster.killPrimary(),
        promote: () => cluster.promoteStandby(),
        destroy: () => cluster.destroy(),
      });
    });

    it('pg_auto_failover (monitor + two nodes): lose the primary node under keyed load through two processes → 503s; the monitor promotes the standby → both serve again; zero acknowledged loss, each request once, verify passes', { timeout: 150_000 }, async (t) => {
      const formation = await startAutoFailover();
      // The monitor's URI names no user: libpq (and node-postgres) then take PGUSER.
      process.env.PGUSER ??= 'postgres';
      await failoverUnderLoad(t, {
        url: formation.url,
        env: { PGUSER: process.env.PGUSER },
        promotion: 'pg_auto_failover',
        kill: () => formation.killNode('node1'),
        async promote() {
          const deadline = Date.now() + 60_000;
          while ((await formation.primary().catch(() => undefined)) !== 'node2') {
            if (Date.now() > deadline) assert.fail(`the monitor did not promote node2 within 60 s:\n${await formation.state()}`);
            await sleep(50);
          }
        },
        destroy: () => formation.destroy(),
      });
    });
  });
} else {
  postgresSkipped('failover [postgres, a primary and a synchronous standby]');
}
