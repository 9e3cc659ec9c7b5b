/**
 * Events: the outbox written with every change (one event per change, none for a replayed
 * or refused request), the payloads (the resource as the API shows it, amounts exact, the
 * transaction with its id and postings), and the feed `GET /events` (cursor, `after`,
 * filters, long poll, commit order). The feed's no-gap rule under concurrent commits is
 * proven on PostgreSQL at the end: transactions commit out of their insertion order while a
 * consumer walks the feed.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { parseJson as parseLossless } from '../src/http/json.ts';
import { openPostgres, type Database, type Queryable } from '../src/storage/database.ts';
import { createWaiter, readFeed } from '../src/events/feed.ts';
import { migrate } from '../src/storage/migrations.ts';
import { eventsStatement, listEvents, readFeedPage } from '../src/storage/events.ts';
import { eventResponse, cursorOf } from '../src/http/response-schemas.ts';
import { createWallet, credit, expectError, expectStatus, freshPostgresDatabase, isoIn, postgresSkipped, suite, untilBlockedBy, type Harness, type ParsedJson } from './support/harness.ts';

interface Event {
  position: bigint;
  id: string;
  type: string;
  occurredAt: string;
  ledger: string;
  data: ParsedJson;
  cause: { requestId: string | null; idempotencyKey: string | null; clientId: string | null };
}

const U128_MAX = (1n << 128n) - 1n;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Reads the feed. */
async function feed(h: Harness, query = ''): Promise<{ events: Event[]; body: ParsedJson }> {
  const response = expectStatus(await h.get(`/events?pageSize=100${query ? `&${query}` : ''}`), 200);
  cursorOf(eventResponse).parse(response.body);
  return { events: response.body.cursor.data, body: response.body };
}

/** Every event after `after`, page by page. */
async function allEvents(h: Harness, after = 0n): Promise<Event[]> {
  const events: Event[] = [];
  let query = `after=${after}`;
  for (;;) {
    const body = expectStatus(await h.get(`/events?pageSize=100&${query}`), 200).body;
    events.push(...body.cursor.data);
    if (!body.cursor.hasMore) return events;
    query = `cursor=${body.cursor.next}`;
  }
}

/** The position a `next` cursor resumes after (the cursor is the server's own token: base64url JSON, `a` = after). */
function resumesAfter(next: unknown): bigint {
  assert.equal(typeof next, 'string', 'a next cursor');
  return BigInt((JSON.parse(Buffer.from(next as string, 'base64url').toString('utf8')) as { a: string }).a);
}

async function lastPosition(h: Harness): Promise<bigint> {
  const events = await allEvents(h);
  return events.length === 0 ? 0n : events[events.length - 1]!.position;
}

suite('events', (h) => {
  it('every change writes its event in its transaction: types, payloads as the API shows them, exact amounts, the transaction with its id', async () => {
    const start = await lastPosition(h());
    const created = expectStatus(await h().post('/wallets', { name: 'ev', metadata: { a: '1' } }, { 'idempotency-key': 'ev-create', 'x-request-id': 'req-1' }), 201).body.data;
    const w = created.id as string;
    expectStatus(await h().post(`/wallets/${w}/credit`, { amount: { asset: 'USD/2', amount: U128_MAX } }, { 'x-request-id': 'req-2' }), 204);
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 5n }, destination: { type: 'ACCOUNT', identifier: 'shop' } }), 204);
    const hold = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 7n }, pending: true }), 201).body.data;
    expectStatus(await h().post(`/holds/${hold.id}/confirm`, { amount: 3n }), 204);
    expectStatus(await h().post(`/holds/${hold.id}/void`), 204);
    expectStatus(await h().post(`/wallets/${w}/balances`, { name: 'gift', priority: 1n }), 201);
    expectStatus(await h().patch(`/wallets/${w}/balances/gift`, { priority: 2n }), 204);
    expectStatus(await h().patch(`/wallets/${w}`, { metadata: { b: '2' } }), 204);
    expectStatus(await h().patch(`/wallets/${w}`, { status: 'frozen' }), 204);
    expectStatus(await h().patch(`/wallets/${w}`, { status: 'active' }), 204);

    const events = await allEvents(h(), start);
    assert.deepEqual(
      events.map((e) => e.type),
      ['wallet.created', 'wallet.credited', 'wallet.debited', 'hold.created', 'hold.confirmed', 'hold.voided', 'balance.created', 'balance.updated', 'wallet.updated', 'wallet.frozen', 'wallet.unfrozen'],
    );
    const positions = events.map((e) => e.position);
    assert.deepEqual(positions, positions.map((_, i) => start + BigInt(i) + 1n), 'positions are consecutive');
    for (const event of events) {
      assert.match(event.id, UUID_V7);
      assert.equal(event.ledger, 'test-ledger');
    }
    const [walletCreated, credited, debited, holdCreated, confirmed, voided, balanceCreated, balanceUpdated, updated, frozen] = events;
    const walletShown = { ...created };
    delete walletShown.balances;
    assert.deepEqual(walletCreated!.data, { wallet: walletShown });
    assert.deepEqual(walletCreated!.cause, { requestId: 'req-1', idempotencyKey: 'ev-create', clientId: null });
    assert.equal(credited!.data.amount.amount, U128_MAX, 'an amount past 2^64 stays exact');
    assert.equal(credited!.cause.requestId, 'req-2');
    assert.equal(credited!.cause.idempotencyKey, null);
    // The transaction as GET /transactions shows it, its id included.
    const transactions = expectStatus(await h().get(`/transactions?walletID=${w}&pageSize=100`), 200).body.cursor.data;
    const byId = new Map(transactions.map((t: { id: bigint }) => [t.id, t]));
    for (const event of [credited, debited, holdCreated, confirmed, voided]) {
      const shown = event!.data.transaction;
      assert.ok(shown, `${event!.type} shows its transaction`);
      assert.deepEqual(shown, byId.get(shown.id), `${event!.type}: the transaction as the API shows it`);
    }
    assert.deepEqual(debited!.data.destination, { type: 'ACCOUNT', identifier: 'shop' });
    assert.equal(holdCreated!.data.hold.id, hold.id);
    assert.equal(holdCreated!.data.hold.remaining, 7n);
    assert.equal(confirmed!.data.hold.remaining, 4n);
    assert.equal(confirmed!.data.hold.status, 'open', 'a partial confirm leaves it open');
    assert.equal(voided!.data.hold.status, 'voided');
    assert.equal(voided!.data.hold.remaining, 0n);
    assert.deepEqual(balanceCreated!.data, { walletID: w, balance: { name: 'gift', expiresAt: null, priority: 1n } });
    assert.deepEqual(balanceUpdated!.data, { walletID: w, balance: { name: 'gift', expiresAt: null, priority: 2n } });
    assert.deepEqual(updated!.data.wallet.metadata, { a: '1', b: '2' });
    assert.equal(frozen!.data.wallet.status, 'frozen');
  });

  it('a replayed request, a refused one and a conflicting key emit nothing', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 10n);
    const start = await lastPosition(h());
    const debit = { amount: { asset: 'USD/2', amount: 4n } };
    expectStatus(await h().post(`/wallets/${w}/debit`, debit, { 'idempotency-key': 'ev-once' }), 204);
    const replay = expectStatus(await h().post(`/wallets/${w}/debit`, debit, { 'idempotency-key': 'ev-once' }), 204);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 5n } }, { 'idempotency-key': 'ev-once' }), 409, 'CONFLICT');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 1000n } }), 400, 'INSUFFICIENT_FUND');
    expectError(await h().post(`/wallets/${w}/balances`, { name: 'main' }), 400, 'VALIDATION');
    const events = await allEvents(h(), start);
    assert.deepEqual(events.map((e) => e.type), ['wallet.debited']);
  });

  it('the sweeper expiring a hold emits hold.expired, caused by no request', async () => {
    const w = await createWallet(h());
    await credit(h(), w, 10n);
    const hold = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 6n }, pending: true, expiresAt: isoIn(h(), 60) }), 201).body.data;
    const start = await lastPosition(h());
    h().clock.advance(120);
    assert.equal(await h().app.holdSweeper.sweep(), 1);
    const events = await allEvents(h(), start);
    assert.deepEqual(events.map((e) => e.type), ['hold.expired']);
    assert.equal(events[0]!.data.hold.id, hold.id);
    assert.equal(events[0]!.data.hold.status, 'expired');
    assert.deepEqual(events[0]!.cause, { requestId: null, idempotencyKey: null, clientId: null });
    assert.deepEqual(events[0]!.data.transaction.postings, [{ source: `wallets:holds:${hold.id}`, destination: `wallets:${w}:main`, amount: 6n, asset: 'USD/2' }]);
  });

  it('feed: pages with the cursor, resumes after a position, filters by type and wallet', async () => {
    const a = await createWallet(h());
    const b = await createWallet(h());
    for (let i = 0; i < 5; i++) {
      await credit(h(), a, 1n);
      await credit(h(), b, 1n);
    }
    const everything = await allEvents(h());
    const first = expectStatus(await h().get('/events?pageSize=3'), 200).body.cursor;
    assert.equal(first.pageSize, 3n);
    assert.equal(first.hasMore, true);
    assert.deepEqual(first.data.map((e: Event) => e.position), [1n, 2n, 3n]);
    const second = expectStatus(await h().get(`/events?cursor=${first.next}`), 200).body.cursor;
    assert.deepEqual(second.data.map((e: Event) => e.position), [4n, 5n, 6n]);
    const resumed = expectStatus(await h().get('/events?after=3&pageSize=3'), 200).body.cursor;
    assert.deepEqual(resumed.data, second.data);
    // `after=` takes the cursor too (a page's `next`), as `cursor=` does: its page size and filter with it.
    assert.deepEqual(expectStatus(await h().get(`/events?after=${first.next}`), 200).body.cursor, second);
    assert.deepEqual(expectStatus(await h().get(`/events?after=${first.next}&pageSize=3`), 200).body.cursor, second, 'the same page size beside it');
    expectError(await h().get(`/events?after=${first.next}&pageSize=50`), 400, 'VALIDATION', /after is a cursor/);
    const filtered = expectStatus(await h().get(`/events?type=wallet.credited&walletID=${a}&pageSize=2`), 200).body.cursor;
    const filteredNext = expectStatus(await h().get(`/events?after=${filtered.next}`), 200).body.cursor;
    assert.deepEqual(filteredNext, expectStatus(await h().get(`/events?cursor=${filtered.next}`), 200).body.cursor);
    assert.deepEqual(filteredNext.data.map((e: Event) => [e.type, e.data.walletID]), [['wallet.credited', a], ['wallet.credited', a]]);
    // The query it started with beside it, as a client resuming sends it: the same page. A different filter: refused, not ignored.
    assert.deepEqual(expectStatus(await h().get(`/events?after=${filtered.next}&type=wallet.credited&walletID=${a}&pageSize=2`), 200).body.cursor, filteredNext);
    expectError(await h().get(`/events?after=${filtered.next}&type=wallet.debited`), 400, 'VALIDATION', /after is a cursor/);
    expectError(await h().get(`/events?after=${filtered.next}&walletID=${b}`), 400, 'VALIDATION', /after is a cursor/);
    expectError(await h().get(`/events?after=${filtered.next}&type=nope`), 400, 'VALIDATION', /type/);
    // occurredAt is written as the API writes instants: the fraction's trailing zeros trimmed, as in the transaction's timestamp.
    for (const e of filteredNext.data) {
      assert.match(e.occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$/);
      assert.equal(e.occurredAt, e.data.transaction.timestamp);
    }
    const last = everything[everything.length - 1]!.position;
    const end = expectStatus(await h().get(`/events?after=${last}`), 200).body.cursor;
    assert.deepEqual(end, { pageSize: 15n, hasMore: false, data: [] }, 'nothing after the last: no next, the consumer keeps its position');

    const ofA = (await feed(h(), `walletID=${a}`)).events;
    assert.deepEqual(ofA.map((e) => e.type), ['wallet.created', ...Array(5).fill('wallet.credited')]);
    assert.ok(ofA.every((e) => e.data.walletID === a || e.data.wallet?.id === a));
    const created = (await feed(h(), 'type=wallet.created')).events;
    assert.ok(created.length >= 2 && created.every((e) => e.type === 'wallet.created'));
    const both = (await feed(h(), `type=wallet.created,wallet.credited&walletID=${b}`)).events;
    assert.equal(both.length, 6);
    const repeated = (await feed(h(), `type=wallet.created&type=wallet.credited&walletID=${b}`)).events;
    assert.deepEqual(repeated, both);
  });

  it('feed: a filtered page carries the high-water mark — empty or not, its next resumes after every event looked at, so a consumer filtering for a rare type moves on', async () => {
    const quiet = await createWallet(h());
    const start = await lastPosition(h());
    const w = await createWallet(h());
    for (let i = 0; i < 7; i++) await credit(h(), w, 1n);
    const top = await lastPosition(h());
    assert.equal(top, start + 8n);

    // No hold.created among the eight: an empty page, yet a cursor past all eight.
    const rare = expectStatus(await h().get(`/events?after=${start}&type=hold.created&pageSize=3`), 200).body.cursor;
    assert.deepEqual(rare.data, []);
    assert.equal(rare.hasMore, false);
    assert.equal(typeof rare.next, 'string', 'an empty filtered page still gives the consumer a place to resume');
    assert.equal(resumesAfter(rare.next), top);
    // Walking with it: nothing past the mark yet → no next (the consumer keeps its cursor).
    const caughtUp = expectStatus(await h().get(`/events?cursor=${rare.next}`), 200).body.cursor;
    assert.deepEqual(caughtUp, { pageSize: 3n, hasMore: false, data: [] });
    // The rare event arrives after more non-matching ones: the same cursor finds it, and only it.
    await credit(h(), w, 1n);
    const hold = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 2n }, pending: true }), 201).body.data;
    await credit(h(), w, 1n);
    const found = expectStatus(await h().get(`/events?cursor=${rare.next}`), 200).body.cursor;
    assert.deepEqual(found.data.map((e: Event) => [e.type, e.data.hold.id]), [['hold.created', hold.id]]);
    assert.equal(found.hasMore, false);
    assert.equal(resumesAfter(found.next), top + 3n, 'past the credit after the hold too');

    // A page with matches but not full: next is the high-water mark, not its last match.
    const created = expectStatus(await h().get(`/events?after=${start}&type=wallet.created`), 200).body.cursor;
    assert.deepEqual(created.data.map((e: Event) => e.position), [start + 1n]);
    assert.equal(resumesAfter(created.next), top + 3n);
    // A full page: next is its last event (more may match beyond it), and hasMore says so.
    const credited = expectStatus(await h().get(`/events?after=${start}&type=wallet.credited&pageSize=3`), 200).body.cursor;
    assert.deepEqual(credited.data.map((e: Event) => e.position), [start + 2n, start + 3n, start + 4n]);
    assert.equal(credited.hasMore, true);
    assert.equal(resumesAfter(credited.next), start + 4n);
    // walletID: a wallet with no event past `after` still moves the consumer on.
    const none = expectStatus(await h().get(`/events?after=${start}&walletID=${quiet}`), 200).body.cursor;
    assert.deepEqual(none.data, []);
    assert.equal(resumesAfter(none.next), top + 3n);
    // Unfiltered, nothing changes: a partial page's next is its last event.
    const all = expectStatus(await h().get(`/events?after=${top}`), 200).body.cursor;
    assert.equal(resumesAfter(all.next), all.data[all.data.length - 1].position);
  });

  it('feed: bad query → 400 VALIDATION', async () => {
    expectError(await h().get('/events?type=wallet.exploded'), 400, 'VALIDATION', /type/);
    expectError(await h().get('/events?after=-1'), 400, 'VALIDATION', /after/);
    expectError(await h().get('/events?after=abc'), 400, 'VALIDATION', /after/);
    expectError(await h().get(`/events?after=${'9'.repeat(40)}`), 400, 'VALIDATION', /after/);
    expectError(await h().get(`/events?after=${Buffer.from('{"s":2,"f":{},"a":"-1"}').toString('base64url')}`), 400, 'VALIDATION', /after/);
    expectError(await h().get('/events?after=a.b'), 400, 'VALIDATION', /after/);
    expectError(await h().get('/events?wait=31'), 400, 'VALIDATION', /wait/);
    expectError(await h().get('/events?wait=1.5'), 400, 'VALIDATION', /wait/);
    expectError(await h().get('/events?cursor=nope'), 400, 'VALIDATION', /cursor/);
    expectError(await h().get('/events?pageSize=0'), 400, 'VALIDATION', /pageSize/);
  });

  it('feed: wait= holds the request until an event commits, then answers it', async () => {
    const last = await lastPosition(h());
    const started = Date.now();
    const polling = h().get(`/events?after=${last}&wait=10`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const w = await createWallet(h());
    const body = expectStatus(await polling, 200).body.cursor;
    assert.equal(body.data.length, 1);
    assert.equal(body.data[0].data.wallet.id, w);
    assert.ok(Date.now() - started < 5_000, 'answered when the event arrived, not at the end of the wait');
    const quiet = Date.now();
    const empty = expectStatus(await h().get(`/events?after=${body.data[0].position}&wait=1`), 200).body.cursor;
    assert.deepEqual(empty.data, []);
    assert.ok(Date.now() - quiet >= 900, 'an empty long poll waits its time');
  });

  it('feed: wait= — an event numbered between the poll\'s read and its wait wakes it at once (it listens before it reads)', async () => {
    const after = await lastPosition(h());
    const waiter = createWaiter();
    const woken: boolean[] = [];
    const listen = () => {
      const listener = waiter.listen();
      return { wait: async (ms: number) => { const rung = await listener.wait(ms); woken.push(rung); return rung; }, close: () => listener.close() };
    };
    // The interleaving, staged: right after the poll's first read returns (empty), and before
    // it starts to wait, a wallet is created, numbered for the feed and the waiter notified.
    let reads = 0;
    let created = '';
    const db: Queryable = {
      exec: (sql) => h().db.exec(sql),
      query: async <Row,>(sql: string, params?: readonly unknown[]) => {
        const rows = await h().db.query<Row>(sql, params);
        if (++reads === 1) {
          created = await createWallet(h());
          waiter.notify();
        }
        return rows;
      },
    };
    const started = Date.now();
    // The poll's own re-read would come only at its 20 s deadline (pollMs is longer).
    const page = await readFeed(db, 'test-ledger', { after, filter: {}, limit: 10, waitMs: 20_000, pollMs: 60_000 }, listen);
    assert.deepEqual(page.events.map((e) => [e.type, (JSON.parse(e.data) as { wallet: { id: string } }).wallet.id]), [['wallet.created', created]]);
    assert.equal(reads, 2, 'read, woken, read again');
    assert.deepEqual(woken, [true], 'the one wait ended by the notification it had already heard, not by its timer');
    assert.ok(Date.now() - started < 10_000, `answered at once, not at the wait's 20 s deadline (${Date.now() - started} ms)`);
  });

  it('metrics: events written to the feed (each in its commit, on both backends) and how far a publisher trails the feed', async () => {
    const sample = async (name: string, labels = '') => {
      const text = expectStatus(await h().get('/metrics'), 200).text;
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
      assert.ok(line, `${name}${labels} is exposed`);
      return Number(line.split(' ')[1]);
    };
    const positioned = await sample('coffer_events_positioned_total');
    await createWallet(h());
    await createWallet(h());
    assert.equal(await sample('coffer_events_positioned_total'), positioned + 2, 'counted at commit: nothing waits for a later turn');
    const top = await lastPosition(h());
    // A publisher (as NATS keeps one) two events behind the feed's top.
    await h().db.query(`INSERT INTO event_publishers (name, ledger, position) VALUES ('test-publisher', 'test-ledger', $1)`, [(top - 2n).toString()]);
    try {
      assert.equal(await sample('coffer_events_publisher_lag', '{publisher="test-publisher"}'), 2);
      // Another ledger's event (on the same database) is not this publisher's to publish.
      const other = eventsStatement('other-ledger', [{ id: `other-${Date.now()}`, type: 'wallet.created', occurredAt: 0n, walletIds: [], data: {}, transaction: null, cause: { requestId: null, idempotencyKey: null, clientId: null } }]);
      await h().db.query(other.sql, other.params);
      assert.equal(await sample('coffer_events_publisher_lag', '{publisher="test-publisher"}'), 2);
    } finally {
      await h().db.query(`DELETE FROM event_publishers WHERE name = 'test-publisher'`);
    }
  });

  it('under concurrent load the feed equals the ledger: one event per transaction, in commit order per wallet, keyed replays add none', async () => {
    const wallets = await Promise.all(Array.from({ length: 4 }, () => createWallet(h())));
    for (const w of wallets) await credit(h(), w, 1_000_000n);
    const start = await lastPosition(h());
    const requests: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `load-${i % 150}`; // 50 of them replay an earlier key
      const body = i % 3 === 0 ? { amount: { asset: 'USD/2', amount: 3n } } : { amount: { asset: 'USD/2', amount: 2n } };
      const url = i % 3 === 0 ? `/wallets/${wallets[(i % 150) % wallets.length]}/credit` : `/wallets/${wallets[(i % 150) % wallets.length]}/debit`;
      requests.push(h().post(url, body, { 'idempotency-key': key }));
    }
    const answers = (await Promise.all(requests)) as { status: number }[];
    assert.ok(answers.every((answer) => answer.status === 204));
    const events = await allEvents(h(), start);
    const transactions: { id: bigint }[] = [];
    let query = '';
    for (;;) {
      const page = expectStatus(await h().get(`/transactions?pageSize=100${query}`), 200).body.cursor;
      transactions.push(...page.data);
      if (!page.hasMore) break;
      query = `&cursor=${page.next}`;
    }
    const moved = transactions;
    const eventTransactions = events.map((e) => e.data.transaction.id as bigint);
    assert.equal(events.length, 150, 'one event per distinct key; the 50 replays emitted none');
    assert.equal(new Set(eventTransactions).size, 150, 'no transaction twice');
    const ids = new Set(moved.map((t) => t.id));
    assert.ok(eventTransactions.every((id) => ids.has(id)), 'every event shows a real transaction');
    const newest = [...moved].sort((x, y) => (x.id < y.id ? 1 : -1)).slice(0, 150).map((t) => t.id);
    assert.deepEqual(new Set(newest), new Set(eventTransactions), 'the 150 newest transactions are exactly the events');
    // Per wallet, the feed shows its movements in the order they committed (transaction ids are taken under the balance's lock).
    for (const w of wallets) {
      const mine = events.filter((e) => e.data.walletID === w).map((e) => e.data.transaction.id as bigint);
      assert.deepEqual(mine, [...mine].sort((x, y) => (x < y ? -1 : 1)));
    }
  });
});

if (process.env.TEST_DATABASE_URL) {
  it('postgres: a consumer walking the feed never misses an event: a writer takes its positions only after the one before it committed (or rolled back)', { timeout: 60_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const db = openPostgres({ url: fresh.url, poolSize: 4, statementTimeoutMs: 30_000 });
    const clients: pg.Client[] = [];
    try {
      await migrate(db);
      // Raw connections find Coffer's tables in its schema (DATABASE_SCHEMA), as its own do,
      // and write events with the statement a batch sends (storage/events.ts).
      const insert = (client: pg.Client, ...ids: string[]) => {
        const events = ids.map((id) => ({ id, type: id.endsWith('-second') ? ('wallet.updated' as const) : ('wallet.created' as const), occurredAt: 0n, walletIds: [], data: {}, transaction: null, cause: { requestId: null, idempotencyKey: null, clientId: null } }));
        const { sql, params } = eventsStatement('l', events);
        return client.query(sql, params);
      };
      // Staged: A writes its event and holds its transaction open; B's write waits for A's
      // commit, so the feed never shows B with a hole before it for A to fill later.
      const a = new pg.Client({ connectionString: fresh.url, options: `-c search_path=${db.schema}` });
      const b = new pg.Client({ connectionString: fresh.url, options: `-c search_path=${db.schema}` });
      clients.push(a, b);
      await a.connect();
      await b.connect();
      const bPid = (await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      /** Until B's backend waits for a lock (the feed's top A holds). */
      const bWaitsForLock = async () => {
        for (let i = 0; i < 500; i++) {
          const [row] = (await db.query<{ wait: string | null }>('SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1', [bPid]));
          if (row?.wait === 'Lock') return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.fail("B's write never waited for a lock");
      };
      await a.query('BEGIN');
      await insert(a, 'a');
      const bWrite = insert(b, 'b');
      await bWaitsForLock();
      assert.deepEqual(await listEvents(db, 'l', 0n, {}, 100), [], 'nothing visible yet');
      await a.query('COMMIT');
      await bWrite;
      assert.deepEqual((await listEvents(db, 'l', 0n, {}, 100)).map((e) => [e.id, e.position]), [['a', 1n], ['b', 2n]]);
      // A writer that rolls back gives its positions back: the next one, which waited for it, takes them.
      await a.query('BEGIN');
      await insert(a, 'rolled-back');
      const cWrite = insert(b, 'c');
      await bWaitsForLock();
      await a.query('ROLLBACK');
      await cWrite;
      assert.deepEqual((await listEvents(db, 'l', 2n, {}, 100)).map((e) => [e.id, e.position]), [['c', 3n]]);

      // Under load: 6 connections write one or two events each, commit after random delays
      // (so out of seq order), one in five rolls back, and a consumer walks the feed with its
      // cursor the whole time.
      const writers = Array.from({ length: 6 }, () => new pg.Client({ connectionString: fresh.url, options: `-c search_path=${db.schema}` }));
      clients.push(...writers);
      await Promise.all(writers.map((client) => client.connect()));
      let committed = 0;
      let writing = true;
      const kept: string[][] = [];
      const write = async (client: pg.Client, w: number) => {
        for (let i = 0; i < 40; i++) {
          const ids = i % 2 === 0 ? [`w${w}-${i}`, `w${w}-${i}-second`] : [`w${w}-${i}`];
          await client.query('BEGIN');
          await insert(client, ...ids);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
          if (i % 5 === 4) {
            await client.query('ROLLBACK');
            continue;
          }
          await client.query('COMMIT');
          kept.push(ids);
          committed += ids.length;
        }
      };
      const consumed: { id: string; position: bigint }[] = [];
      let cursor = 3n;
      const consume = async () => {
        for (;;) {
          const page = await listEvents(db, 'l', cursor, {}, 50);
          for (const event of page) {
            consumed.push(event);
            cursor = event.position;
          }
          if (!writing && page.length === 0 && consumed.length === committed) return;
          if (page.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
        }
      };
      // A filtered consumer (only the second events, 'wallet.updated') resumes after each
      // page's high-water mark when the page is not full: it skips what its filter leaves out
      // without ever skipping an event it wants.
      const filtered: string[] = [];
      const consumeFiltered = async () => {
        let after = 3n;
        for (;;) {
          const page = await readFeedPage(db, 'l', after, { types: ['wallet.updated'] }, 5);
          filtered.push(...page.events.map((e) => e.id));
          after = page.events.length === 5 ? page.events[4]!.position : page.highWater;
          if (!writing && page.events.length === 0 && consumed.length === committed && after === consumed.at(-1)!.position) return;
          if (page.events.length < 5) await new Promise((resolve) => setTimeout(resolve, 2));
        }
      };
      const consumer = consume();
      const filteredConsumer = consumeFiltered();
      await Promise.all(writers.map((client, w) => write(client, w)));
      writing = false;
      await consumer;
      await filteredConsumer;
      const ids = consumed.map((e) => e.id);
      assert.deepEqual(filtered, ids.filter((id) => id.endsWith('-second')), 'the filtered consumer got every event it wants, once, in order');
      assert.equal(new Set(ids).size, ids.length, 'no event twice');
      assert.deepEqual([...ids].sort(), kept.flat().sort(), 'every committed event reached the consumer, and no rolled-back one');
      assert.deepEqual(
        consumed.map((e) => e.position),
        consumed.map((_, i) => 4n + BigInt(i)),
        'positions are gapless and walked in order',
      );
      // Events of one transaction stay together and in their order.
      for (const group of kept.filter((g) => g.length === 2)) assert.equal(ids[ids.indexOf(group[0]!) + 1], group[1]);
    } finally {
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
      await db.close();
      await fresh.drop();
    }
  });

  it('postgres: debits through two processes, each with four batches in flight, while a consumer walks the feed: every debit once, positions gapless, a transaction\'s events in order', { timeout: 120_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const dbs = [openPostgres({ url: fresh.url, poolSize: 6, statementTimeoutMs: 30_000 }), openPostgres({ url: fresh.url, poolSize: 6, statementTimeoutMs: 30_000 })];
    await migrate(dbs[0]!);
    const apps = dbs.map((db) => buildApp({ db, ledger: 'l', limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null }, batch: { concurrency: 4 } })) as [FastifyInstance, FastifyInstance];
    const post = async (app: FastifyInstance, url: string, body: unknown, key?: string) => {
      const response = await app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) } });
      assert.ok(response.statusCode < 300, `${url}: ${response.statusCode} ${response.body}`);
      return response.body === '' ? null : (parseLossless(response.body) as ParsedJson);
    };
    try {
      await Promise.all(apps.map((app) => app.ready()));
      const wallets: string[] = [];
      for (let i = 0; i < 8; i++) wallets.push((await post(apps[i % 2]!, '/wallets', {}))!.data.id as string);
      for (const w of wallets) await post(apps[0], `/wallets/${w}/credit`, { amount: { asset: 'USD/2', amount: 1_000_000 } });
      const start = (await listEvents(dbs[0]!, 'l', 0n, {}, 1000)).at(-1)!.position;
      let writing = true;
      const consumed: { id: string; position: bigint; type: string; data: string }[] = [];
      const consume = async () => {
        let cursor = start;
        for (;;) {
          const page = await listEvents(dbs[1]!, 'l', cursor, {}, 100);
          consumed.push(...page);
          if (page.length > 0) cursor = page.at(-1)!.position;
          else if (!writing) return;
          else await new Promise((resolve) => setTimeout(resolve, 2));
        }
      };
      const consumer = consume();
      const debits = 400;
      await Promise.all(
        Array.from({ length: debits }, (_, i) =>
          post(apps[i % 2]!, `/wallets/${wallets[i % wallets.length]}/debit`, { amount: { asset: 'USD/2', amount: 1 }, ...(i % 10 === 0 ? { pending: true } : {}) }, `debit-${i}`),
        ),
      );
      writing = false;
      await consumer;
      // One more read after the writers stopped: the consumer's last empty page may predate a commit.
      for (let page = await listEvents(dbs[1]!, 'l', consumed.at(-1)?.position ?? start, {}, 1000); page.length > 0; page = await listEvents(dbs[1]!, 'l', consumed.at(-1)!.position, {}, 1000)) consumed.push(...page);
      assert.equal(consumed.length, debits, 'one event per debit, none missing, none twice');
      assert.deepEqual(consumed.map((e) => e.position), consumed.map((_, i) => start + 1n + BigInt(i)), 'gapless, walked in order');
      assert.equal(consumed.filter((e) => e.type === 'hold.created').length, debits / 10);
      const feed = await listEvents(dbs[0]!, 'l', start, {}, 10_000);
      assert.deepEqual(feed.map((e) => e.id), consumed.map((e) => e.id), 'the consumer saw the feed as it stands');
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(dbs.map((db) => db.close()));
      await fresh.drop();
    }
  });

  it("postgres: an atomic bulk whose later step waits for a locked wallet holds no lock other writers of events need: an unrelated credit goes through meanwhile, and the bulk's events are together, in order", { timeout: 60_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const db = openPostgres({ url: fresh.url, poolSize: 6, statementTimeoutMs: 30_000 });
    await migrate(db);
    const app = buildApp({ db, ledger: 'l', limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null } });
    const blocker = new pg.Client({ connectionString: fresh.url, options: `-c search_path=${db.schema}` });
    const post = async (url: string, body: unknown) => {
      const response = await app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      return { status: response.statusCode, body: response.body === '' ? null : (parseLossless(response.body) as ParsedJson) };
    };
    try {
      await app.ready();
      const [a, b, c] = [(await post('/wallets', {})).body!.data.id, (await post('/wallets', {})).body!.data.id, (await post('/wallets', {})).body!.data.id] as [string, string, string];
      for (const w of [a, b, c]) assert.equal((await post(`/wallets/${w}/credit`, { amount: { asset: 'USD/2', amount: 100 } })).status, 204);
      const start = (await listEvents(db, 'l', 0n, {}, 1000)).at(-1)!.position;
      // Another session holds B's balance row.
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM volumes WHERE address = $1 FOR UPDATE`, [`wallets:${b}:main`]);
      // Credit A, update A (a second step: it names A again), credit B (waits for the blocker).
      const bulk = post('/bulk', {
        atomic: true,
        operations: [
          { action: 'CREDIT_WALLET', data: { walletID: a, amount: { asset: 'USD/2', amount: 1 } } },
          { action: 'UPDATE_WALLET', data: { walletID: a, metadata: { step: 'two' } } },
          { action: 'CREDIT_WALLET', data: { walletID: b, amount: { asset: 'USD/2', amount: 1 } } },
        ],
      });
      let bulkAnswered = false;
      const answered = () => (bulkAnswered = true);
      void bulk.then(answered, answered);
      await untilBlockedBy(blocker, 'the bulk never waited on the lock');
      // The credit is answered while the bulk still waits and the blocker still holds B's row:
      // had it needed a lock the bulk holds, it could not be answered before the COMMIT below.
      assert.equal((await post(`/wallets/${c}/credit`, { amount: { asset: 'USD/2', amount: 1 } })).status, 204);
      assert.equal(bulkAnswered, false, 'the bulk was still waiting when the unrelated credit went through');
      await blocker.query('COMMIT');
      const answer = await bulk;
      assert.equal(answer.status, 200);
      assert.deepEqual((answer.body!.data as { status: bigint }[]).map((item) => Number(item.status)), [204, 204, 204]);
      const events = await listEvents(db, 'l', start, {}, 100);
      assert.deepEqual(
        events.map((e) => e.type),
        ['wallet.credited', 'wallet.credited', 'wallet.updated', 'wallet.credited'],
        "C's credit first (it committed first), then the bulk's three, in its order",
      );
      assert.deepEqual(events.map((e) => e.position), [start + 1n, start + 2n, start + 3n, start + 4n]);
      assert.ok(events[0]!.data.includes(c));
      const [{ n }] = (await db.query<{ n: bigint }>('SELECT count(*) AS n FROM events')) as [{ n: bigint }];
      assert.equal(BigInt(n), start + 4n);
    } finally {
      await blocker.end().catch(() => {});
      await app.close();
      await db.close();
      await fresh.drop();
    }
  });

  it("postgres: two processes — an event one commits wakes a long poll on the other at that one's next read of the feed's top", { timeout: 60_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const dbs = [openPostgres({ url: fresh.url, poolSize: 4, statementTimeoutMs: 30_000 }), openPostgres({ url: fresh.url, poolSize: 4, statementTimeoutMs: 30_000 })];
    await migrate(dbs[0]!);
    // A's long poll's first read of the feed, seen returning (before B commits anything).
    let firstRead!: () => void;
    const aHasRead = new Promise<void>((resolve) => (firstRead = resolve));
    const aDb = new Proxy(dbs[0]!, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property === 'query') {
          return (async (sql: string, params?: readonly unknown[]) => {
            const rows = await target.query(sql, params);
            if (sql.startsWith('WITH page AS')) firstRead();
            return rows;
          }) as Database['query'];
        }
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    // The watchers read when the test says, and a long poll's own re-read (feedPollMs, longer
    // than its 30 s wait) comes only at its deadline: A's long poll can then be woken only by
    // A's read of the feed's top, however long the steps take on a slow machine.
    const [a, b] = [aDb, dbs[1]!].map((db) =>
      buildApp({ db, ledger: 'l', limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, feedPollMs: 60_000, webhooks: { intervalMs: null } }),
    ) as [FastifyInstance, FastifyInstance];
    try {
      await Promise.all([a.ready(), b.ready()]);
      assert.equal(await a.feedWatcher.check(), 0n, 'A has seen the feed empty');
      let answered = false;
      const polling = a.inject({ method: 'GET', url: '/events?after=0&wait=30' }).then((response) => {
        answered = true;
        return response;
      });
      await aHasRead; // an empty feed: the poll now waits
      const created = (parseLossless((await b.inject({ method: 'POST', url: '/wallets', payload: '{}', headers: { 'content-type': 'application/json' } })).body) as ParsedJson).data.id;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(answered, false, "B's commit alone does not wake A's long poll");
      const read = Date.now();
      assert.equal(await a.feedWatcher.check(), 1n, "A's read sees B's event on top of the feed…");
      const response = await polling;
      const elapsed = Date.now() - read;
      assert.equal(response.statusCode, 200);
      const answer = (parseLossless(response.body) as ParsedJson).cursor;
      assert.deepEqual(answer.data.map((e: Event) => [e.type, e.data.wallet.id]), [['wallet.created', created]]);
      assert.ok(elapsed < 10_000, `…and it wakes A's long poll, long before the poll's 30 s deadline (${elapsed} ms after the read)`);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all(dbs.map((db) => db.close()));
      await fresh.drop();
    }
  });
} else {
  postgresSkipped('postgres: a consumer walking the feed never misses an event: a writer takes its positions only after the one before it committed (or rolled back)');
  postgresSkipped("postgres: debits through two processes, each with four batches in flight, while a consumer walks the feed: every debit once, positions gapless, a transaction's events in order");
  postgresSkipped("postgres: an atomic bulk whose later step waits for a locked wallet holds no lock other writers of events need: an unrelated credit goes through meanwhile, and the bulk's events are together, in order");
  postgresSkipped("postgres: two processes — an event one commits wakes a long poll on the other at that one's next read of the feed's top");
}
