/** Wallets in creation order; with `expand=balances`, each with its `main` amounts. */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import type { Page, PageQuery } from '../storage/sql.ts';
import { readBalances } from '../storage/volumes.ts';
import { listWallets as listWalletRows, type WalletFilter } from '../storage/wallets.ts';
import type { WalletWithMain } from './get-wallet.ts';
import type { Queryable } from '../storage/database.ts';
import type { QueryContext } from './query-context.ts';

export async function listWallets(
  context: QueryContext,
  query: PageQuery<WalletFilter>,
  expandBalances: boolean,
): Promise<Page<WalletWithMain, WalletFilter>> {
  // Without amounts the page is one query; with them, two that must see one view.
  const read = async (db: Queryable) => {
    const page = await listWalletRows(db, context.ledger, query);
    const addresses = page.items.map((wallet) => balanceAddress(wallet.id, MAIN));
    const assets = expandBalances ? await readBalances(db, context.ledger, addresses) : new Map<string, Map<string, bigint>>();
    return { page, assets };
  };
  const { page, assets } = expandBalances ? await context.db.snapshot(read) : await read(context.db);
  return {
    ...page,
    items: page.items.map((wallet) => ({ wallet, mainAssets: assets.get(balanceAddress(wallet.id, MAIN)) ?? new Map() })),
  };
}
