/**
 * The console's pure parts, without a browser: major/minor units (exact at any size, no
 * float anywhere), what each action says it will move, and the Idempotency-Key rule of a form
 * (one key per intended request). The browser test (console.test.ts) shows the same on screen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ACTIONS } from '../console/src/actions.ts';
import { editDraft, openDraft } from '../console/src/drafts.ts';
import { formatMajor, parseMajor, precisionOf } from '../console/src/money.ts';
import { parseRoute, formatRoute } from '../console/src/route.ts';

const AMOUNT_MAX = 2n ** 128n - 1n;

describe('console units', () => {
  it('formatMajor: minor units in major units from the asset precision', () => {
    assert.equal(formatMajor(10000n, 'USD/2'), '100.00');
    assert.equal(formatMajor(5n, 'USD/2'), '0.05');
    assert.equal(formatMajor(-5n, 'USD/2'), '-0.05');
    assert.equal(formatMajor(0n, 'USD/2'), '0.00');
    assert.equal(formatMajor(1500n, 'JPY'), '1500');
    assert.equal(formatMajor(5n, 'BTC/8'), '0.00000005');
    assert.equal(formatMajor(AMOUNT_MAX, 'USD/2'), '3402823669209384634633746074317682114.55');
    assert.equal(formatMajor(1n, 'X/6'), '0.000001');
  });

  it('parseMajor: typed major units to exact minor units; refuses lost decimals, signs, exponents and zero', () => {
    assert.deepEqual(parseMajor('100', 'USD/2'), { ok: true, minor: 10000n });
    assert.deepEqual(parseMajor('100.5', 'USD/2'), { ok: true, minor: 10050n });
    assert.deepEqual(parseMajor(' 0.07 ', 'USD/2'), { ok: true, minor: 7n });
    assert.deepEqual(parseMajor('12.', 'USD/2'), { ok: true, minor: 1200n });
    assert.deepEqual(parseMajor('3402823669209384634633746074317682114.55', 'USD/2'), { ok: true, minor: AMOUNT_MAX });
    assert.deepEqual(parseMajor('0.1', 'USD/2'), { ok: true, minor: 10n }, '0.1 is exact here, unlike a float');
    assert.deepEqual(parseMajor('0', 'USD/2', true), { ok: true, minor: 0n });
    for (const [text, asset] of [
      ['1.005', 'USD/2'],
      ['1.5', 'JPY'],
      ['-1', 'USD/2'],
      ['+1', 'USD/2'],
      ['1e3', 'USD/2'],
      ['1,50', 'USD/2'],
      ['.5', 'USD/2'],
      ['', 'USD/2'],
      ['0.00', 'USD/2'],
      ['Infinity', 'USD/2'],
      ['1', 'usd/2'],
    ] as const) {
      assert.equal(parseMajor(text, asset).ok, false, `${text} of ${asset}`);
    }
  });

  it('property: parseMajor(formatMajor(x)) = x for every amount and precision', () => {
    fc.assert(
      fc.property(fc.bigInt(1n, AMOUNT_MAX), fc.integer({ min: 0, max: 6 }), (minor, precision) => {
        const asset = precision === 0 ? 'TOKEN' : `TOKEN/${precision}`;
        assert.equal(precisionOf(asset), precision);
        assert.deepEqual(parseMajor(formatMajor(minor, asset), asset), { ok: true, minor });
      }),
    );
  });

  it('a review says what moves in major and minor units, and the call carries the form key', async () => {
    const checked = ACTIONS.credit.plan({ asset: 'USD/2', amount: '12.34', balance: 'main' }, { walletId: 'w1', walletName: 'alice' });
    assert.ok(checked.ok);
    assert.match(checked.plan.lines.join(' '), /Credit 12\.34 USD \(1234 minor units of USD\/2\) to wallet "alice" \(w1\), balance main, from world/);
    const calls: unknown[] = [];
    const coffer = { credit: async (...args: unknown[]) => void calls.push(args) } as unknown as Parameters<typeof checked.plan.run>[0];
    await checked.plan.run(coffer, 'key-1');
    assert.deepEqual(calls, [['w1', { amount: { asset: 'USD/2', amount: 1234n }, balance: 'main' }, { idempotencyKey: 'key-1' }]]);
    const hold = { id: 'h1', walletID: 'w1', destination: { type: 'ACCOUNT', identifier: 'shop' }, asset: 'USD/2', metadata: {}, description: '', originalAmount: 3000n, remaining: 2000n, expiresAt: null, status: 'open' } as const;
    const partial = ACTIONS.confirm.plan({ amount: '5' }, { walletId: 'w1', hold });
    assert.ok(partial.ok);
    assert.match(partial.plan.lines.join(' '), /Send 5\.00 USD \(500 minor units of USD\/2\) of hold h1 to account shop\. The hold keeps 15\.00 USD/);
    const whole = ACTIONS.confirm.plan({ amount: '', final: 'true' }, { walletId: 'w1', hold });
    assert.ok(whole.ok);
    assert.match(whole.plan.lines.join(' '), /Send 20\.00 USD .* Final: the rest, 0\.00 USD/);
    const tooMuch = ACTIONS.confirm.plan({ amount: '20.01' }, { walletId: 'w1', hold });
    assert.ok(!tooMuch.ok);
    assert.match(tooMuch.problems.amount ?? '', /more than the hold has left \(20\.00 USD/);
    const refused = ACTIONS.pendingDebit.plan({ asset: 'USD/2', amount: '1.001', balances: 'main, bad name' }, { walletId: 'w1' });
    assert.ok(!refused.ok);
    assert.deepEqual(Object.keys(refused.problems).sort(), ['amount', 'balances']);
  });

  it('a form keeps its key while its request is unsent, and takes a new one when edited after sending', () => {
    const opened = openDraft('credit', { walletId: 'w1' }, { asset: 'USD/2' });
    const edited = editDraft(opened, { asset: 'USD/2', amount: '1' });
    assert.equal(edited.key, opened.key, 'editing before sending: same request, same key');
    const sent = { ...edited, sent: true };
    const changed = editDraft(sent, { asset: 'USD/2', amount: '2' });
    assert.notEqual(changed.key, sent.key, 'a different request after sending: a new key (the old one would be a CONFLICT)');
    assert.equal(changed.sent, false);
    assert.notEqual(openDraft('credit', {}, {}).key, openDraft('credit', {}, {}).key, 'each form opens with its own key');
  });

  it('routes: a wallet id and a search survive the URL fragment both ways', () => {
    const wallet = { page: 'wallet', id: 'a b/c?d#e' } as const;
    assert.deepEqual(parseRoute(formatRoute(wallet)), wallet);
    const search = { page: 'wallets', name: 'alice & bob', metadataKey: 'tier', metadataValue: 'gold=1', cursor: 'abc' } as const;
    assert.deepEqual(parseRoute(formatRoute(search)), search);
    assert.deepEqual(parseRoute(''), { page: 'wallets', name: '', metadataKey: '', metadataValue: '', cursor: '' });
  });
});
