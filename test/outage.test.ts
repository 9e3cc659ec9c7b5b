/**
 * Outage: the database goes away under load.
 *
 * PostgreSQL: a throwaway cluster this test starts itself is stopped twice while clients
 * keep sending keyed transfers, holds, confirms and credits — once cleanly (`fast`), once as
 * a crash (`immediate`). While it is down every answer is 503 with a JSON error and
 * /_healthcheck is 503; when it is back, the same Coffer (never restarted) serves again.
 *
 * PGlite: the embedded database is closed under the running app: every answer is 503 JSON
 * and /_healthcheck is 503. (Embedded, the database lives in the process: it comes back
 * with the process, so the test then starts a new app on the same data folder.)
 *
 * Either way nothing is half-written: afterwards every request is sent again with its key;
 * an answered one replays its answer byte for byte, a 503 one now runs (or replays, when its
 * COMMIT had landed before the connection died), every executed money request is exactly
 * one ledger transaction, and the invariants hold.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPglite, openPostgres } from '../src/storage/database.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { expectError, expectStatus, postgresSkipped, startHarness, type Backend, type Harness, type Request, type Response } from './support/harness.ts';
import { startCluster } from './support/pg-cluster.ts';

const WORKERS = 8;
/** Each cycle stops the server twice (fast, then immediate); more cycles make a soak run. */
const CYCLES = Number(process.env.OUTAGE_CYCLES ?? 1);
const FUNDS = 1_000_000n;

interface Sent {
  readonly request: Request;
  readonly kind: 'hold' | 'transfer' | 'credit' | 'confirm';
  readonly first: Response;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Clients sending keyed money requests until stopped; each request carries its key in its metadata. */
class Load {
  readonly sent: Sent[] = [];
  private readonly open: string[] = [];
  private running = true;
  private keys = 0;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly h: Harness,
    private readonly wallets: readonly string[],
  ) {}

  start(): void {
    this.workers = Array.from({ length: WORKERS }, (_, w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  succeeded(): number {
    return this.sent.filter((s) => s.first.status < 300).length;
  }

  unavailable(): number {
    return this.sent.filter((s) => s.first.status === 503).length;
  }

  private async worker(w: number): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `outage-${this.keys++}`;
      const from = this.wallets[(w + i) % this.wallets.length]!;
      const to = this.wallets[(w + i + 1) % this.wallets.length]!;
      const metadata = { req: key };
      const holdId = i % 4 === 3 ? this.open.shift() : undefined;
      const [kind, url, body]: [Sent['kind'], string, unknown] =
        holdId !== undefined
          ? ['confirm', `/holds/${holdId}/confirm`, i % 8 === 3 ? { amount: 1n, final: true } : {}]
          : i % 4 === 0
            ? ['hold', `/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 3n }, pending: true, destination: { type: 'ACCOUNT', identifier: 'merchant' }, metadata }]
            : i % 4 === 1
              ? ['transfer', `/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 2n }, destination: { type: 'WALLET', identifier: to }, metadata }]
              : ['credit', `/wallets/${to}/credit`, { amount: { asset: 'USD/2', amount: 1n }, sources: [{ type: 'WALLET', identifier: from }], metadata }];
      const request: Request = { method: 'POST', url, body, headers: { 'idempotency-key': key } };
      const first = await this.h.call(request);
      this.sent.push({ request, kind, first });
      if (first.status === 201) this.open.push(first.body.data.id);
      // While the database is down answers come back at once; do not spin.
      if (first.status === 503) await sleep(20);
    }
  }
}

async function fundedWallets(h: Harness): Promise<string[]> {
  const wallets: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = expectStatus(await h.post('/wallets', { name: `outage-${i}` }, { 'idempotency-key': `outage-wallet-${i}` }), 201).body.data.id;
    expectStatus(await h.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: FUNDS } }, { 'idempotency-key': `outage-funds-${i}` }), 204);
    wallets.push(id);
  }
  return wallets;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** While the database is down: health and a read and a write are all 503 JSON. */
async function expectDown(h: Harness, wallet: string): Promise<void> {
  expectError(await h.get('/_healthcheck'), 503, 'SERVICE_UNAVAILABLE');
  expectError(await h.get(`/wallets/${wallet}/summary`), 503, 'SERVICE_UNAVAILABLE');
  expectError(await h.post(`/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: 1n } }), 503, 'SERVICE_UNAVAILABLE');
  expectError(await h.get('/api/wallets/transactions'), 503, 'SERVICE_UNAVAILABLE');
}

/** During the outage every answer was a success or a 503 JSON error: never a 500, never a hang. */
function expectOnlySuccessOr503(load: Load): void {
  for (const { request, first } of load.sent) {
    if (first.status === 503) {
      assert.equal(first.body?.errorCode, 'SERVICE_UNAVAILABLE', first.text);
      assert.match(String(first.headers['content-type']), /^application\/json/);
      continue;
    }
    assert.ok(first.status === 201 || first.status === 204, `${request.url} → ${first.status} ${first.text}`);
  }
}

/**
 * Sends every request again with its key: an answered one must replay byte for byte; a 503
 * one now gets its real answer. Then each executed money request is one transaction.
 */
async function expectNothingHalfWritten(h: Harness, load: Load, setupTransactions: number): Promise<void> {
  let executed = 0;
  let holds = 0;
  const executedKeys = new Set<string>();
  for (const { request, kind, first } of load.sent) {
    const again = await h.call(request);
    assert.ok(again.status === 201 || again.status === 204, `${request.url} retried → ${again.status} ${again.text}`);
    if (first.status !== 503) {
      assert.equal(again.headers['idempotent-replayed'], 'true', `${request.url} was answered, so it replays`);
      assert.equal(again.status, first.status);
      assert.equal(again.text, first.text, 'the stored answer is the one given');
    }
    executed++;
    if (kind === 'hold') holds++;
    if (kind !== 'confirm') executedKeys.add(request.headers!['idempotency-key']!);
    // A second retry changes nothing more.
    assert.equal((await h.call(request)).headers['idempotent-replayed'], 'true');
  }
  const byKey = await h.db.query<{ req: string; count: bigint }>(
    `SELECT metadata->>'req' AS req, count(*)::int8 AS count FROM transactions WHERE metadata ? 'req' GROUP BY 1`,
  );
  assert.deepEqual(byKey.filter((row) => row.count !== 1n), [], 'no request moved money twice');
  assert.deepEqual(new Set(byKey.map((row) => row.req)), executedKeys, 'every executed request moved money once');
  const [{ count } = { count: -1n }] = await h.db.query<{ count: bigint }>('SELECT count(*)::int8 AS count FROM transactions');
  assert.equal(count, BigInt(setupTransactions + executed), 'one transaction per executed money request, confirms included');
  const [{ count: holdRows } = { count: -1n }] = await h.db.query<{ count: bigint }>('SELECT count(*)::int8 AS count FROM holds');
  assert.equal(holdRows, BigInt(holds));
  assert.deepEqual(await findViolations(h.db), []);
}

// The PostgreSQL tests run when TEST_DATABASE_URL is set (as in CI); this one starts its own
// server from the binaries in PG_BIN (default /usr/lib/postgresql/15/bin), which it stops.
if (process.env.TEST_DATABASE_URL) describe('outage [postgres, a throwaway cluster]', () => {
  it('stop the server under load (fast, then immediate) → 503 JSON, health 503; start it → recovers without a restart; nothing half-written', { timeout: 120_000 * CYCLES }, async (t) => {
    const cluster = await startCluster();
    let h: Harness | undefined;
    try {
      const backend: Backend = {
        name: 'postgres',
        open: async () => ({ db: openPostgres({ url: cluster.url, poolSize: 8, statementTimeoutMs: 10_000 }), drop: async () => {} }),
      };
      h = await startHarness(backend);
      const wallets = await fundedWallets(h);
      const load = new Load(h, wallets);
      load.start();
      for (const mode of Array.from({ length: CYCLES }, () => ['fast', 'immediate'] as const).flat()) {
        const before = load.succeeded();
        await until('traffic before the outage', () => load.succeeded() >= before + 60);
        const failedBefore = load.unavailable();
        await cluster.stop(mode);
        await until('503s under load', () => load.unavailable() >= failedBefore + 20);
        await expectDown(h, wallets[0]!);
        await cluster.start();
        const current = h;
        await until('healthy again', async () => (await current.get('/_healthcheck')).status === 200);
        const after = load.succeeded();
        await until('traffic after the outage', () => load.succeeded() >= after + 60);
        t.diagnostic(`${mode} stop: ${load.unavailable() - failedBefore} answers were 503`);
      }
      await load.stop();
      expectOnlySuccessOr503(load);
      t.diagnostic(`${load.sent.length} requests: ${load.succeeded()} succeeded, ${load.unavailable()} were 503`);
      await expectNothingHalfWritten(h, load, 3);
    } finally {
      await h?.close();
      await cluster.destroy();
    }
  });
});
else postgresSkipped('outage [postgres, a throwaway cluster]');

describe('outage [pglite]', () => {
  it('close PGlite under load → 503 JSON and health 503; a new app on the same folder → nothing half-written', { timeout: 120_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-outage-'));
    const backend: Backend = { name: 'pglite', open: async () => ({ db: await openPglite(dir), drop: async () => {} }) };
    let h: Harness | undefined;
    try {
      h = await startHarness(backend);
      const wallets = await fundedWallets(h);
      const load = new Load(h, wallets);
      load.start();
      await until('traffic', () => load.succeeded() >= 60);
      await h.db.close();
      await until('503s under load', () => load.unavailable() >= 20);
      await expectDown(h, wallets[0]!);
      await load.stop();
      expectOnlySuccessOr503(load);
      t.diagnostic(`${load.sent.length} requests: ${load.succeeded()} succeeded, ${load.unavailable()} were 503`);
      await h.close();

      h = await startHarness(backend);
      expectStatus(await h.get('/_healthcheck'), 200);
      await expectNothingHalfWritten(h, load, 3);
    } finally {
      await h?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
