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
  readonly ledger: string;
  readonly key: string;
  readonly operation: string;
  readonly fingerprint: string;
  readonly createdAt: Instant;
}

/** Claims a key: null when this transaction now owns it, else the outcome stored under it. */
export async function claimKey(tx: Queryable, claim: KeyClaim): Promise<StoredOutcome | null> {
  const inserted = await tx.query(
    `INSERT INTO idempotency_keys (ledger, key, operation, fingerprint, created_at)
     VALUES ($1, $2, $3, $4, $5::timestamptz)
     ON CONFLICT (ledger, key) DO NOTHING RETURNING key`,
    [claim.ledger, claim.key, claim.operation, claim.fingerprint, instantParam(claim.createdAt)],
  );
  if (inserted.length === 1) return null;
  const rows = await tx.query<{ operation: string; fingerprint: string; status: number | null; response: string | null }>(
    'SELECT operation, fingerprint, status, response FROM idempotency_keys WHERE ledger = $1 AND key = $2',
    [claim.ledger, claim.key],
  );
  const row = rows[0];
  if (!row || row.status === null) throw new Error(`idempotency key ${claim.key} is claimed without an outcome`);
  return { operation: row.operation, fingerprint: row.fingerprint, status: Number(row.status), response: row.response };
}

export async function storeOutcome(tx: Queryable, ledger: string, key: string, status: number, response: string | null): Promise<void> {
  await tx.query('UPDATE idempotency_keys SET status = $3, response = $4 WHERE ledger = $1 AND key = $2', [
    ledger,
    key,
    status,
    response,
  ]);
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
