/**
 * A posting moves `amount` of `asset` from `source` to `destination`. A transaction is a
 * list of postings, so it balances by construction; what can break is a bounded account
 * going below zero, which `volumeDeltas` + the ledger's check guard against.
 */
import { isUnbounded } from './chart.ts';

export interface Posting {
  readonly source: string;
  readonly destination: string;
  readonly asset: string;
  readonly amount: bigint;
}

export interface VolumeDelta {
  readonly address: string;
  readonly asset: string;
  readonly input: bigint;
  readonly output: bigint;
}

/** A volume row: one (account, asset) pair, the unit every balance lock takes. */
export interface VolumeKey {
  readonly address: string;
  readonly asset: string;
  /**
   * For a hold's account, the hold's wallet: the one owner an address cannot tell by itself.
   * Every other account's wallet follows from its address (`accountWallet` in storage/volumes.ts).
   */
  readonly holdWalletId?: string;
}

/** Balances of locked volume rows, by `volumeKey(address, asset)`. */
export type LockedBalances = Map<string, bigint>;

/** Overdraft limits of locked volume rows that have one, by `volumeKey(address, asset)`; absent = 0. */
export type LockedOverdrafts = Map<string, bigint>;

export function volumeKey(address: string, asset: string): string {
  return `${address}\u0000${asset}`;
}

/** Sums postings into per-(address, asset) input/output deltas, unbounded accounts excluded, sorted. */
export function volumeDeltas(postings: readonly Posting[]): VolumeDelta[] {
  const deltas = new Map<string, { address: string; asset: string; input: bigint; output: bigint }>();
  const touch = (address: string, asset: string) => {
    const key = volumeKey(address, asset);
    let delta = deltas.get(key);
    if (!delta) {
      delta = { address, asset, input: 0n, output: 0n };
      deltas.set(key, delta);
    }
    return delta;
  };
  for (const posting of postings) {
    if (!isUnbounded(posting.source)) touch(posting.source, posting.asset).output += posting.amount;
    if (!isUnbounded(posting.destination)) touch(posting.destination, posting.asset).input += posting.amount;
  }
  return [...deltas.values()].sort(compareVolumeKeys);
}

export function compareVolumeKeys(a: { address: string; asset: string }, b: { address: string; asset: string }): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  if (a.asset !== b.asset) return a.asset < b.asset ? -1 : 1;
  return 0;
}

export interface Portion {
  readonly address: string;
  readonly amount: bigint;
}

/** A source to drain: what it holds (`null` = unbounded, `world`) and how far below zero it may go. */
export interface DrainSource {
  readonly address: string;
  readonly available: bigint | null;
  /** The overdraft limit: the balance may end at minus this, never lower. Absent = 0. */
  readonly overdraft?: bigint;
}

/**
 * Takes `amount` from `sources`, in two passes over the list: first the positive funds of
 * every source, in order (`null` = unbounded: takes all that is left); then, only if that
 * was not enough, each source's overdraft (down to minus its limit), in the same order. A
 * source that gives in both passes gives one portion, in the place of its first. Returns
 * the portions, or null when the sources together cannot cover the amount. A zero amount is
 * one zero portion from the first source, so the transaction still has a posting to show.
 */
export function drain(amount: bigint, sources: readonly DrainSource[]): Portion[] | null {
  const first = sources[0];
  if (!first) return null;
  if (amount === 0n) return [{ address: first.address, amount: 0n }];
  const taken = new Map<string, bigint>();
  let left = amount;
  const take = (address: string, room: bigint) => {
    const amountTaken = room < left ? room : left;
    if (amountTaken <= 0n) return;
    taken.set(address, (taken.get(address) ?? 0n) + amountTaken);
    left -= amountTaken;
  };
  // What a source holds after this drain's earlier takes (a list may name an account twice).
  const current = (source: DrainSource) => source.available! - (taken.get(source.address) ?? 0n);
  for (const source of sources) {
    if (left === 0n) break;
    take(source.address, source.available === null ? left : current(source) > 0n ? current(source) : 0n);
  }
  for (const source of sources) {
    if (left === 0n) break;
    if (source.available !== null) take(source.address, current(source) + (source.overdraft ?? 0n));
  }
  return left === 0n ? [...taken].map(([address, portion]) => ({ address, amount: portion })) : null;
}
