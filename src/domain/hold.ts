/**
 * Holds: a pending debit parks the funds on the hold's own account. Confirm sends an
 * amount (default: all that remains) to the recorded destination, and `final` sends what is
 * left back to the wallet's `main`. Void refunds the original sources in posting order,
 * each capped at what it gave, so after a partial confirm the first sources fill first.
 *
 * Expiry: a hold with an `expiresAt` expires AT that instant (`now >= expiresAt`). From then
 * on it can never be confirmed (HOLD_EXPIRED) nor voided by a client (HOLD_CLOSED), whether
 * or not the sweeper has run yet; the sweeper's expiry is a void with the same postings,
 * which leaves the hold `expired`. `now` is always the committer's clock for the batch.
 */
import { assert, ok, refused, type Result } from './errors.ts';
import type { Portion, Posting } from './posting.ts';
import type { HoldStatus } from './records.ts';
import type { Instant } from './time.ts';

export interface HoldState {
  readonly id: string;
  readonly address: string;
  readonly asset: string;
  readonly remaining: bigint;
  readonly destinationAddress: string;
  readonly mainAddress: string;
  readonly sources: readonly Portion[];
  readonly status: HoldStatus;
  readonly expiresAt: Instant | null;
}

export interface Settlement {
  readonly postings: Posting[];
  readonly remaining: bigint;
  readonly status: HoldStatus;
}

/** True from the hold's `expiresAt` on (inclusive): "at expiresAt the hold is voided". */
export function isHoldExpired(hold: { readonly expiresAt: Instant | null }, now: Instant): boolean {
  return hold.expiresAt !== null && now >= hold.expiresAt;
}

/** The status a reader sees: an open hold past its expiry is `expired`, even before the sweeper voids it. */
export function holdStatus(hold: { readonly status: HoldStatus; readonly expiresAt: Instant | null }, now: Instant): HoldStatus {
  return hold.status === 'open' && isHoldExpired(hold, now) ? 'expired' : hold.status;
}

function closed(hold: HoldState): Result<Settlement> {
  return refused('HOLD_CLOSED', `hold ${hold.id} is closed (${hold.status}): nothing remains on it`);
}

function expired(hold: HoldState): Result<Settlement> {
  return refused('HOLD_EXPIRED', `hold ${hold.id} expired at its expiresAt and can no longer be confirmed`);
}

/** True when nothing can be settled: the hold was confirmed, voided or expired, or nothing remains. */
function isSettled(hold: HoldState): boolean {
  return hold.status !== 'open' || hold.remaining === 0n;
}

export function confirmHold(hold: HoldState, amount: bigint | undefined, final: boolean, now: Instant): Result<Settlement> {
  if (hold.status === 'expired' || (hold.status === 'open' && isHoldExpired(hold, now))) return expired(hold);
  if (isSettled(hold)) return closed(hold);
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
  const remaining = final ? 0n : left;
  return ok({ postings, remaining, status: remaining === 0n ? 'confirmed' : 'open' });
}

/** What remains, refunded to the original sources in posting order, each capped at what it gave. */
function refund(hold: HoldState, status: HoldStatus): Settlement {
  const postings: Posting[] = [];
  let left = hold.remaining;
  for (const source of hold.sources) {
    if (left === 0n) break;
    const amount = source.amount < left ? source.amount : left;
    if (amount === 0n) continue;
    postings.push({ source: hold.address, destination: source.address, asset: hold.asset, amount });
    left -= amount;
  }
  assert(left === 0n, `hold ${hold.id} holds more than its sources gave`);
  return { postings, remaining: 0n, status };
}

/** A client's void: refused once the hold expired, which only the sweeper settles (`expireHold`). */
export function voidHold(hold: HoldState, now: Instant): Result<Settlement> {
  if (isSettled(hold) || isHoldExpired(hold, now)) return closed(hold);
  return ok(refund(hold, 'voided'));
}

/**
 * The sweeper's void of a due hold. Refused (and nothing moves) when the hold is no longer
 * open — a confirm or void got there first, or another process's sweeper did — or when it is
 * not due at this batch's clock: its expiry was moved, or removed, since it was claimed.
 */
export function expireHold(hold: HoldState, now: Instant): Result<Settlement> {
  // An open hold with nothing on it (a zero pending debit) still expires: no postings.
  if (hold.status !== 'open') return closed(hold);
  if (!isHoldExpired(hold, now)) return refused('VALIDATION', `hold ${hold.id} is not due: it expires later, or never`);
  return ok(refund(hold, 'expired'));
}
