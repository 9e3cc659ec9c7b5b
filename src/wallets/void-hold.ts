/**
 * Void a hold: refund what remains to the original sources, in posting order (domain/hold.ts).
 * A frozen wallet's holds can be voided (the money comes back); an expired hold cannot
 * (HOLD_CLOSED): the sweeper voids it.
 */
import { voidHold as settleVoid } from '../domain/hold.ts';
import type { WalletCommand } from '../committer/command.ts';
import { settleHold } from './settle-hold.ts';

export function voidHold(input: { readonly holdId: string }): WalletCommand<null> {
  return settleHold(input.holdId, {
    event: 'hold.voided',
    payees: (hold) => hold.sources.map((source) => source.address),
    walletRefusal: () => null,
    settle: settleVoid,
  });
}
