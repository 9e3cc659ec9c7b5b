/**
 * The hold expiry sweeper: a small loop that runs in every Coffer process. Each turn claims
 * the open holds due at the clock's now (storage/holds.ts `claimDueHolds`: `FOR UPDATE SKIP
 * LOCKED` and a short lease, so two processes rarely pick the same hold) and hands each to
 * the committer as an ordinary command, `expireHold`: a void with the same postings, locks
 * and invariants as a void over HTTP, decided on the batch's clock. Exactly once does not
 * rest on the claim: the command locks the hold and voids it only while it is open and due,
 * so a duplicate claim, a lapsed lease or a racing confirm changes nothing twice.
 *
 * It is quiet: nothing is logged while it works; a failure (the database down) is reported
 * once, and its recovery once. `stop` ends the loop and waits for a turn in flight.
 */
import type { Result } from '../domain/errors.ts';
import type { Instant } from '../domain/time.ts';
import type { Queryable } from '../storage/database.ts';
import { claimDueHolds } from '../storage/holds.ts';
import type { Committer } from '../committer/committer.ts';
import { expireHold } from './expire-hold.ts';

/** Holds claimed per statement; a turn claims again at once while it finds this many. */
export const SWEEP_CLAIM_MAX = 256;

export interface HoldSweeperOptions {
  readonly db: Queryable;
  readonly ledger: string;
  readonly clock: () => Instant;
  readonly run: Committer;
  /** Pause between turns. */
  readonly intervalMs: number;
  /** Told of the first failure of a run of failures, and of the recovery after it. */
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface HoldSweeper {
  /** One turn, now: claims and expires every hold due; resolves to how many it expired. */
  sweep(): Promise<number>;
  /** Stops the loop; resolves once a turn in flight has finished. */
  stop(): Promise<void>;
}

function rendered(result: Result<null>) {
  return { status: result.ok ? 204 : 400, body: result.ok ? null : result.refusal.code };
}

/** Expires the holds claimed; how many this process expired (the others were settled first). */
async function expireAll(options: HoldSweeperOptions, holdIds: readonly string[]): Promise<number> {
  const runs = await Promise.all(
    holdIds.map((holdId) =>
      options.run(undefined, { operation: 'expireHold', principal: null, params: { holdID: holdId }, body: {}, command: expireHold({ holdId }), render: rendered }),
    ),
  );
  return runs.filter((run) => run.kind === 'executed' && run.outcome.status === 204).length;
}

async function sweepOnce(options: HoldSweeperOptions): Promise<number> {
  let expired = 0;
  for (;;) {
    const claimed = await claimDueHolds(options.db, options.ledger, options.clock(), SWEEP_CLAIM_MAX);
    expired += await expireAll(options, claimed);
    if (claimed.length < SWEEP_CLAIM_MAX) return expired;
  }
}

/** A sweeper; with `intervalMs` its loop starts at once, else only `sweep()` runs it. */
export function startHoldSweeper(options: HoldSweeperOptions, loop = true): HoldSweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<number> | undefined;
  let failing = false;

  const sweep = (): Promise<number> => {
    // One turn at a time: a call during a turn shares it, and then runs its own.
    const previous = inFlight ?? Promise.resolve(0);
    const turn = previous.catch(() => 0).then(() => sweepOnce(options));
    inFlight = turn;
    void turn.finally(() => {
      if (inFlight === turn) inFlight = undefined;
    }).catch(() => {});
    return turn;
  };

  const tick = async () => {
    try {
      await sweep();
      if (failing) options.onRecovery?.();
      failing = false;
    } catch (error) {
      if (!failing) options.onFailure?.(error);
      failing = true;
    }
    if (!stopped) schedule();
  };

  const schedule = () => {
    timer = setTimeout(() => void tick(), options.intervalMs);
    timer.unref();
  };

  if (loop) schedule();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight?.catch(() => 0);
    },
  };
}
