/**
 * The plain values a batch of commands and storage exchange: what the commands name to load
 * (`Reads`), what storage loads for them (`Snapshot`), and what the batch writes
 * (`BatchWrites`). They live here, below both, so that storage implements the committer's
 * reads and writes without importing anything above itself. The committer's side of the
 * contract — commands, plans, the `Effects` that records writes — is committer/command.ts.
 */
import type { Balance } from './balance.ts';
import type { OutboxEvent } from './events.ts';
import { volumeKey, type VolumeDelta, type VolumeKey } from './posting.ts';
import type { Hold, HoldStatus, Metadata, NewTransaction, StatusChange, Wallet } from './records.ts';
import type { Instant } from './time.ts';

export interface Reads {
  readonly wallets: Set<string>;
  readonly holds: Set<string>;
  readonly references: Set<string>;
  /**
   * Volume rows the commands will lock, by `volumeKey`, named before the snapshot so that
   * they are locked with it. Rows that exist are locked there; rows still missing are created
   * and locked after planning.
   */
  readonly volumes: Map<string, VolumeKey>;
  /**
   * Set by a command that cannot name its rows before the snapshot (a hold's settlement, a
   * wildcard debit). Its batch then locks every row after planning, in one sorted step: a
   * batch that locked some rows first and others later could wait, holding the first, for a
   * row another batch holds while that one waits for one of the first (PostgreSQL detects
   * such a cycle only after deadlock_timeout, a second).
   */
  locksUnknown: boolean;
  /**
   * Set by a command that changes a wallet's status. Every command locks the wallets it
   * names (and the wallets of the holds it names) with the snapshot, after the keys and
   * before any volume row: `FOR KEY SHARE`, so money commands never wait for each other
   * there, but `FOR UPDATE` in a batch that changes a status, so that no command moving the
   * wallet's money runs across the change (storage/snapshot.ts).
   */
  walletsExclusive: boolean;
  /**
   * Wallets a command may close: the balances of all their accounts are read again after
   * the wallet locks (`Snapshot.walletAccounts`), when no other transaction can move them.
   */
  readonly closing: Set<string>;
}

export function emptyReads(): Reads {
  return { wallets: new Set(), holds: new Set(), references: new Set(), volumes: new Map(), locksUnknown: false, walletsExclusive: false, closing: new Set() };
}

export function expectLock(reads: Reads, key: VolumeKey): void {
  reads.volumes.set(volumeKey(key.address, key.asset), key);
}

/** The database as loaded for the batch, before any of its commands. */
export interface Snapshot {
  readonly wallets: ReadonlyMap<string, Wallet>;
  /** Balances of every loaded wallet, `main` included, by name. */
  readonly balances: ReadonlyMap<string, ReadonlyMap<string, Balance>>;
  readonly holds: ReadonlyMap<string, Hold>;
  readonly usedReferences: ReadonlySet<string>;
  /**
   * For each wallet in `Reads.closing`: every account of it (balances and holds) whose
   * balance is not zero, read under the wallet's exclusive lock.
   */
  readonly walletAccounts: ReadonlyMap<string, readonly AccountBalance[]>;
}

export interface AccountBalance {
  readonly address: string;
  readonly asset: string;
  readonly balance: bigint;
}

/** A balance's changed expiry and priority (PATCH /wallets/{id}/balances/{name}). */
export interface BalancePatch {
  readonly walletId: string;
  readonly name: string;
  readonly expiresAt: Instant | null;
  readonly priority: bigint;
}

/** A volume row's new overdraft limit. */
export interface OverdraftChange {
  readonly address: string;
  readonly asset: string;
  readonly overdraft: bigint;
}

export interface NewBalance {
  readonly walletId: string;
  readonly balance: Balance;
  readonly createdAt: Instant;
  /** The API client that created it; null without auth. */
  readonly createdBy: string | null;
}

/** The ledger part of a batch's writes: its transactions, in posting order. */
export interface JournalWrites {
  readonly transactions: readonly NewTransaction[];
  /** Volume changes of all the transactions, summed per account, sorted. */
  volumeDeltas(): VolumeDelta[];
}

/** Everything a batch writes, as storage reads it (committer/command.ts `Effects` records it). */
export interface BatchWrites {
  readonly wallets: readonly Wallet[];
  readonly balances: readonly NewBalance[];
  readonly metadataPatches: ReadonlyMap<string, Metadata>;
  readonly holds: readonly Hold[];
  /** A hold's remaining amount after the batch, for every hold the batch created or settled. */
  readonly holdRemaining: ReadonlyMap<string, bigint>;
  /** A hold's status after the batch, for every hold the batch settled. */
  readonly holdStatuses: ReadonlyMap<string, HoldStatus>;
  /** A hold's new expiry, for every hold whose expiry the batch moved. */
  readonly holdExpiries: ReadonlyMap<string, Instant | null>;
  /** Every wallet status change, in order (the history keeps each; the wallet row the last). */
  readonly statusChanges: readonly { readonly walletId: string; readonly previous: string; readonly change: StatusChange }[];
  readonly balancePatches: ReadonlyMap<string, BalancePatch>;
  /** Overdraft limits after the batch, by `volumeKey`. */
  readonly overdrafts: ReadonlyMap<string, OverdraftChange>;
  readonly journal: JournalWrites;
  /** The events the batch's commands emitted, in the order they applied (the outbox). */
  readonly events: readonly OutboxEvent[];
}
