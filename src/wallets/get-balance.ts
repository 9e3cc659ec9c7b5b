/** One balance of a wallet with its per-asset amounts. */
import { balanceAddress } from '../domain/chart.ts';
import type { BalanceWithAssets } from '../domain/summary.ts';
import { findBalance } from '../storage/balances.ts';
import { readBalances } from '../storage/volumes.ts';
import type { QueryContext } from './query-context.ts';

export async function getBalance(context: QueryContext, walletId: string, name: string): Promise<BalanceWithAssets | null> {
  const balance = await findBalance(context.db, context.ledger, walletId, name);
  if (!balance) return null;
  const address = balanceAddress(walletId, name);
  const amounts = await readBalances(context.db, context.ledger, [address]);
  return { ...balance, assets: amounts.get(address) ?? new Map() };
}
