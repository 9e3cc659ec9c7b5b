/**
 * Every account row belongs to the wallet its address names (domain/chart.ts accountOwner),
 * whichever command creates it: a wallet's transaction list finds the wallet's postings
 * through these rows. Migration 4 repairs rows written before this held.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { balanceAddress, holdAddress } from '../src/domain/chart.ts';
import { migrate } from '../src/storage/migrations.ts';
import { createBalance, createWallet, credit, expectStatus, suite, type Harness } from './support/harness.ts';

async function listedPostings(h: Harness, walletId: string): Promise<unknown[][]> {
  const list = expectStatus(await h.get(`/transactions?walletID=${walletId}&pageSize=100`), 200).body.cursor.data;
  return list.map((transaction: { postings: unknown[] }) => transaction.postings);
}

async function accountWallet(h: Harness, address: string): Promise<string | null | undefined> {
  const [row] = await h.db.query<{ wallet_id: string | null }>('SELECT wallet_id FROM accounts WHERE address = $1', [address]);
  return row?.wallet_id;
}

/** A pending debit from `payer` to a balance of `payee` that no posting has touched yet, then its confirm. */
async function confirmToFreshBalance(h: Harness, payer: string, payee: string, balance: string | undefined): Promise<string> {
  const destination = { type: 'WALLET', identifier: payee, ...(balance !== undefined ? { balance } : {}) };
  const address = balanceAddress(payee, balance ?? 'main');
  assert.equal(await accountWallet(h, address), undefined, 'no account row yet');
  const hold = expectStatus(
    await h.post(`/wallets/${payer}/debit`, { amount: { asset: 'USD/2', amount: 30n }, pending: true, destination }),
    201,
  ).body.data.id as string;
  expectStatus(await h.post(`/holds/${hold}/confirm`, {}), 204);
  return hold;
}

suite('account ownership', (h) => {
  for (const balance of [undefined, 'tips']) {
    it(`confirm to a WALLET destination (${balance ?? 'main'}) with no account row yet → the destination wallet lists the confirm`, async () => {
      const payer = await createWallet(h());
      const payee = await createWallet(h());
      if (balance !== undefined) await createBalance(h(), payee, { name: balance });
      await credit(h(), payer, 100n);
      const hold = await confirmToFreshBalance(h(), payer, payee, balance);
      const address = balanceAddress(payee, balance ?? 'main');
      const confirm = [{ source: holdAddress(hold), destination: address, amount: 30n, asset: 'USD/2' }];
      assert.deepEqual(await listedPostings(h(), payee), [confirm]);
      assert.equal(await accountWallet(h(), address), payee);
      // The payer lists the credit, the hold and the confirm (through the hold's account).
      assert.equal((await listedPostings(h(), payer)).length, 3);
      assert.equal(await accountWallet(h(), holdAddress(hold)), payer);
      // A later credit finds the row there: still the payee's, and both movements listed.
      await credit(h(), payee, 5n, balance !== undefined ? { balance } : {});
      const listed = await listedPostings(h(), payee);
      assert.equal(listed.length, 2);
      assert.deepEqual(listed[1], confirm);
    });
  }

  it('migration 4: rows written without their wallet, or with the wrong one, are set from their address', async () => {
    const payer = await createWallet(h());
    const payee = await createWallet(h());
    await credit(h(), payer, 100n);
    const hold = await confirmToFreshBalance(h(), payer, payee, undefined);
    await h().db.query(`INSERT INTO accounts (ledger, address, wallet_id) VALUES ('test-ledger', 'platform:fees', $1)`, [payer]);
    // A wallet id is everything between 'wallets:' and the last ':' (balance names have none).
    await h().db.query(`INSERT INTO accounts (ledger, address) VALUES ('test-ledger', 'wallets:odd:id:main')`);
    const broken: [string, string | null][] = [
      [balanceAddress(payee, 'main'), null], // what a confirm wrote before the fix
      [balanceAddress(payer, 'main'), payee],
      [holdAddress(hold), 'holds'],
    ];
    for (const [address, wallet] of broken) await h().db.query('UPDATE accounts SET wallet_id = $2 WHERE address = $1', [address, wallet]);
    // The payee's list now shows the payer's credit and hold, not its own confirm.
    assert.deepEqual((await listedPostings(h(), payee)).map((postings) => (postings[0] as { source: string }).source), [
      balanceAddress(payer, 'main'),
      'world',
    ]);

    await h().db.query('DELETE FROM coffer_migrations WHERE version = 4');
    assert.deepEqual(await migrate(h().db), [4]);

    assert.equal(await accountWallet(h(), balanceAddress(payee, 'main')), payee);
    assert.equal(await accountWallet(h(), balanceAddress(payer, 'main')), payer);
    assert.equal(await accountWallet(h(), holdAddress(hold)), payer);
    assert.equal(await accountWallet(h(), 'platform:fees'), null);
    assert.equal(await accountWallet(h(), 'wallets:odd:id:main'), 'odd:id');
    assert.equal((await listedPostings(h(), payee)).length, 1);
    assert.equal((await listedPostings(h(), payer)).length, 3);
    await h().db.query(`DELETE FROM accounts WHERE address IN ('platform:fees', 'wallets:odd:id:main')`);
  });

  it('a wallet\'s transactions, paged forward and back at every small page size, are exactly the ledger\'s that touch its accounts, newest first', async () => {
    const [own, other] = [await createWallet(h()), await createWallet(h())];
    await createBalance(h(), own, { name: 'tips' });
    await credit(h(), other, 1_000n);
    const holds: string[] = [];
    for (let i = 0; i < 6; i++) {
      await credit(h(), own, 10n, i % 2 === 0 ? {} : { balance: 'tips' });
      // Something of the other wallet's between the own wallet's transactions.
      await credit(h(), other, 1n);
      const hold = expectStatus(await h().post(`/wallets/${own}/debit`, { amount: { asset: 'USD/2', amount: 3n }, pending: true }), 201).body.data.id as string;
      holds.push(hold);
      // Confirmed in two parts (only the hold's account moves), voided, or left open.
      if (i % 3 === 0) {
        expectStatus(await h().post(`/holds/${hold}/confirm`, { amount: 1n, final: false }), 204);
        expectStatus(await h().post(`/holds/${hold}/confirm`, {}), 204);
      } else if (i % 3 === 1) expectStatus(await h().post(`/holds/${hold}/void`, {}), 204);
      // The other wallet pays the own one through a hold of its own.
      const incoming = expectStatus(
        await h().post(`/wallets/${other}/debit`, { amount: { asset: 'USD/2', amount: 2n }, pending: true, destination: { type: 'WALLET', identifier: own } }),
        201,
      ).body.data.id as string;
      expectStatus(await h().post(`/holds/${incoming}/confirm`, {}), 204);
    }
    const ownAddresses = new Set(holds.map(holdAddress));
    const touches = (t: { postings: { source: string; destination: string }[] }) =>
      t.postings.some((p) => [p.source, p.destination].some((address) => address.startsWith(`wallets:${own}:`) || ownAddresses.has(address)));
    const all: { id: bigint; postings: { source: string; destination: string }[] }[] = expectStatus(await h().get('/transactions?pageSize=100'), 200).body.cursor.data;
    const expected = all.filter(touches).map((t) => t.id);
    // Per round: a credit, a hold, its confirms or void (2, 1 or none), the incoming confirm.
    assert.equal(expected.length, 6 * 3 + 2 * (2 + 1 + 0));

    for (const pageSize of [1, 2, 3, 5, 7]) {
      const forward: bigint[] = [];
      let cursor = expectStatus(await h().get(`/transactions?walletID=${own}&pageSize=${pageSize}`), 200).body.cursor;
      for (;;) {
        forward.push(...cursor.data.map((t: { id: bigint }) => t.id));
        if (!cursor.hasMore) break;
        cursor = expectStatus(await h().get(`/transactions?cursor=${encodeURIComponent(cursor.next)}`), 200).body.cursor;
      }
      assert.deepEqual(forward, expected, `forward, ${pageSize} per page`);
      const backward: bigint[] = [];
      for (;;) {
        backward.unshift(...cursor.data.map((t: { id: bigint }) => t.id));
        if (cursor.previous === undefined) break;
        cursor = expectStatus(await h().get(`/transactions?cursor=${encodeURIComponent(cursor.previous)}`), 200).body.cursor;
      }
      assert.deepEqual(backward, expected, `back from the last page, ${pageSize} per page`);
    }
  });
});
