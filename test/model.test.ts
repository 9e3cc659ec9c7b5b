/**
 * Model-based property test: fast-check generates random sequences of commands — create
 * wallets and balances (expiring or not, with priorities), credits from world, an outside
 * account or other wallets, debits immediate and pending on main, `"*"` or named lists to
 * any destination, confirms (partial, full, final), voids, references, clock moves, keyed
 * retries and key conflicts; holds with an expiry (moved by PATCH /holds/{id}) and sweeps that
 * expire the due ones, on the movable clock; freezing, unfreezing and closing wallets;
 * overdraft limits on balances — and runs each against Coffer over HTTP and against the pure
 * model in support/wallet-model.ts.
 *
 * Concurrent groups: a step may send 2–5 mutations at once (plus, now and then, same-key
 * copies of some), in one tick, so that the committer (src/committer/) puts them in
 * one batch — one database transaction — whenever it can. Coffer may apply them in any
 * order, so the oracle tries every serial order (≤ 120): it keeps those in which the model
 * gives each member the answer Coffer gave, then takes the one whose resulting state is
 * exactly what Coffer shows (the transaction lists reveal the order); none fitting is a
 * failure. Same-key copies must answer what their original answered, exactly one of a key's
 * requests not being a replay. Group members lean towards large debits from the funded
 * wallets and settlements of the newest holds, so that they compete for the same funds and
 * holds. The run asserts that groups ran and that some batch held more than one command,
 * and prints how many groups shared a batch and how many were contested (order changed the
 * answers).
 *
 * After every step, every wallet's summary, every hold and the list of holds, every
 * wallet's transactions (GET /transactions?walletID=, all pages: those touching its main,
 * named balances or holds' accounts, newest first) and the whole ledger's transactions must
 * equal the model's — each transaction's postings (source, destination, asset, amount, in
 * order) and reference; ids must be strictly descending — and the ledger invariants must hold.
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
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { formatInstant, type Instant } from '../src/domain/time.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { expectStatus, startHarness, suite, type Harness, type ParsedJson, type Request, type Response } from './support/harness.ts';
import { MAIN, WalletModel, WORLD, type ModelBalance, type ModelTransaction, type Refusal, type Subject, type WalletStatus } from './support/wallet-model.ts';

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
  /** Replaced, not mutated, after a concurrent group: by the serial order that explains what Coffer did. */
  money: WalletModel;
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

/** The request with a fresh Idempotency-Key when keyed. */
function withFreshKey(r: Real, request: Request, keyed: boolean): Request {
  return keyed ? { ...request, headers: { ...request.headers, 'idempotency-key': `step-${r.keys++}` } } : request;
}

/** Remembers a keyed request and its first answer, for Retry and Conflict. */
function remember(s: State, request: Request, response: Response): void {
  const key = request.headers?.['idempotency-key'];
  if (key !== undefined) s.keyed.push({ key, request, status: response.status, text: response.text });
}

async function send(s: State, r: Real, request: Request, keyed: boolean): Promise<Response> {
  const sent = withFreshKey(r, request, keyed);
  const response = await r.h.call(sent);
  remember(s, sent, response);
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

/** Every item of a list route, page by page (100 a page, following `next`). */
async function listAll(r: Real, path: string, query: string): Promise<ParsedJson[]> {
  const items: ParsedJson[] = [];
  let url = `${path}?pageSize=100${query}`;
  for (;;) {
    const cursor = expectStatus(await r.h.get(url), 200).body.cursor;
    items.push(...cursor.data);
    if (!cursor.hasMore) return items;
    assert.equal(typeof cursor.next, 'string', `${url}: hasMore without next`);
    url = `${path}?cursor=${encodeURIComponent(cursor.next)}`;
  }
}

/** What the test compares: every wallet's status, summary and transactions, every hold, and the whole ledger's transactions. */
interface Observable {
  readonly statuses: unknown[];
  readonly summaries: unknown[];
  /** Holds in listing (creation) order, each as GET /holds/{id} shows it. */
  readonly holds: unknown[];
  /** The ledger's transactions, newest first, as postings and reference. */
  readonly transactions: unknown[];
  /** Each wallet's transactions (GET /transactions?walletID=), newest first. */
  readonly walletTransactions: unknown[][];
}

/** Transactions newest first: ids strictly descending, the run's ledger, never reverted, no metadata; kept: postings and reference. */
function transactionsView(r: Real, listed: ParsedJson[], what: string): unknown[] {
  for (const [index, t] of listed.entries()) {
    if (index > 0) assert.ok(t.id < listed[index - 1].id, `${what}: ids newest first, got ${listed[index - 1].id} then ${t.id}`);
    assert.equal(t.ledger, r.ledger, what);
    assert.equal(t.reverted, false, what);
    assert.deepEqual(t.metadata, {}, what);
  }
  return listed.map((t) => ({
    postings: t.postings.map((p: ParsedJson) => ({ source: p.source, destination: p.destination, asset: p.asset, amount: p.amount })),
    reference: t.reference ?? null,
  }));
}

/** Reads Coffer's observable state, for the wallets the model knows. */
async function observe(s: State, r: Real): Promise<Observable> {
  const summaries: unknown[] = [];
  const statuses: unknown[] = [];
  const walletTransactions: unknown[][] = [];
  for (const wallet of s.money.wallets) {
    statuses.push(expectStatus(await r.h.get(`/wallets/${wallet.id}`), 200).body.data.status);
    const data = expectStatus(await r.h.get(`/wallets/${wallet.id}/summary`), 200).body.data;
    summaries.push({
      balances: data.balances.map((b: { name: string; expiresAt: string | null; priority: bigint; assets: Record<string, bigint> }) => ({
        ...b,
        assets: nonZero(b.assets),
      })),
      availableFunds: nonZero(data.availableFunds),
      expiredFunds: nonZero(data.expiredFunds),
      expirableFunds: nonZero(data.expirableFunds),
      holdFunds: nonZero(data.holdFunds),
    });
    walletTransactions.push(transactionsView(r, await listAll(r, '/transactions', `&walletID=${wallet.id}`), `transactions of wallet ${wallet.id}`));
  }
  const holds: unknown[] = [];
  for (const listed of await listAll(r, '/holds', '')) holds.push(expectStatus(await r.h.get(`/holds/${listed.id}`), 200).body.data);
  const transactions = transactionsView(r, await listAll(r, '/transactions', ''), 'transactions');
  return { statuses, summaries, holds, transactions, walletTransactions };
}

/** What the model says Coffer must show. */
function expected(model: WalletModel, r: Real): Observable {
  const transaction = (t: ModelTransaction) => ({ postings: t.postings.map((p) => ({ ...p })), reference: t.reference });
  return {
    statuses: model.wallets.map((wallet) => wallet.status),
    summaries: model.wallets.map((wallet) => {
      const summary = model.summary(wallet.id);
      return { ...summary, balances: summary.balances.map((b) => ({ ...b, expiresAt: b.expiresAt === null ? null : expiryText(r, b.expiresAt) })) };
    }),
    holds: model.holds.map((hold) => ({
      id: hold.id,
      walletID: hold.walletId,
      destination: hold.destination,
      asset: hold.asset,
      metadata: {},
      description: '',
      expiresAt: hold.expiresAt === null ? null : expiryText(r, hold.expiresAt),
      status: model.holdStatus(hold),
      originalAmount: hold.original,
      remaining: hold.remaining,
    })),
    transactions: [...model.transactions].reverse().map(transaction),
    walletTransactions: model.wallets.map((wallet) => model.walletTransactions(wallet.id).map(transaction)),
  };
}

function assertSame(actual: Observable, model: WalletModel, r: Real, context = ''): void {
  const wanted = expected(model, r);
  assert.deepEqual(actual.statuses, wanted.statuses, `${context}wallet statuses`);
  for (const [index, wallet] of model.wallets.entries()) {
    assert.deepEqual(actual.summaries[index], wanted.summaries[index], `${context}summary of wallet #${index} ${wallet.id} at clock unit ${model.now}`);
    assert.deepEqual(
      actual.walletTransactions[index],
      wanted.walletTransactions[index],
      `${context}transactions of wallet #${index} ${wallet.id} (${actual.walletTransactions[index]!.length} listed, ${wanted.walletTransactions[index]!.length} expected)`,
    );
  }
  assert.deepEqual(actual.holds, wanted.holds, `${context}holds, in creation order`);
  assert.deepEqual(actual.transactions, wanted.transactions, `${context}the ledger's transactions, newest first`);
}

async function expectSameState(s: State, r: Real): Promise<void> {
  assertSame(await observe(s, r), s.money, r);
  assert.deepEqual(await findViolations(r.h.db), [], 'ledger invariants');
}

/** How many steps of each kind ran, and how many of them Coffer refused: printed, to show the runs are not vacuous. */
const tally = new Map<string, number>();
const count = (outcome: string) => tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
/** Concurrent groups: how many ran, how many of them shared a batch, and the largest batch seen. */
const groups = { run: 0, batched: 0, contested: 0, largestBatch: 0, orders: 0 };

/** Returned by a step that already compared the whole state (a concurrent group chooses its order by it). */
const COMPARED: unique symbol = Symbol('compared');

/** Every step acts, then compares the whole observable state with the model. */
abstract class Step implements fc.AsyncCommand<State, Real> {
  abstract check(s: Readonly<State>): boolean;
  /** Sends the command and checks its answer against the model's decision; a refusal returns its code. */
  abstract act(s: State, r: Real): Promise<void | string | typeof COMPARED>;
  abstract toString(): string;
  async run(s: State, r: Real): Promise<void> {
    const refused = await this.act(s, r);
    if (refused === COMPARED) {
      assert.deepEqual(await findViolations(r.h.db), [], 'ledger invariants');
      return;
    }
    count(`${this.constructor.name} ${typeof refused === 'string' ? refused : 'ok'}`);
    await expectSameState(s, r);
  }
}

/** A mutation prepared against the state before it is sent: its request, and how to judge Coffer's answer. */
interface Prepared {
  readonly request: Request;
  /**
   * Checks the answer against `model`'s decision for this command and advances `model` by it;
   * throws when they differ; a refusal returns its code.
   */
  judge(model: WalletModel, response: Response): void | string;
}

/** A command that goes through the committer: run alone, or as a member of a concurrent group. */
abstract class Mutation extends Step {
  abstract readonly keyed: boolean;
  abstract prepare(s: Readonly<State>, r: Real): Prepared;
  async act(s: State, r: Real) {
    const prepared = this.prepare(s, r);
    return prepared.judge(s.money, await send(s, r, prepared.request, this.keyed));
  }
}

type WalletRef = number | 'ghost';
type SubjectChoice = { kind: 'world' } | { kind: 'bank' } | { kind: 'wallet'; wallet: WalletRef; balance: number | null };

function walletId(s: Readonly<State>, ref: WalletRef): string {
  return ref === 'ghost' ? GHOST : s.money.wallets[ref % s.money.wallets.length]!.id;
}

function subject(s: Readonly<State>, choice: SubjectChoice): Subject {
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
      status: 'active',
      statusChangedAt: null,
      statusChangedBy: null,
    });
    s.money.addWallet(data.id);
  }
  toString() {
    return `createWallet(${this.keyed ? 'keyed' : ''})`;
  }
}

class CreateBalance extends Mutation {
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
  prepare(s: Readonly<State>, r: Real): Prepared {
    const id = walletId(s, this.wallet);
    const balance: ModelBalance = { name: this.name, expiresAt: this.expiresIn === null ? null : s.money.now + this.expiresIn, priority: this.priority };
    const expiresAt = balance.expiresAt === null ? null : expiryText(r, balance.expiresAt);
    return {
      request: { method: 'POST', url: `/wallets/${id}/balances`, body: { name: this.name, expiresAt, priority: this.priority } },
      judge: (model, response) => {
        const decision = model.createBalance(id, balance);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        assert.deepEqual(expectStatus(response, 201).body.data, { name: this.name, expiresAt, priority: this.priority });
      },
    };
  }
  toString() {
    return `createBalance(wallet ${this.wallet}, ${this.name}, expiresIn ${this.expiresIn}, priority ${this.priority}${this.keyed ? ', keyed' : ''})`;
  }
}

class Credit extends Mutation {
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
  prepare(s: Readonly<State>): Prepared {
    const id = walletId(s, this.wallet);
    const sources = this.sources.map((choice) => subject(s, choice));
    const balance = BALANCE_NAMES[this.balance]!;
    const body = {
      amount: { asset: this.asset, amount: this.amount },
      ...(balance !== MAIN ? { balance } : {}),
      ...(sources.length > 0 ? { sources } : {}),
      ...(this.reference !== undefined ? { reference: this.reference } : {}),
    };
    return {
      request: { method: 'POST', url: `/wallets/${id}/credit`, body },
      judge: (model, response) => {
        const decision = model.credit({ walletId: id, asset: this.asset, amount: this.amount, balance, sources, reference: this.reference });
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `credit(${show(this)})`;
  }
}

type BalancesChoice = 'none' | 'wildcard' | number[];

class Debit extends Mutation {
  constructor(
    readonly wallet: WalletRef,
    readonly asset: (typeof ASSETS)[number],
    readonly amount: bigint,
    readonly pending: boolean,
    readonly balances: BalancesChoice,
    readonly destination: SubjectChoice,
    readonly reference: string | undefined,
    readonly keyed: boolean,
    /** A pending debit's expiry, in half-hour units from now (odd; negative = in the past), or none. */
    readonly expiresIn: number | null = null,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  prepare(s: Readonly<State>, r: Real): Prepared {
    const id = walletId(s, this.wallet);
    const balances = this.balances === 'none' ? [] : this.balances === 'wildcard' ? ['*'] : this.balances.map((i) => BALANCE_NAMES[i]!);
    const destination = subject(s, this.destination);
    const expiresAt = this.pending && this.expiresIn !== null ? s.money.now + this.expiresIn : undefined;
    const body = {
      amount: { asset: this.asset, amount: this.amount },
      ...(this.pending ? { pending: true } : {}),
      ...(this.balances !== 'none' ? { balances } : {}),
      ...(this.destination.kind !== 'world' ? { destination } : {}),
      ...(this.reference !== undefined ? { reference: this.reference } : {}),
      ...(expiresAt !== undefined ? { expiresAt: expiryText(r, expiresAt) } : {}),
    };
    return {
      request: { method: 'POST', url: `/wallets/${id}/debit`, body },
      judge: (model, response) => {
        const plan = model.planDebit({ walletId: id, asset: this.asset, amount: this.amount, pending: this.pending, balances, destination, reference: this.reference, expiresAt });
        if (!plan.ok) return expectRefusal(response, plan, this.toString());
        if (!this.pending) {
          expectStatus(response, 204);
          return model.applyDebit(plan.value, null);
        }
        const hold = expectStatus(response, 201).body.data;
        assert.deepEqual(
          { ...hold, id: undefined },
          { id: undefined, walletID: id, destination, asset: this.asset, metadata: {}, description: '', expiresAt: expiresAt === undefined ? null : expiryText(r, expiresAt), status: 'open' },
        );
        model.applyDebit(plan.value, hold.id);
      },
    };
  }
  toString() {
    return `debit(${show(this)})`;
  }
}

type HoldRef = number | 'ghost';

/** Counted from the newest hold, which is the one most likely to be still open. */
function holdId(s: Readonly<State>, ref: HoldRef): string {
  const { holds } = s.money;
  return ref === 'ghost' || holds.length === 0 ? GHOST : holds[holds.length - 1 - (ref % holds.length)]!.id;
}

class Confirm extends Mutation {
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
  prepare(s: Readonly<State>): Prepared {
    const id = holdId(s, this.hold);
    const body = { ...(this.amount !== undefined ? { amount: this.amount } : {}), ...(this.final !== undefined ? { final: this.final } : {}) };
    return {
      request: Object.keys(body).length > 0 ? { method: 'POST', url: `/holds/${id}/confirm`, body } : { method: 'POST', url: `/holds/${id}/confirm` },
      judge: (model, response) => {
        const decision = model.confirm(id, this.amount, this.final ?? false);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `confirm(${show(this)})`;
  }
}

class Void extends Mutation {
  constructor(
    readonly hold: HoldRef,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.holds.length > 0 || this.hold === 'ghost';
  }
  prepare(s: Readonly<State>): Prepared {
    const id = holdId(s, this.hold);
    return {
      request: { method: 'POST', url: `/holds/${id}/void` },
      judge: (model, response) => {
        const decision = model.void(id);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `void(${show(this)})`;
  }
}

/** PATCH /wallets/{id} `{status}`: freeze, unfreeze or close. */
class SetStatus extends Mutation {
  constructor(
    readonly wallet: WalletRef,
    readonly status: WalletStatus,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  prepare(s: Readonly<State>): Prepared {
    const id = walletId(s, this.wallet);
    return {
      request: { method: 'PATCH', url: `/wallets/${id}`, body: { status: this.status } },
      judge: (model, response) => {
        const decision = model.setStatus(id, this.status);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `setStatus(${show(this)})`;
  }
}

/** PATCH /wallets/{id}/balances/{name} `{overdraft: {asset: limit}}`. */
class SetOverdraft extends Mutation {
  constructor(
    readonly wallet: WalletRef,
    readonly balance: number,
    readonly asset: (typeof ASSETS)[number],
    readonly limit: bigint,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.wallets.length > 0;
  }
  prepare(s: Readonly<State>): Prepared {
    const id = walletId(s, this.wallet);
    const name = BALANCE_NAMES[this.balance]!;
    return {
      request: { method: 'PATCH', url: `/wallets/${id}/balances/${name}`, body: { overdraft: { [this.asset]: this.limit } } },
      judge: (model, response) => {
        const decision = model.setOverdraft(id, name, this.asset, this.limit);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `setOverdraft(${show(this)})`;
  }
}

/** PATCH /holds/{id} `{expiresAt}`: a new expiry (odd units from now; negative = past) or none. */
class MoveExpiry extends Mutation {
  constructor(
    readonly hold: HoldRef,
    readonly expiresIn: number | null,
    readonly keyed: boolean,
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return s.money.holds.length > 0 || this.hold === 'ghost';
  }
  prepare(s: Readonly<State>, r: Real): Prepared {
    const id = holdId(s, this.hold);
    const expiresAt = this.expiresIn === null ? null : s.money.now + this.expiresIn;
    return {
      request: { method: 'PATCH', url: `/holds/${id}`, body: { expiresAt: expiresAt === null ? null : expiryText(r, expiresAt) } },
      judge: (model, response) => {
        const decision = model.moveExpiry(id, expiresAt);
        if (!decision.ok) return expectRefusal(response, decision, this.toString());
        expectStatus(response, 204);
      },
    };
  }
  toString() {
    return `moveExpiry(${show(this)})`;
  }
}

/** One turn of the hold expiry sweeper, at the clock's now: every due hold is voided, once. */
class Sweep extends Step {
  check() {
    return true;
  }
  async act(s: State, r: Real) {
    const expired = await r.h.app.holdSweeper.sweep();
    assert.equal(expired, s.money.sweep(), 'holds the sweep expired');
    return expired > 0 ? undefined : 'nothing due';
  }
  toString() {
    return 'sweep()';
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

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

/** A serial order of a group's members that explains their answers: the model after it, and each member's outcome in that order. */
interface SerialOrder {
  readonly model: WalletModel;
  readonly outcomes: readonly (readonly [member: number, outcome: string])[];
}

/** Every serial order of `members` in which the model gives each the answer Coffer gave; `reasons` samples why the others failed. */
function serialOrders(model: WalletModel, members: readonly Prepared[], responses: readonly Response[], reasons: string[]): SerialOrder[] {
  const found: SerialOrder[] = [];
  const extend = (current: WalletModel, outcomes: SerialOrder['outcomes']) => {
    if (outcomes.length === members.length) return void found.push({ model: current, outcomes });
    for (const [index, member] of members.entries()) {
      if (outcomes.some(([done]) => done === index)) continue;
      const next = current.clone();
      let outcome: void | string;
      try {
        outcome = member.judge(next, responses[index]!);
      } catch (error) {
        if (reasons.length < 20) reasons.push(`after [${outcomes.map(([done]) => done).join(', ')}], member ${index}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      extend(next, [...outcomes, [index, typeof outcome === 'string' ? outcome : 'ok']]);
    }
  };
  extend(model, []);
  return found;
}

/**
 * Several mutations sent at once (in one tick, so that the committer gathers them into one
 * batch — one database transaction — when it can), some of them again under the same
 * Idempotency-Key. Coffer may apply them in any order, so the oracle tries every serial
 * order: it keeps those in which the model gives every member the answer Coffer gave, then
 * takes the one whose whole state (summaries, holds, transactions, their order) is the one
 * Coffer shows. A same-key copy answers exactly what its original answered, and of a key's
 * requests exactly one is not a replay.
 */
class Concurrent extends Step {
  constructor(
    readonly members: Mutation[],
    /** Members (by index, modulo) sent once more with the same key and body. */
    readonly copies: number[],
  ) {
    super();
  }
  check(s: Readonly<State>) {
    return this.members.every((member) => member.check(s));
  }
  async act(s: State, r: Real): Promise<typeof COMPARED> {
    const prepared = this.members.map((member) => member.prepare(s, r));
    const copied = this.copies.map((index) => index % prepared.length);
    const requests = prepared.map((member, index) => withFreshKey(r, member.request, this.members[index]!.keyed || copied.includes(index)));
    const all = [...requests, ...copied.map((index) => requests[index]!)];
    const before = r.h.batchSizes.length;
    const responses = await Promise.all(all.map((request) => r.h.call(request)));
    const batches = r.h.batchSizes.slice(before);
    groups.run++;
    if (batches.some((size) => size > 1)) groups.batched++;
    groups.largestBatch = Math.max(groups.largestBatch, ...batches);
    all.forEach((request, index) => remember(s, request, responses[index]!));

    const what = () => `${this} answered ${show(all.map((request, index) => `${request.method} ${request.url} → ${responses[index]!.status} ${responses[index]!.text}`))}`;
    for (const [copy, index] of copied.entries()) {
      const original = responses[index]!;
      const again = responses[prepared.length + copy]!;
      assert.equal(again.status, original.status, `same-key copy of member ${index}: ${what()}`);
      assert.equal(again.text, original.text, `same-key copy of member ${index} answers the same body: ${what()}`);
    }
    for (const index of new Set(copied)) {
      const answers = [index, ...copied.flatMap((of, copy) => (of === index ? [prepared.length + copy] : []))];
      const executed = answers.filter((at) => responses[at]!.headers['idempotent-replayed'] !== 'true');
      assert.equal(executed.length, 1, `of member ${index}'s same-key requests exactly one executes: ${what()}`);
    }

    const reasons: string[] = [];
    const orders = serialOrders(s.money, prepared, responses, reasons);
    assert.ok(orders.length > 0, `no serial order of the group explains its answers: ${what()}\n${reasons.join('\n')}`);
    groups.orders += orders.length;
    // Contested: the order mattered, some serial order would have given other answers.
    if (orders.length < factorial(prepared.length)) groups.contested++;
    const actual = await observe(s, r);
    const chosen = orders.find((order) => isDeepStrictEqual(expected(order.model, r), actual));
    // None fits: show how Coffer differs from the first order that explains the answers.
    if (!chosen) assertSame(actual, orders[0]!.model, r, `(none of the ${orders.length} serial orders explaining the answers fits; the first) ${what()}: `);
    const { model, outcomes } = chosen ?? orders[0]!;
    for (const [index, outcome] of outcomes) count(`  concurrent ${this.members[index]!.constructor.name} ${outcome}`);
    count(`Concurrent(${this.members.length}+${this.copies.length}) ${batches.some((size) => size > 1) ? 'batched' : 'not batched'}`);
    s.money = model;
    return COMPARED;
  }
  toString() {
    return `concurrent([${this.members.map(String).join(', ')}], copies ${show(this.copies)})`;
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

const createBalance = fc
  .tuple(fc.nat(7), fc.constantFrom(...CREATABLE), fc.option(fc.constantFrom(-1, 1, 3, 5), { nil: null }), fc.bigInt(-1n, 2n), keyed)
  .map(([wallet, name, expiresIn, priority, k]) => new CreateBalance(wallet, name, expiresIn, priority, k));
const credit = fc
  .tuple(walletRef, asset, creditAmount, balanceIndex, creditSources, reference, keyed)
  .map(([wallet, a, n, balance, sources, ref, k]) => new Credit(wallet, a, n, balance, sources, ref, k));
/** A pending debit's expiry: mostly 1–5 half-hours ahead, else none, now and then in the past (a 400). */
const expiresIn = fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: fc.constantFrom(1, 3, 5) }, { weight: 1, arbitrary: fc.constant(-1) });
const debitWith = (
  wallet: fc.Arbitrary<WalletRef>,
  amount: fc.Arbitrary<bigint>,
  currency: fc.Arbitrary<(typeof ASSETS)[number]>,
  sources: fc.Arbitrary<BalancesChoice>,
  destination: fc.Arbitrary<SubjectChoice>,
) =>
  fc
    .tuple(wallet, currency, amount, fc.boolean(), sources, destination, reference, keyed, expiresIn)
    .map(([wallet, a, n, pending, balances, to, ref, k, expiry]) => new Debit(wallet, a, n, pending, balances, to, ref, k, expiry));
const debit = debitWith(walletRef, debitAmount, asset, debitSources, subjectChoice);
/**
 * In a group, debits mostly take USD from the two wallets every run funds, from main or
 * `"*"`, to a destination that exists, and are often large: so that together they compete
 * for (and would overdraw) the same funds, and the order decides who gets them.
 */
const groupDebit = debitWith(
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: walletRef }),
  fc.oneof({ weight: 1, arbitrary: debitAmount }, { weight: 2, arbitrary: fc.bigInt(100n, 700n) }),
  fc.oneof({ weight: 8, arbitrary: fc.constant(ASSETS[0]) }, { weight: 1, arbitrary: fc.constant(ASSETS[1]) }),
  fc.oneof({ weight: 3, arbitrary: fc.constant('none' as const) }, { weight: 3, arbitrary: fc.constant('wildcard' as const) }, { weight: 1, arbitrary: debitSources }),
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom<SubjectChoice>({ kind: 'world' }, { kind: 'bank' }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('wallet' as const), wallet: fc.nat(7), balance: fc.constant(null) }) },
    { weight: 1, arbitrary: subjectChoice },
  ),
);
/** In a group, settlements mostly go for the newest two holds, so that they race for the same hold. */
const groupHold: fc.Arbitrary<HoldRef> = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: holdRef });
const groupConfirm = fc
  .tuple(groupHold, fc.option(fc.bigInt(0n, 60n), { nil: undefined }), fc.option(fc.boolean(), { nil: undefined }), keyed)
  .map(([hold, n, final, k]) => new Confirm(hold, n, final, k));
const groupVoid = fc.tuple(groupHold, keyed).map(([hold, k]) => new Void(hold, k));
const confirm = fc
  .tuple(holdRef, fc.option(fc.bigInt(0n, 60n), { nil: undefined }), fc.option(fc.boolean(), { nil: undefined }), keyed)
  .map(([hold, n, final, k]) => new Confirm(hold, n, final, k));
const voidHold = fc.tuple(holdRef, keyed).map(([hold, k]) => new Void(hold, k));
/** Freezing and unfreezing come up more than closing, which most wallets refuse (they hold money). */
const setStatus = fc
  .tuple(walletRef, fc.oneof({ weight: 3, arbitrary: fc.constantFrom<WalletStatus>('frozen', 'active') }, { weight: 1, arbitrary: fc.constant<WalletStatus>('closed') }), keyed)
  .map(([wallet, status, k]) => new SetStatus(wallet, status, k));
const setOverdraft = fc
  .tuple(walletRef, balanceIndex, asset, fc.oneof({ weight: 3, arbitrary: fc.bigInt(0n, 300n) }, { weight: 1, arbitrary: fc.constant(0n) }), keyed)
  .map(([wallet, balance, a, limit, k]) => new SetOverdraft(wallet, balance, a, limit, k));
const moveExpiry = fc
  .tuple(holdRef, fc.oneof({ weight: 3, arbitrary: fc.constantFrom(1, 3) }, { weight: 1, arbitrary: fc.constantFrom(null, -1) }), keyed)
  .map(([hold, expiry, k]) => new MoveExpiry(hold, expiry, k));
/** Weighted towards debits and settlements, which compete for the same funds and holds. */
const member: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 1, arbitrary: createBalance },
  { weight: 2, arbitrary: credit },
  { weight: 8, arbitrary: groupDebit },
  { weight: 3, arbitrary: groupConfirm },
  { weight: 2, arbitrary: groupVoid },
  { weight: 1, arbitrary: setStatus },
  { weight: 1, arbitrary: setOverdraft },
);
/** 2–5 members (≤ 120 serial orders), and now and then a same-key copy or two. */
const concurrent = fc
  .tuple(fc.array(member, { minLength: 2, maxLength: 5 }), fc.oneof({ weight: 3, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(4), { minLength: 1, maxLength: 2 }) }))
  .map(([members, copies]) => new Concurrent(members, copies));

const commands = [
  keyed.map((k) => new CreateWallet(k)),
  createBalance,
  ...Array.from({ length: 4 }, () => credit),
  ...Array.from({ length: 4 }, () => debit),
  ...Array.from({ length: 2 }, () => confirm),
  voidHold,
  setStatus,
  ...Array.from({ length: 2 }, () => setOverdraft),
  moveExpiry,
  ...Array.from({ length: 3 }, () => fc.constant(new Sweep())),
  fc.integer({ min: 1, max: 3 }).map((hours) => new AdvanceClock(hours)),
  fc.nat(50).map((index) => new Retry(index)),
  fc.nat(50).map((index) => new Conflict(index)),
  ...Array.from({ length: 3 }, () => concurrent),
];

suite('model-based: random command sequences against Coffer and a pure model', (h) => {
  it(`${RUNS} random sequences of up to ${COMMANDS} commands → after every step Coffer shows exactly the model's state, invariants hold`, { timeout: Math.max(600_000, RUNS * COMMANDS * 1_000) }, async (t) => {
    t.diagnostic(`fast-check seed ${SEED}; reproduce with FC_SEED=${SEED}${PATH ? ` FC_PATH=${PATH}` : ''}${REPLAY_PATH ? ` FC_REPLAY_PATH=${REPLAY_PATH}` : ''}`);
    tally.clear();
    Object.assign(groups, { run: 0, batched: 0, contested: 0, largestBatch: 0, orders: 0 });
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
          // balance, so that most random debits find money to move, and an expiring hold.
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
            // A hold that expires an hour and a half in: a run that moves the clock and sweeps meets it.
            new Debit(1, 'USD/2', 50n, true, 'none', { kind: 'world' }, undefined, false, 3),
          ]) {
            await step.act(state, real);
          }
          await expectSameState(state, real);
          await fc.asyncModelRun(() => ({ model: state, real }), steps);
          // A batch that fails falls back to one command per transaction, which would hide a
          // planning bug behind the database's own checks: in one process, none may fail.
          assert.deepEqual(harness.batchFailures, [], 'no batch failed and was retried command by command');
        } finally {
          await harness.close();
        }
      }),
      { numRuns: RUNS, seed: SEED, ...(PATH !== undefined ? { path: PATH } : {}) },
    );
    t.diagnostic(`steps run: ${[...tally].sort().map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);
    t.diagnostic(
      `concurrent groups: ${groups.run}, ${groups.batched} of them with a batch of more than one command, ${groups.contested} where the order changed the answers; ` +
        `largest batch ${groups.largestBatch}; ` +
        `${groups.orders} serial orders explained the answers`,
    );
    // Preconditions, so that the concurrent coverage cannot pass vacuously: groups ran (in any
    // full-size soak), and their requests did meet in one batch.
    if (REPLAY_PATH === undefined && RUNS >= 10) assert.ok(groups.run > 0, 'no concurrent group ran');
    if (groups.run > 0) assert.ok(groups.largestBatch > 1, `no concurrent group shared a batch (${groups.run} groups)`);
  });
});
