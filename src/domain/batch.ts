/**
 * The plain values a batch of commands and storage exchange: what the commands name to load
 * (`Reads`), what storage loads for them (`Snapshot`), and what the batch writes
 * (`BatchWrites`). They live here, below both, so that storage implements the committer's
 * reads and writes without importing anything above itself. The committer's side of the
 * contract — commands, plans, the `Effects` that records writes — is committer/command.ts.
 */
import type { Balance } from './balance.ts';
import { volumeKey, type VolumeDelta, type VolumeKey } from './posting.ts';
import type { Hold, Metadata, NewTransaction, Wallet } from './records.ts';
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
}

export function emptyReads(): Reads {
  return { wallets: new Set(), holds: new Set(), references: new Set(), volumes: new Map(), locksUnknown: false };
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
  readonly journal: JournalWrites;
}
