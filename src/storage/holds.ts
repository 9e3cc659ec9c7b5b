/** SQL for the `holds` table. */
import type { Hold, Metadata, Subject } from '../domain/records.ts';
import type { Portion } from '../domain/posting.ts';
import type { Queryable } from './database.ts';
import { amountColumn, instantColumn, keysetPage, metadataCondition, selectBySeq, tsText, type Page, type PageQuery } from './sql.ts';

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
}

const COLUMNS = `id, seq, wallet_id, asset, original_amount::text AS original_amount, remaining::text AS remaining,
  destination, destination_address, description, metadata, sources, ${tsText('created_at')} AS created_at, created_by`;

/** The hold columns as one JSON object with HoldRow's field names, for statements that return JSON. */
export function holdJson(alias: string): string {
  const a = alias;
  return `json_build_object('id', ${a}.id, 'seq', ${a}.seq, 'wallet_id', ${a}.wallet_id, 'asset', ${a}.asset,
    'original_amount', ${a}.original_amount::text, 'remaining', ${a}.remaining::text, 'destination', ${a}.destination,
    'destination_address', ${a}.destination_address, 'description', ${a}.description, 'metadata', ${a}.metadata,
    'sources', ${a}.sources, 'created_at', ${tsText(`${a}.created_at`)}, 'created_by', ${a}.created_by)`;
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
}

/** Holds in creation order, closed ones included. */
export async function listHolds(q: Queryable, ledger: string, page: PageQuery<HoldFilter>): Promise<Page<Hold, HoldFilter>> {
  const { walletId, metadata } = page.filter;
  const result = await keysetPage<HoldRow, HoldFilter>(page, 'ASC', (row) => String(row.seq), (bound, order, limit) =>
    selectBySeq<HoldRow>(
      q,
      { table: 'holds', columns: COLUMNS, ledger },
      [walletId !== undefined ? ['wallet_id = $?', walletId] : null, metadataCondition(metadata)],
      bound,
      order,
      limit,
    ),
  );
  return { ...result, items: result.items.map(toHold) };
}
