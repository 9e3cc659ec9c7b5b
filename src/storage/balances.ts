/** SQL for the `balances` table: a wallet's named balances, `main` included. */
import type { Balance } from '../domain/balance.ts';
import type { Queryable } from './database.ts';
import { instantColumn, keysetPage, tsText, type Page, type PageQuery } from './sql.ts';

interface BalanceRow {
  name: string;
  expires_at: string | null;
  priority: bigint;
  created_by: string | null;
}

const COLUMNS = `name, ${tsText('expires_at')} AS expires_at, priority, created_by`;

function toBalance(row: BalanceRow): Balance {
  return {
    name: row.name,
    expiresAt: row.expires_at === null ? null : instantColumn(row.expires_at),
    priority: BigInt(row.priority),
    ...(row.created_by !== null ? { createdBy: row.created_by } : {}),
  };
}

/** All balances of a wallet, by name. */
export async function walletBalances(q: Queryable, ledger: string, walletId: string): Promise<Balance[]> {
  const rows = await q.query<BalanceRow>(
    `SELECT ${COLUMNS} FROM balances WHERE ledger = $1 AND wallet_id = $2 ORDER BY name COLLATE "C"`,
    [ledger, walletId],
  );
  return rows.map(toBalance);
}

export async function findBalance(q: Queryable, ledger: string, walletId: string, name: string): Promise<Balance | null> {
  const rows = await q.query<BalanceRow>(
    `SELECT ${COLUMNS} FROM balances WHERE ledger = $1 AND wallet_id = $2 AND name = $3`,
    [ledger, walletId, name],
  );
  return rows[0] ? toBalance(rows[0]) : null;
}

export interface BalanceFilter {
  readonly walletId: string;
}

/** A wallet's balances in name order, `main` among them. */
export async function listBalances(q: Queryable, ledger: string, page: PageQuery<BalanceFilter>): Promise<Page<Balance, BalanceFilter>> {
  const result = await keysetPage<BalanceRow, BalanceFilter>(page, 'ASC', (row) => row.name, (bound, order, limit) => {
    const params: unknown[] = [ledger, page.filter.walletId, limit];
    let where = 'ledger = $1 AND wallet_id = $2';
    if (bound) {
      params.push(bound.key);
      where += ` AND name COLLATE "C" ${bound.comparison} $4`;
    }
    return q.query<BalanceRow>(
      `SELECT ${COLUMNS} FROM balances WHERE ${where} ORDER BY name COLLATE "C" ${order} LIMIT $3`,
      params,
    );
  });
  return { ...result, items: result.items.map(toBalance) };
}
