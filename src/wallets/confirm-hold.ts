/**
 * Confirm a hold: send `amount` (default: all that remains) to the hold's destination;
 * with `final`, send what is left back to the wallet's `main`. Refused while the hold's
 * wallet is frozen or closed (money would leave it) or its destination wallet is closed,
 * and from the hold's `expiresAt` on (HOLD_EXPIRED). Rules in domain/hold.ts.
 */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import { confirmHold as settleConfirm } from '../domain/hold.ts';
import { changeRefusal, outgoingRefusal } from '../domain/wallet-status.ts';
import type { WalletCommand } from '../committer/command.ts';
import { settleHold } from './settle-hold.ts';

export interface ConfirmHoldInput {
  readonly holdId: string;
  readonly amount?: bigint;
  readonly final: boolean;
}

export function confirmHold(input: ConfirmHoldInput): WalletCommand<null> {
  return settleHold(input.holdId, {
    event: 'hold.confirmed',
    payees: (hold) => [hold.destinationAddress, balanceAddress(hold.walletId, MAIN)],
    walletRefusal: (hold, effects) => {
      const payer = outgoingRefusal(hold.walletId, effects.walletStatus(hold.walletId)!);
      if (payer || hold.destination.type !== 'WALLET') return payer;
      return changeRefusal(hold.destination.identifier, effects.walletStatus(hold.destination.identifier)!);
    },
    settle: (state, now) => settleConfirm(state, input.amount, input.final, now),
  });
}
