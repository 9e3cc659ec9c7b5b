/** The wallet summary (domain/summary.ts), from its balances' amounts and its holds, read as one view. */
import { balanceAddress } from '../domain/chart.ts';
import { summarize, type Summary } from '../domain/summary.ts';
import { walletBalances } from '../storage/balances.ts';
import { walletHoldAmounts } from '../storage/holds.ts';
import { readBalances } from '../storage/volumes.ts';
import { findWallet } from '../storage/wallets.ts';
import type { QueryContext } from './query-context.ts';

export async function walletSummary(context: QueryContext, walletId: string): Promise<Summary | null> {
  const { ledger } = context;
  const read = await context.db.snapshot(async (db) => {
    const wallet = await findWallet(db, ledger, walletId);
    if (!wallet) return null;
    const balances = await walletBalances(db, ledger, wallet.id);
    const amounts = await readBalances(db, ledger, balances.map((balance) => balanceAddress(wallet.id, balance.name)));
    const holds = await walletHoldAmounts(db, ledger, wallet.id);
    return { wallet, balances, amounts, holds };
  });
  if (!read) return null;
  const { wallet, balances, amounts, holds } = read;
  const withAssets = balances.map((balance) => ({
    ...balance,
    assets: amounts.get(balanceAddress(wallet.id, balance.name)) ?? new Map<string, bigint>(),
  }));
  return summarize(withAssets, holds, context.clock());
}
