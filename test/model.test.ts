/**
 * Model-based property test: fast-check generates random sequences of commands — create
 * wallets and balances (expiring or not, with priorities), credits from world, an outside
 * account or other wallets, debits immediate and pending on main, `"*"` or named lists to
 * any destination, confirms (partial, full, final), voids, references, clock moves, keyed
 * retries and key conflicts — and runs each against Coffer over HTTP and against the pure
 * model in support/wallet-model.ts. After every step, every wallet's summary, every hold and
 * the list of holds must equal the model's, and the ledger invariants must hold.
 *
 * Each run gets a ledger of its own (a new app on the suite's database), so runs do not see
 * each other. A failure prints its seed, its path and the shrunk counterexample, whose
 * comment holds a replayPath; replay exactly that counterexample with
 *   FC_SEED=<seed> FC_PATH=<path> FC_REPLAY_PATH=<replayPath> node --import tsx --test test/model.test.ts
 * Soak: FC_RUNS (runs per backend, default 25) and FC_COMMANDS (most commands per run, default 50).
 *
 * Time: expiries are set on odd half-hour units of the run's clock and the clock moves by
 * whole hours, so whether a balance has expired never depends on how long the test took
 * (as long as a run takes under 30 minutes of wall time).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { formatInstant, type Instant } from '../src/domain/time.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { expectStatus, startHarness, suite, type Harness, type Request, type Response } from './support/harness.ts';
import { MAIN, WalletModel, WORLD, type ModelBalance, type Refusal, type Subject } from './support/wallet-model.ts';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const COMMANDS = Number(process.env.FC_COMMANDS ?? 50);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const PATH = process.env.FC_PATH;
/** fc.commands' own replay token, printed in the counterexample as replayPath="…". */
const REPLAY_PATH = process.env.FC_REPLAY_PATH;

const AMOUNT_MAX = (1n << 128n) - 1n;
const ASSETS = ['USD/2', 'EUR'] as const;
/** Names the generator may use; `nope` is never created, so naming it is a client mistake. */
const BALANCE_NAMES = [MAIN, 'Gift', 'promo', 'x_1', 'nope'] as const;
const CREATABLE = ['Gift', 'promo', 'x_1'] as const;
const GHOST = '00000000-0000-4000-8000-00000000dead';
const HALF_HOUR_MICROS = 1_800_000_000n;

interface KeyedRequest {
  readonly key: string;
  readonly request: Request;
  readonly status: number;
  readonly text: string;
}

interface State {
  readonly money: WalletModel;
  readonly keyed: KeyedRequest[];
}

interface Real {
  readonly h: Harness;
  readonly ledger: string;
  /** The run's time origin, whole seconds: expiry unit u is origin + u half-hours. */
  readonly origin: Instant;
  keys: number;
}

function expiryText(r: Real, unit: number): string {
  return formatInstant(r.origin + BigInt(unit) * HALF_HOUR_MICROS);
}

async function send(s: State, r: Real, request: Request, keyed: boolean): Promise<Response> {
  if (!keyed) return r.h.call(request);
  const key = `step-${r.keys++}`;
  const withKey = { ...request, headers: { ...request.headers, 'idempotency-key': key } };
  const response = await r.h.call(withKey);
  s.keyed.push({ key, request: withKey, status: response.status, text: response.text });
  return response;
}

function expectRefusal(response: Response, refusal: Refusal, what: string): string {
  assert.equal(response.status, refusal.status, `${what}: expected ${refusal.status} ${refusal.errorCode}, got ${response.status} ${response.text}`);
  assert.equal(response.body?.errorCode, refusal.errorCode, `${what}: ${response.text}`);
  return refusal.errorCode;
}

/** Leaves zero amounts out: which zero rows exist depends on which rows a command locked. */
function nonZero(amounts: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(Object.entries(amounts).filter(([, amount]) => amount !== 0n));
}

async function expectSameState(s: State, r: Real): Promise<void> {
  for (const [index, wallet] of s.money.wallets.entries()) {
    const data = expectStatus(await r.h.get(`/wallets/${wallet.id}/summary`), 200).body.data;
    const actual = {
      balances: data.balances.map((b: { name: string; expiresAt: string | null; priority: bigint; assets: Record<string, bigint> }) => ({
        ...b,
        assets: nonZero(b.assets),
      })),
      availableFunds: nonZero(data.availableFunds),
      expiredFunds: nonZero(data.expiredFunds),
      expirableFunds: nonZero(data.expirableFunds),
      holdFunds: nonZero(data.holdFunds),
    };
    const model = s.money.summary(wallet.id);
    const expected = { ...model, balances: model.balances.map((b) => ({ ...b, expiresAt: b.expiresAt === null ? null : expiryText(r, b.expiresAt) })) };
    assert.deepEqual(actual, expected, `summary of wallet #${index} ${wallet.id} at clock unit ${s.money.now}`);
  }
  const listed = expectStatus(await r.h.get('/holds?pageSize=100'), 200).body.cursor.data.map((hold: { id: string }) => hold.id);
  assert.deepEqual(listed, s.money.holds.map((hold) => hold.id), 'holds, in creation order');
  for (const hold of s.money.holds) {
    const data = expectStatus(await r.h.get(`/holds/${hold.id}`), 200).body.data;
    assert.deepEqual(
      data,
      {
        id: hold.id,
        walletID: hold.walletId,
        destination: hold.destination,
        asset: hold.asset,
        metadata: {},
        description: '',
        originalAmount: hold.original,
        remaining: hold.remaining,
      },
      `hold ${hold.id}`,
    );
  }
  assert.deepEqual(await findViolations(r.h.db), [], 'ledger invariants');
}

/** How many steps of each kind ran, and how many of them Coffer refused: printed, to show the runs are not vacuous. */
const tally = new Map<string, number>();

/** Every step acts, then compares the whole observable state with the model. */
abstract class Step implements fc.AsyncCommand<State, Real> {
  abstract check(s: Readonly<State>): boolean;
  /** Sends the command and checks its answer against the model's decision; a refusal returns its code. */
  abstract act(s: State, r: Real): Promise<void | string>;
  abstract toString(): string;
  async run(s: State, r: Real): Promise<void> {
    const refused = await this.act(s, r);
    const outcome = `${this.constructor.name} ${typeof refused === 'string' ? refused : 'ok'}`;
    tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
    await expectSameState(s, r);
  }
}

type WalletRef = number | 'ghost';
type SubjectChoice = { kind: 'world' } | { kind: 'bank' } | { kind: 'wallet'; wallet: WalletRef; balance: number | null };

function walletId(s: State, ref: WalletRef): string {
  return ref === 'ghost' ? GHOST : s.money.wallets[ref % s.money.wallets.length]!.id;
}

function subject(s: State, choice: SubjectChoice): Subject {
  if (choice.kind === 'world') return { type: 'ACCOUNT', identifier: WORLD };
  if (choice.kind === 'bank') return { type: 'ACCOUNT', identifier: 'bank' };
  const identifier = walletId(s, choice.wallet);
  return choice.balance === null ? { type: 'WALLET', identifier } : { type: 'WALLET', identifier, balance: BALANCE_NAMES[choice.balance]! };
}

const show = (value: unknown) => JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? `${item}n` : item));

class CreateWallet extends Step {
  constructor(readonly keyed: boolean) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length < 4;
  }
  async act(s: State, r: Real) {
    const response = expectStatus(await send(s, r, { method: 'POST', url: '/wallets', body: { name: `w${s.money.wallets.length}` } }, this.keyed), 201);
    const data = response.body.data;
    assert.deepEqual({ ...data, id: undefined, createdAt: undefined }, {
      id: undefined,
      name: `w${s.money.wallets.length}`,
      metadata: {},
      createdAt: undefined,
      ledger: r.ledger,
      balances: { main: { expiresAt: null, priority: 0n, assets: {} } },
    });
    s.money.addWallet(data.id);
  }
  toString() {
    return `createWallet(${this.keyed ? 'keyed' : ''})`;
  }
}

class CreateBalance extends Step {
  constructor(
    readonly wallet: number,
    readonly name: (typeof CREATABLE)[number],
    /** Half-hour units from now (odd), or null for no expiry. */
    readonly expiresIn: number | null,
    readonly priority: bigint,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  async act(s: State, r: Real) {
    const id = walletId(s, this.wallet);
    const balance: ModelBalance = { name: this.name, expiresAt: this.expiresIn === null ? null : s.money.now + this.expiresIn, priority: this.priority };
    const expiresAt = balance.expiresAt === null ? null : expiryText(r, balance.expiresAt);
    const response = await send(s, r, { method: 'POST', url: `/wallets/${id}/balances`, body: { name: this.name, expiresAt, priority: this.priority } }, this.keyed);
    const decision = s.money.createBalance(id, balance);
    if (!decision.ok) return expectRefusal(response, decision, this.toString());
    assert.deepEqual(expectStatus(response, 201).body.data, { name: this.name, expiresAt, priority: this.priority });
  }
  toString() {
    return `createBalance(wallet ${this.wallet}, ${this.name}, expiresIn ${this.expiresIn}, priority ${this.priority}${this.keyed ? ', keyed' : ''})`;
  }
}

class Credit extends Step {
  constructor(
    readonly wallet: WalletRef,
    readonly asset: (typeof ASSETS)[number],
    readonly amount: bigint,
    readonly balance: number,
    readonly sources: SubjectChoice[],
    readonly reference: string | undefined,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  async act(s: State, r: Real) {
    const id = walletId(s, this.wallet);
    const sources = this.sources.map((choice) => subject(s, choice));
    const balance = BALANCE_NAMES[this.balance]!;
    const body = {
      amount: { asset: this.asset, amount: this.amount },
      ...(balance !== MAIN ? { balance } : {}),
      ...(sources.length > 0 ? { sources } : {}),
      ...(this.reference !== undefined ? { reference: this.reference } : {}),
    };
    const response = await send(s, r, { method: 'POST', url: `/wallets/${id}/credit`, body }, this.keyed);
    const decision = s.money.credit({ walletId: id, asset: this.asset, amount: this.amount, balance, sources, reference: this.reference });
    if (!decision.ok) return expectRefusal(response, decision, this.toString());
    expectStatus(response, 204);
  }
  toString() {
    return `credit(${show(this)})`;
  }
}

type BalancesChoice = 'none' | 'wildcard' | number[];

class Debit extends Step {
  constructor(
    readonly wallet: WalletRef,
    readonly asset: (typeof ASSETS)[number],
    readonly amount: bigint,
    readonly pending: boolean,
    readonly balances: BalancesChoice,
    readonly destination: SubjectChoice,
    readonly reference: string | undefined,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  async act(s: State, r: Real) {
    const id = walletId(s, this.wallet);
    const balances = this.balances === 'none' ? [] : this.balances === 'wildcard' ? ['*'] : this.balances.map((i) => BALANCE_NAMES[i]!);
    const destination = subject(s, this.destination);
    const body = {
      amount: { asset: this.asset, amount: this.amount },
      ...(this.pending ? { pending: true } : {}),
      ...(this.balances !== 'none' ? { balances } : {}),
      ...(this.destination.kind !== 'world' ? { destination } : {}),
      ...(this.reference !== undefined ? { reference: this.reference } : {}),
    };
    const response = await send(s, r, { method: 'POST', url: `/wallets/${id}/debit`, body }, this.keyed);
    const plan = s.money.planDebit({ walletId: id, asset: this.asset, amount: this.amount, pending: this.pending, balances, destination, reference: this.reference });
    if (!plan.ok) return expectRefusal(response, plan, this.toString());
    if (!this.pending) {
      expectStatus(response, 204);
      return s.money.applyDebit(plan.value, null);
    }
    const hold = expectStatus(response, 201).body.data;
    assert.deepEqual({ ...hold, id: undefined }, { id: undefined, walletID: id, destination, asset: this.asset, metadata: {}, description: '' });
    s.money.applyDebit(plan.value, hold.id);
  }
  toString() {
    return `debit(${show(this)})`;
  }
}

type HoldRef = number | 'ghost';

/** Counted from the newest hold, which is the one most likely to be still open. */
function holdId(s: State, ref: HoldRef): string {
  const { holds } = s.money;
  return ref === 'ghost' || holds.length === 0 ? GHOST : holds[holds.length - 1 - (ref % holds.length)]!.id;
}

class Confirm extends Step {
  constructor(
    readonly hold: HoldRef,
    readonly amount: bigint | undefined,
    readonly final: boolean | undefined,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.holds.length > 0 || this.hold === 'ghost';
  }
  async act(s: State, r: Real) {
    const id = holdId(s, this.hold);
    const body = { ...(this.amount !== undefined ? { amount: this.amount } : {}), ...(this.final !== undefined ? { final: this.final } : {}) };
    const request: Request = Object.keys(body).length > 0 ? { method: 'POST', url: `/holds/${id}/confirm`, body } : { method: 'POST', url: `/holds/${id}/confirm` };
    const response = await send(s, r, request, this.keyed);
    const decision = s.money.confirm(id, this.amount, this.final ?? false);
    if (!decision.ok) return expectRefusal(response, decision, this.toString());
    expectStatus(response, 204);
  }
  toString() {
    return `confirm(${show(this)})`;
  }
}

class Void extends Step {
  constructor(
    readonly hold: HoldRef,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.holds.length > 0 || this.hold === 'ghost';
  }
  async act(s: State, r: Real) {
    const id = holdId(s, this.hold);
    const response = await send(s, r, { method: 'POST', url: `/holds/${id}/void` }, this.keyed);
    const decision = s.money.void(id);
    if (!decision.ok) return expectRefusal(response, decision, this.toString());
    expectStatus(response, 204);
  }
  toString() {
    return `void(${show(this)})`;
  }
}

class AdvanceClock extends Step {
  constructor(readonly hours: number) {
    super();
  }
  check() {
    return true;
  }
  async act(s: State, r: Real) {
    r.h.clock.advance(this.hours * 3600);
    s.money.now += 2 * this.hours;
  }
  toString() {
    return `advanceClock(${this.hours}h)`;
  }
}

/** A keyed request sent again: the same status and body, marked replayed, and nothing moves. */
class Retry extends Step {
  constructor(readonly index: number) {
    super();
  }
  check(s: Readonly<State>) {
    return s.keyed.length > 0;
  }
  async act(s: State, r: Real) {
    const first = s.keyed[this.index % s.keyed.length]!;
    const again = await r.h.call(first.request);
    assert.equal(again.status, first.status, `retry of ${first.key}: ${again.text}`);
    assert.equal(again.text, first.text, `retry of ${first.key} replays the same body`);
    assert.equal(again.headers['idempotent-replayed'], 'true');
  }
  toString() {
    return `retry(${this.index})`;
  }
}

/** A used key on a different request: 409 CONFLICT, and nothing runs. */
class Conflict extends Step {
  constructor(readonly index: number) {
    super();
  }
  check(s: Readonly<State>) {
    return s.keyed.length > 0;
  }
  async act(s: State, r: Real) {
    const first = s.keyed[this.index % s.keyed.length]!;
    const target = s.money.wallets[0]?.id ?? GHOST;
    const response = await r.h.call({
      method: 'POST',
      url: `/wallets/${target}/credit`,
      body: { amount: { asset: 'USD/2', amount: 1n }, metadata: { conflict: first.key } },
      headers: { 'idempotency-key': first.key },
    });
    return expectRefusal(response, { ok: false, status: 409, errorCode: 'CONFLICT' }, this.toString());
  }
  toString() {
    return `conflict(${this.index})`;
  }
}

// Weighted towards requests that succeed, so that money really moves; every kind of refusal still comes up.
const walletRef: fc.Arbitrary<WalletRef> = fc.oneof({ weight: 30, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.constant('ghost' as const) });
const creditAmount = fc.oneof({ weight: 12, arbitrary: fc.bigInt(0n, 300n) }, { weight: 1, arbitrary: fc.constantFrom(0n, AMOUNT_MAX) });
const debitAmount = fc.oneof({ weight: 12, arbitrary: fc.bigInt(0n, 60n) }, { weight: 1, arbitrary: fc.constantFrom(0n, 500n, AMOUNT_MAX) });
const asset = fc.oneof({ weight: 4, arbitrary: fc.constant(ASSETS[0]) }, { weight: 1, arbitrary: fc.constant(ASSETS[1]) });
/** Mostly `main` or a name a run creates; `nope` (index 4) now and then. */
const balanceIndex = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constant(4) });
const walletSubject = fc.record({
  kind: fc.constant('wallet' as const),
  wallet: walletRef,
  balance: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: balanceIndex }),
});
const subjectChoice: fc.Arbitrary<SubjectChoice> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'world' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'bank' as const }) },
  { weight: 4, arbitrary: walletSubject },
);
const creditSources = fc.oneof({ weight: 3, arbitrary: fc.constant<SubjectChoice[]>([]) }, { weight: 2, arbitrary: fc.array(subjectChoice, { minLength: 1, maxLength: 3 }) });
const debitSources: fc.Arbitrary<BalancesChoice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant('none' as const) },
  { weight: 3, arbitrary: fc.constant('wildcard' as const) },
  { weight: 2, arbitrary: fc.uniqueArray(balanceIndex, { minLength: 1, maxLength: 4 }) },
);
const reference = fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('ref-1', 'ref-2') });
const keyed = fc.boolean();
const holdRef: fc.Arbitrary<HoldRef> = fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 10, arbitrary: fc.nat(15) }, { weight: 1, arbitrary: fc.constant('ghost' as const) });

const commands = [
  keyed.map((k) => new CreateWallet(k)),
  fc
    .tuple(fc.nat(7), fc.constantFrom(...CREATABLE), fc.option(fc.constantFrom(-1, 1, 3, 5), { nil: null }), fc.bigInt(-1n, 2n), keyed)
    .map(([wallet, name, expiresIn, priority, k]) => new CreateBalance(wallet, name, expiresIn, priority, k)),
  ...Array.from({ length: 4 }, () =>
    fc
      .tuple(walletRef, asset, creditAmount, balanceIndex, creditSources, reference, keyed)
      .map(([wallet, a, n, balance, sources, ref, k]) => new Credit(wallet, a, n, balance, sources, ref, k)),
  ),
  ...Array.from({ length: 4 }, () =>
    fc
      .tuple(walletRef, asset, debitAmount, fc.boolean(), debitSources, subjectChoice, reference, keyed)
      .map(([wallet, a, n, pending, balances, destination, ref, k]) => new Debit(wallet, a, n, pending, balances, destination, ref, k)),
  ),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(holdRef, fc.option(fc.bigInt(0n, 60n), { nil: undefined }), fc.option(fc.boolean(), { nil: undefined }), keyed)
      .map(([hold, n, final, k]) => new Confirm(hold, n, final, k)),
  ),
  fc.tuple(holdRef, keyed).map(([hold, k]) => new Void(hold, k)),
  fc.integer({ min: 1, max: 3 }).map((hours) => new AdvanceClock(hours)),
  fc.nat(50).map((index) => new Retry(index)),
  fc.nat(50).map((index) => new Conflict(index)),
];

suite('model-based: random command sequences against Coffer and a pure model', (h) => {
  it(`${RUNS} random sequences of up to ${COMMANDS} commands → after every step Coffer shows exactly the model's state, invariants hold`, { timeout: Math.max(600_000, RUNS * COMMANDS * 1_000) }, async (t) => {
    t.diagnostic(`fast-check seed ${SEED}; reproduce with FC_SEED=${SEED}${PATH ? ` FC_PATH=${PATH}` : ''}${REPLAY_PATH ? ` FC_REPLAY_PATH=${REPLAY_PATH}` : ''}`);
    tally.clear();
    let run = 0;
    // The suite's database, shared by all runs; each run is a separate ledger with an app of its own.
    const shared = { ...h().db, close: async () => {} };
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: COMMANDS, size: 'max', ...(REPLAY_PATH !== undefined ? { replayPath: REPLAY_PATH } : {}) }), async (steps) => {
        const ledger = `model-${run++}`;
        const harness = await startHarness({ name: h().backend, open: async () => ({ db: shared, drop: async () => {} }) }, ledger);
        try {
          const origin = (harness.clock.now() / 1_000_000n) * 1_000_000n;
          const state: State = { money: new WalletModel(), keyed: [] };
          const real: Real = { h: harness, ledger, origin, keys: 0 };
          // Every run starts with two funded wallets, one with a lasting and an expiring named
          // balance, so that most random debits find money to move.
          const world: SubjectChoice[] = [];
          for (const step of [
            new CreateWallet(false),
            new CreateWallet(true),
            new CreateBalance(0, 'Gift', null, 1n, false),
            new CreateBalance(0, 'promo', 3, 0n, true),
            new Credit(0, 'USD/2', 1000n, 0, world, undefined, false),
            new Credit(0, 'USD/2', 300n, 1, world, undefined, true),
            new Credit(0, 'USD/2', 200n, 2, world, undefined, false),
            new Credit(1, 'USD/2', 500n, 0, world, undefined, false),
            new Credit(1, 'EUR', 100n, 0, world, undefined, false),
          ]) {
            await step.act(state, real);
          }
          await expectSameState(state, real);
          await fc.asyncModelRun(() => ({ model: state, real }), steps);
        } finally {
          await harness.close();
        }
      }),
      { numRuns: RUNS, seed: SEED, ...(PATH !== undefined ? { path: PATH } : {}) },
    );
    t.diagnostic(`steps run: ${[...tally].sort().map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);
  });
});
