/**
 * Confirm a hold: send `amount` (default: all that remains) to the hold's destination;
 * with `final`, send what is left back to the wallet's `main`. Rules in domain/hold.ts.
 */
import { balanceAddress, holdAddress, MAIN } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import { confirmHold as settleConfirm, type HoldState, type Settlement } from '../domain/hold.ts';
import type { Instant } from '../domain/time.ts';
import type { Hold } from '../domain/records.ts';
import type { Effects, WalletCommand } from './batch.ts';

export interface ConfirmHoldInput {
  readonly holdId: string;
  readonly amount?: bigint;
  readonly final: boolean;
}

export function holdState(hold: Hold, effects: Effects): HoldState {
  const address = holdAddress(hold.id);
  return {
    id: hold.id,
    address,
    asset: hold.asset,
    remaining: effects.journal.balance(address, hold.asset),
    destinationAddress: hold.destinationAddress,
    mainAddress: balanceAddress(hold.walletId, MAIN),
    sources: hold.sources,
  };
}

/** Posts a confirm's or void's transaction and records what remains on the hold. */
export function postSettlement(effects: Effects, holdId: string, settlement: Result<Settlement>, now: Instant): Result<null> {
  if (!settlement.ok) return settlement;
  const posted = effects.journal.post({ timestamp: now, insertedAt: now, metadata: {}, postings: settlement.value.postings });
  if (!posted.ok) return posted;
  effects.holdRemaining.set(holdId, settlement.value.remaining);
  return ok(null);
}

export function confirmHold(input: ConfirmHoldInput): WalletCommand<null> {
  return {
    reads: (reads) => reads.holds.add(input.holdId),
    plan: (snapshot, context) => {
      const hold = snapshot.holds.get(input.holdId);
      if (!hold) return refused('NOT_FOUND', `hold ${input.holdId} not found`);
      return ok({
        locks: [
          { address: holdAddress(hold.id), asset: hold.asset, walletId: hold.walletId },
          { address: hold.destinationAddress, asset: hold.asset, walletId: null },
          { address: balanceAddress(hold.walletId, MAIN), asset: hold.asset, walletId: hold.walletId },
        ],
        apply: (effects) => postSettlement(effects, hold.id, settleConfirm(holdState(hold, effects), input.amount, input.final), context.now),
      });
    },
  };
}
