/**
 * What confirm, void and the sweeper's expiry share: the hold must exist (else NOT_FOUND);
 * its row is locked with the snapshot (so its status and expiry are as last committed), its
 * own account and the accounts the settlement may pay are locked; the settlement's wallet
 * rule runs first (a confirm pays out of the hold's wallet), then the domain rule decides on
 * the locked remaining and the batch's clock; the transaction is posted and the hold's
 * remaining and status recorded.
 */
import { balanceAddress, holdAddress, MAIN } from '../domain/chart.ts';
import { ok, refused, type Refusal, type Result } from '../domain/errors.ts';
import type { HoldState, Settlement } from '../domain/hold.ts';
import type { Hold } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import type { Effects, WalletCommand } from '../committer/command.ts';
import { holdChanged } from './events.ts';

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
    status: hold.status,
    expiresAt: hold.expiresAt,
  };
}

export interface HoldSettlement {
  /** Addresses of the accounts (besides the hold's own) the settlement may pay. */
  payees(hold: Hold): string[];
  /** What the wallets involved allow, as this batch has left them; null = go on. */
  walletRefusal(hold: Hold, effects: Effects): Refusal | null;
  /** The event a settlement emits. */
  readonly event: 'hold.confirmed' | 'hold.voided' | 'hold.expired';
  /** The domain rule. */
  settle(state: HoldState, now: Instant): Result<Settlement>;
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
          const current = effects.hold(hold);
          const refusal = settlement.walletRefusal(current, effects);
          if (refusal) return { ok: false, refusal };
          const settled = settlement.settle(holdState(current, effects), context.now);
          if (!settled.ok) return settled;
          // Expiring a hold that holds nothing (a zero pending debit) moves nothing: no transaction.
          if (settled.value.postings.length > 0) {
            const posted = effects.journal.post({ timestamp: context.now, insertedAt: context.now, createdBy: context.createdBy, metadata: {}, postings: settled.value.postings });
            if (!posted.ok) return posted;
          }
          effects.settleHold(hold.id, settled.value.remaining, settled.value.status);
          holdChanged(effects, settlement.event, hold, context.now, settled.value.postings.length > 0);
          return ok(null);
        },
      });
    },
  };
}
