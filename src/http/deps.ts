/** What every route module is given. */
import type { Limits } from '../domain/limits.ts';
import type { Committer } from '../committer/committer.ts';
import type { AtomicResult, SequenceItem } from '../committer/sequence.ts';
import type { QueryContext } from '../wallets/query-context.ts';
import type { Waiter } from '../events/feed.ts';
import type { InFlightLimit } from './in-flight-limit.ts';
import type { Schemas } from './schemas.ts';

export interface RouteDeps {
  readonly ledger: string;
  readonly limits: Limits;
  readonly schemas: Schemas;
  readonly run: Committer;
  /** Runs commands in order in one transaction: all applied, or none (POST /bulk with atomic). */
  readonly runAtomic: (items: readonly SequenceItem[]) => Promise<AtomicResult>;
  readonly query: QueryContext;
  /** HOLD_DEFAULT_TTL in microseconds: a pending debit without expiresAt expires this long after it runs; null = never. */
  readonly holdTtl: bigint | null;
  /** Wakes the feed's long polls when new events are in the feed (events/feed.ts). */
  readonly feedWaiter: Waiter;
  /** The longest a long poll of the feed sleeps between two reads (events/feed.ts). */
  readonly feedPollMs: number;
  /** BULK_CONCURRENCY: the POST /bulk requests in flight in this process (in-flight-limit.ts). */
  readonly bulkInFlight: InFlightLimit;
}
