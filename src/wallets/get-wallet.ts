/** A wallet with the per-asset amounts of its `main` balance. */
import type { Wallet } from '../domain/records.ts';
import { findWalletWithMain } from '../storage/wallets.ts';
import type { QueryContext } from './query-context.ts';

export interface WalletWithMain {
  readonly wallet: Wallet;
  readonly mainAssets: Map<string, bigint>;
}

export function getWallet(context: QueryContext, walletId: string): Promise<WalletWithMain | null> {
  return findWalletWithMain(context.db, context.ledger, walletId);
}
