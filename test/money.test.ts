import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  balanceOf,
  createBalance,
  createWallet,
  credit,
  expectError,
  expectStatus,
  isoIn,
  mainBalance,
  suite,
  type Harness,
} from './support/harness.ts';

async function pendingDebit(h: Harness, walletId: string, body: Record<string, unknown>): Promise<string> {
  const response = expectStatus(await h.post(`/wallets/${walletId}/debit`, { pending: true, ...body }), 201);
  return response.body.data.id as string;
}

async function postingsOf(h: Harness, walletId: string) {
  const list = expectStatus(await h.get(`/transactions?walletID=${walletId}&pageSize=100`), 200).body.cursor.data;
  return list.map((t: { postings: unknown[] }) => t.postings);
}

suite('money', (h) => {
  it('credit: world → main by default; into a named balance; 204', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'secondary' });
    expectStatus(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 1000n }, metadata: { why: 'topup' } }), 204);
    expectStatus(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 30n }, balance: 'secondary' }), 204);
    assert.equal(await mainBalance(h(), id), 1000n);
    assert.equal(await balanceOf(h(), id, 'secondary'), 30n);
    const [latest, first] = expectStatus(await h().get(`/transactions?walletID=${id}`), 200).body.cursor.data;
    assert.deepEqual(first.postings, [{ source: 'world', destination: `wallets:${id}:main`, amount: 1000n, asset: 'USD/2' }]);
    assert.deepEqual(first.metadata, { why: 'topup' });
    assert.equal(first.reverted, false);
    assert.equal(first.ledger, 'test-ledger');
    assert.deepEqual(latest.postings, [{ source: 'world', destination: `wallets:${id}:secondary`, amount: 30n, asset: 'USD/2' }]);
    assert.ok(latest.id > first.id);
  });

  it('credit: an unknown target balance → 400 and nothing moves', async () => {
    const id = await createWallet(h());
    expectError(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n }, balance: 'nope' }), 400, 'VALIDATION', /nope/);
    assert.deepEqual(await postingsOf(h(), id), []);
  });

  it('credit: sources drained in list order; a WALLET source with a balance; world unbounded', async () => {
    const payer = await createWallet(h());
    await createBalance(h(), payer, { name: 'savings' });
    await credit(h(), payer, 30n);
    await credit(h(), payer, 50n, { balance: 'savings' });
    const payee = await createWallet(h());
    const sources = [
      { type: 'WALLET', identifier: payer },
      { type: 'WALLET', identifier: payer, balance: 'savings' },
      { type: 'ACCOUNT', identifier: 'world' },
    ];
    expectStatus(await h().post(`/wallets/${payee}/credit`, { amount: { asset: 'USD/2', amount: 100n }, sources }), 204);
    assert.equal(await mainBalance(h(), payer), 0n);
    assert.equal(await balanceOf(h(), payer, 'savings'), 0n);
    assert.equal(await mainBalance(h(), payee), 100n);
    const [postings] = await postingsOf(h(), payee);
    assert.deepEqual(postings, [
      { source: `wallets:${payer}:main`, destination: `wallets:${payee}:main`, amount: 30n, asset: 'USD/2' },
      { source: `wallets:${payer}:savings`, destination: `wallets:${payee}:main`, amount: 50n, asset: 'USD/2' },
      { source: 'world', destination: `wallets:${payee}:main`, amount: 20n, asset: 'USD/2' },
    ]);
  });

  it('credit: a non-world source without the funds → 400 INSUFFICIENT_FUND, nothing moves', async () => {
    const payer = await createWallet(h());
    await credit(h(), payer, 10n);
    const payee = await createWallet(h());
    const response = await h().post(`/wallets/${payee}/credit`, {
      amount: { asset: 'USD/2', amount: 11n },
      sources: [{ type: 'WALLET', identifier: payer }],
    });
    expectError(response, 400, 'INSUFFICIENT_FUND');
    const external = await h().post(`/wallets/${payee}/credit`, {
      amount: { asset: 'USD/2', amount: 1n },
      sources: [{ type: 'ACCOUNT', identifier: 'bank:settlement' }],
    });
    expectError(external, 400, 'INSUFFICIENT_FUND');
    assert.equal(await mainBalance(h(), payer), 10n);
    assert.equal(await mainBalance(h(), payee), undefined);
  });

  it('credit/debit: bad subjects → 400 (unknown type, malformed or reserved address, unknown wallet or balance)', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const amount = { asset: 'USD/2', amount: 1n };
    const badSubjects = [
      { type: 'BANK', identifier: 'x' },
      { type: 'ACCOUNT', identifier: '@xxx' },
      { type: 'ACCOUNT', identifier: 'emitter1 @world' },
      { type: 'ACCOUNT', identifier: '' },
      { type: 'ACCOUNT', identifier: `wallets:${id}:main` },
      { type: 'ACCOUNT', identifier: 'wallets:holds:abc' },
      { type: 'WALLET', identifier: 'no-such-wallet' },
      { type: 'WALLET', identifier: id, balance: 'secondary\n@world' },
      { type: 'WALLET', identifier: id, balance: 'balance:injected' },
      { type: 'WALLET', identifier: id, balance: 'ghost' },
      { type: 'account', identifier: 'world' },
      'world',
    ];
    for (const subject of badSubjects) {
      expectError(await h().post(`/wallets/${id}/credit`, { amount, sources: [subject] }), 400, 'VALIDATION');
      expectError(await h().post(`/wallets/${id}/debit`, { amount, destination: subject }), 400, 'VALIDATION');
    }
    assert.equal(await mainBalance(h(), id), 100n);
  });

  it('credit: timestamp back-dates the transaction; a used reference → 409 CONFLICT', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 1n, { timestamp: '2020-01-01T00:00:00Z', reference: `ref-${id}` });
    const [transaction] = expectStatus(await h().get(`/transactions?walletID=${id}`), 200).body.cursor.data;
    assert.equal(transaction.timestamp, '2020-01-01T00:00:00Z');
    assert.equal(transaction.reference, `ref-${id}`);
    expectError(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 1n }, reference: `ref-${id}` }), 409, 'CONFLICT');
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, reference: `ref-${id}` }), 409, 'CONFLICT');
    assert.equal(await mainBalance(h(), id), 1n);
  });

  it('debit: immediate → 204 to world; insufficient → 400 INSUFFICIENT_FUND', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 1000n);
    const ok = await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 100n }, metadata: { order: '42' } });
    expectStatus(ok, 204);
    assert.equal(ok.text, '');
    assert.equal(await mainBalance(h(), id), 900n);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 901n } }), 400, 'INSUFFICIENT_FUND');
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'EUR/2', amount: 1n } }), 400, 'INSUFFICIENT_FUND');
    assert.equal(await mainBalance(h(), id), 900n);
  });

  it('debit: destinations ACCOUNT and WALLET (main or named balance)', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const other = await createWallet(h());
    await createBalance(h(), other, { name: 'secondary' });
    expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, destination: { type: 'ACCOUNT', identifier: 'account1' } }), 204);
    expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 20n }, destination: { type: 'WALLET', identifier: other } }), 204);
    expectStatus(
      await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 30n }, destination: { type: 'WALLET', identifier: other, balance: 'secondary' } }),
      204,
    );
    assert.equal(await mainBalance(h(), id), 40n);
    assert.equal(await mainBalance(h(), other), 20n);
    assert.equal(await balanceOf(h(), other, 'secondary'), 30n);
    const postings = await postingsOf(h(), id);
    assert.deepEqual(postings[2], [{ source: `wallets:${id}:main`, destination: 'account1', amount: 10n, asset: 'USD/2' }]);
    // Money sent to an ACCOUNT can be credited back from it, up to what it holds.
    expectStatus(await h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 10n }, sources: [{ type: 'ACCOUNT', identifier: 'account1' }] }), 204);
    assert.equal(await mainBalance(h(), id), 50n);
  });

  it('debit: wildcard order = expiring soonest first, then ascending priority, main last; expired skipped', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'coupon2', priority: 10n });
    await createBalance(h(), id, { name: 'coupon1', expiresAt: isoIn(h(), 60) });
    await createBalance(h(), id, { name: 'coupon5', expiresAt: isoIn(h(), 120) });
    await createBalance(h(), id, { name: 'coupon3', expiresAt: isoIn(h(), -60) });
    await createBalance(h(), id, { name: 'coupon4', priority: 0n });
    for (const name of ['coupon1', 'coupon2', 'coupon3', 'coupon4', 'coupon5', 'main']) await credit(h(), id, 10n, { balance: name });
    const pending = await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 50n }, balances: ['*'], pending: true });
    expectStatus(pending, 201);
    const hold = expectStatus(await h().get(`/holds/${pending.body.data.id}`), 200).body.data;
    assert.equal(hold.remaining, 50n);
    const [postings] = await postingsOf(h(), id);
    const holdAccount = `wallets:holds:${pending.body.data.id}`;
    assert.deepEqual(
      postings.map((p: { source: string; amount: bigint }) => [p.source, p.amount]),
      [
        [`wallets:${id}:coupon1`, 10n],
        [`wallets:${id}:coupon5`, 10n],
        [`wallets:${id}:coupon4`, 10n],
        [`wallets:${id}:coupon2`, 10n],
        [`wallets:${id}:main`, 10n],
      ],
    );
    for (const posting of postings) assert.equal(posting.destination, holdAccount);
    assert.equal(await balanceOf(h(), id, 'coupon3'), 10n, 'expired balance untouched');
    // Only the expired balance still holds funds, and it is never spent.
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, balances: ['*'] }), 400, 'INSUFFICIENT_FUND');
  });

  it('debit: an explicit list keeps request order; only expired sources → INSUFFICIENT_FUND; unknown → 400', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'b', priority: 5n });
    await createBalance(h(), id, { name: 'old', expiresAt: isoIn(h(), -1) });
    await credit(h(), id, 10n);
    await credit(h(), id, 10n, { balance: 'b' });
    await credit(h(), id, 10n, { balance: 'old' });
    expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 15n }, balances: ['main', 'b'] }), 204);
    assert.equal(await mainBalance(h(), id), 0n);
    assert.equal(await balanceOf(h(), id, 'b'), 5n);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, balances: ['old'] }), 400, 'INSUFFICIENT_FUND', /expired/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, balances: ['ghost'] }), 400, 'VALIDATION', /ghost/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, balances: ['*', 'main'] }), 400, 'VALIDATION', /\*/);
    expectError(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, balances: ['b', 'b'] }), 400, 'VALIDATION', /repeat/);
    // Crediting an expired balance still works.
    await credit(h(), id, 1n, { balance: 'old' });
    assert.equal(await balanceOf(h(), id, 'old'), 11n);
  });

  it('debit: pending → 201 with the hold; the funds move to the hold account', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 1000n);
    const response = expectStatus(
      await h().post(`/wallets/${id}/debit`, {
        amount: { asset: 'USD/2', amount: 100n },
        pending: true,
        metadata: { order: '7' },
        description: 'ride',
        destination: { type: 'ACCOUNT', identifier: 'merchant:1' },
      }),
      201,
    );
    const hold = response.body.data;
    assert.deepEqual(Object.keys(hold), ['id', 'walletID', 'destination', 'asset', 'metadata', 'description', 'expiresAt', 'status']);
    assert.equal(hold.walletID, id);
    assert.deepEqual(hold.destination, { type: 'ACCOUNT', identifier: 'merchant:1' });
    assert.equal(hold.asset, 'USD/2');
    assert.deepEqual(hold.metadata, { order: '7' });
    assert.equal(hold.description, 'ride');
    assert.equal(await mainBalance(h(), id), 900n);
    const expanded = expectStatus(await h().get(`/holds/${hold.id}`), 200).body.data;
    assert.deepEqual(expanded, { ...hold, originalAmount: 100n, remaining: 100n });
    const defaulted = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true }), 201);
    assert.deepEqual(defaulted.body.data.destination, { type: 'ACCOUNT', identifier: 'world' });
    assert.deepEqual(defaulted.body.data.metadata, {});
    assert.equal(defaulted.body.data.description, '');
  });

  it('confirm: no body → all remaining to the destination; then HOLD_CLOSED', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const holdId = await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 100n }, destination: { type: 'ACCOUNT', identifier: 'bank' } });
    expectStatus(await h().call({ method: 'POST', url: `/holds/${holdId}/confirm`, headers: { 'content-type': 'application/json' } }), 204);
    const hold = expectStatus(await h().get(`/holds/${holdId}`), 200).body.data;
    assert.equal(hold.remaining, 0n);
    assert.equal(hold.originalAmount, 100n);
    const [confirmPostings] = await postingsOf(h(), id);
    assert.deepEqual(confirmPostings, [{ source: `wallets:holds:${holdId}`, destination: 'bank', amount: 100n, asset: 'USD/2' }]);
    expectError(await h().post(`/holds/${holdId}/confirm`), 400, 'HOLD_CLOSED');
    expectError(await h().post(`/holds/${holdId}/void`), 400, 'HOLD_CLOSED');
    // Closed holds are still listed.
    const listed = expectStatus(await h().get(`/holds?walletID=${id}`), 200).body.cursor.data;
    assert.deepEqual(listed.map((x: { id: string }) => x.id), [holdId]);
  });

  it('confirm: partial amounts, too much → INSUFFICIENT_FUND, final sends the rest to main', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const holdId = await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 100n } });
    expectStatus(await h().post(`/holds/${holdId}/confirm`, { amount: 30n }), 204);
    assert.equal(expectStatus(await h().get(`/holds/${holdId}`), 200).body.data.remaining, 70n);
    expectError(await h().post(`/holds/${holdId}/confirm`, { amount: 500n }), 400, 'INSUFFICIENT_FUND');
    expectStatus(await h().post(`/holds/${holdId}/confirm`, { amount: 20n, final: true }), 204);
    assert.equal(expectStatus(await h().get(`/holds/${holdId}`), 200).body.data.remaining, 0n);
    assert.equal(await mainBalance(h(), id), 50n);
    const [finalPostings] = await postingsOf(h(), id);
    assert.deepEqual(finalPostings, [
      { source: `wallets:holds:${holdId}`, destination: 'world', amount: 20n, asset: 'USD/2' },
      { source: `wallets:holds:${holdId}`, destination: `wallets:${id}:main`, amount: 50n, asset: 'USD/2' },
    ]);
    expectError(await h().post(`/holds/${holdId}/confirm`, { amount: -1n }), 400, 'VALIDATION');
  });

  it('void: refunds the original sources in posting order, each capped; after a partial confirm the first fill first', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'secondary' });
    await credit(h(), id, 100n, { balance: 'secondary' });
    await credit(h(), id, 100n);
    const holdId = await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 200n }, balances: ['secondary', 'main'] });
    assert.equal(await balanceOf(h(), id, 'secondary'), 0n);
    expectStatus(await h().post(`/holds/${holdId}/confirm`, { amount: 50n }), 204);
    expectStatus(await h().post(`/holds/${holdId}/void`), 204);
    assert.equal(await balanceOf(h(), id, 'secondary'), 100n);
    assert.equal(await mainBalance(h(), id), 50n);
    assert.equal(expectStatus(await h().get(`/holds/${holdId}`), 200).body.data.remaining, 0n);
    expectError(await h().post(`/holds/${holdId}/void`), 400, 'HOLD_CLOSED');
  });

  it('reference e2e: pending debit from a secondary balance, void → back on the secondary balance', async () => {
    const id = await createWallet(h());
    await createBalance(h(), id, { name: 'secondary' });
    await credit(h(), id, 1000n, { balance: 'secondary' });
    const holdId = await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 100n }, balances: ['secondary'] });
    assert.equal(await balanceOf(h(), id, 'secondary'), 900n);
    expectStatus(await h().post(`/holds/${holdId}/void`), 204);
    assert.equal(await balanceOf(h(), id, 'secondary'), 1000n);
  });

  it('list holds: creation order, walletID and metadata filters, pagination', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 1n }, metadata: { n: String(i) } }));
    const all = expectStatus(await h().get(`/holds?walletID=${id}`), 200).body.cursor;
    assert.deepEqual(all.data.map((x: { id: string }) => x.id), ids);
    assert.equal('remaining' in all.data[0], false);
    const filtered = expectStatus(await h().get(`/holds?walletID=${id}&metadata[n]=1`), 200).body.cursor;
    assert.deepEqual(filtered.data.map((x: { id: string }) => x.id), [ids[1]]);
    const page = expectStatus(await h().get(`/holds?walletID=${id}&pageSize=2`), 200).body.cursor;
    const next = expectStatus(await h().get(`/holds?cursor=${page.next}`), 200).body.cursor;
    assert.deepEqual(next.data.map((x: { id: string }) => x.id), [ids[2]]);
  });

  it('summary: the reference worked example, exactly', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 1000n);
    await createBalance(h(), id, { name: 'balance1', priority: 10n });
    await createBalance(h(), id, { name: 'balance2', expiresAt: isoIn(h(), 60) });
    await createBalance(h(), id, { name: 'balance3', expiresAt: isoIn(h(), -60) });
    await createBalance(h(), id, { name: 'balance4' });
    for (const name of ['balance1', 'balance2', 'balance3']) await credit(h(), id, 1000n, { balance: name });
    await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 1500n }, balances: ['main', 'balance1'] });
    await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 500n }, balances: ['main', 'balance2'] });
    await pendingDebit(h(), id, { amount: { asset: 'USD/2', amount: 700n }, balances: ['balance1', 'balance2'] });
    const summary = expectStatus(await h().get(`/wallets/${id}/summary`), 200).body.data;
    assert.deepEqual(summary.balances.map((b: { name: string }) => b.name), ['balance1', 'balance2', 'balance3', 'balance4', 'main']);
    assert.deepEqual(
      summary.balances.map((b: { assets: unknown }) => b.assets),
      [{ 'USD/2': 0n }, { 'USD/2': 300n }, { 'USD/2': 1000n }, {}, { 'USD/2': 0n }],
    );
    assert.deepEqual(summary.availableFunds, { 'USD/2': 300n });
    assert.deepEqual(summary.expiredFunds, { 'USD/2': 1000n });
    assert.deepEqual(summary.expirableFunds, { 'USD/2': 300n });
    assert.deepEqual(summary.holdFunds, { 'USD/2': 2700n });
  });

  it('transactions: a wallet sees every transaction on its main, named balances and holds, newest first', async () => {
    const wallets = [await createWallet(h()), await createWallet(h()), await createWallet(h())];
    for (const id of wallets) {
      await credit(h(), id, 1000n);
      expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 100n } }), 204);
    }
    const first = wallets[0]!;
    assert.equal(expectStatus(await h().get(`/transactions?walletID=${first}`), 200).body.cursor.data.length, 2);
    await createBalance(h(), first, { name: 'side' });
    await credit(h(), first, 5n, { balance: 'side' });
    const holdId = await pendingDebit(h(), first, { amount: { asset: 'USD/2', amount: 5n }, balances: ['side'] });
    expectStatus(await h().post(`/holds/${holdId}/confirm`), 204);
    const list = expectStatus(await h().get(`/transactions?walletID=${first}`), 200).body.cursor.data;
    assert.equal(list.length, 5);
    const ids = list.map((t: { id: bigint }) => t.id);
    assert.deepEqual(ids, [...ids].sort((a: bigint, b: bigint) => (a > b ? -1 : 1)));
    assert.deepEqual(list[0].postings, [{ source: `wallets:holds:${holdId}`, destination: 'world', amount: 5n, asset: 'USD/2' }]);
    const page = expectStatus(await h().get(`/transactions?walletID=${first}&pageSize=2`), 200).body.cursor;
    const next = expectStatus(await h().get(`/transactions?cursor=${page.next}`), 200).body.cursor;
    assert.deepEqual([...page.data, ...next.data].map((t: { id: bigint }) => t.id), ids.slice(0, 4));
  });
});
