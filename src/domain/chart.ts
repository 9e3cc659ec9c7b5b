/**
 * The chart of accounts. Addresses are built from ids verbatim — never rewritten (the
 * reference strips dashes, which lets two ids alias one account). Wallet and hold ids are
 * UUIDs Coffer makes itself, so `wallets:holds:…` can never be a wallet's account.
 */
export const WORLD = 'world';
export const MAIN = 'main';

/** The Formance ledger's address grammar, for ACCOUNT subjects. */
export const ADDRESS_PATTERN = /^[a-zA-Z0-9_-]+(:[a-zA-Z0-9_-]+)*$/;
export const ADDRESS_LENGTH_MAX = 256;

export function balanceAddress(walletId: string, balanceName: string): string {
  return `wallets:${walletId}:${balanceName}`;
}

export function holdAddress(holdId: string): string {
  return `wallets:holds:${holdId}`;
}

/**
 * Accounts under `wallets:` belong to Coffer's own wallets and holds; an ACCOUNT subject may
 * not name them (a WALLET subject does that), or money could land on a hold behind its back.
 */
export function isReservedAddress(address: string): boolean {
  return address === 'wallets' || address.startsWith('wallets:');
}

/** Only `world` may go below zero: it is the unbounded source and sink of the ledger. */
export function isUnbounded(address: string): boolean {
  return address === WORLD;
}
