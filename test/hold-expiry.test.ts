/**
 * Holds that expire: a pending debit's `expiresAt` (or HOLD_DEFAULT_TTL), the sweeper that
 * voids a due hold exactly once, HOLD_EXPIRED for a confirm past the expiry whatever the
 * sweeper's delay, PATCH /holds/{id}, the hold's status and GET /holds?status=. Time is the
 * harness's movable clock; the sweeper runs when a test says (`app.holdSweeper.sweep()`),
 * except in the test of its loop. A confirm racing the sweeper at the expiry instant, and two
 * sweepers on one PostgreSQL, are at the end.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { openPostgres } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { parseJson } from '../src/http/json.ts';
import { formatInstant, instantFromDate, parseInstant } from '../src/domain/time.ts';
import {
  balanceOf,
  createBalance,
  createWallet,
  credit,
  expectError,
  expectStatus,
  freshPostgresDatabase,
  isoIn,
  json,
  mainBalance,
  postgresSkipped,
  suite,
  type Harness,
} from './support/harness.ts';

async function hold(h: Harness, walletId: string, amount: bigint, extra: Record<string, unknown> = {}, headers?: Record<string, string>) {
  const response = expectStatus(await h.post(`/wallets/${walletId}/debit`, { amount: { asset: 'USD/2', amount }, pending: true, ...extra }, headers), 201);
  return response.body.data;
}

async function holdView(h: Harness, id: string) {
  return expectStatus(await h.get(`/holds/${id}`), 200).body.data;
}

async function listedIds(h: Harness, query: string): Promise<string[]> {
  return expectStatus(await h.get(`/holds?pageSize=100&${query}`), 200).body.cursor.data.map((x: { id: string }) => x.id);
}

suite('hold expiry', (h) => {
  it('pending debit with expiresAt → the hold shows it and status open; expiresAt not in the future → 400; on an immediate debit → 400', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 100n);
    const expiresAt = isoIn(h(), 600);
    const created = await hold(h(), w, 30n, { expiresAt });
    assert.equal(created.expiresAt, expiresAt);
    assert.equal(created.status, 'open');
    assert.deepEqual({ ...(await holdView(h(), created.id)) }, { ...created, originalAmount: 30n, remaining: 30n });
    assert.equal((await hold(h(), w, 1n)).expiresAt, null, 'no expiresAt and no HOLD_DEFAULT_TTL: never');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true, expiresAt: isoIn(h(), -1) }), 400, 'VALIDATION', /future/);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true, expiresAt: isoIn(h(), 0) }), 400, 'VALIDATION', /future/);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 1n }, expiresAt: isoIn(h(), 60) }), 400, 'VALIDATION', /pending/);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true, expiresAt: 'tomorrow' }), 400, 'VALIDATION');
    assert.equal(await mainBalance(h(), w), 69n, 'the refused debits moved nothing');
  });

  it('past expiresAt, before the sweeper: status expired, confirm → HOLD_EXPIRED, void → HOLD_CLOSED, money still held', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 100n);
    const created = await hold(h(), w, 40n, { expiresAt: isoIn(h(), 60) });
    h().clock.advance(61);
    assert.equal((await holdView(h(), created.id)).status, 'expired');
    expectError(await h().post(`/holds/${created.id}/confirm`, {}), 400, 'HOLD_EXPIRED');
    expectError(await h().post(`/holds/${created.id}/confirm`, { amount: 1n }), 400, 'HOLD_EXPIRED');
    expectError(await h().post(`/holds/${created.id}/void`), 400, 'HOLD_CLOSED');
    assert.equal((await holdView(h(), created.id)).remaining, 40n);
    assert.equal(await mainBalance(h(), w), 60n);
  });

  it('the sweeper voids a due hold once: same postings as a void, to the original sources; status expired; a second sweep does nothing', async () => {
    await h().app.holdSweeper.sweep(); // what earlier tests left due
    const w = await createWallet(h());
    await createBalance(h(), w, { name: 'gift' });
    await credit(h(), w, 10n, { balance: 'gift' });
    await credit(h(), w, 100n);
    const due = await hold(h(), w, 25n, { balances: ['gift', 'main'], expiresAt: isoIn(h(), 30) });
    const later = await hold(h(), w, 5n, { expiresAt: isoIn(h(), 3600) });
    expectStatus(await h().post(`/holds/${due.id}/confirm`, { amount: 5n }), 204);
    assert.equal(await h().app.holdSweeper.sweep(), 0, 'nothing is due yet');
    h().clock.advance(30);
    assert.equal(await h().app.holdSweeper.sweep(), 1);
    assert.equal(await h().app.holdSweeper.sweep(), 0);
    const swept = await holdView(h(), due.id);
    assert.equal(swept.status, 'expired');
    assert.equal(swept.remaining, 0n);
    assert.equal((await holdView(h(), later.id)).status, 'open');
    // What remained (20) went back as a void returns it: the first source first, each capped at what it gave.
    assert.equal(await balanceOf(h(), w, 'gift'), 10n);
    assert.equal(await mainBalance(h(), w), 100n - 15n - 5n + 10n);
    const transactions = expectStatus(await h().get(`/transactions?walletID=${w}`), 200).body.cursor.data;
    assert.deepEqual(transactions[0].postings, [
      { source: `wallets:holds:${due.id}`, destination: `wallets:${w}:gift`, amount: 10n, asset: 'USD/2' },
      { source: `wallets:holds:${due.id}`, destination: `wallets:${w}:main`, amount: 10n, asset: 'USD/2' },
    ]);
    expectError(await h().post(`/holds/${due.id}/void`), 400, 'HOLD_CLOSED');
    expectError(await h().post(`/holds/${due.id}/confirm`), 400, 'HOLD_EXPIRED');
  });

  it('keyed confirm and void answered before expiry replay their first answer after it; a new key gets HOLD_EXPIRED / HOLD_CLOSED', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 100n);
    const a = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    const b = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    const pendingKey = { 'idempotency-key': 'expiring-hold-debit' };
    const c = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) }, pendingKey);
    const confirmed = expectStatus(await h().post(`/holds/${a.id}/confirm`, { amount: 4n }, { 'idempotency-key': 'confirm-a' }), 204);
    const voided = expectStatus(await h().post(`/holds/${b.id}/void`, undefined, { 'idempotency-key': 'void-b' }), 204);
    h().clock.advance(120);
    await h().app.holdSweeper.sweep();
    const replayConfirm = await h().post(`/holds/${a.id}/confirm`, { amount: 4n }, { 'idempotency-key': 'confirm-a' });
    assert.equal(replayConfirm.status, confirmed.status);
    assert.equal(replayConfirm.headers['idempotent-replayed'], 'true');
    const replayVoid = await h().post(`/holds/${b.id}/void`, undefined, { 'idempotency-key': 'void-b' });
    assert.equal(replayVoid.status, voided.status, 'the void replays its 204, not HOLD_CLOSED');
    assert.equal(replayVoid.headers['idempotent-replayed'], 'true');
    const replayDebit = await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true, expiresAt: c.expiresAt }, pendingKey);
    assert.equal(replayDebit.status, 201, 'the pending debit replays its hold although its expiresAt is past now');
    assert.deepEqual(replayDebit.body.data, c);
    expectError(await h().post(`/holds/${a.id}/confirm`, { amount: 4n }, { 'idempotency-key': 'confirm-a-again' }), 400, 'HOLD_EXPIRED');
    expectError(await h().post(`/holds/${c.id}/void`, undefined, { 'idempotency-key': 'void-c' }), 400, 'HOLD_CLOSED');
    assert.equal((await holdView(h(), a.id)).status, 'expired', 'the partly confirmed hold expired with what remained');
    assert.equal((await holdView(h(), b.id)).status, 'voided');
    assert.equal(await mainBalance(h(), w), 96n);
  });

  it('PATCH /holds/{id}: moves the expiry (later, or null = never); past → 400; settled → HOLD_CLOSED; expired → HOLD_EXPIRED; unknown → 404', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 100n);
    const moved = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    const later = isoIn(h(), 7200);
    expectStatus(await h().patch(`/holds/${moved.id}`, { expiresAt: later }), 204);
    assert.equal((await holdView(h(), moved.id)).expiresAt, later);
    const forever = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    expectStatus(await h().patch(`/holds/${forever.id}`, { expiresAt: null }), 204);
    expectError(await h().patch(`/holds/${forever.id}`, { expiresAt: isoIn(h(), -5) }), 400, 'VALIDATION', /future/);
    expectError(await h().patch(`/holds/${forever.id}`, {}), 400, 'VALIDATION');
    const settled = await hold(h(), w, 10n);
    expectStatus(await h().post(`/holds/${settled.id}/void`), 204);
    expectError(await h().patch(`/holds/${settled.id}`, { expiresAt: null }), 400, 'HOLD_CLOSED');
    const lapsing = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    h().clock.advance(61);
    expectError(await h().patch(`/holds/${lapsing.id}`, { expiresAt: isoIn(h(), 600) }), 400, 'HOLD_EXPIRED');
    expectError(await h().patch('/holds/00000000-0000-4000-8000-000000000000', { expiresAt: null }), 404, 'NOT_FOUND');
    assert.equal(await h().app.holdSweeper.sweep(), 1, 'only the hold whose expiry was not moved');
    assert.equal((await holdView(h(), moved.id)).status, 'open');
    assert.equal((await holdView(h(), forever.id)).status, 'open');
    assert.equal((await holdView(h(), lapsing.id)).status, 'expired');
  });

  it('GET /holds?status= lists open (partly confirmed included), confirmed, voided and expired holds; a bad status → 400', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 100n);
    const open = await hold(h(), w, 10n);
    const partly = await hold(h(), w, 10n);
    expectStatus(await h().post(`/holds/${partly.id}/confirm`, { amount: 3n }), 204);
    const confirmed = await hold(h(), w, 10n);
    expectStatus(await h().post(`/holds/${confirmed.id}/confirm`), 204);
    const voided = await hold(h(), w, 10n);
    expectStatus(await h().post(`/holds/${voided.id}/void`), 204);
    const lapsed = await hold(h(), w, 10n, { expiresAt: isoIn(h(), 60) });
    h().clock.advance(61);
    const query = `walletID=${w}`;
    assert.deepEqual(await listedIds(h(), `${query}&status=open`), [open.id, partly.id]);
    assert.deepEqual(await listedIds(h(), `${query}&status=confirmed`), [confirmed.id]);
    assert.deepEqual(await listedIds(h(), `${query}&status=voided`), [voided.id]);
    assert.deepEqual(await listedIds(h(), `${query}&status=expired`), [lapsed.id], 'expired before the sweeper ran');
    await h().app.holdSweeper.sweep();
    assert.deepEqual(await listedIds(h(), `${query}&status=expired`), [lapsed.id], 'and after');
    const page = expectStatus(await h().get(`/holds?${query}&status=open&pageSize=1`), 200).body.cursor;
    assert.deepEqual(page.data.map((x: { id: string }) => x.id), [open.id]);
    const next = expectStatus(await h().get(`/holds?cursor=${encodeURIComponent(page.next)}`), 200).body.cursor;
    assert.deepEqual(next.data.map((x: { id: string; status: string }) => [x.id, x.status]), [[partly.id, 'open']], 'the cursor keeps the status filter');
    expectError(await h().get('/holds?status=closed'), 400, 'VALIDATION', /status/);
  });

  it('a zero-amount hold with an expiry expires without a transaction', async () => {
    const w = await createWallet(h());
    const zero = await hold(h(), w, 0n, { expiresAt: isoIn(h(), 10) });
    const before = expectStatus(await h().get(`/transactions?walletID=${w}`), 200).body.cursor.data.length;
    h().clock.advance(11);
    assert.equal(await h().app.holdSweeper.sweep(), 1);
    assert.equal((await holdView(h(), zero.id)).status, 'expired');
    assert.equal(expectStatus(await h().get(`/transactions?walletID=${w}`), 200).body.cursor.data.length, before);
    assert.equal(await h().app.holdSweeper.sweep(), 0, 'it is not claimed again');
  });
});

suite(
  'hold expiry: HOLD_DEFAULT_TTL',
  (h) => {
    it('a pending debit without expiresAt expires after the default TTL; one with expiresAt keeps its own', async () => {
      const w = await createWallet(h());
      await credit(h(), w, 100n);
      const before = h().clock.now();
      const defaulted = await hold(h(), w, 10n);
      const after = h().clock.now();
      const expiresAt = parseInstant(defaulted.expiresAt as string)!;
      assert.ok(expiresAt >= before + 900_000_000n && expiresAt <= after + 900_000_000n, `15 minutes from the debit: ${defaulted.expiresAt}`);
      const own = isoIn(h(), 60);
      assert.equal((await hold(h(), w, 10n, { expiresAt: own })).expiresAt, own);
      h().clock.advance(901);
      assert.equal(await h().app.holdSweeper.sweep(), 2);
      assert.equal(await mainBalance(h(), w), 100n);
    });
  },
  { holdDefaultTtlMicros: 900_000_000n },
);

suite(
  'hold expiry: the sweeper loop',
  (h) => {
    it('running on its own, it voids a hold within a second of its expiry (real clock)', { timeout: 20_000 }, async () => {
      const w = await createWallet(h());
      await credit(h(), w, 100n);
      // 2 s ahead: time enough to create the hold on a slow machine before it is due.
      const expiresAt = instantFromDate(new Date()) + 2_000_000n;
      const created = await hold(h(), w, 30n, { expiresAt: formatInstant(expiresAt) });
      let swept: bigint | undefined;
      for (let waited = 0; waited < 10_000 && swept === undefined; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        if ((await holdView(h(), created.id)).remaining === 0n) swept = instantFromDate(new Date());
      }
      assert.ok(swept !== undefined, 'the hold was voided');
      assert.ok(swept - expiresAt < 1_000_000n, `voided ${swept - expiresAt} µs after its expiry`);
      assert.equal((await holdView(h(), created.id)).status, 'expired');
      assert.equal(await mainBalance(h(), w), 100n);
    });
  },
  { holdSweepIntervalMs: 100, clock: () => instantFromDate(new Date()) },
);

/**
 * A clock that stands still while a test sets up, then moves one microsecond at every reading
 * (every batch of the committer, every claim of the sweeper), so the race below crosses hold
 * expiry instants while confirms and expiries are in flight. The test also raises it before
 * each confirm it sends, and caps it below the latest expiry while the race runs, so how far it
 * moves does not rest on how many readings a machine's speed allows: the first hold confirmed
 * can never be due, and the last can only be expired.
 */
const racing = { now: instantFromDate(new Date()), tick: 0n, cap: undefined as bigint | undefined };
const racingClock = () => {
  const next = racing.now + racing.tick;
  racing.now = racing.cap !== undefined && next > racing.cap ? racing.cap : next;
  return racing.now;
};

suite(
  'hold expiry: a confirm racing the sweeper at the expiry instant',
  (h) => {
    it('30 holds expiring 2 µs apart, each confirmed while the sweeper runs: exactly one of confirm and expiry wins each; the loser gets its clear answer; money conserved', { timeout: 60_000 }, async (t) => {
      const w = await createWallet(h());
      const merchant = await createWallet(h());
      await credit(h(), w, 3000n);
      const start = racing.now;
      const holds: string[] = [];
      for (let i = 0; i < 30; i++) {
        const expiresAt = formatInstant(start + 10n + 2n * BigInt(i));
        holds.push((await hold(h(), w, 100n, { expiresAt, destination: { type: 'WALLET', identifier: merchant } })).id);
      }
      // Hold i expires at start + 10 + 2i; the clock stays below the last (start + 68) while
      // confirms are in flight, and before the k-th confirm (hold 29 − k) it is at least
      // start + 2k, so the last sent (hold 0, due at start + 10) goes at start + 58 or later.
      let confirming = true;
      let answered: Awaited<ReturnType<Harness['post']>>[];
      let sweeps: Promise<number> | undefined;
      try {
        racing.cap = start + 66n;
        racing.tick = 1n;
        sweeps = (async () => {
          let expired = 0;
          while (confirming) {
            expired += await h().app.holdSweeper.sweep();
            // PGlite answers without I/O: give the timers below their turn.
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          return expired;
        })();
        // Latest expiry first: the first confirms come well before their hold's instant, the
        // last well after it, those between at about the instant.
        const answers: Promise<Awaited<ReturnType<Harness['post']>>>[] = [];
        for (const [k, id] of [...holds].reverse().entries()) {
          if (racing.now < start + 2n * BigInt(k)) racing.now = start + 2n * BigInt(k);
          answers.push(h().post(`/holds/${id}/confirm`, {}));
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        answered = (await Promise.all(answers)).reverse();
      } finally {
        // Reset even if the race threw: the next suite (PostgreSQL after PGlite) shares `racing`.
        confirming = false;
        racing.tick = 0n;
        racing.cap = undefined;
      }
      racing.now += 1_000_000n;
      const expired = (await sweeps!) + (await h().app.holdSweeper.sweep());
      let confirmed = 0;
      for (const [index, answer] of answered.entries()) {
        const view = await holdView(h(), holds[index]!);
        if (answer.status === 204) {
          confirmed++;
          assert.equal(view.status, 'confirmed', `hold ${index}`);
        } else {
          expectError(answer, 400, 'HOLD_EXPIRED');
          assert.equal(view.status, 'expired', `hold ${index}`);
        }
        assert.equal(view.remaining, 0n);
      }
      t.diagnostic(`${confirmed} confirmed, ${expired} expired`);
      assert.equal(confirmed + expired, 30, `each hold settled once: ${confirmed} confirmed + ${expired} expired`);
      assert.ok(confirmed > 0 && expired > 0, 'the race crossed the expiry instants: both outcomes happened');
      assert.equal(answered[29]!.status, 204, 'the latest-expiring hold, confirmed first and never due in the race, is confirmed');
      assert.equal((await holdView(h(), holds[0]!)).status, 'expired', 'the earliest-expiring hold, confirmed last past its instant, is expired');
      assert.equal(await mainBalance(h(), merchant), BigInt(confirmed) * 100n);
      assert.equal(await mainBalance(h(), w), BigInt(expired) * 100n);
    });
  },
  // On PostgreSQL, several batches in flight at once: a confirm and an expiry of one hold can
  // be in two transactions together, and the hold's row lock orders them.
  { clock: racingClock, batch: { concurrency: 4 } },
);

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  it('two app instances on one PostgreSQL sweeping the same expired holds: each voided once, its funds returned once', { timeout: 60_000 }, async () => {
    const fresh = await freshPostgresDatabase(serverUrl);
    const dbs = [0, 1].map(() => openPostgres({ url: fresh.url, poolSize: 8, statementTimeoutMs: 30_000 }));
    try {
      await migrate(dbs[0]!);
      let now = instantFromDate(new Date());
      const clock = () => now;
      const apps = dbs.map((db) => buildApp({ db, ledger: 'two-sweepers', limits: DEFAULT_LIMITS, clock, holdSweepIntervalMs: null }));
      const call = async (app: (typeof apps)[number], method: 'GET' | 'POST', url: string, body?: unknown) => {
        const response = await app.inject({ method, url, ...(body !== undefined ? { payload: json(body), headers: { 'content-type': 'application/json' } } : {}) });
        return { status: response.statusCode, body: response.body ? parseJson(response.body) : undefined } as { status: number; body: ReturnType<typeof JSON.parse> };
      };
      const wallet = (await call(apps[0]!, 'POST', '/wallets', {})).body.data.id as string;
      assert.equal((await call(apps[0]!, 'POST', `/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: 10_000n } })).status, 204);
      const holds: string[] = [];
      for (let i = 0; i < 120; i++) {
        const made = await call(apps[i % 2]!, 'POST', `/wallets/${wallet}/debit`, { amount: { asset: 'USD/2', amount: 50n }, pending: true, expiresAt: formatInstant(now + 60_000_000n) });
        holds.push(made.body.data.id);
      }
      now += 61_000_000n;
      const counts = await Promise.all(apps.flatMap((app) => [app.holdSweeper.sweep(), app.holdSweeper.sweep()]));
      assert.equal(counts.reduce((a, b) => a + b, 0), 120, `expiries reported by the sweepers: ${counts.join(' + ')}`);
      const [{ refunds }] = (await dbs[0]!.query<{ refunds: string }>(
        `SELECT count(*)::text AS refunds FROM postings WHERE ledger = 'two-sweepers' AND source LIKE 'wallets:holds:%'`,
      )) as [{ refunds: string }];
      assert.equal(refunds, '120', 'one refund posting per hold');
      assert.equal((await call(apps[1]!, 'GET', `/wallets/${wallet}`)).body.data.balances.main.assets['USD/2'], 10_000n);
      assert.deepEqual(await findViolations(dbs[0]!), []);
      await Promise.all(apps.map((app) => app.close()));
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
      await fresh.drop();
    }
  });
} else {
  postgresSkipped('two app instances on one PostgreSQL sweeping the same expired holds [postgres]');
}
