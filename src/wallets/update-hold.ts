/**
 * Move an open hold's expiry (`null` removes it). The hold's row is locked with the snapshot,
 * as confirm, void and the sweeper lock it, so the change and a settlement are ordered: a
 * sweeper that claimed the hold under its old expiry finds it not due and leaves it. Refused
 * once the hold is settled (HOLD_CLOSED) or expired (HOLD_EXPIRED), for an expiry that is
 * not after the batch's clock (VALIDATION), and on a closed wallet (WALLET_CLOSED).
 */
import { ok, refused } from '../domain/errors.ts';
import { isHoldExpired } from '../domain/hold.ts';
import { formatInstant, type Instant } from '../domain/time.ts';
import { changeRefusal } from '../domain/wallet-status.ts';
import { holdChanged } from './events.ts';
import type { WalletCommand } from '../committer/command.ts';

export interface UpdateHoldInput {
  readonly holdId: string;
  readonly expiresAt: Instant | null;
}

export function updateHold(input: UpdateHoldInput): WalletCommand<null> {
  return {
    reads: (reads) => reads.holds.add(input.holdId),
    plan: (snapshot, context) => {
      const hold = snapshot.holds.get(input.holdId);
      if (!hold) return refused('NOT_FOUND', `hold ${input.holdId} not found`);
      return ok({
        locks: [],
        apply: (effects) => {
          // A closed wallet only answers reads (it can still have an open hold of nothing).
          const closed = changeRefusal(hold.walletId, effects.walletStatus(hold.walletId)!);
          if (closed) return { ok: false, refusal: closed };
          const current = effects.hold(hold);
          if (current.status === 'expired' || (current.status === 'open' && isHoldExpired(current, context.now))) {
            return refused('HOLD_EXPIRED', `hold ${hold.id} has expired`);
          }
          if (current.status !== 'open') return refused('HOLD_CLOSED', `hold ${hold.id} is closed (${current.status})`);
          if (input.expiresAt !== null && input.expiresAt <= context.now) {
            return refused('VALIDATION', `expiresAt must be in the future, got ${formatInstant(input.expiresAt)}`);
          }
          effects.moveHoldExpiry(hold.id, input.expiresAt);
          holdChanged(effects, 'hold.updated', hold, context.now, false);
          return ok(null);
        },
      });
    },
  };
}
