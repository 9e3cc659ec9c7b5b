/**
 * Wallet status: `PATCH /wallets/{id}` `{status}`. Frozen: money may come in (credits, voids,
 * expiry), never leave (debits, pending debits, confirms, credits taking from it:
 * WALLET_FROZEN). Closed: read only (WALLET_CLOSED), never reopened, and only when every
 * balance and hold of the wallet is at zero. Each change is on the wallet view and in the
 * status history, and a freeze or close racing money movement never lets money through.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createBalance, createWallet, credit, expectError, expectStatus, isoIn, mainBalance, suite, type Harness } from './support/harness.ts';

async function setStatus(h: Harness, walletId: string, status: string) {
  return h.patch(`/wallets/${walletId}`, { status });
}

async function walletOf(h: Harness, walletId: string) {
  return expectStatus(await h.get(`/wallets/${walletId}`), 200).body.data;
}

const usd = (amount: bigint) => ({ asset: 'USD/2', amount });

suite('wallet status', (h) => {
  it('a new wallet is active with no change recorded; freeze → status frozen with when it changed, in the history', async () => {
    const w = await createWallet(h());
    const fresh = await walletOf(h(), w);
    assert.deepEqual([fresh.status, fresh.statusChangedAt, fresh.statusChangedBy], ['active', null, null]);
    expectStatus(await setStatus(h(), w, 'frozen'), 204);
    const frozen = await walletOf(h(), w);
    assert.equal(frozen.status, 'frozen');
    assert.equal(typeof frozen.statusChangedAt, 'string');
    assert.equal(frozen.statusChangedBy, null, 'no principal while auth is off');
    expectStatus(await setStatus(h(), w, 'frozen'), 204);
    assert.equal((await walletOf(h(), w)).statusChangedAt, frozen.statusChangedAt, 'the same status again is no change');
    expectStatus(await setStatus(h(), w, 'active'), 204);
    const history = await h().db.query<{ previous_status: string; status: string }>(
      'SELECT previous_status, status FROM wallet_status_changes WHERE wallet_id = $1 ORDER BY seq',
      [w],
    );
    assert.deepEqual(history.map((row) => [row.previous_status, row.status]), [['active', 'frozen'], ['frozen', 'active']]);
    expectError(await setStatus(h(), w, 'asleep'), 400, 'VALIDATION', /status/);
    expectError(await h().patch(`/wallets/${w}`, {}), 400, 'VALIDATION');
    expectError(await setStatus(h(), '00000000-0000-4000-8000-000000000000', 'frozen'), 404, 'NOT_FOUND');
  });

  it('frozen: debits, pending debits, confirms and credits taking from it → WALLET_FROZEN; credits, voids and expiry still work', async () => {
    const w = await createWallet(h());
    const other = await createWallet(h());
    await credit(h(), w, 100n);
    const open = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(10n), pending: true }), 201).body.data;
    const lapsing = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(10n), pending: true, expiresAt: isoIn(h(), 60) }), 201).body.data;
    const toConfirm = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(10n), pending: true }), 201).body.data;
    expectStatus(await setStatus(h(), w, 'frozen'), 204);
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(1n) }), 400, 'WALLET_FROZEN');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(1n), pending: true }), 400, 'WALLET_FROZEN');
    expectError(await h().post(`/holds/${toConfirm.id}/confirm`, {}), 400, 'WALLET_FROZEN');
    expectError(await h().post(`/wallets/${other}/credit`, { amount: usd(1n), sources: [{ type: 'WALLET', identifier: w }] }), 400, 'WALLET_FROZEN');
    await credit(h(), w, 5n);
    expectStatus(await h().post(`/wallets/${other}/debit`, { amount: usd(0n), destination: { type: 'WALLET', identifier: w } }), 204);
    expectStatus(await h().post(`/holds/${open.id}/void`), 204);
    h().clock.advance(61);
    assert.equal(await h().app.holdSweeper.sweep(), 1);
    assert.equal((await h().get(`/holds/${lapsing.id}`)).body.data.status, 'expired');
    expectStatus(await h().patch(`/wallets/${w}`, { metadata: { case: 'fraud-1' } }), 204);
    await createBalance(h(), w, { name: 'frozen-gift' });
    assert.equal(await mainBalance(h(), w), 100n - 30n + 5n + 20n);
    expectStatus(await setStatus(h(), w, 'active'), 204);
    expectStatus(await h().post(`/holds/${toConfirm.id}/confirm`, {}), 204);
  });

  it('closing: refused while a balance or a hold is not at zero (also a negative one); a closed wallet only answers reads, and cannot be reopened', async () => {
    const w = await createWallet(h());
    const other = await createWallet(h());
    await createBalance(h(), w, { name: 'gift' });
    await credit(h(), w, 30n, { balance: 'gift' });
    expectError(await setStatus(h(), w, 'closed'), 400, 'VALIDATION', /gift/);
    const pending = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(30n), pending: true, balances: ['gift'] }), 201).body.data;
    expectError(await setStatus(h(), w, 'closed'), 400, 'VALIDATION', /holds/);
    expectStatus(await h().post(`/holds/${pending.id}/confirm`, {}), 204);
    expectStatus(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 10n } }), 204);
    expectStatus(await h().post(`/wallets/${w}/debit`, { amount: usd(10n) }), 204);
    expectError(await setStatus(h(), w, 'closed'), 400, 'VALIDATION', /-10 USD\/2/);
    await credit(h(), w, 10n);
    expectStatus(await setStatus(h(), w, 'closed'), 204);
    const closed = await walletOf(h(), w);
    assert.equal(closed.status, 'closed');
    expectError(await h().post(`/wallets/${w}/credit`, { amount: usd(1n) }), 400, 'WALLET_CLOSED');
    expectError(await h().post(`/wallets/${w}/debit`, { amount: usd(0n) }), 400, 'WALLET_CLOSED');
    expectError(await h().post(`/wallets/${other}/debit`, { amount: usd(0n), destination: { type: 'WALLET', identifier: w } }), 400, 'WALLET_CLOSED');
    expectError(await h().post(`/wallets/${other}/credit`, { amount: usd(0n), sources: [{ type: 'WALLET', identifier: w }] }), 400, 'WALLET_CLOSED');
    expectError(await h().post(`/wallets/${w}/balances`, { name: 'late' }), 400, 'WALLET_CLOSED');
    expectError(await h().patch(`/wallets/${w}/balances/main`, { overdraft: { 'USD/2': 0n } }), 400, 'WALLET_CLOSED');
    expectError(await h().patch(`/wallets/${w}`, { metadata: { a: 'b' } }), 400, 'WALLET_CLOSED');
    expectError(await setStatus(h(), w, 'active'), 400, 'WALLET_CLOSED');
    expectError(await setStatus(h(), w, 'frozen'), 400, 'WALLET_CLOSED');
    expectError(await setStatus(h(), w, 'closed'), 400, 'WALLET_CLOSED');
    expectStatus(await h().get(`/wallets/${w}/summary`), 200);
    expectStatus(await h().get(`/wallets/${w}/balances`), 200);
    expectStatus(await h().get(`/transactions?walletID=${w}`), 200);
    assert.equal((await walletOf(h(), w)).statusChangedAt, closed.statusChangedAt);
  });

  it('a hold whose destination wallet was closed cannot be confirmed (WALLET_CLOSED); it can still be voided', async () => {
    const payer = await createWallet(h());
    const payee = await createWallet(h());
    await credit(h(), payer, 50n);
    const pending = expectStatus(
      await h().post(`/wallets/${payer}/debit`, { amount: usd(20n), pending: true, destination: { type: 'WALLET', identifier: payee } }),
      201,
    ).body.data;
    expectStatus(await setStatus(h(), payee, 'closed'), 204);
    expectError(await h().post(`/holds/${pending.id}/confirm`, {}), 400, 'WALLET_CLOSED');
    expectStatus(await h().post(`/holds/${pending.id}/void`), 204);
    assert.equal(await mainBalance(h(), payer), 50n);
  });

  it('a keyed status change replays; the same key on another status is a 409', async () => {
    const w = await createWallet(h());
    const key = { 'idempotency-key': 'freeze-w' };
    expectStatus(await h().patch(`/wallets/${w}`, { status: 'frozen' }, key), 204);
    const again = await h().patch(`/wallets/${w}`, { status: 'frozen', metadata: {} }, key);
    assert.equal(again.status, 204);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    expectError(await h().patch(`/wallets/${w}`, { status: 'active' }, key), 409, 'CONFLICT');
  });

  it('closing while credits race it: a close that went through saw no credit (all of them after it are WALLET_CLOSED); one refused saw some', { timeout: 60_000 }, async (t) => {
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      const w = await createWallet(h());
      const sent = (count: number) => Array.from({ length: count }, () => h().post(`/wallets/${w}/credit`, { amount: usd(5n) }));
      const before = sent(round * 2);
      const close = setStatus(h(), w, 'closed');
      const after = sent(6);
      const credits = await Promise.all([...before, ...after]);
      const closing = await close;
      const landed = credits.filter((answer) => answer.status === 204).length;
      for (const answer of credits) if (answer.status !== 204) expectError(answer, 400, 'WALLET_CLOSED');
      if (closing.status === 204) {
        assert.equal(landed, 0, 'a close that went through was ordered before every credit that went through');
        assert.equal((await walletOf(h(), w)).status, 'closed');
        outcomes.push('closed');
      } else {
        expectError(closing, 400, 'VALIDATION', /cannot be closed/);
        assert.equal(landed, credits.length, 'the wallet stayed open: every credit went through');
        assert.equal(await mainBalance(h(), w), BigInt(landed) * 5n);
        outcomes.push(`open with ${landed} credits`);
      }
    }
    t.diagnostic(outcomes.join('; '));
  });
});
