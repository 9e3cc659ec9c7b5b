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
import type { BatchWrites, NewBalance, Reads, Snapshot } from '../domain/batch.ts';
import { MAIN } from '../domain/chart.ts';
import type { Result } from '../domain/errors.ts';
import type { LockedBalances, VolumeKey } from '../domain/posting.ts';
import type { Hold, Metadata, Wallet } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import { Journal } from '../ledger/journal.ts';

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
  readonly journal: Journal;
  private readonly createdWallets = new Set<string>();
  private readonly createdBalances = new Set<string>();

  constructor(
    private readonly snapshot: Snapshot,
    locked: LockedBalances,
  ) {
    this.journal = new Journal(locked, snapshot.usedReferences);
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
