/**
 * The pace of the loops that work from the outbox (events/webhooks.ts, events/nats.ts): how
 * often they turn under load, and how much a turn takes. Under load a commit lands every few
 * milliseconds, and a turn per commit cost more than the events it found: each statement a
 * loop makes has a fixed cost besides its rows, so fewer, larger ones cost less per event.
 */
import type { Database } from '../storage/database.ts';

export interface LoopPace {
  /**
   * Turns started by a wake-up (a commit, a freed queue) start at least this long after the
   * previous turn began. Webhook successes answered within it of each other are recorded in
   * one statement.
   */
  readonly turnGapMs: number;
  /**
   * A process may claim ahead this many times an endpoint's concurrency while its receiver
   * answers fast (a 2xx within 250 ms): the claimed deliveries wait for a sending slot
   * in order, so under load a fan-out that leases what it makes (or a claim) is made once per
   * that many sends, not once per send. An endpoint that answered slowly or failed, or not yet at all,
   * gets its concurrency only: a slow receiver holds few leases. One claim a turn must cover
   * the sends of a turn's gap: a longer gap needs a larger factor.
   */
  readonly queueFactor: number;
  /**
   * Due deliveries claimed per turn, over all endpoints: one endpoint's claim-ahead at the
   * default WEBHOOK_CONCURRENCY (8 × queueFactor), so one fast endpoint may fill a turn's
   * claim; a full claim starts the next turn soon, which takes the endpoints in another random
   * order. (A fan-out leases up to each endpoint's allowance, over all endpoints.)
   */
  readonly claimMax: number;
  /** The NATS publisher's turns that a commit wakes start at least this long after the previous one began. */
  readonly publishGapMs: number;
}

/**
 * PostgreSQL: the loop's statements run in sessions of their own, beside the committer's.
 * With turns and records at most every 10 ms and a claim-ahead of 8, the background pool's
 * sessions used 180–203 µs of CPU per delivery under the events bench; with 20 ms and 16,
 * 115–132 µs (`bench/pg-cpu.sh`, docs/events.md). Not a longer gap at that factor: at 40 ms
 * the loop delivered about 760 a second during the bench's load of 1,650–1,780 events a
 * second, and fell behind it. A commit starts the NATS publisher's turn at once (when it is
 * not already publishing): a gap measured worse here (docs/events.md: a 10 ms gap in stop 24,
 * 87 % of the rate without events against 102 % without it; a 20 ms gap in stop 29, 71 %
 * summed over two rounds with a webhook on too, against 78–87 % summed without it).
 */
export const POSTGRES_PACE: LoopPace = { turnGapMs: 20, queueFactor: 16, claimMax: 128, publishGapMs: 0 };
/**
 * PGlite: every statement runs on the event loop's thread, the committer's included, and
 * each has a fixed cost besides its rows. Under the events bench at PostgreSQL's pace, the
 * webhook loop's and the NATS publisher's statements took 183 ms of every second of that
 * thread during the load, against the committer's 371; turning at most every 100 ms, with
 * four times the claim-ahead, 123–129 ms (`bench/pglite-statements.ts`, docs/events.md, Cost).
 */
export const PGLITE_PACE: LoopPace = { turnGapMs: 100, queueFactor: 64, claimMax: 512, publishGapMs: 100 };

export function loopPace(kind: Database['kind']): LoopPace {
  return kind === 'pglite' ? PGLITE_PACE : POSTGRES_PACE;
}
