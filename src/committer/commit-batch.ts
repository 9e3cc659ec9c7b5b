/**
 * One batch, one database transaction. `commitBatch` reads top to bottom as the steps it
 * takes; every step is a function below it, in the same order:
 *
 *   partitionKeys    same key twice in the batch: the first owns it, the others follow it
 *   nameReads        every command names what it reads (wallets, holds, references, rows)
 *   claimAndLoad     (storage) claims the owners' keys in key order, locks the named wallets
 *                    and holds, loads the snapshot and locks the named volume rows that
 *                    exist, sorted: the statement BEGIN travels with
 *   readClosing      (storage) for a batch that may close a wallet: its accounts' balances,
 *                    read again now that the wallet is locked
 *   answerStoredKeys a key used before replays its stored outcome, or is refused (409)
 *   planCommands     each remaining command checks itself against the snapshot
 *   lockRemaining    creates and locks, sorted, the rows the plans need beyond those locked
 *   assertLocksCover every row a plan will change is locked, or the batch rolls back
 *   applyCommands    the plans decide against the locked balances, one by one
 *   writeEffects     (storage) all effects and keyed outcomes, sent with COMMIT
 *   answerFollowers  same-key followers replay their owner's answer
 *
 * Nothing here catches an error: a failure rolls the whole transaction back and reaches
 * committer.ts, which decides what may run again.
 */
import { emptyReads, type Reads, type Snapshot } from '../domain/batch.ts';
import type { Result } from '../domain/errors.ts';
import { volumeKey, type LockedBalances, type LockedOverdrafts } from '../domain/posting.ts';
import type { Instant } from '../domain/time.ts';
import type { Transaction } from '../storage/database.ts';
import { writeEffects, type OutcomeRow } from '../storage/effects.ts';
import type { EventsTarget } from '../storage/events.ts';
import { storedOutcomes, type KeyClaim } from '../storage/idempotency-keys.ts';
import { claimAndLoad, readWalletAccounts } from '../storage/snapshot.ts';
import { lockOrder, lockVolumes, type LockedVolumes } from '../storage/volumes.ts';
import { Effects, type ApplyContext, type Plan, type WalletCommand } from './command.ts';
import { applyContext } from './ids.ts';

/** What an HTTP answer is made of, rendered by the http layer and stored byte for byte. */
export interface Outcome {
  readonly status: number;
  readonly body: string | null;
}

export type RunResult =
  | { readonly kind: 'executed'; readonly outcome: Outcome }
  | { readonly kind: 'replayed'; readonly outcome: Outcome }
  | { readonly kind: 'conflict'; readonly message: string }
  /** COMMIT was sent and not answered, and the command has no key to find its outcome by. */
  | { readonly kind: 'unknown'; readonly message: string };

/** A queued command with its caller's promise. */
export interface Entry {
  /** The key as stored: scoped to the client when there is one (committer.ts `scopedKey`). */
  readonly key: string | undefined;
  /** The key as the client sent it, for messages. */
  readonly requestKey: string | undefined;
  /** The API client the command runs for, or null (auth off). */
  readonly createdBy: string | null;
  /** The HTTP request it came from, for its events' cause; null for background work. */
  readonly requestId: string | null;
  readonly fingerprint: string;
  readonly operation: string;
  // The command's value type is erased in the queue; `render` takes what `apply` returned.
  readonly command: WalletCommand<unknown>;
  readonly render: (result: Result<unknown>) => Outcome;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (error: unknown) => void;
}

/** What a batch did: the answer for every entry, and how many outbox events it wrote. */
export interface BatchAnswers {
  readonly byEntry: Map<Entry, RunResult>;
  readonly events: number;
}

/**
 * Runs `batch` inside `tx` and returns the answer for every entry; the caller commits. A
 * transaction that runs several batches stages their events (`events`, storage/events.ts).
 */
export async function commitBatch(tx: Transaction, ledger: string, now: Instant, batch: readonly Entry[], events: EventsTarget = 'feed'): Promise<BatchAnswers> {
  const keys = partitionKeys(batch);
  const contexts = new Map(batch.map((entry) => [entry, applyContext(entry.key, now, entry.createdBy)]));
  const reads = nameReads(batch, contexts);
  const claims = keyClaims(keys);
  const loaded = await claimAndLoad(tx, ledger, claims, now, reads);
  const { claimed, locked: expected } = loaded;
  const snapshot = await readClosing(tx, ledger, reads, loaded.snapshot);
  const answers = new Answers();
  const executing = await answerStoredKeys(tx, ledger, batch, keys, claims, claimed, answers);
  const plans = planCommands(executing, snapshot, contexts, answers);
  const locked = await lockRemaining(tx, ledger, plans, expected, loaded.overdrafts);
  assertLocksCover(plans, locked.balances);
  const effects = applyCommands(ledger, now, plans, snapshot, locked.balances, locked.overdrafts, answers);
  writeEffects(tx, ledger, effects, answers.outcomes, now, locked.created, events);
  answerFollowers(keys, answers);
  return { byEntry: answers.byEntry, events: effects.events.length };
}

interface BatchKeys {
  /** The first entry of each key in the batch: it executes, or replays the stored outcome. */
  readonly owners: Map<string, Entry>;
  /** Later entries with an owner's key: they follow the owner's answer. */
  readonly followers: Entry[];
}

/** The answers of a batch so far, and the outcomes its keyed executions store. */
class Answers {
  readonly byEntry = new Map<Entry, RunResult>();
  readonly outcomes: OutcomeRow[] = [];

  /** Answers an executed command with its rendered result; a keyed one's is stored with its key. */
  settle(entry: Entry, result: Result<unknown>): void {
    const outcome = entry.render(result);
    this.byEntry.set(entry, { kind: 'executed', outcome });
    if (entry.key !== undefined) {
      this.outcomes.push({ key: entry.key, operation: entry.operation, fingerprint: entry.fingerprint, status: outcome.status, response: outcome.body });
    }
  }
}

function conflict(entry: Entry, operation: string): RunResult {
  return { kind: 'conflict', message: `Idempotency-Key ${JSON.stringify(entry.requestKey)} was already used for a different request (${operation})` };
}

function partitionKeys(batch: readonly Entry[]): BatchKeys {
  const owners = new Map<string, Entry>();
  const followers: Entry[] = [];
  for (const entry of batch) {
    if (entry.key === undefined) continue;
    if (owners.has(entry.key)) followers.push(entry);
    else owners.set(entry.key, entry);
  }
  return { owners, followers };
}

/**
 * Reads are named for every command, before knowing which keys replay: a replayed command's
 * reads are loaded for nothing, and the claim costs no extra round trip.
 */
function nameReads(batch: readonly Entry[], contexts: ReadonlyMap<Entry, ApplyContext>): Reads {
  const reads = emptyReads();
  for (const entry of batch) entry.command.reads(reads, contexts.get(entry)!);
  return reads;
}

/**
 * A command that may close a wallet needs the balance of every account of it, read after
 * the wallet's exclusive lock was granted: the snapshot's statement began before that wait,
 * so its view may predate the commits it waited for. No transaction can move the wallet's
 * money now, so a plain read in a new statement is exact.
 */
async function readClosing(tx: Transaction, ledger: string, reads: Reads, snapshot: Snapshot): Promise<Snapshot> {
  if (reads.closing.size === 0) return snapshot;
  return { ...snapshot, walletAccounts: await readWalletAccounts(tx, ledger, [...reads.closing]) };
}

function keyClaims(keys: BatchKeys): KeyClaim[] {
  return [...keys.owners.values()].map((e) => ({ key: e.key!, operation: e.operation, fingerprint: e.fingerprint }));
}

/**
 * Answers the owners whose key was used before this batch — the stored outcome when the
 * request is the same, a conflict when it is not — and returns the entries to execute: the
 * unkeyed ones and the owners of keys this batch claimed, in batch order.
 */
async function answerStoredKeys(
  tx: Transaction,
  ledger: string,
  batch: readonly Entry[],
  keys: BatchKeys,
  claims: readonly KeyClaim[],
  claimed: ReadonlySet<string>,
  answers: Answers,
): Promise<Entry[]> {
  const stored = await storedOutcomes(tx, ledger, claims.map((claim) => claim.key).filter((key) => !claimed.has(key)));
  const executing: Entry[] = [];
  for (const entry of batch) {
    if (entry.key === undefined) executing.push(entry);
    else if (keys.owners.get(entry.key) === entry) {
      const previous = stored.get(entry.key);
      if (!previous) executing.push(entry);
      else if (previous.fingerprint !== entry.fingerprint) answers.byEntry.set(entry, conflict(entry, previous.operation));
      else answers.byEntry.set(entry, { kind: 'replayed', outcome: { status: previous.status, body: previous.response } });
    }
  }
  return executing;
}

/** Plans every executing command against the snapshot; a refusal is answered here and locks nothing. */
function planCommands(
  executing: readonly Entry[],
  snapshot: Snapshot,
  contexts: ReadonlyMap<Entry, ApplyContext>,
  answers: Answers,
): Map<Entry, Plan<unknown>> {
  const plans = new Map<Entry, Plan<unknown>>();
  for (const entry of executing) {
    const planned = entry.command.plan(snapshot, contexts.get(entry)!);
    if (planned.ok) plans.set(entry, planned.value);
    else answers.settle(entry, planned);
  }
  return plans;
}

/**
 * Creates and locks the rows the plans need beyond those locked with the snapshot: rows that
 * did not exist yet, or all of them when a command could not name its rows
 * (Reads.locksUnknown). Returns every locked row's balance, the snapshot's included.
 */
async function lockRemaining(
  tx: Transaction,
  ledger: string,
  plans: ReadonlyMap<Entry, Plan<unknown>>,
  expected: LockedBalances,
  expectedOverdrafts: LockedOverdrafts,
): Promise<LockedVolumes> {
  const unexpected = [...plans.values()].flatMap((plan) => plan.locks).filter((key) => !expected.has(volumeKey(key.address, key.asset)));
  const locked = await lockVolumes(tx, ledger, unexpected);
  for (const [key, balance] of expected) locked.balances.set(key, balance);
  for (const [key, overdraft] of expectedOverdrafts) locked.overdrafts.set(key, overdraft);
  return locked;
}

/**
 * Every row a plan will change must be locked now; a plan naming one that is not is a bug,
 * and the batch rolls back rather than write what no lock protected.
 */
function assertLocksCover(plans: ReadonlyMap<Entry, Plan<unknown>>, locked: LockedBalances): void {
  for (const plan of plans.values()) {
    for (const key of lockOrder(plan.locks)) {
      if (!locked.has(volumeKey(key.address, key.asset))) {
        throw new Error(`a plan changes ${key.address} ${key.asset}, which the batch did not lock`);
      }
    }
  }
}

/**
 * Applies the plans in order against the locked balances; each is answered with its own
 * result. The events a command emits carry its cause; a refused command's are dropped.
 */
function applyCommands(
  ledger: string,
  now: Instant,
  plans: ReadonlyMap<Entry, Plan<unknown>>,
  snapshot: Snapshot,
  locked: LockedBalances,
  overdrafts: LockedOverdrafts,
  answers: Answers,
): Effects {
  const effects = new Effects(snapshot, locked, overdrafts, ledger);
  for (const [entry, plan] of plans) {
    const mark = effects.beginCommand(now, { requestId: entry.requestId, idempotencyKey: entry.requestKey ?? null, clientId: entry.createdBy });
    const result = plan.apply(effects);
    if (!result.ok) effects.refuse(mark);
    answers.settle(entry, result);
  }
  return effects;
}

/** A follower replays its owner's answer, or is refused when its request differs from the owner's. */
function answerFollowers(keys: BatchKeys, answers: Answers): void {
  for (const follower of keys.followers) {
    const owner = keys.owners.get(follower.key!)!;
    const answer = answers.byEntry.get(owner)!;
    if (follower.fingerprint !== owner.fingerprint) answers.byEntry.set(follower, conflict(follower, owner.operation));
    else if (answer.kind === 'conflict' || answer.kind === 'unknown') answers.byEntry.set(follower, answer);
    else answers.byEntry.set(follower, { kind: 'replayed', outcome: answer.outcome });
  }
}
