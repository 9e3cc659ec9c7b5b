/** Void a hold: refund what remains to the original sources, in posting order (domain/hold.ts). */
import { holdAddress } from '../domain/chart.ts';
import { ok, refused } from '../domain/errors.ts';
import { voidHold as settleVoid } from '../domain/hold.ts';
import type { WalletCommand } from './batch.ts';
import { holdState, postSettlement } from './confirm-hold.ts';

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
        apply: (effects) => postSettlement(effects, hold.id, settleVoid(holdState(hold, effects)), context.now),
      });
    },
  };
}
