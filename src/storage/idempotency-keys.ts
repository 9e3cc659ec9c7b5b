/**
 * SQL for `idempotency_keys`. A claim is an INSERT: when another transaction holds an
 * uncommitted claim on the same key, PostgreSQL makes this INSERT wait until that one
 * commits (then it conflicts, and the committed outcome is read) or rolls back (then this
 * claim wins). That wait is what makes concurrent same-key requests execute once.
 */
import type { Instant } from '../domain/time.ts';
import type { Queryable, Transaction } from './database.ts';
import { instantParam } from './sql.ts';

export interface StoredOutcome {
  readonly operation: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly response: string | null;
}

export interface KeyClaim {
  readonly key: string;
  readonly operation: string;
  readonly fingerprint: string;
}

/**
 * The outcomes stored under keys a batch could not claim. Claims are INSERTs made in key
 * order (storage/snapshot.ts); one that conflicted with a concurrent holder of the key waited
 * until that holder committed, so its outcome is visible to this later statement.
 */
export async function storedOutcomes(tx: Queryable, ledger: string, keys: readonly string[]): Promise<Map<string, StoredOutcome>> {
  const stored = new Map<string, StoredOutcome>();
  if (keys.length === 0) return stored;
  const rows = await tx.query<{ key: string; operation: string; fingerprint: string; status: number | null; response: string | null }>(
    'SELECT key, operation, fingerprint, status, response FROM idempotency_keys WHERE ledger = $1 AND key = ANY($2::text[])',
    [ledger, keys],
  );
  for (const row of rows) {
    if (row.status === null) throw new Error(`idempotency key ${row.key} is claimed without an outcome`);
    stored.set(row.key, { operation: row.operation, fingerprint: row.fingerprint, status: Number(row.status), response: row.response });
  }
  if (stored.size !== keys.length) throw new Error('an idempotency claim conflicted with a row that is gone');
  return stored;
}

/** Stores outcomes under keys this transaction claimed; deferred to COMMIT's round trip. */
export function storeOutcomes(tx: Transaction, ledger: string, outcomes: readonly { key: string; status: number; response: string | null }[]): void {
  if (outcomes.length === 0) return;
  tx.defer(
    `UPDATE idempotency_keys AS k SET status = x.status, response = x.response
     FROM unnest($2::text[], $3::int[], $4::text[]) AS x(key, status, response)
     WHERE k.ledger = $1 AND k.key = x.key`,
    [ledger, outcomes.map((o) => o.key), outcomes.map((o) => o.status), outcomes.map((o) => o.response)],
  );
}

/** Deletes at most `limit` keys created before `cutoff`; returns how many went. */
export async function purgeKeys(q: Queryable, cutoff: Instant, limit: number): Promise<number> {
  const rows = await q.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys WHERE created_at < $1::timestamptz LIMIT $2
     ) RETURNING 1`,
    [instantParam(cutoff), limit],
  );
  return rows.length;
}
