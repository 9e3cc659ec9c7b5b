/**
 * Concurrency: many clients move money among a few wallets at once — transfers to other
 * wallets (main, a named balance, "*" and explicit source lists), credits drawn from other
 * wallets, pending debits, and confirms and voids racing on the same holds, keyed
 * duplicates sent twice at once, transfers sharing one reference, and first-time credits
 * in a new asset racing to create the same rows. Nothing may answer 5xx (a deadlock or a
 * lost race would; transfers sharing a reference were a 500 on PostgreSQL), every hold is
 * settled at most once and pays out exactly what its successful settlements say, money is
 * conserved and no balance goes negative.
 *
 * The clients' choices come from a seeded generator: CONCURRENCY_SEED replays a run's
 * choices (not its interleaving), CONCURRENCY_OPS sets the operations per client (soak).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { findViolations } from '../src/storage/invariants.ts';
import { createBalance, createWallet, credit, expectStatus, isoIn, suite, type Harness, type Response } from './support/harness.ts';

const CLIENTS = 16;
const OPS = Number(process.env.CONCURRENCY_OPS ?? 40);
const SEED = process.env.CONCURRENCY_SEED !== undefined ? Number(process.env.CONCURRENCY_SEED) : Date.now() % 1_000_000;
const WALLETS = 4;
const MAIN_FUNDS = 5_000n;
const SIDE_FUNDS = 1_000n;

/** mulberry32: a tiny seeded generator, so a run's choices can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Settlement {
  /** Settlements that executed (replays of a keyed one not counted). */
  executed: number;
  /** Executed settlements that close the hold: void, confirm of everything, final confirm. */
  closing: number;
}

class Burst {
  readonly answers: { what: string; status: number; text: string }[] = [];
  readonly holds: string[] = [];
  readonly settlements = new Map<string, Settlement>();
  eurCredited = 0n;
  private keys = 0;

  constructor(
    readonly h: Harness,
    readonly wallets: readonly string[],
  ) {}

  key(): string {
    return `burst-${this.keys++}`;
  }

  record(what: string, response: Response): Response {
    this.answers.push({ what, status: response.status, text: response.text });
    return response;
  }

  settled(holdId: string, response: Response, closing: boolean): void {
    if (response.status !== 204 || response.headers['idempotent-replayed'] === 'true') return;
    const entry = this.settlements.get(holdId) ?? { executed: 0, closing: 0 };
    entry.executed++;
    if (closing) entry.closing++;
    this.settlements.set(holdId, entry);
  }
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const amountUpTo = (random: Random, max: number) => BigInt(1 + Math.floor(random() * max));

function debitBody(random: Random, burst: Burst, from: string, pending: boolean) {
  const to = pick(random, burst.wallets.filter((id) => id !== from));
  const destination = random() < 0.7 ? { type: 'WALLET', identifier: to } : { type: 'WALLET', identifier: to, balance: 'side' };
  const balances = pick(random, [undefined, ['*'], ['side', 'main'], ['promo', 'main']]);
  return {
    amount: { asset: random() < 0.85 ? 'USD/2' : 'EUR', amount: amountUpTo(random, 150) },
    ...(pending ? { pending: true } : {}),
    ...(balances ? { balances } : {}),
    destination,
  };
}

async function transfer(random: Random, burst: Burst): Promise<void> {
  const from = pick(random, burst.wallets);
  burst.record('transfer', await burst.h.post(`/wallets/${from}/debit`, debitBody(random, burst, from, false)));
}

async function hold(random: Random, burst: Burst, headers?: Record<string, string>): Promise<Response> {
  const from = pick(random, burst.wallets);
  const response = burst.record('pending debit', await burst.h.post(`/wallets/${from}/debit`, debitBody(random, burst, from, true), headers));
  if (response.status === 201 && !burst.holds.includes(response.body.data.id)) burst.holds.push(response.body.data.id);
  return response;
}

async function confirm(random: Random, burst: Burst, holdId: string, headers?: Record<string, string>): Promise<Response> {
  const shape = random();
  const body = shape < 0.3 ? undefined : shape < 0.6 ? { amount: amountUpTo(random, 60) } : { amount: amountUpTo(random, 60), final: true };
  const response = burst.record('confirm', await burst.h.post(`/holds/${holdId}/confirm`, body, headers));
  burst.settled(holdId, response, body === undefined || body.final === true);
  return response;
}

async function voidHold(burst: Burst, holdId: string, headers?: Record<string, string>): Promise<void> {
  const response = burst.record('void', await burst.h.post(`/holds/${holdId}/void`, undefined, headers));
  burst.settled(holdId, response, true);
}

async function creditFromWallet(random: Random, burst: Burst): Promise<void> {
  const to = pick(random, burst.wallets);
  const payers = burst.wallets.filter((id) => id !== to);
  const sources = [pick(random, payers), pick(random, payers)].map((identifier, i) =>
    i === 0 ? { type: 'WALLET', identifier } : { type: 'WALLET', identifier, balance: 'side' },
  );
  const body = { amount: { asset: 'USD/2', amount: amountUpTo(random, 200) }, sources, ...(random() < 0.3 ? { balance: 'side' } : {}) };
  burst.record('credit from wallets', await burst.h.post(`/wallets/${to}/credit`, body));
}

async function eurFromWorld(random: Random, burst: Burst): Promise<void> {
  const amount = amountUpTo(random, 300);
  const response = burst.record('EUR from world', await burst.h.post(`/wallets/${pick(random, burst.wallets)}/credit`, { amount: { asset: 'EUR', amount }, balance: pick(random, ['main', 'side']) }));
  if (response.status === 204) burst.eurCredited += amount;
}

/** A fresh hold, then confirm, void and final confirm fired at it at once. */
async function race(random: Random, burst: Burst): Promise<void> {
  const created = await hold(random, burst);
  if (created.status !== 201) return;
  const id = created.body.data.id as string;
  await Promise.all([confirm(random, burst, id), voidHold(burst, id), confirm(random, burst, id)]);
}

/** The same keyed request twice at once: one effect, two identical answers. */
async function keyedTwice(random: Random, burst: Burst): Promise<void> {
  const headers = { 'idempotency-key': burst.key() };
  const target = burst.holds.length > 0 && random() < 0.5 ? pick(random, burst.holds) : null;
  const seed = Math.floor(random() * 1e9);
  // Both copies draw the same choices, so their bodies (and fingerprints) are equal.
  const send = (r: Random) => (target ? confirm(r, burst, target, headers) : hold(r, burst, headers));
  const [a, b] = await Promise.all([send(generator(seed)), send(generator(seed))]);
  assert.equal(a.status, b.status, `${a.text} / ${b.text}`);
  assert.equal(a.text, b.text);
  assert.equal([a, b].filter((answer) => answer.headers['idempotent-replayed'] === 'true').length, 1, 'one executed, one replayed');
}

/**
 * Three transfers between different wallets with one reference, at once: they share no
 * balance row, so only the reference's unique index orders them. At most one moves money;
 * the others are 409 CONFLICT (or INSUFFICIENT_FUND when their wallet is empty).
 */
async function sameReference(random: Random, burst: Burst): Promise<void> {
  const reference = `ref-${burst.key()}`;
  const [a, b, c, d] = [...burst.wallets].sort(() => random() - 0.5) as [string, string, string, string];
  const amount = { asset: 'USD/2', amount: 1n };
  const answers = await Promise.all([
    burst.h.post(`/wallets/${a}/debit`, { amount, balances: ['*'], destination: { type: 'WALLET', identifier: b }, reference }),
    burst.h.post(`/wallets/${c}/debit`, { amount, balances: ['*'], destination: { type: 'WALLET', identifier: d }, reference }),
    burst.h.post(`/wallets/${a}/credit`, { amount, sources: [{ type: 'WALLET', identifier: d }, { type: 'WALLET', identifier: d, balance: 'side' }], reference }),
  ]);
  for (const answer of answers) burst.record('same reference', answer);
  const shown = answers.map((answer) => `${answer.status} ${answer.text}`).join(' / ');
  assert.ok(answers.filter((answer) => answer.status === 204).length <= 1, shown);
  for (const answer of answers) {
    if (answer.status !== 204) assert.ok(['CONFLICT', 'INSUFFICIENT_FUND'].includes(answer.body?.errorCode), shown);
  }
}

async function client(burst: Burst, random: Random): Promise<void> {
  for (let i = 0; i < OPS; i++) {
    const roll = random();
    const openHold = burst.holds.length > 0 ? pick(random, burst.holds) : null;
    if (roll < 0.25) await transfer(random, burst);
    else if (roll < 0.42) await hold(random, burst);
    else if (roll < 0.52) await creditFromWallet(random, burst);
    else if (roll < 0.64 && openHold) await confirm(random, burst, openHold);
    else if (roll < 0.72 && openHold) await voidHold(burst, openHold);
    else if (roll < 0.78) await eurFromWorld(random, burst);
    else if (roll < 0.88) await race(random, burst);
    else if (roll < 0.95) await keyedTwice(random, burst);
    else await sameReference(random, burst);
  }
}

async function totals(h: Harness, wallets: readonly string[]): Promise<Record<string, bigint>> {
  const sum: Record<string, bigint> = {};
  for (const id of wallets) {
    const summary = expectStatus(await h.get(`/wallets/${id}/summary`), 200).body.data;
    for (const funds of [summary.availableFunds, summary.expiredFunds, summary.holdFunds] as Record<string, bigint>[]) {
      for (const [asset, amount] of Object.entries(funds)) sum[asset] = (sum[asset] ?? 0n) + amount;
    }
    for (const balance of summary.balances as { name: string; assets: Record<string, bigint> }[]) {
      for (const [asset, amount] of Object.entries(balance.assets)) assert.ok(amount >= 0n, `${id} ${balance.name} ${asset} is ${amount}`);
    }
  }
  return sum;
}

suite('concurrency', (h) => {
  it(`${CLIENTS} clients × ${OPS} operations on ${WALLETS} wallets at once → no 5xx, holds settled at most once, money conserved`, { timeout: Math.max(300_000, OPS * 5_000) }, async (t) => {
    t.diagnostic(`CONCURRENCY_SEED=${SEED}`);
    const wallets: string[] = [];
    for (let i = 0; i < WALLETS; i++) {
      const id = await createWallet(h(), { name: `busy-${i}` });
      await createBalance(h(), id, { name: 'side', priority: 1n });
      await createBalance(h(), id, { name: 'promo', expiresAt: isoIn(h(), 86_400) });
      await credit(h(), id, MAIN_FUNDS);
      await credit(h(), id, SIDE_FUNDS, { balance: 'side' });
      wallets.push(id);
    }
    const burst = new Burst(h(), wallets);
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(burst, generator(SEED * 1000 + c))));

    const allowed = new Set(['201', '204', '400 INSUFFICIENT_FUND', '400 HOLD_CLOSED', '409 CONFLICT']);
    const outcomes = new Map<string, number>();
    for (const answer of burst.answers) {
      const outcome = answer.status >= 400 ? `${answer.status} ${JSON.parse(answer.text).errorCode}` : String(answer.status);
      assert.ok(allowed.has(outcome), `${answer.what} → ${answer.status} ${answer.text}`);
      if (outcome === '409 CONFLICT') assert.equal(answer.what, 'same reference', answer.text);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    t.diagnostic(`answers: ${[...outcomes].map(([outcome, count]) => `${outcome} × ${count}`).join(', ')}; holds ${burst.holds.length}`);
    assert.ok((outcomes.get('204') ?? 0) > CLIENTS * OPS * 0.3, 'most operations moved money');
    assert.ok(burst.holds.length > CLIENTS, 'holds were created');

    const paid = await h().db.query<{ address: string; transactions: bigint; amount: string }>(
      `SELECT source AS address, count(DISTINCT transaction_id)::int8 AS transactions, sum(amount)::text AS amount
       FROM postings WHERE ledger = 'test-ledger' AND source LIKE 'wallets:holds:%' GROUP BY source`,
    );
    const paidByHold = new Map(paid.map((row) => [row.address.slice('wallets:holds:'.length), row]));
    let closed = 0;
    for (const id of burst.holds) {
      const { originalAmount, remaining } = expectStatus(await h().get(`/holds/${id}`), 200).body.data;
      const settlement = burst.settlements.get(id) ?? { executed: 0, closing: 0 };
      const ledger = paidByHold.get(id);
      assert.ok(settlement.closing <= 1, `hold ${id} was closed ${settlement.closing} times`);
      assert.equal(ledger?.transactions ?? 0n, BigInt(settlement.executed), `hold ${id}: one transaction per successful settlement`);
      assert.equal(BigInt(ledger?.amount ?? 0), originalAmount - remaining, `hold ${id} paid out exactly what left it`);
      if (settlement.closing === 1) assert.equal(remaining, 0n, `hold ${id} is closed`);
      if (remaining === 0n) closed++;
    }
    assert.ok(closed > 0, 'some holds were settled');

    const money = await totals(h(), wallets);
    assert.equal(money['USD/2'], BigInt(WALLETS) * (MAIN_FUNDS + SIDE_FUNDS), 'USD/2 only moved between the wallets');
    assert.equal(money.EUR ?? 0n, burst.eurCredited, 'EUR in the wallets is what came in from world');
    assert.deepEqual(await findViolations(h().db), []);
  });
});
