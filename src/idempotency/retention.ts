/**
 * Retention of stored outcomes. By default they are kept forever: a key then means the same
 * thing for the life of the ledger, at the cost of one row per keyed request. With
 * IDEMPOTENCY_RETENTION (e.g. `72h`) a background purge deletes older records in bounded
 * batches; a key retried after that window runs as a new request (as with Stripe's 24 h),
 * except that a wallet or hold id derived from it may exist already, which is a 409.
 */
import type { Database } from '../storage/database.ts';
import { purgeKeys } from '../storage/idempotency-keys.ts';
import type { Instant } from '../domain/time.ts';

const UNIT_MICROS: Record<string, bigint> = { s: 1_000_000n, m: 60_000_000n, h: 3_600_000_000n, d: 86_400_000_000n };

/** Parses `90s`, `30m`, `72h`, `7d` into microseconds; null when malformed or zero. */
export function parseRetention(text: string): bigint | null {
  const match = /^(\d{1,9})([smhd])$/.exec(text);
  if (!match) return null;
  const micros = BigInt(match[1]!) * UNIT_MICROS[match[2]!]!;
  return micros > 0n ? micros : null;
}

/** Rows deleted per statement, so a purge never holds locks for long. */
export const PURGE_BATCH = 1_000;

/**
 * Deletes the records older than the retention window, batch by batch; returns the count. A
 * record a replay holds locked at that moment is passed by, for a later round (`purgeKeys`).
 */
export async function purgeExpiredKeys(db: Database, retentionMicros: bigint, now: Instant): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await purgeKeys(db, now - retentionMicros, PURGE_BATCH);
    total += deleted;
    if (deleted < PURGE_BATCH) return total;
  }
}

/** Runs the purge every `intervalMs` until the returned stop function is called. */
export function startPurge(db: Database, retentionMicros: bigint, clock: () => Instant, intervalMs: number, onError: (error: unknown) => void): () => void {
  const timer = setInterval(() => {
    purgeExpiredKeys(db, retentionMicros, clock()).catch(onError);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
