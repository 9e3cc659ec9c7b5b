/**
 * A small, pure, in-memory model of Coffer's money rules, for the model-based property test
 * (test/model.test.ts). It is written from the documented rules (docs/api.md), not from src/: given the state
 * and a command, it says what Coffer must answer (a status and error code, or the postings
 * it makes) and what every wallet, balance, hold and summary must show afterwards, and which
 * ledger transactions (postings and reference, in order) every wallet and the ledger list.
 * `clone()` lets the test try every serial order of a concurrent group of commands.
 *
 * Time is counted in half-hour units since the run began; the test sets every expiry (of a
 * balance or a hold) on an odd unit and moves the clock by whole hours, so "expired" never
 * depends on how long the test itself took (see model.test.ts).
 *
 * Also modelled: holds that expire (from their expiry on they show `expired` and cannot be
 * confirmed or voided; the money returns only when a sweep runs, as a void does), wallet
 * status (frozen: nothing leaves; closed: only reads, only when empty) and overdraft limits
 * (the positive funds of every source first, then the overdrafts, in the same order).
 */
export const WORLD = 'world';
export const MAIN = 'main';

export type Subject = { readonly type: 'ACCOUNT'; readonly identifier: string } | { readonly type: 'WALLET'; readonly identifier: string; readonly balance?: string };

export interface ModelBalance {
  readonly name: string;
  /** Half-hour unit of expiry, or null for a balance that never expires. */
  readonly expiresAt: number | null;
  readonly priority: bigint;
}

export type WalletStatus = 'active' | 'frozen' | 'closed';
export type HoldStatus = 'open' | 'confirmed' | 'voided' | 'expired';

export interface ModelWallet {
  readonly id: string;
  /** `main` first, then the named balances in creation order. */
  readonly balances: ModelBalance[];
  status: WalletStatus;
}

export interface Portion {
  readonly address: string;
  readonly amount: bigint;
}

export interface Posting {
  readonly source: string;
  readonly destination: string;
  readonly asset: string;
  readonly amount: bigint;
}

export interface ModelHold {
  readonly id: string;
  readonly walletId: string;
  readonly asset: string;
  readonly original: bigint;
  remaining: bigint;
  readonly destination: Subject;
  readonly destinationAddress: string;
  /** What each source gave, in posting order: a void refunds them in this order. */
  readonly sources: readonly Portion[];
  /** Half-hour unit of expiry (odd), or null. */
  expiresAt: number | null;
  /** As stored: `open` until settled; the view shows `expired` once past expiresAt. */
  status: HoldStatus;
}

/** A ledger transaction the model expects Coffer to have written: its postings in order, and its reference. */
export interface ModelTransaction {
  readonly postings: readonly Posting[];
  readonly reference: string | null;
}

export type Refusal = { readonly ok: false; readonly status: number; readonly errorCode: string };
export type Decision<T> = { readonly ok: true; readonly value: T } | Refusal;

const refuse = (status: number, errorCode: string): Refusal => ({ ok: false, status, errorCode });
const validation = refuse(400, 'VALIDATION');
const insufficient = refuse(400, 'INSUFFICIENT_FUND');

export function walletAddress(walletId: string, balance: string): string {
  return `wallets:${walletId}:${balance}`;
}

export function holdAddress(holdId: string): string {
  return `wallets:holds:${holdId}`;
}

export interface CreditInput {
  readonly walletId: string;
  readonly asset: string;
  readonly amount: bigint;
  readonly balance: string;
  readonly sources: readonly Subject[];
  readonly reference?: string;
}

export interface DebitInput {
  readonly walletId: string;
  readonly asset: string;
  readonly amount: bigint;
  readonly pending: boolean;
  /** [] = main; ['*'] = wildcard; else names in request order. */
  readonly balances: readonly string[];
  readonly destination: Subject;
  readonly reference?: string;
  /** A pending debit's expiry, in half-hour units; absent = never. */
  readonly expiresAt?: number;
}

/** A debit the model accepted: its postings go to `target`, or to the new hold's account when pending. */
export interface PlannedDebit {
  readonly input: DebitInput;
  readonly portions: readonly Portion[];
  readonly destinationAddress: string;
}

export interface SummaryView {
  readonly balances: { name: string; expiresAt: number | null; priority: bigint; overdraft?: Record<string, bigint>; assets: Record<string, bigint> }[];
  readonly availableFunds: Record<string, bigint>;
  readonly expiredFunds: Record<string, bigint>;
  readonly expirableFunds: Record<string, bigint>;
  readonly holdFunds: Record<string, bigint>;
}

/** Amounts by asset with zeros left out: which zero rows exist is not part of the rules. */
function nonZero(amounts: Map<string, bigint>): Record<string, bigint> {
  return Object.fromEntries([...amounts].filter(([, amount]) => amount !== 0n).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class WalletModel {
  /** The clock, in half-hour units since the run began. */
  now = 0;
  readonly wallets: ModelWallet[] = [];
  readonly holds: ModelHold[] = [];
  private readonly amounts = new Map<string, bigint>();
  /** Overdraft limits by `${address} ${asset}`; absent = 0. */
  private readonly overdrafts = new Map<string, bigint>();
  private readonly references = new Set<string>();
  /** Every transaction posted, oldest first. */
  readonly transactions: ModelTransaction[] = [];

  /** A deep copy, to try a command (or an order of concurrent commands) without touching this model. */
  clone(): WalletModel {
    const copy = new WalletModel();
    copy.now = this.now;
    for (const wallet of this.wallets) copy.wallets.push({ id: wallet.id, balances: [...wallet.balances], status: wallet.status });
    for (const hold of this.holds) copy.holds.push({ ...hold });
    for (const [key, amount] of this.amounts) copy.amounts.set(key, amount);
    for (const [key, limit] of this.overdrafts) copy.overdrafts.set(key, limit);
    for (const reference of this.references) copy.references.add(reference);
    copy.transactions.push(...this.transactions);
    return copy;
  }

  /**
   * The wallet whose account `address` is: `wallets:holds:{holdId}` is its hold's wallet's,
   * `wallets:{walletId}:{balance}` is that wallet's; any other address is no wallet's.
   */
  owner(address: string): string | null {
    const hold = /^wallets:holds:(.+)$/.exec(address);
    if (hold) return this.hold(hold[1]!)?.walletId ?? null;
    const balance = /^wallets:(.+):[^:]+$/.exec(address);
    return balance ? balance[1]! : null;
  }

  /** The transactions touching any of a wallet's accounts (main, named balances, its holds'), newest first. */
  walletTransactions(walletId: string): ModelTransaction[] {
    const mine = (address: string) => address !== WORLD && this.owner(address) === walletId;
    return this.transactions.filter((t) => t.postings.some((p) => mine(p.source) || mine(p.destination))).reverse();
  }

  balanceOf(address: string, asset: string): bigint {
    return this.amounts.get(`${address} ${asset}`) ?? 0n;
  }

  wallet(id: string): ModelWallet | undefined {
    return this.wallets.find((wallet) => wallet.id === id);
  }

  hold(id: string): ModelHold | undefined {
    return this.holds.find((hold) => hold.id === id);
  }

  isExpired(balance: ModelBalance): boolean {
    return balance.expiresAt !== null && balance.expiresAt < this.now;
  }

  addWallet(id: string): void {
    this.wallets.push({ id, balances: [{ name: MAIN, expiresAt: null, priority: 0n }], status: 'active' });
  }

  /** From its expiry on (the instant included), a hold is expired. */
  isHoldExpired(hold: ModelHold): boolean {
    return hold.expiresAt !== null && this.now >= hold.expiresAt;
  }

  /** What the hold view shows. */
  holdStatus(hold: ModelHold): HoldStatus {
    return hold.status === 'open' && this.isHoldExpired(hold) ? 'expired' : hold.status;
  }

  overdraftOf(address: string, asset: string): bigint {
    return this.overdrafts.get(`${address} ${asset}`) ?? 0n;
  }

  /** Money leaving a wallet: frozen or closed refuse it. */
  private outgoing(walletId: string): Refusal | null {
    const status = this.wallet(walletId)?.status;
    if (status === 'closed') return refuse(400, 'WALLET_CLOSED');
    if (status === 'frozen') return refuse(400, 'WALLET_FROZEN');
    return null;
  }

  /** Money arriving, or any other change: only closed refuses it. */
  private change(walletId: string): Refusal | null {
    return this.wallet(walletId)?.status === 'closed' ? refuse(400, 'WALLET_CLOSED') : null;
  }

  createBalance(walletId: string, balance: ModelBalance): Decision<ModelBalance> {
    const wallet = this.wallet(walletId);
    if (!wallet) return refuse(404, 'NOT_FOUND');
    const closed = this.change(walletId);
    if (closed) return closed;
    if (wallet.balances.some((existing) => existing.name === balance.name)) return validation;
    wallet.balances.push(balance);
    return { ok: true, value: balance };
  }

  private resolve(subject: Subject): string | null {
    if (subject.type === 'ACCOUNT') return subject.identifier;
    const wallet = this.wallet(subject.identifier);
    const name = subject.balance ?? MAIN;
    if (!wallet || !wallet.balances.some((balance) => balance.name === name)) return null;
    return walletAddress(wallet.id, name);
  }

  /**
   * Takes `amount` from the sources as they held before the command (world is unbounded): the
   * positive funds of each, in order; then each one's overdraft, in the same order. A source
   * that gives in both passes gives one portion, where it first gave. A zero amount is one
   * zero portion from the first source.
   */
  private drain(amount: bigint, asset: string, sources: readonly string[]): Portion[] | null {
    if (sources.length === 0) return null;
    if (amount === 0n) return [{ address: sources[0]!, amount: 0n }];
    const taken = new Map<string, bigint>();
    let left = amount;
    const held = (address: string) => this.balanceOf(address, asset) - (taken.get(address) ?? 0n);
    const take = (address: string, room: bigint) => {
      const portion = room < left ? room : left;
      if (portion <= 0n) return;
      taken.set(address, (taken.get(address) ?? 0n) + portion);
      left -= portion;
    };
    for (const address of sources) {
      if (left === 0n) break;
      take(address, address === WORLD ? left : held(address) > 0n ? held(address) : 0n);
    }
    for (const address of sources) {
      if (left === 0n) break;
      if (address !== WORLD) take(address, held(address) + this.overdraftOf(address, asset));
    }
    return left === 0n ? [...taken].map(([address, portion]) => ({ address, amount: portion })) : null;
  }

  /** The ledger's last word: no account but world may end below minus its overdraft limit; a reference is used once. */
  private admit(postings: readonly Posting[], reference: string | undefined): Refusal | null {
    const net = new Map<string, bigint>();
    for (const posting of postings) {
      net.set(`${posting.source} ${posting.asset}`, (net.get(`${posting.source} ${posting.asset}`) ?? 0n) - posting.amount);
      net.set(`${posting.destination} ${posting.asset}`, (net.get(`${posting.destination} ${posting.asset}`) ?? 0n) + posting.amount);
    }
    for (const [key, delta] of net) {
      if (key.startsWith(`${WORLD} `)) continue;
      if ((this.amounts.get(key) ?? 0n) + delta < -(this.overdrafts.get(key) ?? 0n)) return insufficient;
    }
    if (reference !== undefined && this.references.has(reference)) return refuse(409, 'CONFLICT');
    return null;
  }

  private post(postings: readonly Posting[], reference: string | undefined): void {
    for (const posting of postings) {
      if (posting.source !== WORLD) this.amounts.set(`${posting.source} ${posting.asset}`, this.balanceOf(posting.source, posting.asset) - posting.amount);
      if (posting.destination !== WORLD) {
        this.amounts.set(`${posting.destination} ${posting.asset}`, this.balanceOf(posting.destination, posting.asset) + posting.amount);
      }
    }
    if (reference !== undefined) this.references.add(reference);
    this.transactions.push({ postings: [...postings], reference: reference ?? null });
  }

  credit(input: CreditInput): Decision<Posting[]> {
    const wallet = this.wallet(input.walletId);
    if (!wallet) return refuse(404, 'NOT_FOUND');
    const closed = this.change(wallet.id);
    if (closed) return closed;
    for (const subject of input.sources) {
      const payer = subject.type === 'WALLET' ? this.outgoing(subject.identifier) : null;
      if (payer) return payer;
    }
    if (!wallet.balances.some((balance) => balance.name === input.balance)) return validation;
    const destination = walletAddress(wallet.id, input.balance);
    const sources: string[] = [];
    for (const subject of input.sources.length > 0 ? input.sources : [{ type: 'ACCOUNT', identifier: WORLD } as const]) {
      const address = this.resolve(subject);
      if (address === null) return validation;
      sources.push(address);
    }
    const portions = this.drain(input.amount, input.asset, sources);
    if (!portions) return insufficient;
    const postings = portions.map((portion) => ({ source: portion.address, destination, asset: input.asset, amount: portion.amount }));
    const refusal = this.admit(postings, input.reference);
    if (refusal) return refusal;
    this.post(postings, input.reference);
    return { ok: true, value: postings };
  }

  /** Wildcard order: expiring balances soonest first, then by ascending priority, main last; ties by name. */
  wildcardOrder(balances: readonly ModelBalance[]): ModelBalance[] {
    const byName = (a: ModelBalance, b: ModelBalance) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const expiring = balances.filter((b) => b.name !== MAIN && b.expiresAt !== null).sort((a, b) => a.expiresAt! - b.expiresAt! || byName(a, b));
    const lasting = balances
      .filter((b) => b.name !== MAIN && b.expiresAt === null)
      .sort((a, b) => (a.priority < b.priority ? -1 : a.priority > b.priority ? 1 : byName(a, b)));
    return [...expiring, ...lasting, ...balances.filter((b) => b.name === MAIN)];
  }

  /** Decides a debit without applying it: a pending one needs the hold id from Coffer's answer. */
  planDebit(input: DebitInput): Decision<PlannedDebit> {
    const wallet = this.wallet(input.walletId);
    if (!wallet) return refuse(404, 'NOT_FOUND');
    const status = this.outgoing(wallet.id) ?? (input.destination.type === 'WALLET' ? this.change(input.destination.identifier) : null);
    if (status) return status;
    if (input.pending && input.expiresAt !== undefined && input.expiresAt <= this.now) return validation;
    let chosen: ModelBalance[];
    if (input.balances.length === 1 && input.balances[0] === '*') {
      chosen = this.wildcardOrder(wallet.balances);
    } else {
      chosen = [];
      for (const name of input.balances.length > 0 ? input.balances : [MAIN]) {
        const balance = wallet.balances.find((candidate) => candidate.name === name);
        if (!balance) return validation;
        chosen.push(balance);
      }
    }
    const spendable = chosen.filter((balance) => !this.isExpired(balance));
    if (spendable.length === 0) return insufficient;
    const destinationAddress = this.resolve(input.destination);
    if (destinationAddress === null) return validation;
    const portions = this.drain(
      input.amount,
      input.asset,
      spendable.map((balance) => walletAddress(wallet.id, balance.name)),
    );
    if (!portions) return insufficient;
    // A pending debit's target is its new hold account, which starts empty like any unknown address.
    const target = input.pending ? holdAddress('\u0000planned') : destinationAddress;
    const refusal = this.admit(
      portions.map((portion) => ({ source: portion.address, destination: target, asset: input.asset, amount: portion.amount })),
      input.reference,
    );
    if (refusal) return refusal;
    return { ok: true, value: { input, portions, destinationAddress } };
  }

  applyDebit(plan: PlannedDebit, holdId: string | null): void {
    const { input, portions } = plan;
    const target = holdId === null ? plan.destinationAddress : holdAddress(holdId);
    this.post(
      portions.map((portion) => ({ source: portion.address, destination: target, asset: input.asset, amount: portion.amount })),
      input.reference,
    );
    if (holdId === null) return;
    this.holds.push({
      id: holdId,
      walletId: input.walletId,
      asset: input.asset,
      original: input.amount,
      remaining: input.amount,
      destination: input.destination,
      destinationAddress: plan.destinationAddress,
      sources: portions,
      expiresAt: input.expiresAt ?? null,
      status: 'open',
    });
  }

  confirm(holdId: string, amount: bigint | undefined, final: boolean): Decision<Posting[]> {
    const hold = this.hold(holdId);
    if (!hold) return refuse(404, 'NOT_FOUND');
    const status = this.outgoing(hold.walletId) ?? (hold.destination.type === 'WALLET' ? this.change(hold.destination.identifier) : null);
    if (status) return status;
    if (this.holdStatus(hold) === 'expired') return refuse(400, 'HOLD_EXPIRED');
    if (hold.status !== 'open' || hold.remaining === 0n) return refuse(400, 'HOLD_CLOSED');
    const confirmed = amount === undefined || amount === 0n ? hold.remaining : amount;
    if (confirmed > hold.remaining) return insufficient;
    const from = holdAddress(hold.id);
    const postings: Posting[] = [{ source: from, destination: hold.destinationAddress, asset: hold.asset, amount: confirmed }];
    const left = hold.remaining - confirmed;
    if (final && left > 0n) postings.push({ source: from, destination: walletAddress(hold.walletId, MAIN), asset: hold.asset, amount: left });
    this.post(postings, undefined);
    hold.remaining = final ? 0n : left;
    if (hold.remaining === 0n) hold.status = 'confirmed';
    return { ok: true, value: postings };
  }

  void(holdId: string): Decision<Posting[]> {
    const hold = this.hold(holdId);
    if (!hold) return refuse(404, 'NOT_FOUND');
    if (hold.status !== 'open' || hold.remaining === 0n || this.isHoldExpired(hold)) return refuse(400, 'HOLD_CLOSED');
    this.refund(hold);
    hold.status = 'voided';
    return { ok: true, value: [] };
  }

  /** What remains on the hold, back to its sources in posting order, each capped at what it gave. */
  private refund(hold: ModelHold): void {
    const postings: Posting[] = [];
    let left = hold.remaining;
    for (const source of hold.sources) {
      const refund = source.amount < left ? source.amount : left;
      if (refund === 0n) continue;
      postings.push({ source: holdAddress(hold.id), destination: source.address, asset: hold.asset, amount: refund });
      left -= refund;
    }
    // A hold that holds nothing (a zero pending debit) moves nothing: no transaction.
    if (postings.length > 0) this.post(postings, undefined);
    hold.remaining = 0n;
  }

  /** A sweep: every open hold due now is voided, soonest expiry first, then oldest; returns how many. */
  sweep(): number {
    const due = this.holds.filter((hold) => hold.status === 'open' && this.isHoldExpired(hold));
    // Stable sort: creation order among equal expiries.
    due.sort((a, b) => a.expiresAt! - b.expiresAt!);
    for (const hold of due) {
      this.refund(hold);
      hold.status = 'expired';
    }
    return due.length;
  }

  /** PATCH /holds/{id} `{expiresAt}`. */
  moveExpiry(holdId: string, expiresAt: number | null): Decision<null> {
    const hold = this.hold(holdId);
    if (!hold) return refuse(404, 'NOT_FOUND');
    const closed = this.change(hold.walletId);
    if (closed) return closed;
    if (this.holdStatus(hold) === 'expired') return refuse(400, 'HOLD_EXPIRED');
    if (hold.status !== 'open') return refuse(400, 'HOLD_CLOSED');
    if (expiresAt !== null && expiresAt <= this.now) return validation;
    hold.expiresAt = expiresAt;
    return { ok: true, value: null };
  }

  /** PATCH /wallets/{id} `{status}`: closing needs every balance and hold of the wallet at zero. */
  setStatus(walletId: string, status: WalletStatus): Decision<null> {
    const wallet = this.wallet(walletId);
    if (!wallet) return refuse(404, 'NOT_FOUND');
    if (wallet.status === 'closed') return refuse(400, 'WALLET_CLOSED');
    if (status === 'closed') {
      const held = [...this.amounts].some(([key, amount]) => amount !== 0n && this.owner(key.slice(0, key.lastIndexOf(' '))) === walletId);
      if (held) return validation;
    }
    wallet.status = status;
    return { ok: true, value: null };
  }

  /** PATCH /wallets/{id}/balances/{name} `{overdraft: {asset: limit}}`. */
  setOverdraft(walletId: string, name: string, asset: string, limit: bigint): Decision<null> {
    const wallet = this.wallet(walletId);
    if (!wallet || !wallet.balances.some((balance) => balance.name === name)) return refuse(404, 'NOT_FOUND');
    const closed = this.change(walletId);
    if (closed) return closed;
    const address = walletAddress(walletId, name);
    if (this.balanceOf(address, asset) < -limit) return validation;
    this.overdrafts.set(`${address} ${asset}`, limit);
    return { ok: true, value: null };
  }

  summary(walletId: string): SummaryView {
    const wallet = this.wallet(walletId)!;
    const available = new Map<string, bigint>();
    const expired = new Map<string, bigint>();
    const expirable = new Map<string, bigint>();
    const held = new Map<string, bigint>();
    const add = (into: Map<string, bigint>, asset: string, amount: bigint) => into.set(asset, (into.get(asset) ?? 0n) + amount);
    const balances = [...wallet.balances]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((balance) => {
        const assets = new Map<string, bigint>();
        const prefix = `${walletAddress(wallet.id, balance.name)} `;
        for (const [key, amount] of this.amounts) if (key.startsWith(prefix)) assets.set(key.slice(prefix.length), amount);
        for (const [asset, amount] of assets) {
          if (this.isExpired(balance)) add(expired, asset, amount);
          else {
            add(available, asset, amount);
            if (balance.expiresAt !== null) add(expirable, asset, amount);
          }
        }
        const limits = new Map<string, bigint>();
        for (const [key, limit] of this.overdrafts) if (key.startsWith(prefix)) limits.set(key.slice(prefix.length), limit);
        const overdraft = nonZero(limits);
        return {
          name: balance.name,
          expiresAt: balance.expiresAt,
          priority: balance.priority,
          ...(Object.keys(overdraft).length > 0 ? { overdraft } : {}),
          assets: nonZero(assets),
        };
      });
    for (const hold of this.holds) if (hold.walletId === walletId) add(held, hold.asset, hold.remaining);
    return {
      balances,
      availableFunds: nonZero(available),
      expiredFunds: nonZero(expired),
      expirableFunds: nonZero(expirable),
      holdFunds: nonZero(held),
    };
  }
}
