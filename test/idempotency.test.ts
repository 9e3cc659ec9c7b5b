import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { v5 as uuidv5 } from 'uuid';
import { purgeExpiredKeys } from '../src/idempotency/retention.ts';
import {
  backends,
  createBalance,
  createWallet,
  credit,
  expectError,
  expectStatus,
  isoIn,
  mainBalance,
  postgresSkipped,
  startHarness,
  suite,
  type Harness,
  type Request,
  type Response,
} from './support/harness.ts';

let counter = 0;
function key(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}-${Date.now()}`;
}

function withKey(request: Request, idempotencyKey: string): Request {
  return { ...request, headers: { ...request.headers, 'idempotency-key': idempotencyKey } };
}

/** Sends a request twice with one key; asserts the replay is byte-identical and marked. */
async function assertReplays(h: Harness, request: Request, status: number): Promise<Response> {
  const k = key('replay');
  const first = await h.call(withKey(request, k));
  expectStatus(first, status);
  assert.equal(first.headers['idempotent-replayed'], undefined);
  const second = await h.call(withKey(request, k));
  expectStatus(second, status);
  assert.equal(second.text, first.text, 'byte-identical body');
  assert.equal(second.headers['idempotent-replayed'], 'true');
  assert.equal(second.headers['idempotency-hit'], 'true');
  assert.equal(second.headers['content-type'], first.headers['content-type']);
  return first;
}

async function transactionCount(h: Harness, walletId: string): Promise<number> {
  return expectStatus(await h.get(`/transactions?walletID=${walletId}&pageSize=100`), 200).body.cursor.data.length;
}

async function holdCount(h: Harness, walletId: string): Promise<number> {
  return expectStatus(await h.get(`/holds?walletID=${walletId}&pageSize=100`), 200).body.cursor.data.length;
}

suite('idempotency', (h) => {
  it('create wallet: replayed byte for byte, one wallet, id derived from the key (UUIDv5 "wallet:")', async () => {
    const k = key('create');
    const request: Request = { method: 'POST', url: '/wallets', body: { name: 'once', metadata: { a: 'b' } } };
    const first = expectStatus(await h().call(withKey(request, k)), 201);
    assert.equal(first.body.data.id, uuidv5(`wallet:${k}`, '0b6f2d6e-4e2a-4f3a-9f0a-2b9c1d8e7a31'));
    // A patch in between does not change what the create replays.
    expectStatus(await h().patch(`/wallets/${first.body.data.id}`, { metadata: { a: 'changed' } }), 204);
    const second = expectStatus(await h().call(withKey(request, k)), 201);
    assert.equal(second.text, first.text);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    const named = expectStatus(await h().get('/wallets?name=once'), 200).body.cursor.data;
    assert.equal(named.length, 1);
    const unkeyed = expectStatus(await h().post('/wallets', {}), 201);
    assert.match(unkeyed.body.data.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'UUIDv7 without a key');
  });

  it('all seven mutations replay their outcome with no second effect', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 1000n);
    await assertReplays(h(), { method: 'PATCH', url: `/wallets/${id}`, body: { metadata: { x: 'y' } } }, 204);
    await assertReplays(h(), { method: 'POST', url: `/wallets/${id}/balances`, body: { name: 'bonus', priority: 7n } }, 201);
    const before = await transactionCount(h(), id);
    await assertReplays(h(), { method: 'POST', url: `/wallets/${id}/credit`, body: { amount: { asset: 'USD/2', amount: 5n } } }, 204);
    await assertReplays(h(), { method: 'POST', url: `/wallets/${id}/debit`, body: { amount: { asset: 'USD/2', amount: 3n } } }, 204);
    assert.equal(await transactionCount(h(), id), before + 2);
    assert.equal(await mainBalance(h(), id), 1002n);
    const hold = await assertReplays(h(), { method: 'POST', url: `/wallets/${id}/debit`, body: { amount: { asset: 'USD/2', amount: 10n }, pending: true } }, 201);
    assert.equal(await holdCount(h(), id), 1);
    const holdId = hold.body.data.id;
    await assertReplays(h(), { method: 'POST', url: `/holds/${holdId}/confirm`, body: { amount: 4n } }, 204);
    assert.equal(expectStatus(await h().get(`/holds/${holdId}`), 200).body.data.remaining, 6n);
    await assertReplays(h(), { method: 'POST', url: `/holds/${holdId}/void` }, 204);
    assert.equal(await mainBalance(h(), id), 998n);
  });

  it('same key, different body, route or path parameter → 409 CONFLICT, nothing executed', async () => {
    const id = await createWallet(h());
    const other = await createWallet(h());
    await credit(h(), id, 100n);
    const k = key('conflict');
    const headers = { 'idempotency-key': k };
    expectStatus(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }, headers), 204);
    expectError(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 6n } }, headers), 409, 'CONFLICT', /different request/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 5n } }, headers), 409, 'CONFLICT');
    expectError(await h().post(`/wallets/${other}/credit`, { amount: { asset: 'USD/2', amount: 5n } }, headers), 409, 'CONFLICT');
    expectError(await h().post('/wallets', { name: 'x' }, headers), 409, 'CONFLICT');
    assert.equal(await mainBalance(h(), id), 105n);
    assert.equal(await mainBalance(h(), other), undefined);
  });

  it('canonical fingerprints: key order, absent vs {} metadata and explicit defaults do not conflict', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const pairs: [string, string, string][] = [
      [`/wallets/${id}/debit`, '{"amount":{"asset":"USD/2","amount":1}}', '{"amount":{"amount":1,"asset":"USD/2"},"metadata":{},"pending":false,"balances":[],"description":""}'],
      [`/wallets/${id}/credit`, '{"amount":{"asset":"USD/2","amount":2},"metadata":null}', '{"metadata":{},"amount":{"asset":"USD/2","amount":2},"balance":"main","sources":[]}'],
      ['/wallets', '{"metadata":{"b":"2","a":"1"}}', '{"name":"","metadata":{"a":"1","b":"2"}}'],
      [`/wallets/${id}/balances`, '{"name":"p1"}', '{"priority":0,"name":"p1","expiresAt":null}'],
    ];
    for (const [url, firstBody, secondBody] of pairs) {
      const k = key('canonical');
      const headers = { 'content-type': 'application/json', 'idempotency-key': k };
      const first = await h().call({ method: 'POST', url, raw: firstBody, headers });
      assert.ok(first.status < 300, first.text);
      const second = await h().call({ method: 'POST', url, raw: secondBody, headers });
      assert.equal(second.status, first.status, second.text);
      assert.equal(second.text, first.text);
      assert.equal(second.headers['idempotent-replayed'], 'true');
    }
    assert.equal(await mainBalance(h(), id), 101n);
  });

  it('a keyed confirm or void replays its 204 instead of HOLD_CLOSED', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const holdA = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201).body.data.id;
    const holdB = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201).body.data.id;
    const confirmKey = { 'idempotency-key': key('confirm') };
    const voidKey = { 'idempotency-key': key('void') };
    expectStatus(await h().post(`/holds/${holdA}/confirm`, undefined, confirmKey), 204);
    expectStatus(await h().post(`/holds/${holdA}/confirm`, undefined, confirmKey), 204);
    expectStatus(await h().post(`/holds/${holdB}/void`, undefined, voidKey), 204);
    expectStatus(await h().post(`/holds/${holdB}/void`, undefined, voidKey), 204);
    expectError(await h().post(`/holds/${holdA}/confirm`), 400, 'HOLD_CLOSED');
    assert.equal(await mainBalance(h(), id), 90n);
  });

  it('a keyed pending debit on "*" and an expiring balance replays the same hold after the balance expired', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'promo', expiresAt: isoIn(h(), 3600) });
    await credit(h(), id, 50n, { balance: 'promo' });
    await credit(h(), id, 50n);
    const request: Request = {
      method: 'POST',
      url: `/wallets/${id}/debit`,
      body: { amount: { asset: 'USD/2', amount: 70n }, pending: true, balances: ['*'] },
      headers: { 'idempotency-key': key('wildcard') },
    };
    const first = expectStatus(await h().call(request), 201);
    h().clock.advance(7200);
    const second = expectStatus(await h().call(request), 201);
    assert.equal(second.text, first.text);
    assert.equal(await holdCount(h(), id), 1);
    const hold = expectStatus(await h().get(`/holds/${first.body.data.id}`), 200).body.data;
    assert.equal(hold.remaining, 70n);
    // The same debit without the key, now, can only use main: 30 is left there.
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 70n }, pending: true, balances: ['*'] }), 400, 'INSUFFICIENT_FUND');
  });

  it('a business refusal stays the key\'s answer after funds arrive; schema 400s are not stored', async () => {
    const id = await createWallet(h());
    const headers = { 'idempotency-key': key('refusal') };
    const debitBody = { amount: { asset: 'USD/2', amount: 10n } };
    const refused = await h().post(`/wallets/${id}/debit`, debitBody, headers);
    expectError(refused, 400, 'INSUFFICIENT_FUND');
    await credit(h(), id, 100n);
    const replay = await h().post(`/wallets/${id}/debit`, debitBody, headers);
    expectError(replay, 400, 'INSUFFICIENT_FUND');
    assert.equal(replay.text, refused.text);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(await mainBalance(h(), id), 100n);

    const fresh = { 'idempotency-key': key('schema') };
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: -1n } }, fresh), 400, 'VALIDATION');
    expectStatus(await h().post(`/wallets/${id}/debit`, debitBody, fresh), 204);
    assert.equal(await mainBalance(h(), id), 90n);
  });

  for (const [label, build] of [
    ['create wallet', (_id: string) => ({ method: 'POST', url: '/wallets', body: { name: 'race' } }) as Request],
    ['credit', (id: string) => ({ method: 'POST', url: `/wallets/${id}/credit`, body: { amount: { asset: 'USD/2', amount: 7n } } }) as Request],
    ['pending debit', (id: string) => ({ method: 'POST', url: `/wallets/${id}/debit`, body: { amount: { asset: 'USD/2', amount: 7n }, pending: true } }) as Request],
  ] as const) {
    it(`50 concurrent same-key requests (${label}) → one effect, identical answers`, async () => {
      const id = await createWallet(h());
      await credit(h(), id, 1000n);
      const walletsBefore = expectStatus(await h().get('/wallets?name=race&pageSize=100'), 200).body.cursor.data.length;
      const transactionsBefore = await transactionCount(h(), id);
      const request = withKey(build(id), key('race'));
      const responses = await Promise.all(Array.from({ length: 50 }, () => h().call(request)));
      const statuses = new Set(responses.map((r) => r.status));
      assert.equal(statuses.size, 1, `statuses ${[...statuses]}`);
      assert.ok(responses[0]!.status < 300, responses[0]!.text);
      assert.equal(new Set(responses.map((r) => r.text)).size, 1);
      assert.equal(responses.filter((r) => r.headers['idempotent-replayed'] === undefined).length, 1);
      if (label === 'create wallet') {
        assert.equal(expectStatus(await h().get('/wallets?name=race&pageSize=100'), 200).body.cursor.data.length, walletsBefore + 1);
      } else {
        assert.equal(await transactionCount(h(), id), transactionsBefore + 1);
        assert.equal(await mainBalance(h(), id), label === 'credit' ? 1007n : 993n);
      }
    });
  }

  // Last in this suite: it purges every key stored so far.
  it('retention: after the window a key runs as new; a key-derived wallet id that exists → 409', async () => {
    const walletKey = { 'idempotency-key': key('retained-wallet') };
    const creditKey = { 'idempotency-key': key('retained-credit') };
    const id = expectStatus(await h().post('/wallets', { name: 'retained' }, walletKey), 201).body.data.id;
    expectStatus(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }, creditKey), 204);
    const hour = 3_600_000_000n;
    assert.equal(await purgeExpiredKeys(h().db, 72n * hour, h().clock.now()), 0, 'nothing is older than the window yet');
    h().clock.advance(73 * 3600);
    assert.ok((await purgeExpiredKeys(h().db, 72n * hour, h().clock.now())) >= 2);
    expectError(await h().post('/wallets', { name: 'retained' }, walletKey), 409, 'CONFLICT', /already exists/);
    const again = await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }, creditKey);
    expectStatus(again, 204);
    assert.equal(again.headers['idempotent-replayed'], undefined);
    assert.equal(await mainBalance(h(), id), 10n);
  });
});

if (process.env.TEST_DATABASE_URL) {
  describe('retention beside a replay [postgres]', () => {
    it('the purge passes by a key a replay holds locked (no wait), deletes the others, and takes that key in a later round', async () => {
      const h = await startHarness(backends().find((backend) => backend.name === 'postgres')!);
      try {
        const held = key('purge-held');
        const other = key('purge-other');
        const id = await createWallet(h);
        for (const k of [held, other]) expectStatus(await h.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 1n } }, { 'idempotency-key': k }), 204);
        h.clock.advance(73 * 3600);
        const retention = 72n * 3_600_000_000n;
        await h.db.transaction(async (tx) => {
          // What a replay's read of its stored outcome takes (storage/idempotency-keys.ts).
          const locked = await tx.query("SELECT 1 FROM idempotency_keys WHERE key LIKE '%' || $1 FOR KEY SHARE", [held]);
          assert.equal(locked.length, 1);
          const started = Date.now();
          assert.equal(await purgeExpiredKeys(h.db, retention, h.clock.now()), 1, 'the other key is purged; the locked one is not');
          assert.ok(Date.now() - started < 5_000, 'the purge waited for the replay');
        });
        assert.equal(await purgeExpiredKeys(h.db, retention, h.clock.now()), 1, 'a later round takes the key once it is free');
      } finally {
        await h.close();
      }
    });
  });
} else {
  postgresSkipped('retention beside a replay [postgres]');
}
