/**
 * The relay: a small loop in every Coffer process that gives committed outbox events their
 * feed positions (storage/events.ts `assignPositions`; why after commit: docs/events.md).
 * One process numbers at a time (an advisory lock; the others skip their turn), so the
 * positions any reader sees are a gapless prefix. The app kicks it after each commit, so
 * an event reaches the feed within a turn; the timer is the fallback for events committed
 * by other processes. Nothing here runs inside a request, and a failure (the database
 * down) is reported once, its recovery once.
 */
import type { Database } from '../storage/database.ts';
import { assignPositions } from '../storage/events.ts';

/** Events numbered per statement; a turn numbers again at once while it finds this many. */
export const RELAY_BATCH_MAX = 1_000;

export interface RelayOptions {
  readonly db: Database;
  /** Pause between turns when nothing kicked it. */
  readonly intervalMs: number;
  /** Told after a turn that numbered events (the metric of events positioned). */
  readonly onPositioned?: (count: number) => void;
  /**
   * Told after a turn that found the feed longer than the turn before did — numbered by this
   * process or by another one's relay (which took the turn after its own commit). The feed's
   * long polls and the publishers wake on it, so an event committed through another process
   * reaches them within one interval of this relay, not at their own next poll.
   */
  readonly onAdvanced?: () => void;
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface Relay {
  /** One turn now (after the one in flight, if any); resolves to how many events it numbered. */
  relay(): Promise<number>;
  /** Asks for a turn soon: after a commit in this process. */
  kick(): void;
  stop(): Promise<void>;
}

/** Numbers batches until none is full; null `top` when another process held the relay throughout. */
async function relayOnce(options: RelayOptions): Promise<{ numbered: number; top: bigint | null }> {
  let numbered = 0;
  let top: bigint | null = null;
  for (;;) {
    const turn = await assignPositions(options.db, RELAY_BATCH_MAX);
    if (turn === null) return { numbered, top }; // another process is numbering them
    numbered += turn.numbered;
    top = turn.top;
    if (turn.numbered < RELAY_BATCH_MAX) return { numbered, top };
  }
}

/** A relay; with `loop` its timer starts at once, else only `relay()` runs it (tests). */
export function startRelay(options: RelayOptions, loop = true): Relay {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<number> | undefined;
  let again = false;
  let failing = false;

  // The top position the last turn saw: a larger one later means the feed moved on.
  let seen = 0n;
  const relay = (): Promise<number> => {
    const previous = inFlight ?? Promise.resolve(0);
    const turn = previous
      .catch(() => 0)
      .then(() => relayOnce(options))
      .then(({ numbered, top }) => {
        if (numbered > 0) options.onPositioned?.(numbered);
        if (top !== null && top > seen) {
          seen = top;
          options.onAdvanced?.();
        }
        return numbered;
      });
    inFlight = turn;
    void turn
      .finally(() => {
        if (inFlight === turn) inFlight = undefined;
      })
      .catch(() => {});
    return turn;
  };

  const tick = async () => {
    timer = undefined;
    again = false;
    try {
      await relay();
      if (failing) options.onRecovery?.();
      failing = false;
    } catch (error) {
      if (!failing) options.onFailure?.(error);
      failing = true;
    }
    if (!stopped) schedule(again ? 0 : options.intervalMs);
  };

  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };

  if (loop) schedule(options.intervalMs);
  return {
    relay,
    kick() {
      if (stopped || !loop) return;
      // A turn in flight may have read before this commit: run another right after it.
      if (timer === undefined) again = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight?.catch(() => 0);
    },
  };
}
