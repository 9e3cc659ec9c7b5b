/**
 * What confirm and void share: the hold must exist (else NOT_FOUND); its own account and the
 * accounts the settlement may pay are locked; the domain rule decides on the locked
 * remaining; the transaction is posted and the hold's remaining recorded.
 */
import { balanceAddress, holdAddress, MAIN } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { HoldState, Settlement } from '../domain/hold.ts';
import type { Hold } from '../domain/records.ts';
import type { Effects, WalletCommand } from '../committer/command.ts';

function holdState(hold: Hold, effects: Effects): HoldState {
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

export interface HoldSettlement {
  /** Addresses of the accounts (besides the hold's own) the settlement may pay. */
  payees(hold: Hold): string[];
  /** The domain rule. */
  settle(state: HoldState): Result<Settlement>;
}

export function settleHold(holdId: string, settlement: HoldSettlement): WalletCommand<null> {
  return {
    reads: (reads) => {
      reads.holds.add(holdId);
      reads.locksUnknown = true; // the hold's asset and payees come with the snapshot
    },
    plan: (snapshot, context) => {
      const hold = snapshot.holds.get(holdId);
      if (!hold) return refused('NOT_FOUND', `hold ${holdId} not found`);
      return ok({
        locks: [
          { address: holdAddress(hold.id), asset: hold.asset, holdWalletId: hold.walletId },
          ...settlement.payees(hold).map((address) => ({ address, asset: hold.asset })),
        ],
        apply: (effects) => {
          const settled = settlement.settle(holdState(hold, effects));
          if (!settled.ok) return settled;
          const posted = effects.journal.post({
            timestamp: context.now,
            insertedAt: context.now,
            createdBy: context.createdBy,
            metadata: {},
            postings: settled.value.postings,
          });
          if (!posted.ok) return posted;
          effects.holdRemaining.set(hold.id, settled.value.remaining);
          return ok(null);
        },
      });
    },
  };
}
