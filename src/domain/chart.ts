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

const HOLDS_PREFIX = 'wallets:holds:';

export function holdAddress(holdId: string): string {
  return `${HOLDS_PREFIX}${holdId}`;
}

/**
 * Whose account an address is, read from the address alone: `wallets:holds:{holdId}` is the
 * hold's (and so its wallet's, which only the hold knows); `wallets:{walletId}:{balanceName}`
 * is the wallet's — a balance name has no ':', so the wallet id is everything up to the last
 * one; any other address is no wallet's. Every account row takes its wallet from here, and
 * migration 4 and the invariants say the same in SQL (storage/migrations.ts, invariants.ts).
 */
export type AccountOwner = { readonly walletId: string } | { readonly holdId: string } | null;

export function accountOwner(address: string): AccountOwner {
  if (address.startsWith(HOLDS_PREFIX)) return { holdId: address.slice(HOLDS_PREFIX.length) };
  if (!address.startsWith('wallets:')) return null;
  const last = address.lastIndexOf(':');
  return last > 'wallets:'.length ? { walletId: address.slice('wallets:'.length, last) } : null;
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
