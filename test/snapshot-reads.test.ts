/**
 * Reads that are one view: an answer assembled from several queries (the summary, a balance
 * with its amounts, wallets with `expand=balances`, a wallet's balances) must never see a
 * commit land between two of them. Pending debits move money from `main` to a hold account
 * in one transaction, so at every commit `available + held` is the credited total; a summary
 * read across two commits would count the moved money twice, or not at all.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createWallet, credit, expectStatus, suite } from './support/harness.ts';

const FUNDS = 100_000n;
const DEBITORS = 8;
const DEBITS_EACH = 40;
const READERS = 8;
const SUMMARIES_MIN = 400;

suite('one-view reads', (h) => {
  it('summaries racing pending debits always satisfy available + held = funds', async () => {
    const wallet = await createWallet(h());
    await credit(h(), wallet, FUNDS);
    // Debits keep committing, one small batch after another, while readers keep reading.
    let debiting = true;
    let summaries = 0;
    const torn: string[] = [];
    const debitors = Array.from({ length: DEBITORS }, async (_, worker) => {
      for (let i = 0; i < DEBITS_EACH; i++) {
        const amount = BigInt(1 + ((worker + i) % 7));
        expectStatus(await h().post(`/wallets/${wallet}/debit`, { amount: { asset: 'USD/2', amount }, pending: true }), 201);
      }
    });
    const readers = Array.from({ length: READERS }, async () => {
      while (debiting || summaries < SUMMARIES_MIN) {
        // A turn of the event loop, as a request arriving from the network would take: the
        // committer gathers its batches on the next turn, and in-process reads must not starve it.
        await new Promise((resolve) => setImmediate(resolve));
        const summary = expectStatus(await h().get(`/wallets/${wallet}/summary`), 200).body.data;
        summaries++;
        const available = (summary.availableFunds['USD/2'] as bigint | undefined) ?? 0n;
        const held = (summary.holdFunds['USD/2'] as bigint | undefined) ?? 0n;
        if (available + held !== FUNDS) torn.push(`available ${available} + held ${held}`);
      }
    });
    try {
      await Promise.all(debitors);
    } finally {
      debiting = false;
    }
    await Promise.all(readers);
    assert.deepEqual(torn, [], `${torn.length} of ${summaries} summaries were not one view`);
    // The race was real: the debits moved money while the summaries ran.
    const final = expectStatus(await h().get(`/wallets/${wallet}/summary`), 200).body.data;
    assert.ok((final.holdFunds['USD/2'] as bigint) > 0n);
  });

});
