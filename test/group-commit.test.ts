import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { balanceAddress } from '../src/domain/chart.ts';
import { backends, createWallet, postgresSkipped, credit, expectStatus, json, mainBalance, startHarness, suite } from './support/harness.ts';

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

const postgresBackend = backends().find((backend) => backend.name === 'postgres');
if (postgresBackend) {
  describe('group commit, two batches in flight [postgres]', () => {
    it('a batch with settlements locks all its rows in one sorted step: no lock cycle with a batch of debits', async () => {
      const h = await startHarness(postgresBackend);
      // A second app on the same database with two batches in flight, as `npm start` runs it.
      const failures: string[] = [];
      const app = buildApp({ db: h.db, ledger: 'test-ledger', limits: DEFAULT_LIMITS, batch: { concurrency: 2, onBatchFailed: (reason) => failures.push(reason) } });
      await app.ready();
      const post = async (url: string, body?: unknown) => {
        const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
        const response = await app.inject({ method: 'POST', url, payload: body === undefined ? undefined : json(body), headers });
        return response.statusCode;
      };
      const lockWaiters = async () =>
        Number((await h.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0]!.n);
      // Each stage must be reached: a test that times out into its assertions proves nothing.
      const until = async (stage: string, done: () => Promise<boolean>) => {
        for (let i = 0; i < 500; i++) {
          if (await done()) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        throw new Error(`precondition not reached within 5 s: ${stage}`);
      };
      let release = () => {};
      try {
        // Five wallets in address order: z (locked by an outside transaction), then a < b < c < d.
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const id = await createWallet(h);
          await credit(h, id, 100n);
          ids.push(id);
        }
        const [z, a, b, c, d] = ids.sort();
        const hold = async (from: string, to: string) =>
          expectStatus(await h.post(`/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true, destination: { type: 'WALLET', identifier: to } }), 201)
            .body.data.id as string;
        const [paysZ, paysA, paysB, paysC, paysD] = [await hold(z!, a!), await hold(z!, a!), await hold(b!, c!), await hold(z!, c!), await hold(d!, a!)];
        const debit = (wallet: string) => post(`/wallets/${wallet}/debit`, { amount: { asset: 'USD/2', amount: 1n }, pending: true });

        // An outside transaction holds z's balance row, so wave A stops at its first settlement row.
        let locked = () => {};
        const holdsZ = new Promise<void>((resolve) => (locked = resolve));
        const outside = h.db.transaction(async (tx) => {
          await tx.query('SELECT 1 FROM volumes WHERE ledger = $1 AND address = $2 FOR UPDATE', ['test-ledger', balanceAddress(z!, 'main')]);
          locked();
          await new Promise<void>((resolve) => (release = resolve));
        });
        // Wave A starts only once the outside transaction holds z (a loaded machine may take a while to get it there).
        await Promise.race([holdsZ, outside]);
        assert.equal(await lockWaiters(), 0, 'nothing waits yet');
        // Wave A: debits on c and d; settlements paying z, a and b.
        const waveA = [debit(c!), debit(d!), post(`/holds/${paysZ}/void`), post(`/holds/${paysA}/confirm`), post(`/holds/${paysB}/void`)];
        await until('wave A waits for z', async () => (await lockWaiters()) >= 1);
        // Wave B: debits on a and b; settlements paying c and d. Had wave A locked c and d before
        // planning and z, a, b after, it would now wait for a while B waits for c: a cycle.
        const waveB = Promise.all([debit(a!), debit(b!), post(`/holds/${paysC}/confirm`), post(`/holds/${paysD}/void`)]);
        await until('wave B waits too, for a row wave A holds', async () => (await lockWaiters()) >= 2);
        release();
        await outside;
        assert.deepEqual(await Promise.all(waveA), [201, 201, 204, 204, 204]);
        assert.deepEqual(await waveB, [201, 201, 204, 204]);
        assert.deepEqual(failures, [], 'no batch failed (a lock cycle shows as "deadlock")');
        let total = 0n;
        for (const id of ids) total += (await mainBalance(h, id)) ?? 0n;
        assert.equal(total, 500n - 4n, 'the five holds made first were settled between the wallets; the four new ones are held');
        await h.checkInvariants();
      } finally {
        release();
        await app.close();
        await h.close();
      }
    });
  });
} else {
  postgresSkipped('group commit, two batches in flight [postgres]');
}
