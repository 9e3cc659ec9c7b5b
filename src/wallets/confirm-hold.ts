/**
 * Confirm a hold: send `amount` (default: all that remains) to the hold's destination;
 * with `final`, send what is left back to the wallet's `main`. Rules in domain/hold.ts.
 */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import { confirmHold as settleConfirm } from '../domain/hold.ts';
import type { WalletCommand } from '../committer/command.ts';
import { settleHold } from './settle-hold.ts';

export interface ConfirmHoldInput {
  readonly holdId: string;
  readonly amount?: bigint;
  readonly final: boolean;
}

export function confirmHold(input: ConfirmHoldInput): WalletCommand<null> {
  return settleHold(input.holdId, {
    payees: (hold) => [hold.destinationAddress, balanceAddress(hold.walletId, MAIN)],
    settle: (state) => settleConfirm(state, input.amount, input.final),
  });
}
