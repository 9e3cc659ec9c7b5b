/**
 * What a read-only query needs: a connection outside any command transaction, the ledger, the
 * clock. An answer built from more than one query runs them in `db.snapshot`, so it is one
 * consistent view: never a commit landing between two of its queries.
 */
import type { Database } from '../storage/database.ts';
import type { Instant } from '../domain/time.ts';

export interface QueryContext {
  readonly db: Pick<Database, 'query' | 'exec' | 'snapshot'>;
  readonly ledger: string;
  readonly clock: () => Instant;
}
