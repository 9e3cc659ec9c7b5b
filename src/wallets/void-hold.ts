/** Void a hold: refund what remains to the original sources, in posting order (domain/hold.ts). */
import { voidHold as settleVoid } from '../domain/hold.ts';
import type { WalletCommand } from '../committer/command.ts';
import { settleHold } from './settle-hold.ts';

export function voidHold(input: { readonly holdId: string }): WalletCommand<null> {
  return settleHold(input.holdId, {
    payees: (hold) => hold.sources.map((source) => source.address),
    settle: settleVoid,
  });
}
