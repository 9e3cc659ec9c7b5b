/**
 * Named balances of a wallet and the order in which a debit spends them.
 * Wildcard `"*"` order: balances with an expiry first, soonest first (priority ignored among
 * them); then balances without one by ascending priority; `main` always last. A balance is
 * expired when `expiresAt < now`, strictly; expired balances are never spent.
 */
import type { Instant } from './time.ts';
import { MAIN } from './chart.ts';

export const BALANCE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const WILDCARD = '*';

export interface Balance {
  readonly name: string;
  readonly expiresAt: Instant | null;
  readonly priority: bigint;
  /** The API client that created it (auth on); absent when auth was off. */
  readonly createdBy?: string;
}

export function isExpired(balance: Balance, now: Instant): boolean {
  return balance.expiresAt !== null && balance.expiresAt < now;
}

export function wildcardOrder(balances: readonly Balance[]): Balance[] {
  const rank = (b: Balance) => (b.name === MAIN ? 2 : b.expiresAt !== null ? 0 : 1);
  return [...balances].sort((a, b) => {
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    if (a.expiresAt !== null && b.expiresAt !== null && a.expiresAt !== b.expiresAt) {
      return a.expiresAt < b.expiresAt ? -1 : 1;
    }
    if (a.expiresAt === null && a.priority !== b.priority) return a.priority < b.priority ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}
