/**
 * The feed (`GET /events`): a ledger's events in position order, after a position, with an
 * optional long poll. Positions are given after commit by the relay (relay.ts), so a
 * consumer walking `after` never skips an event (docs/events.md).
 */
import type { Queryable } from '../storage/database.ts';
import { readFeedPage, type EventFilter, type FeedPage } from '../storage/events.ts';

export interface FeedQuery {
  readonly after: bigint;
  readonly filter: EventFilter;
  readonly limit: number;
  /** Long poll: how long to wait for a first event when there is none yet, in ms (0 = answer at once). */
  readonly waitMs: number;
}

/** Waits until the relay numbers new events, or `ms` pass; whichever comes first. */
export type Waiter = (ms: number) => Promise<void>;

/**
 * A page of the feed and its high-water mark; with `waitMs`, waits for a first event that
 * passes the filter (checked whenever the relay numbered some, and at least every poll).
 */
export async function readFeed(db: Queryable, ledger: string, query: FeedQuery, wait: Waiter, now: () => number = Date.now): Promise<FeedPage> {
  const deadline = now() + query.waitMs;
  for (;;) {
    const page = await readFeedPage(db, ledger, query.after, query.filter, query.limit);
    const left = deadline - now();
    if (page.events.length > 0 || left <= 0) return page;
    await wait(Math.min(left, 1_000));
  }
}

/** A waiter woken by `notify` (the relay's `onPositioned`), shared by every long poll of a process. */
export function createWaiter(): { wait: Waiter; notify: () => void } {
  const waiting = new Set<() => void>();
  return {
    wait: (ms) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiting.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        waiting.add(done);
      }),
    notify: () => {
      for (const done of [...waiting]) done();
    },
  };
}
