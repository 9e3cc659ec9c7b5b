import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createWallet, credit, expectStatus, mainBalance, suite } from './support/harness.ts';

suite('group commit', (h) => {
  it('concurrent commands share transactions; refused ones write nothing and the others still commit', async () => {
    const payer = await createWallet(h());
    const payee = await createWallet(h());
    await credit(h(), payer, 10n);
    const batchesBefore = h().batchSizes.length;
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        h().post(`/wallets/${payer}/debit`, {
          amount: { asset: 'USD/2', amount: 1n },
          destination: { type: 'WALLET', identifier: payee },
          pending: i % 2 === 0,
        }),
      ),
    );
    const succeeded = responses.filter((r) => r.status === 201 || r.status === 204).length;
    const refused = responses.filter((r) => r.status === 400 && r.body.errorCode === 'INSUFFICIENT_FUND').length;
    assert.equal(succeeded, 10);
    assert.equal(refused, 30);
    assert.equal(await mainBalance(h(), payer), 0n);
    const batches = h().batchSizes.slice(batchesBefore);
    assert.equal(batches.reduce((a, b) => a + b, 0), 40, 'every command ran in exactly one committed batch');
    assert.ok(batches.length < 40, `commands were batched: ${batches.join(',')}`);
    const transactions = expectStatus(await h().get(`/transactions?walletID=${payer}&pageSize=100`), 200).body.cursor.data;
    assert.equal(transactions.length, 11, 'the credit and the ten debits that went through');
  });

  it('a batch mixing every mutation answers each caller with its own outcome', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const holdA = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201).body.data.id;
    const holdB = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201).body.data.id;
    const batchesBefore = h().batchSizes.length;
    const [created, patched, balance, credited, debited, confirmed, voided, missing] = await Promise.all([
      h().post('/wallets', { name: 'in-batch' }),
      h().patch(`/wallets/${id}`, { metadata: { k: 'v' } }),
      h().post(`/wallets/${id}/balances`, { name: 'extra' }),
      h().post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }),
      h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 3n } }),
      h().post(`/holds/${holdA}/confirm`, { amount: 4n }),
      h().post(`/holds/${holdB}/void`),
      h().post('/wallets/nope/credit', { amount: { asset: 'USD/2', amount: 5n } }),
    ]);
    assert.ok(h().batchSizes.length - batchesBefore < 8, `batched: ${h().batchSizes.slice(batchesBefore)}`);
    expectStatus(created!, 201);
    assert.equal(created!.body.data.name, 'in-batch');
    expectStatus(patched!, 204);
    assert.deepEqual(expectStatus(balance!, 201).body.data, { name: 'extra', expiresAt: null, priority: 0n });
    expectStatus(credited!, 204);
    expectStatus(debited!, 204);
    expectStatus(confirmed!, 204);
    expectStatus(voided!, 204);
    expectStatus(missing!, 404);
    assert.equal(expectStatus(await h().get(`/holds/${holdA}`), 200).body.data.remaining, 6n);
    assert.equal(expectStatus(await h().get(`/holds/${holdB}`), 200).body.data.remaining, 0n);
    assert.deepEqual(expectStatus(await h().get(`/wallets/${id}`), 200).body.data.metadata, { k: 'v' });
    // 100 − 10 − 10 held + 5 − 3 + 10 voided back.
    assert.equal(await mainBalance(h(), id), 92n);
  });

  it('confirm and void racing on one hold: exactly one order wins, and the books add up', async () => {
    const id = await createWallet(h());
    await credit(h(), id, 100n);
    const hold = expectStatus(await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201).body.data.id;
    const [confirmed, voided] = await Promise.all([h().post(`/holds/${hold}/confirm`, { amount: 4n }), h().post(`/holds/${hold}/void`)]);
    if (confirmed.status === 204) {
      expectStatus(voided, 204);
      assert.equal(await mainBalance(h(), id), 96n, 'confirm 4 then void 6');
    } else {
      assert.equal(confirmed.body.errorCode, 'HOLD_CLOSED', confirmed.text);
      expectStatus(voided, 204);
      assert.equal(await mainBalance(h(), id), 100n, 'void 10, then the confirm found the hold closed');
    }
    assert.equal(expectStatus(await h().get(`/holds/${hold}`), 200).body.data.remaining, 0n);
  });
});
