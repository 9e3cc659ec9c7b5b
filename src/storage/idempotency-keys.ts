/**
 * SQL for `idempotency_keys`. A claim is an INSERT: when another transaction holds an
 * uncommitted claim on the same key, PostgreSQL makes this INSERT wait until that one
 * commits (then it conflicts, and the committed outcome is read) or rolls back (then this
 * claim wins). That wait is what makes concurrent same-key requests execute once.
 */
import type { Instant } from '../domain/time.ts';
import type { Queryable, Transaction } from './database.ts';
import { instantParam } from './sql.ts';
import type { OutcomeRow } from './effects.ts';

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
 *
 * The rows are locked (`FOR KEY SHARE`: it blocks nobody but a DELETE, and the retention purge
 * passes locked rows by) so that the transaction writes WAL and its COMMIT waits for the
 * synchronous standby like any write: a replay then is not answered before the standby holds
 * what it replays. Without it a replay that locked no other row (a stored 404: no wallet to
 * lock) committed nothing and was answered at once — after a COMMIT whose wait for the
 * standby was cancelled (answered 503) or whose session was killed in that wait, a retry with
 * the same key would have acknowledged an outcome only the primary had (test/sync-standby.test.ts).
 */
export async function storedOutcomes(tx: Queryable, ledger: string, keys: readonly string[]): Promise<Map<string, StoredOutcome>> {
  const stored = new Map<string, StoredOutcome>();
  if (keys.length === 0) return stored;
  const rows = await tx.query<{ key: string; operation: string; fingerprint: string; status: number | null; response: string | null }>(
    'SELECT key, operation, fingerprint, status, response FROM idempotency_keys WHERE ledger = $1 AND key = ANY($2::text[]) FOR KEY SHARE',
    [ledger, keys],
  );
  for (const row of rows) {
    if (row.status === null) throw new Error(`idempotency key ${row.key} is claimed without an outcome`);
    stored.set(row.key, { operation: row.operation, fingerprint: row.fingerprint, status: Number(row.status), response: row.response });
  }
  if (stored.size !== keys.length) throw new KeyPurged();
  return stored;
}

/**
 * A key whose claim conflicted was gone by the time its outcome was read: the retention purge
 * deleted it in between (its row lock made the read wait for the DELETE, then skip the row).
 * The batch rolls back and is retried (`batchConflict`); the retry's claim takes the key anew,
 * as any use of a key past its retention does.
 */
export class KeyPurged extends Error {
  constructor() {
    super('an idempotency claim conflicted with a key that the retention purge deleted meanwhile');
    this.name = 'KeyPurged';
  }
}

/**
 * Locks the rows of `keys` (`FOR KEY SHARE`, as `storedOutcomes`) and returns how many it locked:
 * run in a transaction of its own that locked any, its COMMIT waits for the synchronous standby,
 * which then holds their outcomes. An atomic sequence that was rolled back runs it before
 * answering with outcomes it replayed or keys it found taken, since its own transaction
 * committed nothing (committer/sequence.ts).
 */
export async function awaitKeysReplicated(tx: Queryable, ledger: string, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const rows = await tx.query('SELECT 1 FROM idempotency_keys WHERE ledger = $1 AND key = ANY($2::text[]) ORDER BY key FOR KEY SHARE', [ledger, keys]);
  return rows.length;
}

/**
 * Outcomes stored under keys this transaction claimed, as an upsert on the primary key: the
 * conflict check probes the key's index once per row, whatever the plan, where an UPDATE …
 * FROM unnest(…) is a join that PostgreSQL may run as a scan of every key. Returns the SQL,
 * with its six parameters from `$first` on (ledger is always `$1`).
 */
export function outcomesUpsert(first: number): string {
  const [keys, operations, fingerprints, statuses, responses, claimedAt] = [0, 1, 2, 3, 4, 5].map((offset) => `$${first + offset}`);
  return `INSERT INTO idempotency_keys AS k (ledger, key, operation, fingerprint, status, response, created_at)
       SELECT $1, x.key, x.operation, x.fingerprint, x.status, x.response, ${claimedAt}::timestamptz
       FROM unnest(${keys}::text[], ${operations}::text[], ${fingerprints}::text[], ${statuses}::int[], ${responses}::text[])
         AS x(key, operation, fingerprint, status, response)
       ON CONFLICT (ledger, key) DO UPDATE SET status = EXCLUDED.status, response = EXCLUDED.response`;
}

export function outcomesParams(outcomes: readonly OutcomeRow[], claimedAt: Instant): unknown[] {
  return [
    outcomes.map((o) => o.key),
    outcomes.map((o) => o.operation),
    outcomes.map((o) => o.fingerprint),
    outcomes.map((o) => o.status),
    outcomes.map((o) => o.response),
    instantParam(claimedAt),
  ];
}

/** Stores outcomes under keys this transaction claimed; sent with COMMIT. */
export function storeOutcomes(tx: Transaction, ledger: string, outcomes: readonly OutcomeRow[], claimedAt: Instant): void {
  if (outcomes.length === 0) return;
  tx.defer(outcomesUpsert(2), [ledger, ...outcomesParams(outcomes, claimedAt)], outcomes.length);
}

/**
 * Deletes at most `limit` keys created before `cutoff`; returns how many went. Rows a replay
 * has locked (`storedOutcomes`) are passed by, to go in a later round: the purge never waits
 * for a replay — which may wait for the synchronous standby — so it neither holds its other
 * rows locked meanwhile nor deadlocks with a batch locking several keys in key order.
 */
export async function purgeKeys(q: Queryable, cutoff: Instant, limit: number): Promise<number> {
  const rows = await q.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys WHERE created_at < $1::timestamptz LIMIT $2 FOR UPDATE SKIP LOCKED
     ) RETURNING 1`,
    [instantParam(cutoff), limit],
  );
  return rows.length;
}
