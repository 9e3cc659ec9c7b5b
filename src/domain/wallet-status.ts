/**
 * What a wallet's status allows. `active`: everything. `frozen`: money may come in (credits,
 * voids, expiry) but never leave (debits, pending debits, confirms, a credit that takes from
 * it are WALLET_FROZEN); its metadata and balances can still be changed. `closed`: only
 * reads — anything that names it is WALLET_CLOSED. A closed wallet is never reopened, and a
 * wallet is closed only when every balance and hold of it is at zero.
 */
import { refusal, type Refusal } from './errors.ts';
import type { WalletStatus } from './records.ts';
import type { AccountBalance } from './batch.ts';

/** Money leaving the wallet. */
export function outgoingRefusal(walletId: string, status: WalletStatus): Refusal | null {
  if (status === 'closed') return refusal('WALLET_CLOSED', `wallet ${walletId} is closed`);
  if (status === 'frozen') return refusal('WALLET_FROZEN', `wallet ${walletId} is frozen: no money may leave it`);
  return null;
}

/** Money arriving, or any other change to the wallet (metadata, balances, holds). */
export function changeRefusal(walletId: string, status: WalletStatus): Refusal | null {
  return status === 'closed' ? refusal('WALLET_CLOSED', `wallet ${walletId} is closed`) : null;
}

/**
 * Whether a wallet may go from `from` to `to`: `null` when it may (a status it already has
 * is no change at all), else why not. `accounts` are its accounts with a balance other than
 * zero, read only when closing.
 */
export function transitionRefusal(walletId: string, from: WalletStatus, to: WalletStatus, accounts: () => readonly AccountBalance[]): Refusal | null {
  if (from === 'closed') return refusal('WALLET_CLOSED', `wallet ${walletId} is closed: it cannot be reopened or changed`);
  if (to !== 'closed') return null;
  const left = accounts();
  if (left.length === 0) return null;
  const shown = left.slice(0, 3).map((account) => `${account.balance} ${account.asset} on ${account.address}`).join(', ');
  return refusal('VALIDATION', `wallet ${walletId} cannot be closed: every balance and hold must be at zero, but it has ${shown}${left.length > 3 ? ', …' : ''}`);
}
