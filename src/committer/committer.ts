/**
 * The committer: every mutation runs here, and with group commit many of them share ONE
 * database transaction that holds all of their effects and, for requests that carry an
 * Idempotency-Key, their stored outcomes. This file owns the queue and the failure rule;
 * commit-batch.ts is one batch's transaction, step by step.
 *
 * Concurrent commands queue. A committer takes everything queued (up to `batchSizeMax`),
 * and in one transaction: claims the batch's keys in key order (a concurrent holder of a
 * key — in this process or another — makes the claim wait until it commits or rolls back),
 * loads what the commands read and locks the volume rows they expect to touch, all in the
 * statement that BEGIN travels with; replays or refuses (409) the keys already used; plans
 * each remaining command (refusing what fails without looking at amounts); creates and locks
 * the rows the plans need beyond those, if any, in sorted order; applies the commands one by
 * one with the domain rules (a refused command writes nothing, the others still commit);
 * writes all effects and outcomes in a few multi-row statements sent with COMMIT; then
 * answers each caller with its own outcome. A batch of debits and credits thus costs two
 * round trips. Same-key requests in one batch: the first executes, the rest replay it. A
 * crash before COMMIT leaves nothing; a retry runs afresh.
 *
 * A batch closes when a committer is free (or after `batchWaitMs`, when set), so a lone
 * request is not delayed, and under load each commit carries many commands. Up to
 * `batchConcurrency` batches are in flight at once, so the database works on one while the
 * next is being prepared.
 *
 * Failure has one rule: a command is run again only when the database proved that nothing
 * committed (`provenRolledBack`: an error answered to a statement sent before COMMIT —
 * a deadlock, a unique violation, a bug caught before COMMIT). Then a batch's commands are
 * retried one per transaction, so one bad command cannot fail the others. When COMMIT was
 * sent and its answer lost, the outcome is unknown and nothing is guessed: a keyed command
 * resolves it through its key's claim (the stored outcome if the batch committed, a first
 * execution if it did not), an unkeyed one is answered `unknown` (503): only the client
 * can decide, and a retry with an Idempotency-Key is safe. A COMMIT answered with the warning
 * that its wait for the synchronous standby was cancelled (`CommitNotReplicated`) committed on
 * the primary only: every command of the batch is answered `unknown`, keyed ones too, without
 * reading their keys, since that would acknowledge what a failover may lose. A later retry
 * with the key — or the claim's retry after a session killed in that wait (its connection
 * lost: an unknown outcome) — replays only once the standby holds the outcome: the replay's
 * transaction locks the key's row, so its COMMIT waits for the standby like a write
 * (storage/idempotency-keys.ts). Nothing after COMMIT can throw
 * into this path: answers are settled before the metrics hooks run, and the hooks' own
 * failures are swallowed.
 */
import type { Result } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import type { Instant } from '../domain/time.ts';
import { fingerprint } from '../idempotency/fingerprint.ts';
import { CommitNotReplicated, provenRolledBack, type Database } from '../storage/database.ts';
import { batchConflict } from '../storage/effects.ts';
import type { WalletCommand } from './command.ts';
import { commitBatch, type BatchAnswers, type Entry, type Outcome, type RunResult } from './commit-batch.ts';

export type { Outcome, RunResult } from './commit-batch.ts';

/**
 * Attempts of a command alone after its batch failed on a concurrently taken unique value
 * (or, for a keyed command, with its commit's outcome unknown).
 */
const SOLO_ATTEMPTS_MAX = 3;

export interface Command<Value> {
  readonly operation: string;
  readonly params: Record<string, string>;
  /** The request in its canonical form (http/canonical.ts): the fingerprint's input, so spelling out a default changes nothing. */
  readonly body: unknown;
  readonly command: WalletCommand<Value>;
  render(result: Result<Value>): Outcome;
  /**
   * The API client on whose behalf it runs (auth on), or null. Its Idempotency-Key is then
   * the client's own — the same key from two clients is two requests — and what the command
   * creates records the client as `createdBy`.
   */
  readonly principal: Principal | null;
  /** The HTTP request's id, recorded as the cause of the events the command emits; absent for background work. */
  readonly requestId?: string;
}

/**
 * Where a client's Idempotency-Key is stored: behind the client's id and a separator no key
 * may contain (keys are printable ASCII), so two clients' keys never meet, and key-derived ids
 * differ too. Without a client (auth off) the key is stored as sent.
 */
export function scopedKey(key: string, principal: Principal | null | undefined): string {
  return principal ? `${principal.clientId}\u001f${key}` : key;
}

/** Why a batch failed: a concurrent unique value or lock cycle, anything else, or an unanswered COMMIT. */
export type BatchFailure = 'unique' | 'deadlock' | 'other' | 'unknown';

export interface CommitterOptions {
  readonly db: Database;
  readonly ledger: string;
  readonly clock: () => Instant;
  /** Most commands in one transaction. */
  readonly batchSizeMax?: number;
  /** How long a batch waits for more commands before it starts; 0 = start at once. */
  readonly batchWaitMs?: number;
  /**
   * Batches in flight at once, each in its own transaction on its own connection. Batches lock
   * keys, then volumes, each in sorted order, so concurrent ones wait for each other without a
   * cycle, with one exception: two batches that each create a volume row the other locked
   * first (two first uses of one balance racing). PostgreSQL breaks that cycle after
   * `deadlock_timeout`; the batch it aborts proved it committed nothing (40P01), and its
   * commands are retried one by one.
   */
  readonly batchConcurrency?: number;
  /** Told the size of every committed batch and how many outbox events it wrote (metrics; the feed's readers are woken). */
  readonly onBatch?: (size: number, events: number) => void;
  /** Told why a batch's transaction failed (metrics); see the rule above for what follows. */
  readonly onBatchFailed?: (reason: BatchFailure) => void;
}

const UNKNOWN_UNKEYED =
  'the database connection was lost while committing: this request may or may not have been applied. ' +
  'Check before repeating it; a request sent with an Idempotency-Key is safe to retry';
const UNKNOWN_KEYED =
  'the database connection was lost while committing and its outcome could not be read yet; ' +
  'retry with the same Idempotency-Key: it is applied at most once';

const NOT_REPLICATED =
  'the database committed this request but stopped waiting for its synchronous standby to confirm the copy ' +
  '(the wait was cancelled): it may be lost if the database fails over now, so it is not acknowledged. ' +
  'Check before repeating it; a request sent with an Idempotency-Key is safe to retry';

/** Runs a metrics hook; its failure must never reach the committer's failure handling. */
function report(hook: (() => void) | undefined): void {
  try {
    hook?.();
  } catch {
    // A hook is observation only.
  }
}

export function createCommitter(options: CommitterOptions) {
  const { db, ledger, clock } = options;
  const batchSizeMax = options.batchSizeMax ?? 256;
  const batchWaitMs = options.batchWaitMs ?? 0;
  const batchConcurrency = options.batchConcurrency ?? 1;
  const queue: Entry[] = [];
  let committers = 0;

  /** Runs one batch in its own transaction; the answer for every entry once it committed. */
  function commit(batch: readonly Entry[]): Promise<BatchAnswers> {
    return db.transaction(async (tx) => commitBatch(tx, ledger, clock(), batch));
  }

  /** Commits a batch and answers its callers; on failure, recovers by the rule above. */
  async function runBatch(batch: readonly Entry[]): Promise<void> {
    let answers: BatchAnswers;
    try {
      answers = await commit(batch);
    } catch (error) {
      report(() => options.onBatchFailed?.(batchConflict(error) ?? (provenRolledBack(error) ? 'other' : 'unknown')));
      if (!provenRolledBack(error)) {
        for (const entry of batch) await commitAlone(entry, error);
      } else if (batch.length === 1) {
        await commitAlone(batch[0]!, error);
      } else {
        // One command may have poisoned the batch (a concurrent unique value, a bug):
        // retry each alone so the others still go through.
        for (const entry of batch) await commitAlone(entry);
      }
      return;
    }
    for (const entry of batch) entry.resolve(answers.byEntry.get(entry)!);
    report(() => options.onBatch?.(batch.length, answers.events));
  }

  /** Whether a command may run again after `error`, by the rule above. */
  function mayRetry(entry: Entry, error: unknown): boolean {
    if (provenRolledBack(error)) return batchConflict(error) !== undefined;
    // Its key's claim would find the stored outcome and acknowledge what the standby may lack.
    if (error instanceof CommitNotReplicated) return false;
    return entry.key !== undefined;
  }

  /**
   * Runs one command in its own transaction. A unique value that a concurrent transaction
   * took while this one read its snapshot (a reference) is retried a bounded number of
   * times: the next attempt's snapshot sees it, and the command is refused cleanly. A keyed
   * command whose commit outcome is unknown runs again through its claim, which replays the
   * stored outcome if that commit went through. An unkeyed one is answered `unknown`.
   */
  async function commitAlone(entry: Entry, firstError?: unknown): Promise<void> {
    let error = firstError;
    for (let attempt = firstError === undefined ? 0 : 1; attempt < SOLO_ATTEMPTS_MAX; attempt++) {
      if (error !== undefined && !mayRetry(entry, error)) break;
      try {
        const answers = await commit([entry]);
        entry.resolve(answers.byEntry.get(entry)!);
        report(() => options.onBatch?.(1, answers.events));
        return;
      } catch (attemptError) {
        error = attemptError;
      }
    }
    if (provenRolledBack(error)) entry.reject(error);
    else if (error instanceof CommitNotReplicated) entry.resolve({ kind: 'unknown', message: NOT_REPLICATED });
    else entry.resolve({ kind: 'unknown', message: entry.key === undefined ? UNKNOWN_UNKEYED : UNKNOWN_KEYED });
  }

  async function drainQueue(): Promise<void> {
    committers++;
    try {
      for (;;) {
        // Let requests already being parsed reach the queue first. PGlite runs queries on this
        // thread, so without this turn of the event loop its batches would rarely exceed one.
        if (batchWaitMs > 0) await new Promise((resolve) => setTimeout(resolve, batchWaitMs));
        else await new Promise((resolve) => setImmediate(resolve));
        const batch = queue.splice(0, batchSizeMax);
        if (batch.length === 0) break;
        await runBatch(batch);
      }
    } finally {
      committers--;
    }
  }

  return function run<Value>(key: string | undefined, command: Command<Value>): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      queue.push(entryOf(key, command, resolve, reject));
      if (committers < batchConcurrency) void drainQueue();
    });
  };
}

/** A command as a batch holds it: its key scoped to its client, its fingerprint, its caller's promise. */
export function entryOf<Value>(
  key: string | undefined,
  command: Command<Value>,
  resolve: (result: RunResult) => void,
  reject: (error: unknown) => void,
): Entry {
  const principal = command.principal ?? null;
  return {
    key: key === undefined ? undefined : scopedKey(key, principal),
    requestKey: key,
    createdBy: principal?.clientId ?? null,
    requestId: command.requestId ?? null,
    fingerprint: fingerprint(command.operation, command.params, command.body),
    operation: command.operation,
    command: command.command as WalletCommand<unknown>,
    render: command.render as (result: Result<unknown>) => Outcome,
    resolve,
    reject,
  };
}

export type Committer = ReturnType<typeof createCommitter>;
