/**
 * The wallet summary, as the reference computes it: each balance's per-asset amount counts
 * under `expiredFunds` when the balance has expired, under `expirableFunds` and
 * `availableFunds` when it will expire, and under `availableFunds` otherwise. `holdFunds`
 * sums what remains on the wallet's holds (closed ones add 0). Holds have already moved
 * money out of the balances, so available funds do not subtract them.
 */
import { isExpired, type Balance } from './balance.ts';
import type { Instant } from './time.ts';

export type AssetAmounts = Map<string, bigint>;

export interface BalanceWithAssets extends Balance {
  readonly assets: AssetAmounts;
}

export interface Summary {
  readonly balances: readonly BalanceWithAssets[];
  readonly availableFunds: AssetAmounts;
  readonly expiredFunds: AssetAmounts;
  readonly expirableFunds: AssetAmounts;
  readonly holdFunds: AssetAmounts;
}

function add(into: AssetAmounts, asset: string, amount: bigint): void {
  into.set(asset, (into.get(asset) ?? 0n) + amount);
}

export function summarize(
  balances: readonly BalanceWithAssets[],
  holds: readonly { asset: string; remaining: bigint }[],
  now: Instant,
): Summary {
  const summary: Summary = {
    balances,
    availableFunds: new Map(),
    expiredFunds: new Map(),
    expirableFunds: new Map(),
    holdFunds: new Map(),
  };
  for (const balance of balances) {
    for (const [asset, amount] of balance.assets) {
      if (isExpired(balance, now)) {
        add(summary.expiredFunds, asset, amount);
        continue;
      }
      if (balance.expiresAt !== null) add(summary.expirableFunds, asset, amount);
      add(summary.availableFunds, asset, amount);
    }
  }
  for (const hold of holds) add(summary.holdFunds, hold.asset, hold.remaining);
  return summary;
}
