/** SQL for the `wallets` table. */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import type { Metadata, Wallet } from '../domain/records.ts';
import type { Queryable } from './database.ts';
import { instantColumn, keysetPage, metadataCondition, selectBySeq, tsText, type Page, type PageQuery } from './sql.ts';

interface WalletRow {
  id: string;
  seq: bigint;
  name: string;
  metadata: Metadata;
  created_at: string;
  created_by: string | null;
}

const COLUMNS = `id, seq, name, metadata, ${tsText('created_at')} AS created_at, created_by`;

function toWallet(row: WalletRow): Wallet {
  return {
    id: row.id,
    name: row.name,
    metadata: row.metadata,
    createdAt: instantColumn(row.created_at),
    ...(row.created_by !== null ? { createdBy: row.created_by } : {}),
  };
}

export async function findWallet(q: Queryable, ledger: string, id: string): Promise<Wallet | null> {
  const rows = await q.query<WalletRow>(`SELECT ${COLUMNS} FROM wallets WHERE ledger = $1 AND id = $2`, [ledger, id]);
  return rows[0] ? toWallet(rows[0]) : null;
}

/**
 * A wallet and the per-asset balances of its `main` account, in one round trip (the GET
 * route's whole read). Rows no posting ever moved are left out, as in readBalances.
 */
export async function findWalletWithMain(
  q: Queryable,
  ledger: string,
  id: string,
): Promise<{ wallet: Wallet; mainAssets: Map<string, bigint> } | null> {
  const rows = await q.query<WalletRow & { main: Record<string, string> | null }>(
    `SELECT ${COLUMNS},
       (SELECT json_object_agg(v.asset, (v.input - v.output)::text) FROM volumes v
        WHERE v.ledger = w.ledger AND v.address = $3 AND (v.input <> 0 OR v.output <> 0)) AS main
     FROM wallets w WHERE w.ledger = $1 AND w.id = $2`,
    [ledger, id, balanceAddress(id, MAIN)],
  );
  const row = rows[0];
  if (!row) return null;
  return { wallet: toWallet(row), mainAssets: new Map(Object.entries(row.main ?? {}).map(([asset, amount]) => [asset, BigInt(amount)])) };
}

export interface WalletFilter {
  readonly name?: string;
  readonly metadata?: Metadata;
}

/** Wallets in creation order. */
export async function listWallets(q: Queryable, ledger: string, page: PageQuery<WalletFilter>): Promise<Page<Wallet, WalletFilter>> {
  const { name, metadata } = page.filter;
  const result = await keysetPage<WalletRow, WalletFilter>(page, 'ASC', (row) => String(row.seq), (bound, order, limit) =>
    selectBySeq<WalletRow>(
      q,
      { table: 'wallets', columns: COLUMNS, ledger },
      [name !== undefined ? ['name = $?', name] : null, metadataCondition(metadata)],
      bound,
      order,
      limit,
    ),
  );
  return { ...result, items: result.items.map(toWallet) };
}
