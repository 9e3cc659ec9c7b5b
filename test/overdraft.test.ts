/**
 * Overdraft: a balance (main included) may carry a limit per asset; a debit may take it down
 * to minus that limit, never further, checked with the funds on the locked rows. The draining
 * rule (docs/api.md): the positive funds of every listed source first, in the usual order,
 * then the overdrafts, in the same order. Views show negative amounts; the invariant is "no
 * balance below minus its limit".
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { balanceOf, createBalance, createWallet, credit, expectError, expectStatus, mainBalance, suite, type Harness } from './support/harness.ts';

const usd = (amount: bigint) => ({ asset: 'USD/2', amount });

async function lastPostings(h: Harness, walletId: string) {
  return expectStatus(await h.get(`/transactions?walletID=${walletId}&pageSize=1`), 200).body.cursor.data[0].postings;
}

suite('overdraft', (h) => {
  it('a balance created with an overdraft shows it; a debit goes down to minus the limit, never further; views show the negative amount', async () => {
    const w = await createWallet(h());
    const created = expectStatus(await h().post(`/wallets/${w}/balances`, { name: 'line', overdraft: { 'USD/2': 5000n, EUR: 0n } }), 201).body.data;
    assert.deepEqual(created, { name: 'line', expiresAt: null, priority: 0n, overdraft: { 'USD/2': 5000n } });
    assert.deepEqual(expectStatus(await h().get(`/wallets/${w}/balances/line`), 200).body.data.overdraft, { 'USD/2': 5000n });
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(3000n), balances: ['line'] }), 204);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(2001n), balances: ['line'] }), 400, 'INSUFFICIENT_FUND');
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(2000n), balances: ['line'] }), 204);
    assert.equal(await balanceOf(h(), w, 'line'), -5000n);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(1n), balances: ['line'] }), 400, 'INSUFFICIENT_FUND');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'EUR', amount: 1n }, balances: ['line'] }), 400, 'INSUFFICIENT_FUND', /./);
    const summary = expectStatus(await h().get(`/wallets/${w}/summary`), 200).body.data;
    assert.equal(summary.availableFunds['USD/2'], -5000n);
    assert.deepEqual(summary.balances.find((b: { name: string }) => b.name === 'line').assets, { 'USD/2': -5000n });
  });

  it('PATCH main: an overdraft on main; lowering it below the debt → 400; 0 removes it; priority/expiresAt on main → 400', async () => {
    const w = await createWallet(h());
    expectStatus(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 100n } }), 204);
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(60n) }), 204);
    assert.equal(await mainBalance(h(), w), -60n);
    expectError(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 59n } }), 400, 'VALIDATION', /-60/);
    expectStatus(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 60n } }), 204);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(1n) }), 400, 'INSUFFICIENT_FUND');
    await credit(h(), w, 60n);
    expectStatus(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 0n } }), 204);
    const main = expectStatus(await h().get(`/wallets/${w}/balances/main`), 200).body.data;
    assert.equal(main.overdraft, undefined, 'no limit left');
    expectError(await h().patch(`/wallets/${w}/balances/main`, { priority: 1n }), 400, 'VALIDATION', /main/);
    expectError(await h().patch(`/wallets/${w}/balances/nope`, { priority: 1n }), 404, 'NOT_FOUND');
    expectError(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { usd: 1n } }), 400, 'VALIDATION');
    expectError(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': -1n } }), 400, 'VALIDATION');
  });

  it('PATCH a named balance: priority and expiry change the wildcard order; expiresAt null removes the expiry', async () => {
    const w = await createWallet(h());
    await createBalance(h(), w, { name: 'a', priority: 1n });
    await createBalance(h(), w, { name: 'b', priority: 2n });
    await credit(h(), w, 10n, { balance: 'a' });
    await credit(h(), w, 10n, { balance: 'b' });
    expectStatus(await h().patch(`/wallets/${w}/balances/b`, { priority: 0n }), 204);
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(5n), balances: ['*'] }), 204);
    assert.equal(await balanceOf(h(), w, 'b'), 5n, 'b is now spent first');
    const expiry = '2999-01-01T00:00:00Z';
    expectStatus(await h().patch(`/wallets/${w}/balances/a`, { expiresAt: expiry }), 204);
    assert.equal(expectStatus(await h().get(`/wallets/${w}/balances/a`), 200).body.data.expiresAt, expiry);
    expectStatus(await h().patch(`/wallets/${w}/balances/a`, { expiresAt: null }), 204);
    assert.equal(expectStatus(await h().get(`/wallets/${w}/balances/a`), 200).body.data.expiresAt, null);
    assert.equal(expectStatus(await h().get(`/wallets/${w}/balances/a`), 200).body.data.priority, 1n, 'the other field kept');
  });

  it('draining: the positive funds of every listed source first, in order, then the overdrafts in the same order', async () => {
    const w = await createWallet(h());
    await createBalance(h(), w, { name: 'first', overdraft: { 'USD/2': 100n } });
    await createBalance(h(), w, { name: 'second', overdraft: { 'USD/2': 100n } });
    await credit(h(), w, 30n, { balance: 'first' });
    await credit(h(), w, 20n, { balance: 'second' });
    // 30 + 20 of funds, then 100 of first's overdraft, then 10 of second's.
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(160n), balances: ['first', 'second'] }), 204);
    assert.deepEqual(await lastPostings(h(), w), [
      { source: `wallets:${w}:first`, destination: 'world', amount: 130n, asset: 'USD/2' },
      { source: `wallets:${w}:second`, destination: 'world', amount: 30n, asset: 'USD/2' },
    ]);
    assert.equal(await balanceOf(h(), w, 'first'), -100n);
    assert.equal(await balanceOf(h(), w, 'second'), -10n);
    // Wildcard: the same rule over the wildcard order (main last). main's funds go before any
    // overdraft, though it comes last: portions are in the order each source first gave.
    await credit(h(), w, 50n);
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(100n), balances: ['*'] }), 204);
    assert.deepEqual(await lastPostings(h(), w), [
      { source: `wallets:${w}:main`, destination: 'world', amount: 50n, asset: 'USD/2' },
      { source: `wallets:${w}:second`, destination: 'world', amount: 50n, asset: 'USD/2' },
    ]);
    assert.deepEqual([await balanceOf(h(), w, 'first'), await balanceOf(h(), w, 'second'), (await mainBalance(h(), w)) ?? 0n], [-100n, -60n, 0n]);
  });

  it('a pending debit into the overdraft, voided, refunds exactly; concurrent debits never pass the limit', async () => {
    const w = await createWallet(h());
    expectStatus(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 100n } }), 204);
    await credit(h(), w, 10n);
    const pending = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(50n), pending: true }), 201).body.data;
    assert.equal(await mainBalance(h(), w), -40n);
    expectStatus(await h().post(`/holds/${pending.id}/void`), 204);
    assert.equal(await mainBalance(h(), w), 10n);
    const answers = await Promise.all(Array.from({ length: 30 }, () => h().post(`/wallets/${w}/debit`, { amount: usd(7n) })));
    const accepted = answers.filter((answer) => answer.status === 204).length;
    assert.equal(accepted, 15, '110 available: 15 debits of 7');
    for (const answer of answers) if (answer.status !== 204) expectError(answer, 400, 'INSUFFICIENT_FUND');
    assert.equal(await mainBalance(h(), w), 10n - 105n);
  });

  it('a credit may draw on a wallet source overdraft too (same rule)', async () => {
    const from = await createWallet(h());
    const to = await createWallet(h());
    expectStatus(await h().patch(`/wallets/${from}/balances/main`, { overdraft: { 'USD/2': 40n } }), 204);
    expectStatus(await h().post(`/wallets/${to}/credit`, { amount: usd(40n), sources: [{ type: 'WALLET', identifier: from }] }), 204);
    expectError(await h().post(`/wallets/${to}/credit`, { amount: usd(1n), sources: [{ type: 'WALLET', identifier: from }] }), 400, 'INSUFFICIENT_FUND');
    assert.deepEqual([await mainBalance(h(), from), await mainBalance(h(), to)], [-40n, 40n]);
  });
});
