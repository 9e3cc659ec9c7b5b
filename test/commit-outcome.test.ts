/**
 * Exactly once when COMMIT's answer is lost. The database commits a batch and the committer
 * never learns it: the driver throws after COMMIT went through (both backends), the
 * connection is cut while COMMIT is on its way back (PostgreSQL, through a proxy), or code
 * after COMMIT throws (the batch metrics hook). Nothing may run a second time on the guess
 * that it did not commit: a keyed command resolves through its key and answers its one
 * outcome; an unkeyed one is answered 503 SERVICE_UNAVAILABLE saying the outcome is unknown.
 * Either way the ledger holds each command once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../src/http/app.ts';
import { parseJson } from '../src/http/json.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { openPostgres, type Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { backends, freshPostgresDatabase, json, postgresSkipped } from './support/harness.ts';
import { commitCuttingProxy, lostCommitAnswers, type CommitCuttingProxy } from './support/faults.ts';

type App = ReturnType<typeof buildApp>;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly body: ReturnType<typeof JSON.parse>;
}

async function send(app: App, method: 'GET' | 'POST', url: string, body?: unknown, key?: string): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await app.inject({ method, url, headers, payload: body === undefined ? undefined : json(body) });
  return { status: response.statusCode, headers: response.headers, body: response.body ? parseJson(response.body) : undefined };
}

/**
 * An app whose batches gather for 20 ms, so requests sent together share one transaction.
 * The feed watcher and the webhook loop run no loop: their own transactions would otherwise
 * take the commit a scenario armed for a command's.
 */
async function appOver(db: Database, onBatch?: (size: number) => void): Promise<App> {
  const app = buildApp({
    db,
    ledger: 'faults',
    limits: DEFAULT_LIMITS,
    batch: { waitMs: 20, concurrency: 1, onBatch },
    feedWatchIntervalMs: null,
    webhooks: { intervalMs: null },
  });
  await app.ready();
  return app;
}

async function newWallet(app: App): Promise<string> {
  const created = await send(app, 'POST', '/wallets', { name: 'w' });
  assert.equal(created.status, 201);
  return created.body.data.id as string;
}

const creditOf = (amount: bigint) => ({ amount: { asset: 'USD/2', amount } });

/** The wallet's main balance and how many ledger transactions touched it. */
async function ledgerOf(app: App, wallet: string): Promise<{ balance: bigint; transactions: number }> {
  const got = await send(app, 'GET', `/wallets/${wallet}`);
  const listed = await send(app, 'GET', `/transactions?walletID=${wallet}&pageSize=100`);
  return { balance: (got.body.data.balances.main.assets['USD/2'] as bigint | undefined) ?? 0n, transactions: listed.body.cursor.data.length };
}

function assertUnknown(answer: Answer): void {
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.equal(answer.body.errorCode, 'SERVICE_UNAVAILABLE');
  assert.match(answer.body.errorMessage, /may or may not have been applied/);
  assert.match(answer.body.errorMessage, /Idempotency-Key/);
}

/** The scenarios, given an app whose next `n` commits can be made to lose their answer. */
function scenarios(context: () => { app: App; db: Database; arm: (count?: number) => void; lost: () => number }) {
  it('an unkeyed command whose commit answer is lost is answered 503 and applied once', async () => {
    const { app, arm, lost } = context();
    const wallet = await newWallet(app);
    const before = lost();
    arm();
    assertUnknown(await send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(7n)));
    assert.equal(lost(), before + 1, 'the fault fired');
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 7n, transactions: 1 });
  });

  it('unkeyed commands batched together: all answered 503, each applied once (not 22 from 1 + 10)', async () => {
    const { app, arm, lost } = context();
    const wallet = await newWallet(app);
    const before = lost();
    arm();
    const answers = await Promise.all([1n, 10n].map((amount) => send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(amount))));
    assert.equal(lost(), before + 1, 'one lost commit');
    // Both 503 proves they shared the transaction whose answer was lost.
    for (const answer of answers) assertUnknown(answer);
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 11n, transactions: 2 });
  });

  it('a keyed command whose commit answer is lost answers its one outcome, and a retry replays it', async () => {
    const { app, arm, lost } = context();
    const wallet = await newWallet(app);
    assert.equal((await send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(50n))).status, 204);
    const before = lost();
    arm();
    const hold = { amount: { asset: 'USD/2', amount: 30n }, pending: true };
    const first = await send(app, 'POST', `/wallets/${wallet}/debit`, hold, `k-${wallet}`);
    assert.equal(lost(), before + 1, 'the fault fired');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const retry = await send(app, 'POST', `/wallets/${wallet}/debit`, hold, `k-${wallet}`);
    assert.equal(retry.status, 201);
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assert.equal(retry.body.data.id, first.body.data.id);
    const holds = await send(app, 'GET', `/holds?walletID=${wallet}`);
    assert.equal(holds.body.cursor.data.length, 1, 'one hold');
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 20n, transactions: 2 });
  });

  it('keyed commands batched with unkeyed ones: keyed answer their outcomes, unkeyed 503, each applied once', async () => {
    const { app, arm, lost } = context();
    const wallet = await newWallet(app);
    const before = lost();
    arm();
    const [keyedA, keyedB, unkeyed] = await Promise.all([
      send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(100n), `a-${wallet}`),
      send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(20n), `b-${wallet}`),
      send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(3n)),
    ]);
    assert.equal(lost(), before + 1, 'one lost commit');
    assert.equal(keyedA!.status, 204);
    assert.equal(keyedB!.status, 204);
    assertUnknown(unkeyed!);
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 123n, transactions: 3 });
    const retried = await send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(100n), `a-${wallet}`);
    assert.equal(retried.headers['idempotent-replayed'], 'true');
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 123n, transactions: 3 });
  });

  it('ledger invariants hold', async () => {
    assert.deepEqual(await findViolations(context().db), []);
  });
}

for (const backend of backends()) {
  describe(`commit outcome unknown: the driver throws after COMMIT [${backend.name}]`, () => {
    let app: App;
    let db: ReturnType<typeof lostCommitAnswers>;
    let drop: () => Promise<void>;
    before(async () => {
      const opened = await backend.open();
      drop = opened.drop;
      await migrate(opened.db);
      db = lostCommitAnswers(opened.db);
      app = await appOver(db);
    });
    after(async () => {
      await app.close();
      await db.close();
      await drop();
    });
    scenarios(() => ({ app, db, arm: (count) => db.arm(count), lost: () => db.lost }));

    it('POST /bulk atomic, commit answer lost: the 503 says a retry is safe only when every operation has a key', async () => {
      const wallet = await newWallet(app);
      const operations = [{ action: 'CREDIT_WALLET', data: { walletID: wallet, ...creditOf(5n) } }];
      db.arm();
      const unkeyed = await send(app, 'POST', '/bulk', { atomic: true, operations });
      assertUnknown(unkeyed);
      assert.match(unkeyed.body.errorMessage, /Check before repeating it/);
      db.arm();
      const keyed = await send(app, 'POST', '/bulk', { atomic: true, operations }, `bulk-${wallet}`);
      assertUnknown(keyed);
      assert.match(keyed.body.errorMessage, /Retry with the same Idempotency-Key/);
      assert.equal((await send(app, 'POST', '/bulk', { atomic: true, operations }, `bulk-${wallet}`)).headers['idempotent-replayed'], 'true');
      assert.deepEqual(await ledgerOf(app, wallet), { balance: 10n, transactions: 2 });
    });

    it('POST /bulk not atomic: after an operation whose outcome is unknown, the later steps are 503, neither run nor stored', async () => {
      const wallet = await newWallet(app);
      const operations = [
        { action: 'CREDIT_WALLET', data: { walletID: wallet, ...creditOf(5n) } },
        { action: 'UPDATE_WALLET', data: { walletID: wallet, metadata: { tier: 'gold' } } },
      ];
      db.arm();
      const answer = await send(app, 'POST', '/bulk', { operations });
      assert.equal(answer.status, 200);
      const [credit, update] = answer.body.data;
      assert.equal(credit.status, 503n);
      assert.match(credit.errorMessage, /may or may not have been applied/);
      assert.equal(update.status, 503n, update.errorMessage);
      assert.equal(update.errorCode, 'SERVICE_UNAVAILABLE');
      assert.match(update.errorMessage, /^not run: .*retry the request with the same Idempotency-Key/);
      assert.deepEqual((await send(app, 'GET', `/wallets/${wallet}`)).body.data.metadata, {}, 'the update did not run');
    });
  });

  describe(`code after COMMIT throws (the batch metrics hook) [${backend.name}]`, () => {
    let app: App;
    let db: Database;
    let drop: () => Promise<void>;
    let throwing = false;
    before(async () => {
      const opened = await backend.open();
      ({ db, drop } = opened);
      await migrate(db);
      app = await appOver(db, () => {
        if (throwing) throw new Error('metrics exploded');
      });
    });
    after(async () => {
      await app.close();
      await db.close();
      await drop();
    });
    it('two concurrent unkeyed credits of 1 and 10 are answered 204 and applied once each', async () => {
      const wallet = await newWallet(app);
      throwing = true;
      const answers = await Promise.all([1n, 10n].map((amount) => send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(amount))));
      throwing = false;
      for (const answer of answers) assert.equal(answer.status, 204);
      assert.deepEqual(await ledgerOf(app, wallet), { balance: 11n, transactions: 2 });
      assert.deepEqual(await findViolations(db), []);
    });
  });
}

const url = process.env.TEST_DATABASE_URL;
if (!url) {
  postgresSkipped('commit outcome unknown: the driver throws after COMMIT [postgres]');
  postgresSkipped('code after COMMIT throws (the batch metrics hook) [postgres]');
  postgresSkipped('commit outcome unknown: the connection is cut during COMMIT [postgres]');
} else describe('commit outcome unknown: the connection is cut during COMMIT [postgres]', () => {
  let app: App;
  let db: Database;
  let proxy: CommitCuttingProxy;
  let drop: () => Promise<void>;
  before(async () => {
    const fresh = await freshPostgresDatabase(url!);
    drop = fresh.drop;
    const target = new URL(fresh.url);
    proxy = await commitCuttingProxy({ host: target.hostname, port: Number(target.port || 5432) });
    db = openPostgres({ url: proxy.url(target.pathname.slice(1)), poolSize: 4, statementTimeoutMs: 30_000 });
    await migrate(db);
    app = await appOver(db);
  });
  after(async () => {
    await app.close();
    await db.close();
    await proxy.close();
    await drop();
  });
  scenarios(() => ({ app, db, arm: (count) => proxy.arm(count), lost: () => proxy.cut }));

  it('a PANIC answered to COMMIT (the WAL flush failed after the commit record) is an unknown outcome, not a rollback', async () => {
    const wallet = await newWallet(app);
    const before = proxy.cut;
    proxy.arm(1, 'panic');
    const answers = await Promise.all([1n, 10n].map((amount) => send(app, 'POST', `/wallets/${wallet}/credit`, creditOf(amount))));
    assert.equal(proxy.cut, before + 1, 'the fault fired');
    for (const answer of answers) assertUnknown(answer);
    assert.deepEqual(await ledgerOf(app, wallet), { balance: 11n, transactions: 2 });
  });
});
