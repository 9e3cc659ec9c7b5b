/** Wallets in creation order; with `expand=balances`, each with its `main` amounts. */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import type { Page, PageQuery } from '../storage/sql.ts';
import { readBalances } from '../storage/volumes.ts';
import { listWallets as listWalletRows, type WalletFilter } from '../storage/wallets.ts';
import type { WalletWithMain } from './get-wallet.ts';
import type { QueryContext } from './query-context.ts';

export async function listWallets(
  context: QueryContext,
  query: PageQuery<WalletFilter>,
  expandBalances: boolean,
): Promise<Page<WalletWithMain, WalletFilter>> {
  const page = await listWalletRows(context.db, context.ledger, query);
  const addresses = page.items.map((wallet) => balanceAddress(wallet.id, MAIN));
  const assets = expandBalances ? await readBalances(context.db, context.ledger, addresses) : new Map<string, Map<string, bigint>>();
  return {
    ...page,
    items: page.items.map((wallet) => ({ wallet, mainAssets: assets.get(balanceAddress(wallet.id, MAIN)) ?? new Map() })),
  };
}
