/** A wallet's balances (without amounts), in name order; null when the wallet does not exist. */
import type { Balance } from '../domain/balance.ts';
import { listBalances as listBalanceRows, type BalanceFilter } from '../storage/balances.ts';
import type { Page, PageQuery } from '../storage/sql.ts';
import { findWallet } from '../storage/wallets.ts';
import type { QueryContext } from './query-context.ts';

export async function listBalances(context: QueryContext, query: PageQuery<BalanceFilter>): Promise<Page<Balance, BalanceFilter> | null> {
  return context.db.snapshot(async (db) => {
    if (!(await findWallet(db, context.ledger, query.filter.walletId))) return null;
    return listBalanceRows(db, context.ledger, query);
  });
}
