/**
 * The shape every wallet command takes, so that many commands can run in ONE database
 * transaction (group commit, see committer.ts and commit-batch.ts) with a fixed number of
 * statements however many commands there are:
 *
 *   1. `reads`  — the wallets, holds and references the command needs are named, and the
 *      volume rows it will touch when it can tell without the snapshot;
 *   2. (storage loads all of them for the whole batch at once → a `Snapshot`, and in the
 *      same statement locks the named volume rows that exist, sorted — unless a command
 *      could not name its rows, see `Reads.locksUnknown`)
 *   3. `plan`   — checks everything that does not depend on amounts against the snapshot,
 *      and names the volume rows it will touch (a refusal here touches nothing);
 *   4. (storage creates and locks, sorted, in one statement, the rows not locked in 2 —
 *      none in the common case, so a batch of debits or credits costs one round trip less;
 *      only rows that did not exist at 2, when every command named its rows)
 *   5. `apply`  — synchronous: decides against the locked balances and on success records
 *      its writes in `Effects`; a refused command records nothing, and rows created for it
 *      alone are removed again.
 *   6. (storage writes every command's effects in a few multi-row statements; COMMIT)
 *
 * Commands in one batch were all in flight at once, so any order among them is a valid
 * linearization. Each sees the database as it was before the batch plus the money moved by
 * the commands applied before it; an entity created in the same batch is not visible to the
 * others (they are ordered before its creation), except for uniqueness checks.
 */
import type { Balance } from '../domain/balance.ts';
import type { AccountBalance, BalancePatch, BatchWrites, NewBalance, OverdraftChange, Reads, Snapshot } from '../domain/batch.ts';
import { accountOwner, MAIN } from '../domain/chart.ts';
import type { Result } from '../domain/errors.ts';
import { volumeKey, type LockedBalances, type LockedOverdrafts, type VolumeKey } from '../domain/posting.ts';
import type { Hold, HoldStatus, Metadata, StatusChange, Wallet, WalletStatus } from '../domain/records.ts';
import type { EventCause, NewEvent, OutboxEvent } from '../domain/events.ts';
import type { Instant } from '../domain/time.ts';
import { Journal } from '../ledger/journal.ts';
import { newUuidV7 } from './ids.ts';

export interface ApplyContext {
  readonly now: Instant;
  /** The command's wallet or hold id: derived from its Idempotency-Key, else random; the same on every call. */
  readonly newId: (kind: 'wallet' | 'hold') => string;
  /** True when ids derive from a key, so one may already exist (after the key's record was purged). */
  readonly idsDerived: boolean;
  /** The API client the command runs for (auth on), recorded on what it creates; null without auth. */
  readonly createdBy: string | null;
}

/** Everything a batch will write, accumulated command by command; storage writes it (storage/effects.ts). */
export class Effects implements BatchWrites {
  readonly wallets: Wallet[] = [];
  readonly balances: NewBalance[] = [];
  readonly metadataPatches = new Map<string, Record<string, string>>();
  readonly holds: Hold[] = [];
  readonly holdRemaining = new Map<string, bigint>();
  readonly holdStatuses = new Map<string, HoldStatus>();
  readonly holdExpiries = new Map<string, Instant | null>();
  readonly statusChanges: { walletId: string; previous: WalletStatus; change: StatusChange }[] = [];
  readonly balancePatches = new Map<string, BalancePatch>();
  readonly overdrafts = new Map<string, OverdraftChange>();
  readonly journal: Journal;
  readonly events: OutboxEvent[] = [];
  private command: { readonly now: Instant; readonly cause: EventCause } | null = null;
  private readonly createdWallets = new Set<string>();
  private readonly createdBalances = new Set<string>();
  private readonly statuses = new Map<string, WalletStatus>();

  constructor(
    private readonly snapshot: Snapshot,
    locked: LockedBalances,
    overdrafts: LockedOverdrafts = new Map(),
    /** The ledger the batch writes, shown in the events' resources. */
    readonly ledger: string = '',
  ) {
    this.journal = new Journal(locked, snapshot.usedReferences, overdrafts);
  }

  /**
   * Opens a command's turn: the events it emits get its instant and cause. Returns a mark
   * to pass to `refuse` when the command is refused: its events are dropped with it.
   */
  beginCommand(now: Instant, cause: EventCause): number {
    this.command = { now, cause };
    return this.events.length;
  }

  /** A refused command records nothing: the events it emitted before refusing are dropped. */
  refuse(mark: number): void {
    this.events.length = mark;
  }

  /** Records an event of the running command, written with the batch (the outbox). */
  emit(event: NewEvent): void {
    const command = this.command;
    if (command === null) throw new Error('an event was emitted outside a command');
    this.events.push({ ...event, id: newUuidV7(), occurredAt: command.now, cause: command.cause });
  }

  /** The 1-based place of the transaction posted last, for an event that shows it (`NewEvent.transaction`). */
  lastTransaction(): number {
    return this.journal.transactions.length;
  }

  /** A loaded wallet's status as this batch has left it so far (commands before this one may have changed it). */
  walletStatus(id: string): WalletStatus | undefined {
    return this.statuses.get(id) ?? this.snapshot.wallets.get(id)?.status;
  }

  changeStatus(walletId: string, change: StatusChange): void {
    const previous = this.walletStatus(walletId);
    if (previous === undefined) throw new Error(`wallet ${walletId} was not loaded`);
    this.statuses.set(walletId, change.status);
    this.statusChanges.push({ walletId, previous, change });
  }

  /** A loaded hold as this batch has left it so far: its status and expiry after earlier commands. */
  hold(hold: Hold): Hold {
    const status = this.holdStatuses.get(hold.id) ?? hold.status;
    const expiresAt = this.holdExpiries.has(hold.id) ? this.holdExpiries.get(hold.id)! : hold.expiresAt;
    return { ...hold, status, expiresAt };
  }

  settleHold(holdId: string, remaining: bigint, status: HoldStatus): void {
    this.holdRemaining.set(holdId, remaining);
    this.holdStatuses.set(holdId, status);
  }

  moveHoldExpiry(holdId: string, expiresAt: Instant | null): void {
    this.holdExpiries.set(holdId, expiresAt);
  }

  patchBalance(patch: BalancePatch): void {
    this.balancePatches.set(`${patch.walletId}\u0000${patch.name}`, patch);
  }

  /** A locked row's new overdraft limit; the caller checked that its balance is within it. */
  setOverdraft(address: string, asset: string, overdraft: bigint): void {
    this.journal.setOverdraft(address, asset, overdraft);
    this.overdrafts.set(volumeKey(address, asset), { address, asset, overdraft });
  }

  /**
   * Every account of a closing wallet whose balance is not zero, after the commands this
   * batch applied so far: the balances read under the wallet's exclusive lock
   * (`Snapshot.walletAccounts`) plus what this batch has posted on its accounts.
   */
  walletAccounts(walletId: string): AccountBalance[] {
    const accounts = this.snapshot.walletAccounts.get(walletId);
    if (accounts === undefined) throw new Error(`the accounts of wallet ${walletId} were not read: name it in Reads.closing`);
    const balances = new Map(accounts.map((account) => [volumeKey(account.address, account.asset), account]));
    for (const delta of this.journal.volumeDeltas()) {
      if (this.accountWallet(delta.address) !== walletId) continue;
      const key = volumeKey(delta.address, delta.asset);
      const before = balances.get(key)?.balance ?? 0n;
      balances.set(key, { address: delta.address, asset: delta.asset, balance: before + delta.input - delta.output });
    }
    return [...balances.values()].filter((account) => account.balance !== 0n);
  }

  /** The wallet an account belongs to: by its address, or for a hold's account by the hold (loaded or new). */
  private accountWallet(address: string): string | null {
    const owner = accountOwner(address);
    if (owner === null) return null;
    if ('walletId' in owner) return owner.walletId;
    return this.snapshot.holds.get(owner.holdId)?.walletId ?? this.holds.find((hold) => hold.id === owner.holdId)?.walletId ?? null;
  }

  walletExists(id: string): boolean {
    return this.snapshot.wallets.has(id) || this.createdWallets.has(id);
  }

  createWallet(wallet: Wallet): void {
    this.createdWallets.add(wallet.id);
    this.wallets.push(wallet);
    this.balances.push({ walletId: wallet.id, balance: { name: MAIN, expiresAt: null, priority: 0n }, createdAt: wallet.createdAt, createdBy: wallet.createdBy ?? null });
  }

  balanceExists(walletId: string, name: string): boolean {
    return this.snapshot.balances.get(walletId)?.has(name) === true || this.createdBalances.has(`${walletId}\u0000${name}`);
  }

  createBalance(walletId: string, balance: Balance, createdAt: Instant, createdBy: string | null): void {
    this.createdBalances.add(`${walletId}\u0000${balance.name}`);
    this.balances.push({ walletId, balance, createdAt, createdBy });
  }

  patchMetadata(walletId: string, metadata: Metadata): void {
    this.metadataPatches.set(walletId, { ...this.metadataPatches.get(walletId), ...metadata });
  }
}

/** A command that passed every check that does not need amounts, with the rows it will touch. */
export interface Plan<Value> {
  /** The volume rows to create and lock. */
  readonly locks: readonly VolumeKey[];
  /** Decides against the locked balances and records effects; synchronous, no I/O. */
  apply(effects: Effects): Result<Value>;
}

export interface WalletCommand<Value> {
  /** Names what to load. */
  reads(reads: Reads, context: ApplyContext): void;
  /** Checks the command against the snapshot; a refusal here locks and writes nothing. */
  plan(snapshot: Snapshot, context: ApplyContext): Result<Plan<Value>>;
}
