/**
 * The feed watcher: a small loop in every Coffer process that notices the feed grow through
 * another process's commits. An event is in the feed from its commit on (storage/events.ts);
 * this process's own commits wake the feed's long polls and the publishers at once (app.ts),
 * and the watcher wakes them for the others' within one interval, by reading the feed's top
 * position. Nothing here runs inside a request, and a failure (the database down) is reported
 * once, its recovery once.
 */
import type { Database } from '../storage/database.ts';
import { feedTop } from '../storage/events.ts';

export interface FeedWatcherOptions {
  readonly db: Database;
  /** Pause between reads of the feed's top. */
  readonly intervalMs: number;
  /** Told when the feed's top moved past what the last read saw. */
  readonly onAdvanced: () => void;
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface FeedWatcher {
  /** Reads the feed's top now; resolves to it, after telling `onAdvanced` if it grew. */
  check(): Promise<bigint>;
  stop(): Promise<void>;
}

/** A watcher; with `loop` its timer starts at once, else only `check()` runs it (tests). */
export function startFeedWatcher(options: FeedWatcherOptions, loop = true): FeedWatcher {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<bigint> | undefined;
  let failing = false;
  let seen: bigint | null = null;

  const check = (): Promise<bigint> => {
    const read = (inFlight ?? Promise.resolve(0n))
      .catch(() => 0n)
      .then(() => feedTop(options.db))
      .then((top) => {
        // The first read only sets the mark: there is nothing to wake for yet.
        if (seen !== null && top > seen) options.onAdvanced();
        if (seen === null || top > seen) seen = top;
        return top;
      });
    inFlight = read;
    return read;
  };

  const tick = async () => {
    timer = undefined;
    try {
      await check();
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
    check,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight?.catch(() => 0n);
    },
  };
}
