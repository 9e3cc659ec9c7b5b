/**
 * SQL for `idempotency_keys`. A claim is an INSERT: when another transaction holds an
 * uncommitted claim on the same key, PostgreSQL makes this INSERT wait until that one
 * commits (then it conflicts, and the committed outcome is read) or rolls back (then this
 * claim wins). That wait is what makes concurrent same-key requests execute once.
 */
import type { Instant } from '../domain/time.ts';
import type { Queryable } from './database.ts';
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
 * Claims keys in key order (the lock order of every transaction: keys first, then volumes).
 * Returns the outcomes already stored under the keys this transaction could not claim;
 * a key absent from the result is now owned by this transaction.
 */
export async function claimKeys(tx: Queryable, ledger: string, claims: readonly KeyClaim[], createdAt: Instant): Promise<Map<string, StoredOutcome>> {
  const stored = new Map<string, StoredOutcome>();
  if (claims.length === 0) return stored;
  const sorted = [...claims].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const inserted = await tx.query<{ key: string }>(
    `INSERT INTO idempotency_keys (ledger, key, operation, fingerprint, created_at)
     SELECT $1, x.key, x.operation, x.fingerprint, $5::timestamptz
     FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS x(key, operation, fingerprint, position)
     ORDER BY x.position
     ON CONFLICT (ledger, key) DO NOTHING RETURNING key`,
    [ledger, sorted.map((c) => c.key), sorted.map((c) => c.operation), sorted.map((c) => c.fingerprint), instantParam(createdAt)],
  );
  const owned = new Set(inserted.map((row) => row.key));
  const taken = sorted.filter((claim) => !owned.has(claim.key)).map((claim) => claim.key);
  if (taken.length === 0) return stored;
  // Each conflicting INSERT waited until the other holder committed, so its outcome is visible now.
  const rows = await tx.query<{ key: string; operation: string; fingerprint: string; status: number | null; response: string | null }>(
    'SELECT key, operation, fingerprint, status, response FROM idempotency_keys WHERE ledger = $1 AND key = ANY($2::text[])',
    [ledger, taken],
  );
  for (const row of rows) {
    if (row.status === null) throw new Error(`idempotency key ${row.key} is claimed without an outcome`);
    stored.set(row.key, { operation: row.operation, fingerprint: row.fingerprint, status: Number(row.status), response: row.response });
  }
  if (stored.size !== taken.length) throw new Error('an idempotency claim conflicted with a row that is gone');
  return stored;
}

export async function storeOutcomes(
  tx: Queryable,
  ledger: string,
  outcomes: readonly { key: string; status: number; response: string | null }[],
): Promise<void> {
  if (outcomes.length === 0) return;
  await tx.query(
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
