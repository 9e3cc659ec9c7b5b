/**
 * Many commands in request order, for `POST /bulk`: in ONE database transaction (atomic: all
 * applied, or none), or each standing alone through the group-commit queue. Either way every
 * command is the one its single route builds, run by the same `commitBatch` steps, so it is
 * validated, locked, applied, stored under its key and answered exactly as it would be alone.
 *
 * Order. A batch treats its commands as concurrent: each sees the database as it was before
 * the batch plus the money moved before it, but not an entity another command of the batch
 * created or changed (commit-batch.ts). A bulk request is a sequence, so it is cut into
 * steps: a command starts a new step when it names a wallet or hold (by `reads`) that an
 * earlier command of the current step names, unless both are money moves (credits and
 * debits: the journal orders those against the locked balances, as group commit does all
 * day). Creating a wallet and crediting it, or making a hold and confirming it, thus land in
 * two steps, the second seeing the first. A hundred debits of one wallet stay one step.
 *
 * Atomic: the steps run one after another in one transaction (`commitBatch` once per step;
 * a step's writes are sent before the next step's snapshot). If any command is refused — a
 * business refusal, a key conflict, or a replayed stored refusal — the transaction is rolled
 * back: nothing is applied and nothing is stored, keys included. Each step claims its keys
 * and locks its rows in sorted order, but two steps' locks are not sorted together, so a
 * concurrent transaction can meet this one in a lock cycle; PostgreSQL breaks it (40P01),
 * nothing committed, and the whole sequence runs again, a bounded number of times. The
 * steps' events are staged and take their feed positions in the last statement before
 * COMMIT (storage/events.ts `moveStagedEvents`): a position is taken by locking the feed's
 * top until commit, and a step that waited for rows while holding it would stall every
 * writer of events — and could close a lock cycle with any of them.
 *
 * Not atomic: each step's commands are queued together (group commit batches them with
 * whatever else is queued) and the next step is queued once they are all answered.
 */
import { emptyReads } from '../domain/batch.ts';
import type { Instant } from '../domain/time.ts';
import { CommitNotReplicated, CommitOutcomeUnknown, provenRolledBack, type Database } from '../storage/database.ts';
import { awaitKeysReplicated } from '../storage/idempotency-keys.ts';
import { batchConflict } from '../storage/effects.ts';
import { moveStagedEvents, prepareStaging } from '../storage/events.ts';
import { commitBatch, type Entry, type RunResult } from './commit-batch.ts';
import { entryOf, scopedKey, type Command, type Committer } from './committer.ts';
import { applyContext } from './ids.ts';

/** Most commands in one step: what one batch of the queue holds at most by default, so its statements stay the size group commit already sends. */
const STEP_SIZE_MAX = 256;
/** Runs of an atomic sequence after a lock cycle or a concurrently taken unique value. */
const ATOMIC_ATTEMPTS_MAX = 3;

export interface SequenceItem {
  readonly key: string | undefined;
  readonly command: Command<unknown>;
  /** A credit or a debit: moves money only, and may share a step with other money moves of the same wallets. */
  readonly movesMoney: boolean;
}

export type AtomicResult =
  /** Every command answered without a refusal, and the transaction committed. */
  | { readonly kind: 'committed'; readonly answers: readonly RunResult[]; /** Outbox events the transaction wrote. */ readonly events: number }
  /** At least one command was refused; the transaction was rolled back. Each answer is what the command answered inside it. */
  | { readonly kind: 'rolledBack'; readonly answers: readonly RunResult[] }
  /** COMMIT's outcome is unknown; `notReplicated`: it committed on the primary, but its wait for the synchronous standby was cancelled. */
  | {
      readonly kind: 'unknown';
      readonly notReplicated: boolean;
      /** The sequence was refused and rolled back, but the outcomes it replays could not be confirmed on the standby (`rolledBack` below). */
      readonly rolledBack?: boolean;
    };

/** True when an answer refuses its command: an error status (stored or new) or a key conflict. */
export function refusedAnswer(answer: RunResult): boolean {
  return answer.kind === 'conflict' || answer.kind === 'unknown' || answer.outcome.status >= 400;
}

/** The wallets and holds a command names, as its `reads` name them (ids derived from its key as the committer derives them). */
function footprint(item: SequenceItem, now: Instant): string[] {
  const principal = item.command.principal ?? null;
  const key = item.key === undefined ? undefined : scopedKey(item.key, principal);
  const reads = emptyReads();
  item.command.command.reads(reads, applyContext(key, now, principal?.clientId ?? null));
  return [...[...reads.wallets].map((id) => `w:${id}`), ...[...reads.holds].map((id) => `h:${id}`)];
}

/** Cuts items into steps by the rule above; each step lists item indexes in request order. */
export function steps(items: readonly SequenceItem[], now: Instant): number[][] {
  const result: number[][] = [];
  let current: number[] = [];
  let named = new Set<string>();
  let moneyOnly = true;
  items.forEach((item, index) => {
    const names = footprint(item, now);
    const moves = item.movesMoney;
    const meets = names.some((name) => named.has(name));
    if (current.length >= STEP_SIZE_MAX || (meets && !(moneyOnly && moves))) {
      result.push(current);
      current = [];
      named = new Set();
      moneyOnly = true;
    }
    current.push(index);
    for (const name of names) named.add(name);
    moneyOnly &&= moves;
  });
  if (current.length > 0) result.push(current);
  return result;
}

/** Thrown inside the transaction to roll it back when a command was refused. */
class SequenceRefused extends Error {
  constructor(readonly answers: readonly RunResult[]) {
    super('an operation of an atomic sequence was refused');
  }
}

function unused(): void {
  // A sequence reads its answers from commitBatch's result, not from the entries' promises.
}

/** Runs `items` in one transaction, step by step; see the file's comment. */
export async function runAtomic(db: Database, ledger: string, clock: () => Instant, items: readonly SequenceItem[]): Promise<AtomicResult> {
  const entries = items.map((item) => entryOf(item.key, item.command, unused, unused));
  for (let attempt = 1; ; attempt++) {
    try {
      const { answers, events } = await db.transaction(async (tx) => {
        const now = clock();
        const byEntry = new Map<Entry, RunResult>();
        let written = 0;
        const cut = steps(items, now);
        // One step is one batch, as the queue runs it; several stage their events.
        const target = cut.length > 1 ? 'staged' : 'feed';
        if (target === 'staged') await prepareStaging(tx);
        for (const step of cut) {
          const batch = step.map((index) => entries[index]!);
          const done = await commitBatch(tx, ledger, now, batch, target);
          for (const [entry, answer] of done.byEntry) byEntry.set(entry, answer);
          written += done.events;
        }
        const ordered = entries.map((entry) => byEntry.get(entry)!);
        if (ordered.some(refusedAnswer)) throw new SequenceRefused(ordered);
        if (target === 'staged') moveStagedEvents(tx, written);
        return { answers: ordered, events: written };
      });
      return { kind: 'committed', answers, events };
    } catch (error) {
      if (error instanceof SequenceRefused) return rolledBack(db, ledger, entries, error.answers);
      if (!provenRolledBack(error)) return { kind: 'unknown', notReplicated: error instanceof CommitNotReplicated };
      if (batchConflict(error) === undefined || attempt >= ATOMIC_ATTEMPTS_MAX) throw error;
    }
  }
}

/**
 * A rolled-back sequence's answer. Its transaction committed nothing, so it never waited for
 * the synchronous standby: the outcomes it replayed, and the keys it found taken, may be on
 * the primary only (a COMMIT whose wait was cancelled, answered 503). They are answered once a
 * transaction locking their keys has committed, as a committed batch's replays are; if that
 * commit's wait is cancelled in turn, or its answer lost, or a key was purged meanwhile (no
 * row to lock: the commit need not wait), the request is answered `unknown`: nothing of it
 * applied, but what it would replay is not confirmed.
 */
async function rolledBack(db: Database, ledger: string, entries: readonly Entry[], answers: readonly RunResult[]): Promise<AtomicResult> {
  // A key's first use in the sequence tells whether it was there before: a later use of a key
  // the sequence itself claimed replays that claim, which the rollback undid.
  const before = new Map<string, boolean>();
  entries.forEach((entry, i) => {
    if (entry.key !== undefined && !before.has(entry.key)) before.set(entry.key, answers[i]!.kind === 'replayed' || answers[i]!.kind === 'conflict');
  });
  const keys = [...before].filter(([, existed]) => existed).map(([key]) => key);
  if (keys.length === 0) return { kind: 'rolledBack', answers };
  let locked: number;
  try {
    locked = await db.transaction((tx) => awaitKeysReplicated(tx, ledger, keys));
  } catch (error) {
    if (error instanceof CommitOutcomeUnknown) return { kind: 'unknown', notReplicated: error instanceof CommitNotReplicated, rolledBack: true };
    throw error;
  }
  // A key the purge deleted meanwhile left nothing to lock, so the commit may not have waited.
  if (locked < keys.length) return { kind: 'unknown', notReplicated: false, rolledBack: true };
  return { kind: 'rolledBack', answers };
}

/** A command of a non-atomic sequence that failed (a 5xx: its transaction proved it rolled back), with why. */
export interface FailedItem {
  readonly kind: 'failed';
  readonly error: unknown;
}

/** A command of a non-atomic sequence not run, because an earlier step's command failed or its outcome is unknown. */
export interface NotRunItem {
  readonly kind: 'notRun';
}

/**
 * Runs `items` through the queue, step by step, each command on its own; answers in request order.
 *
 * Once a command has failed (5xx) or its outcome is unknown, the later steps are not run: a
 * later command naming its wallet or hold would run against a state that may lack its effect,
 * and a refusal it met would be stored under its key, so a retry of the request with the same
 * key would replay that refusal instead of running it after the failed one. Not run and not
 * stored, they run when the request is retried. (All later steps stop, not just those naming
 * the same wallet or hold: simpler, and the retry finishes them all the same.)
 */
export async function runEach(run: Committer, clock: () => Instant, items: readonly SequenceItem[]): Promise<(RunResult | FailedItem | NotRunItem)[]> {
  const answers = new Array<RunResult | FailedItem | NotRunItem>(items.length);
  let stopped = false;
  for (const step of steps(items, clock())) {
    if (stopped) {
      for (const index of step) answers[index] = { kind: 'notRun' };
      continue;
    }
    const results = await Promise.allSettled(step.map((index) => run(items[index]!.key, items[index]!.command)));
    step.forEach((index, position) => {
      const result = results[position]!;
      answers[index] = result.status === 'fulfilled' ? result.value : { kind: 'failed', error: result.reason };
      if (result.status === 'rejected' || result.value.kind === 'unknown') stopped = true;
    });
  }
  return answers;
}
