/** A wallet with the per-asset amounts of its `main` balance. */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import type { Wallet } from '../domain/records.ts';
import { readBalances } from '../storage/volumes.ts';
import { findWallet } from '../storage/wallets.ts';
import type { QueryContext } from './query-context.ts';

export interface WalletWithMain {
  readonly wallet: Wallet;
  readonly mainAssets: Map<string, bigint>;
}

export async function getWallet(context: QueryContext, walletId: string): Promise<WalletWithMain | null> {
  const wallet = await findWallet(context.db, context.ledger, walletId);
  if (!wallet) return null;
  const address = balanceAddress(wallet.id, MAIN);
  const assets = await readBalances(context.db, context.ledger, [address]);
  return { wallet, mainAssets: assets.get(address) ?? new Map() };
}
