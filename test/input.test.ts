import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createWallet, credit, expectError, expectStatus, mainBalance, suite } from './support/harness.ts';

const U128_MAX = (1n << 128n) - 1n;

suite('amounts and client mistakes', (h) => {
  it('amounts up to 2^128 − 1 travel exactly through requests, storage and responses', async () => {
    const id = await createWallet(h());
    await credit(h(), id, U128_MAX);
    await credit(h(), id, U128_MAX);
    assert.equal(await mainBalance(h(), id), 2n * U128_MAX, 'volumes grow past 2^128');
    const wallet = await h().get(`/wallets/${id}`);
    assert.match(wallet.text, /"USD\/2":680564733841876926926749214863536422910/);
    const holdResponse = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: U128_MAX }, pending: true }), 201);
    const hold = await h().get(`/holds/${holdResponse.body.data.id}`);
    assert.match(hold.text, /"originalAmount":340282366920938463463374607431768211455,"remaining":340282366920938463463374607431768211455/);
    expectStatus(await h().post(`/holds/${holdResponse.body.data.id}/confirm`, { amount: U128_MAX - 1n }), 204);
    assert.equal(expectStatus(await h().get(`/holds/${holdResponse.body.data.id}`), 200).body.data.remaining, 1n);
    const transactions = await h().get(`/transactions?walletID=${id}&pageSize=1`);
    assert.match(transactions.text, /"amount":340282366920938463463374607431768211454/);
    // 2^53 + 1 is where floats start to lie.
    expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 9007199254740993n } }), 204);
    assert.equal(await mainBalance(h(), id), U128_MAX - 9007199254740993n);
  });

  it('amount: missing, null, negative, past 2^128 − 1, fractional, exponent, string → 400 naming the amount', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const raws = [
      '{}',
      '{"amount":null}',
      '{"amount":{"asset":"USD/2"}}',
      '{"amount":{"asset":"USD/2","amount":-1}}',
      `{"amount":{"asset":"USD/2","amount":${U128_MAX + 1n}}}`,
      '{"amount":{"asset":"USD/2","amount":1.5}}',
      '{"amount":{"asset":"USD/2","amount":1e3}}',
      '{"amount":{"asset":"USD/2","amount":"100"}}',
      '{"amount":{"asset":"usd","amount":1}}',
      '{"amount":{"asset":"test","amount":1}}',
      '{"amount":100}',
    ];
    for (const raw of raws) {
      for (const route of ['debit', 'credit']) {
        const response = await h().call({ method: 'POST', url: `/wallets/${id}/${route}`, raw, headers: { 'content-type': 'application/json' } });
        expectError(response, 400, 'VALIDATION', /amount|asset/);
      }
    }
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1.5 } }), 400, 'VALIDATION', /integer, got 1\.5/);
    assert.equal(await mainBalance(h(), id), 100n);
  });

  it('pending debit with a timestamp, bad dates, wrong types → 400 with a message that says what was wrong', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const amount = { asset: 'USD/2', amount: 1n };
    expectError(await h().post(`/wallets/${id}/debit`, { amount, pending: true, timestamp: '2024-01-01T00:00:00Z' }), 400, 'VALIDATION', /pending.*timestamp/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, timestamp: '2024-13-01T00:00:00Z' }), 400, 'VALIDATION', /timestamp/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, timestamp: '2024-02-30T00:00:00Z' }), 400, 'VALIDATION', /timestamp/);
    expectError(await h().post(`/wallets/${id}/credit`, { amount, timestamp: 1700000000 }), 400, 'VALIDATION', /timestamp/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, pending: 'yes' }), 400, 'VALIDATION', /pending/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, metadata: { a: 1 } }), 400, 'VALIDATION', /metadata/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, metadata: ['a'] }), 400, 'VALIDATION', /metadata/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, balances: 'main' }), 400, 'VALIDATION', /balances/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount, description: 7 }), 400, 'VALIDATION', /description/);
    expectError(await h().post(`/wallets/${id}/credit`, { amount, sources: {} }), 400, 'VALIDATION', /sources/);
    expectError(await h().post(`/wallets/${id}/credit`, { amount, balance: 'no way' }), 400, 'VALIDATION', /balance/);
    expectError(await h().post('/wallets', { name: 42 }), 400, 'VALIDATION', /name/);
    expectError(await h().post('/wallets', [1, 2]), 400, 'VALIDATION');
    expectError(await h().post(`/holds/x/confirm`, { final: 'true' }), 400, 'VALIDATION', /final/);
    assert.equal(await mainBalance(h(), id), 100n);
  });

  it('malformed JSON, duplicate keys, deep nesting → 400; a body over 1 MiB → 413; a non-JSON body → 415', async () => {
    const id = await createWallet(h());
    const jsonHeaders = { 'content-type': 'application/json' };
    for (const raw of ['{', '{"name":', 'null x', '{"name":"a","name":"b"}', '['.repeat(10_000), `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`]) {
      expectError(await h().call({ method: 'POST', url: '/wallets', raw, headers: jsonHeaders }), 400, 'VALIDATION', /JSON/);
    }
    const huge = JSON.stringify({ name: 'x', metadata: { big: 'a'.repeat(1024 * 1024 + 1024) } });
    expectError(await h().call({ method: 'POST', url: '/wallets', raw: huge, headers: jsonHeaders }), 413, 'REQUEST_TOO_LARGE');
    expectError(await h().call({ method: 'POST', url: `/wallets/${id}/credit`, raw: 'amount=1', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(
      await h().call({ method: 'POST', url: '/wallets', raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    // A void with no body and no content type, as the SDK sends it, is fine.
    const list = expectStatus(await h().get('/wallets?pageSize=100'), 200);
    assert.ok(list.body.cursor.data.length >= 1);
  });

  it('limits: metadata keys, key and value length, wallet name length', async () => {
    const tooManyKeys = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    const atLimit = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`k${i}`, 'v']));
    expectError(await h().post('/wallets', { metadata: tooManyKeys }), 400, 'VALIDATION', /128 keys/);
    expectStatus(await h().post('/wallets', { metadata: atLimit }), 201);
    expectError(await h().post('/wallets', { metadata: { ['k'.repeat(129)]: 'v' } }), 400, 'VALIDATION', /keys must be at most 128/);
    expectError(await h().post('/wallets', { metadata: { k: 'v'.repeat(4097) } }), 400, 'VALIDATION', /values must be at most 4096/);
    expectStatus(await h().post('/wallets', { metadata: { k: 'v'.repeat(4096) } }), 201);
    expectError(await h().post('/wallets', { name: 'n'.repeat(257) }), 400, 'VALIDATION', /name/);
    expectStatus(await h().post('/wallets', { name: 'n'.repeat(256) }), 201);
  });

  it('Idempotency-Key: empty, too long or non-printable → 400', async () => {
    for (const key of ['', 'k'.repeat(256), 'caf\u00e9']) {
      const response = await h().call({ method: 'POST', url: '/wallets', body: {}, headers: { 'idempotency-key': key } });
      expectError(response, 400, 'VALIDATION', /Idempotency-Key/);
    }
  });
});
