/** One balance of a wallet with its per-asset amounts. */
import { balanceAddress } from '../domain/chart.ts';
import type { BalanceWithAssets } from '../domain/summary.ts';
import { findBalance } from '../storage/balances.ts';
import { readBalances } from '../storage/volumes.ts';
import type { QueryContext } from './query-context.ts';

export async function getBalance(context: QueryContext, walletId: string, name: string): Promise<BalanceWithAssets | null> {
  const address = balanceAddress(walletId, name);
  return context.db.snapshot(async (db) => {
    const balance = await findBalance(db, context.ledger, walletId, name);
    if (!balance) return null;
    const amounts = await readBalances(db, context.ledger, [address]);
    return { ...balance, assets: amounts.get(address) ?? new Map<string, bigint>() };
  });
}
