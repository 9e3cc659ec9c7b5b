/** What a read-only query needs: a connection outside any command transaction, the ledger, the clock. */
import type { Queryable } from '../storage/database.ts';
import type { Instant } from '../domain/time.ts';

export interface QueryContext {
  readonly db: Queryable;
  readonly ledger: string;
  readonly clock: () => Instant;
}
