/**
 * Holds: a pending debit parks the funds on the hold's own account. Confirm sends an
 * amount (default: all that remains) to the recorded destination, and `final` sends what is
 * left back to the wallet's `main`. Void refunds the original sources in posting order,
 * each capped at what it gave, so after a partial confirm the first sources fill first.
 */
import { assert, ok, refused, type Result } from './errors.ts';
import type { Portion, Posting } from './posting.ts';

export interface HoldState {
  readonly id: string;
  readonly address: string;
  readonly asset: string;
  readonly remaining: bigint;
  readonly destinationAddress: string;
  readonly mainAddress: string;
  readonly sources: readonly Portion[];
}

export interface Settlement {
  readonly postings: Posting[];
  readonly remaining: bigint;
}

export function confirmHold(hold: HoldState, amount: bigint | undefined, final: boolean): Result<Settlement> {
  if (hold.remaining === 0n) return refused('HOLD_CLOSED', `hold ${hold.id} is closed: nothing remains on it`);
  const confirmed = amount === undefined || amount === 0n ? hold.remaining : amount;
  if (confirmed > hold.remaining) {
    return refused('INSUFFICIENT_FUND', `cannot confirm ${confirmed}: only ${hold.remaining} remains on hold ${hold.id}`);
  }
  const postings: Posting[] = [
    { source: hold.address, destination: hold.destinationAddress, asset: hold.asset, amount: confirmed },
  ];
  const left = hold.remaining - confirmed;
  if (final && left > 0n) {
    postings.push({ source: hold.address, destination: hold.mainAddress, asset: hold.asset, amount: left });
  }
  return ok({ postings, remaining: final ? 0n : left });
}

export function voidHold(hold: HoldState): Result<Settlement> {
  if (hold.remaining === 0n) return refused('HOLD_CLOSED', `hold ${hold.id} is closed: nothing remains on it`);
  const postings: Posting[] = [];
  let left = hold.remaining;
  for (const source of hold.sources) {
    if (left === 0n) break;
    const refund = source.amount < left ? source.amount : left;
    if (refund === 0n) continue;
    postings.push({ source: hold.address, destination: source.address, asset: hold.asset, amount: refund });
    left -= refund;
  }
  assert(left === 0n, `hold ${hold.id} holds more than its sources gave`);
  return ok({ postings, remaining: 0n });
}
