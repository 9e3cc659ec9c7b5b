/** SQL for the `wallets` table. */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import type { Metadata, Wallet, WalletStatus } from '../domain/records.ts';
import type { Queryable } from './database.ts';
import { instantColumn, keysetPage, metadataCondition, selectBySeq, tsText, type Page, type PageQuery } from './sql.ts';

export interface WalletRow {
  id: string;
  seq?: bigint;
  name: string;
  metadata: Metadata;
  created_at: string;
  created_by: string | null;
  status: WalletStatus;
  status_changed_at: string | null;
  status_changed_by: string | null;
}

const COLUMNS = `id, seq, name, metadata, ${tsText('created_at')} AS created_at, status,
  ${tsText('status_changed_at')} AS status_changed_at, status_changed_by, created_by`;

/** The wallet columns as JSON object entries with WalletRow's field names, for statements that return JSON. */
export function walletJson(alias: string): string {
  const a = alias;
  return `'id', ${a}.id, 'name', ${a}.name, 'metadata', ${a}.metadata, 'created_at', ${tsText(`${a}.created_at`)},
    'status', ${a}.status, 'status_changed_at', ${tsText(`${a}.status_changed_at`)}, 'status_changed_by', ${a}.status_changed_by, 'created_by', ${a}.created_by`;
}

export function toWallet(row: WalletRow): Wallet {
  return {
    id: row.id,
    name: row.name,
    metadata: row.metadata,
    createdAt: instantColumn(row.created_at),
    ...(row.created_by !== null ? { createdBy: row.created_by } : {}),
    status: row.status,
    statusChange:
      row.status_changed_at === null ? null : { status: row.status, changedAt: instantColumn(row.status_changed_at), changedBy: row.status_changed_by },
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
