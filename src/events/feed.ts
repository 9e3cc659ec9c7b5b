/**
 * The feed (`GET /events`): a ledger's events in position order, after a position, with an
 * optional long poll. Positions are taken in commit order by the writing transaction
 * (storage/events.ts), so a consumer walking `after` never skips an event (docs/events.md).
 *
 * The long poll listens before it reads. Were it to read first and only then start waiting,
 * an event committed between the two — after the read's snapshot, before the wait began —
 * would ring no bell the poll hears, and the poll would sleep its whole wait with the event
 * already in the feed (a lost wakeup). Listening first, such a commit marks the listener,
 * and the wait that follows returns at once to read again.
 */
import type { Queryable } from '../storage/database.ts';
import { readFeedPage, type EventFilter, type FeedPage } from '../storage/events.ts';

export interface FeedQuery {
  readonly after: bigint;
  readonly filter: EventFilter;
  readonly limit: number;
  /** Long poll: how long to wait for a first event when there is none yet, in ms (0 = answer at once). */
  readonly waitMs: number;
  /** The longest the long poll sleeps between two reads, whatever it hears: a bound on any missed bell. */
  readonly pollMs: number;
}

/** The default `pollMs` of a long poll (buildApp's `feedPollMs`). */
export const FEED_POLL_MS = 1_000;

/** One listener, from the moment `listen()` made it: woken by the next numbering after that. */
export interface Listener {
  /** Resolves true at once if a numbering came since `listen()`, else at the next one (true) or after `ms` (false). */
  wait(ms: number): Promise<boolean>;
  /** Stops listening; a wait still pending resolves false. */
  close(): void;
}

/** Starts listening for new events in the feed. */
export type Waiter = () => Listener;

/**
 * A page of the feed and its high-water mark; with `waitMs`, waits for a first event that
 * passes the filter (read again whenever the feed moved on, and at least every `pollMs`).
 */
export async function readFeed(db: Queryable, ledger: string, query: FeedQuery, listen: Waiter, now: () => number = Date.now): Promise<FeedPage> {
  const deadline = now() + query.waitMs;
  for (;;) {
    const listener = listen();
    try {
      const page = await readFeedPage(db, ledger, query.after, query.filter, query.limit);
      const left = deadline - now();
      if (page.events.length > 0 || left <= 0) return page;
      await listener.wait(Math.min(left, query.pollMs));
    } finally {
      listener.close();
    }
  }
}

/**
 * A waiter woken by `notify` — after a commit of this process, and by the feed watcher's `onAdvanced` —
 * shared by every long poll of a process.
 */
export function createWaiter(): { listen: Waiter; notify: () => void } {
  const listening = new Set<() => void>();
  return {
    listen: () => {
      let rung = false;
      let wake: ((rung: boolean) => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      const ring = () => {
        rung = true;
        wake?.(true);
      };
      listening.add(ring);
      return {
        wait: (ms) => {
          if (rung) return Promise.resolve(true);
          return new Promise<boolean>((resolve) => {
            wake = (woken) => {
              clearTimeout(timer);
              wake = undefined;
              resolve(woken);
            };
            timer = setTimeout(() => wake?.(false), ms);
          });
        },
        close: () => {
          listening.delete(ring);
          clearTimeout(timer);
          wake?.(false);
        },
      };
    },
    notify: () => {
      for (const ring of [...listening]) ring();
    },
  };
}
