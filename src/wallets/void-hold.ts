/** Void a hold: refund what remains to the original sources, in posting order (domain/hold.ts). */
import { holdAddress } from '../domain/chart.ts';
import { ok, refused } from '../domain/errors.ts';
import { voidHold as settleVoid } from '../domain/hold.ts';
import type { WalletCommand } from './batch.ts';
import { holdState } from './confirm-hold.ts';

export function voidHold(input: { readonly holdId: string }): WalletCommand<null> {
  return {
    reads: (reads) => reads.holds.add(input.holdId),
    plan: (snapshot, context) => {
      const hold = snapshot.holds.get(input.holdId);
      if (!hold) return refused('NOT_FOUND', `hold ${input.holdId} not found`);
      return ok({
        locks: [
          { address: holdAddress(hold.id), asset: hold.asset, walletId: hold.walletId },
          ...hold.sources.map((source) => ({ address: source.address, asset: hold.asset, walletId: hold.walletId })),
        ],
        apply: (effects) => {
          const settlement = settleVoid(holdState(hold, effects));
          if (!settlement.ok) return settlement;
          const posted = effects.journal.post({ timestamp: context.now, insertedAt: context.now, metadata: {}, postings: settlement.value.postings });
          if (!posted.ok) return posted;
          effects.holdRemaining.set(hold.id, settlement.value.remaining);
          return ok(null);
        },
      });
    },
  };
}
