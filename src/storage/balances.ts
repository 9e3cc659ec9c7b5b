/** SQL for the `balances` table: a wallet's named balances, `main` included. */
import type { Balance } from '../domain/balance.ts';
import type { Queryable } from './database.ts';
import { instantColumn, instantParam, keysetPage, tsText, type Page, type PageQuery } from './sql.ts';
import type { Instant } from '../domain/time.ts';

interface BalanceRow {
  name: string;
  expires_at: string | null;
  priority: bigint;
}

const COLUMNS = `name, ${tsText('expires_at')} AS expires_at, priority`;

function toBalance(row: BalanceRow): Balance {
  return {
    name: row.name,
    expiresAt: row.expires_at === null ? null : instantColumn(row.expires_at),
    priority: BigInt(row.priority),
  };
}

/** Inserts a balance; false when the wallet already has one of that name. */
export async function insertBalance(
  tx: Queryable,
  ledger: string,
  walletId: string,
  balance: Balance,
  createdAt: Instant,
): Promise<boolean> {
  const rows = await tx.query(
    `INSERT INTO balances (ledger, wallet_id, name, expires_at, priority, created_at)
     VALUES ($1, $2, $3, $4::timestamptz, $5, $6::timestamptz)
     ON CONFLICT (ledger, wallet_id, name) DO NOTHING RETURNING name`,
    [
      ledger,
      walletId,
      balance.name,
      balance.expiresAt === null ? null : instantParam(balance.expiresAt),
      balance.priority.toString(),
      instantParam(createdAt),
    ],
  );
  return rows.length === 1;
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
