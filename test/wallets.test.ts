import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createBalance, createWallet, credit, expectError, expectStatus, isoIn, suite } from './support/harness.ts';

suite('wallets', (h) => {
  it('create wallet: 201 with the Formance shape, then get returns it', async () => {
    const created = expectStatus(await h().post('/wallets', { name: 'alice', metadata: { tier: 'gold' } }), 201);
    const wallet = created.body.data;
    assert.match(wallet.id, /^[0-9a-f-]{36}$/);
    assert.equal(wallet.name, 'alice');
    assert.deepEqual(wallet.metadata, { tier: 'gold' });
    assert.equal(wallet.ledger, 'test-ledger');
    assert.match(wallet.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.deepEqual(wallet.balances, { main: { expiresAt: null, priority: 0n, assets: {} } });
    const fetched = expectStatus(await h().get(`/wallets/${wallet.id}`), 200);
    assert.deepEqual(fetched.body.data, wallet);
  });

  it('create wallet: an empty body creates a wallet named "" with no metadata', async () => {
    const response = expectStatus(await h().call({ method: 'POST', url: '/wallets' }), 201);
    assert.equal(response.body.data.name, '');
    assert.deepEqual(response.body.data.metadata, {});
  });

  it('get wallet: main assets are the main balance only', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'promo' });
    await credit(h(), id, 100n);
    await credit(h(), id, 7n, { balance: 'promo' });
    const wallet = expectStatus(await h().get(`/wallets/${id}`), 200).body.data;
    assert.deepEqual(wallet.balances.main.assets, { 'USD/2': 100n });
  });

  it('every route answers under /api/wallets too', async () => {
    const created = expectStatus(await h().post('/api/wallets/wallets', { name: 'sdk' }), 201);
    const id = created.body.data.id;
    expectStatus(await h().get(`/api/wallets/wallets/${id}`), 200);
    expectStatus(await h().post(`/api/wallets/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }), 204);
    expectStatus(await h().get(`/api/wallets/wallets/${id}/summary`), 200);
    expectStatus(await h().get(`/api/wallets/transactions?walletID=${id}`), 200);
    expectStatus(await h().get('/api/wallets/_info'), 200);
    expectStatus(await h().get('/api/wallets/holds'), 200);
  });

  it('list wallets: creation order, name and metadata filters (AND, exact), expand=balances', async () => {
    const tag = `list-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await createWallet(h(), { name: `${tag}-${i}`, metadata: { batch: tag, wallets_number: String(i) } });
      await credit(h(), id, 100n);
      ids.push(id);
    }
    const all = expectStatus(await h().get(`/wallets?metadata[batch]=${tag}`), 200).body.cursor;
    assert.deepEqual(all.data.map((w: { id: string }) => w.id), ids);
    assert.equal(all.pageSize, 15n);
    assert.equal(all.hasMore, false);
    assert.equal('next' in all, false);
    assert.equal('previous' in all, false);
    for (const wallet of all.data) assert.deepEqual(wallet.balances.main.assets, {});

    const one = expectStatus(await h().get(`/wallets?metadata%5Bbatch%5D=${tag}&metadata[wallets_number]=0`), 200);
    assert.deepEqual(one.body.cursor.data.map((w: { id: string }) => w.id), [ids[0]]);
    const byName = expectStatus(await h().get(`/wallets?name=${tag}-2`), 200);
    assert.deepEqual(byName.body.cursor.data.map((w: { id: string }) => w.id), [ids[2]]);

    const expanded = expectStatus(await h().get(`/wallets?metadata[batch]=${tag}&expand=balances`), 200);
    for (const wallet of expanded.body.cursor.data) assert.deepEqual(wallet.balances.main.assets, { 'USD/2': 100n });
  });

  it('list wallets: cursors page forward and back and carry the original query', async () => {
    const tag = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createWallet(h(), { metadata: { batch: tag } }));
    const first = expectStatus(await h().get(`/wallets?metadata[batch]=${tag}&pageSize=2`), 200).body.cursor;
    assert.equal(first.pageSize, 2n);
    assert.equal(first.hasMore, true);
    assert.deepEqual(first.data.map((w: { id: string }) => w.id), ids.slice(0, 2));
    // The cursor carries the filter: a contradicting filter next to it is ignored.
    const second = expectStatus(await h().get(`/wallets?cursor=${first.next}&name=nobody`), 200).body.cursor;
    assert.deepEqual(second.data.map((w: { id: string }) => w.id), ids.slice(2, 4));
    assert.equal(second.pageSize, 2n);
    const third = expectStatus(await h().get(`/wallets?cursor=${second.next}`), 200).body.cursor;
    assert.deepEqual(third.data.map((w: { id: string }) => w.id), ids.slice(4));
    assert.equal(third.hasMore, false);
    assert.equal('next' in third, false);
    const back = expectStatus(await h().get(`/wallets?cursor=${third.previous}`), 200).body.cursor;
    assert.deepEqual(back.data.map((w: { id: string }) => w.id), ids.slice(2, 4));
    const backAgain = expectStatus(await h().get(`/wallets?cursor=${back.previous}`), 200).body.cursor;
    assert.deepEqual(backAgain.data.map((w: { id: string }) => w.id), ids.slice(0, 2));
    assert.equal('previous' in backAgain, false);
  });

  it('pageSize: default 15, above 100 clamped to 100, non-positive or non-integer → 400', async () => {
    assert.equal(expectStatus(await h().get('/wallets?pageSize=250'), 200).body.cursor.pageSize, 100n);
    assert.equal(expectStatus(await h().get('/wallets?pageSize=100000'), 200).body.cursor.pageSize, 100n);
    assert.equal(expectStatus(await h().get('/wallets?pageSize=20'), 200).body.cursor.pageSize, 20n);
    for (const bad of ['abc', '0', '-5', '1.5']) {
      expectError(await h().get(`/wallets?pageSize=${bad}`), 400, 'VALIDATION', /pageSize/);
      expectError(await h().get(`/holds?pageSize=${bad}`), 400, 'VALIDATION', /pageSize/);
      expectError(await h().get(`/transactions?pageSize=${bad}`), 400, 'VALIDATION', /pageSize/);
    }
  });

  it('a malformed cursor → 400 on every list', async () => {
    const id = await createWallet(h());
    const forged = Buffer.from(JSON.stringify({ s: 2, f: {}, a: "1; DROP TABLE wallets" })).toString('base64url');
    for (const url of ['/wallets', '/holds', '/transactions', `/wallets/${id}/balances`]) {
      expectError(await h().get(`${url}?cursor=not-a-cursor`), 400, 'VALIDATION', /cursor/);
      expectError(await h().get(`${url}?cursor=${forged}`), 400, 'VALIDATION', /cursor/);
    }
  });

  it('patch wallet: merges metadata (overwrite and add, never delete) → 204', async () => {
    const id = await createWallet(h(), { name: 'p', metadata: { foo: 'bar', keep: 'me' } });
    expectStatus(await h().patch(`/wallets/${id}`, { metadata: { foo: 'baz', role: 'admin' } }), 204);
    const wallet = expectStatus(await h().get(`/wallets/${id}`), 200).body.data;
    assert.deepEqual(wallet.metadata, { foo: 'baz', keep: 'me', role: 'admin' });
    expectError(await h().patch(`/wallets/${id}`, {}), 400, 'VALIDATION', /metadata/);
    expectError(await h().call({ method: 'PATCH', url: `/wallets/${id}` }), 400, 'VALIDATION');
  });

  it('a missing wallet is a JSON 404 on every wallet route, and debit/credit create nothing', async () => {
    const missing = '00000000-0000-0000-0000-000000000000';
    const before = expectStatus(await h().get('/transactions?pageSize=100'), 200).body.cursor.data.length;
    expectError(await h().get(`/wallets/${missing}`), 404, 'NOT_FOUND');
    expectError(await h().patch(`/wallets/${missing}`, { metadata: { a: 'b' } }), 404, 'NOT_FOUND');
    expectError(await h().get(`/wallets/${missing}/summary`), 404, 'NOT_FOUND');
    expectError(await h().get(`/wallets/${missing}/balances`), 404, 'NOT_FOUND');
    expectError(await h().post(`/wallets/${missing}/balances`, { name: 'x' }), 404, 'NOT_FOUND');
    expectError(await h().get(`/wallets/${missing}/balances/main`), 404, 'NOT_FOUND');
    expectError(await h().post(`/wallets/${missing}/credit`, { amount: { asset: 'USD', amount: 1n } }), 404, 'NOT_FOUND');
    expectError(await h().post(`/wallets/${missing}/debit`, { amount: { asset: 'USD', amount: 0n } }), 404, 'NOT_FOUND');
    expectError(await h().post(`/wallets/${missing}/debit`, { amount: { asset: 'USD', amount: 0n }, pending: true }), 404, 'NOT_FOUND');
    const after = expectStatus(await h().get('/transactions?pageSize=100'), 200).body.cursor.data.length;
    assert.equal(after, before);
    expectError(await h().get('/holds/nope'), 404, 'NOT_FOUND');
    expectError(await h().post('/holds/nope/confirm'), 404, 'NOT_FOUND');
    expectError(await h().post('/holds/nope/void'), 404, 'NOT_FOUND');
    expectError(await h().get('/no/such/route'), 404, 'NOT_FOUND');
  });

  it('create balance: 201; main, bad names and duplicates → 400 VALIDATION', async () => {
    const id = await createWallet(h());
    const created = expectStatus(await h().post(`/wallets/${id}/balances`, { name: 'foo-bar', priority: 7n }), 201);
    assert.deepEqual(created.body.data, { name: 'foo-bar', expiresAt: null, priority: 7n });
    const expiring = expectStatus(await h().post(`/wallets/${id}/balances`, { name: 'promo', expiresAt: '2030-01-02T03:04:05.123456789+02:00' }), 201);
    assert.deepEqual(expiring.body.data, { name: 'promo', expiresAt: '2030-01-02T01:04:05.123457Z', priority: 0n });
    for (const name of ['!!!!!!!', 'balance:injected', 'x\n@world', 'main', '', 'a'.repeat(65)]) {
      expectError(await h().post(`/wallets/${id}/balances`, { name }), 400, 'VALIDATION');
    }
    expectError(await h().post(`/wallets/${id}/balances`, { name: 'main', expiresAt: isoIn(h(), 60) }), 400, 'VALIDATION', /reserved/);
    expectError(await h().post(`/wallets/${id}/balances`, { name: 'foo-bar' }), 400, 'VALIDATION', /already exists/);
    expectError(await h().post(`/wallets/${id}/balances`, { name: 'late', expiresAt: 'tomorrow' }), 400, 'VALIDATION', /expiresAt/);
    expectError(await h().post(`/wallets/${id}/balances`, { name: 'p', priority: 1.5 }), 400, 'VALIDATION', /priority/);
    expectError(await h().post(`/wallets/${id}/balances`, { name: 'p', priority: '1' }), 400, 'VALIDATION', /priority/);
  });

  it('list balances: main and named balances without amounts, paginated', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'balance1', priority: 10n });
    await createBalance(h(), id, { name: 'a-first' });
    const listed = expectStatus(await h().get(`/wallets/${id}/balances`), 200).body.cursor;
    assert.deepEqual(listed.data, [
      { name: 'a-first', expiresAt: null, priority: 0n },
      { name: 'balance1', expiresAt: null, priority: 10n },
      { name: 'main', expiresAt: null, priority: 0n },
    ]);
    const page = expectStatus(await h().get(`/wallets/${id}/balances?pageSize=2`), 200).body.cursor;
    assert.equal(page.hasMore, true);
    const next = expectStatus(await h().get(`/wallets/${id}/balances?cursor=${page.next}`), 200).body.cursor;
    assert.deepEqual(next.data.map((b: { name: string }) => b.name), ['main']);
  });

  it('get balance: amounts per asset (zero kept); main works; unknown → 404', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'coupon', priority: 3n });
    const empty = expectStatus(await h().get(`/wallets/${id}/balances/coupon`), 200).body.data;
    assert.deepEqual(empty, { name: 'coupon', expiresAt: null, priority: 3n, assets: {} });
    await credit(h(), id, 40n, { balance: 'coupon' });
    expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 40n }, balances: ['coupon'] }), 204);
    const drained = expectStatus(await h().get(`/wallets/${id}/balances/coupon`), 200).body.data;
    assert.deepEqual(drained.assets, { 'USD/2': 0n });
    const main = expectStatus(await h().get(`/wallets/${id}/balances/main`), 200).body.data;
    assert.deepEqual(main, { name: 'main', expiresAt: null, priority: 0n, assets: {} });
    expectError(await h().get(`/wallets/${id}/balances/nope`), 404, 'NOT_FOUND');
  });

  it('_info and _healthcheck answer', async () => {
    const info = expectStatus(await h().get('/_info'), 200);
    assert.match(info.body.version, /^\d+\.\d+\.\d+/);
    expectStatus(await h().get('/_healthcheck'), 200);
    expectStatus(await h().get('/wallets/'), 200);
  });
});
