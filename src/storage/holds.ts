/** SQL for the `holds` table. */
import type { Hold, HoldStatus, Metadata, Subject } from '../domain/records.ts';
import type { Portion } from '../domain/posting.ts';
import type { Queryable } from './database.ts';
import type { Instant } from '../domain/time.ts';
import { amountColumn, instantColumn, instantParam, keysetPage, metadataCondition, selectBySeq, tsText, type Condition, type Page, type PageQuery } from './sql.ts';

export interface HoldRow {
  id: string;
  seq: bigint;
  wallet_id: string;
  asset: string;
  original_amount: string;
  remaining: string;
  destination: Subject;
  destination_address: string;
  description: string;
  metadata: Metadata;
  sources: { address: string; amount: string }[];
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  status: HoldStatus;
}

const COLUMNS = `id, seq, wallet_id, asset, original_amount::text AS original_amount, remaining::text AS remaining,
  destination, destination_address, description, metadata, sources, ${tsText('created_at')} AS created_at,
  ${tsText('expires_at')} AS expires_at, status, created_by`;

/** The hold columns as one JSON object with HoldRow's field names, for statements that return JSON. */
export function holdJson(alias: string): string {
  const a = alias;
  return `json_build_object('id', ${a}.id, 'seq', ${a}.seq, 'wallet_id', ${a}.wallet_id, 'asset', ${a}.asset,
    'original_amount', ${a}.original_amount::text, 'remaining', ${a}.remaining::text, 'destination', ${a}.destination,
    'destination_address', ${a}.destination_address, 'description', ${a}.description, 'metadata', ${a}.metadata,
    'sources', ${a}.sources, 'created_at', ${tsText(`${a}.created_at`)},
    'expires_at', ${tsText(`${a}.expires_at`)}, 'status', ${a}.status, 'created_by', ${a}.created_by)`;
}

export function toHold(row: HoldRow): Hold {
  return {
    id: row.id,
    walletId: row.wallet_id,
    asset: row.asset,
    originalAmount: amountColumn(row.original_amount),
    remaining: amountColumn(row.remaining),
    destination: row.destination,
    destinationAddress: row.destination_address,
    description: row.description,
    metadata: row.metadata,
    sources: row.sources.map((s): Portion => ({ address: s.address, amount: amountColumn(s.amount) })),
    createdAt: instantColumn(row.created_at),
    ...(row.created_by !== null ? { createdBy: row.created_by } : {}),
    expiresAt: row.expires_at === null ? null : instantColumn(row.expires_at),
    status: row.status,
  };
}

export async function findHold(q: Queryable, ledger: string, id: string): Promise<Hold | null> {
  const rows = await q.query<HoldRow>(`SELECT ${COLUMNS} FROM holds WHERE ledger = $1 AND id = $2`, [ledger, id]);
  return rows[0] ? toHold(rows[0]) : null;
}

/** What remains on each of a wallet's holds, closed ones included. */
export async function walletHoldAmounts(q: Queryable, ledger: string, walletId: string): Promise<{ asset: string; remaining: bigint }[]> {
  const rows = await q.query<{ asset: string; remaining: string }>(
    'SELECT asset, remaining::text AS remaining FROM holds WHERE ledger = $1 AND wallet_id = $2',
    [ledger, walletId],
  );
  return rows.map((row) => ({ asset: row.asset, remaining: amountColumn(row.remaining) }));
}

export interface HoldFilter {
  readonly walletId?: string;
  readonly metadata?: Metadata;
  readonly status?: HoldStatus;
}

/**
 * The condition for holds that show `status` at `now` (domain/hold.ts `holdStatus`): an open
 * hold past its expiry shows as expired before the sweeper has voided it.
 */
function statusCondition(status: HoldStatus | undefined, now: Instant): Condition {
  const at = instantParam(now);
  switch (status) {
    case undefined:
      return null;
    case 'open':
      return ["status = 'open' AND (expires_at IS NULL OR expires_at > $?::timestamptz)", at];
    case 'expired':
      return ["(status = 'expired' OR (status = 'open' AND expires_at <= $?::timestamptz))", at];
    default:
      return ['status = $?', status];
  }
}

/** Holds in creation order, closed ones included (unless filtered by status, as seen at `now`). */
export async function listHolds(q: Queryable, ledger: string, page: PageQuery<HoldFilter>, now: Instant): Promise<Page<Hold, HoldFilter>> {
  const { walletId, metadata, status } = page.filter;
  const result = await keysetPage<HoldRow, HoldFilter>(page, 'ASC', (row) => String(row.seq), (bound, order, limit) =>
    selectBySeq<HoldRow>(
      q,
      { table: 'holds', columns: COLUMNS, ledger },
      [walletId !== undefined ? ['wallet_id = $?', walletId] : null, metadataCondition(metadata), statusCondition(status, now)],
      bound,
      order,
      limit,
    ),
  );
  return { ...result, items: result.items.map(toHold) };
}

/** How long a sweeper's claim on a due hold keeps other processes' sweepers away from it. */
export const SWEEP_LEASE_MICROS = 10_000_000n;

/**
 * Claims up to `limit` open holds due at `now` (soonest first, then oldest) for this process's sweeper:
 * rows another transaction holds are skipped (`FOR UPDATE SKIP LOCKED`), and a claimed row
 * is leased for SWEEP_LEASE_MICROS, so sweepers in other processes pass over it meanwhile. It
 * never waits for a lock. The lease only spares duplicate work: each expiry runs as a command
 * that locks the hold and voids it only if it is still open and due, so a hold whose
 * claim lapsed (a process that died) is picked up again and is still voided once.
 */
// The claimed ids are an array the UPDATE looks up by primary key: with `id IN (subquery)`, the
// generic plan of this prepared statement joined the subquery against a sequential scan of holds
// (test/explain.test.ts).
export async function claimDueHolds(q: Queryable, ledger: string, now: Instant, limit: number): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    `WITH claimed AS (
       UPDATE holds AS h SET sweep_lease_until = $4::timestamptz
       WHERE h.ledger = $1 AND h.id = ANY (ARRAY(
         SELECT id FROM holds
         WHERE ledger = $1 AND status = 'open' AND expires_at <= $2::timestamptz
           AND (sweep_lease_until IS NULL OR sweep_lease_until <= $2::timestamptz)
         ORDER BY expires_at, seq LIMIT $3
         FOR UPDATE SKIP LOCKED
       ))
       RETURNING h.id, h.expires_at, h.seq
     )
     SELECT id FROM claimed ORDER BY expires_at, seq`,
    [ledger, instantParam(now), limit, instantParam(now + SWEEP_LEASE_MICROS)],
  );
  return rows.map((row) => row.id);
}
