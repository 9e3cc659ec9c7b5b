/**
 * Expire a due hold: the sweeper's command (wallets/hold-sweeper.ts). It is a void — the
 * same postings to the same sources — that leaves the hold `expired`; it goes through the
 * committer like any request, so it locks the hold and its accounts and is decided on the
 * batch's clock. A hold a confirm or void settled first, or another process's sweeper
 * expired first, or whose expiry was moved since it was claimed, is left alone (refused),
 * so each expiry happens once.
 */
import { expireHold as settleExpire } from '../domain/hold.ts';
import type { WalletCommand } from '../committer/command.ts';
import { settleHold } from './settle-hold.ts';

export function expireHold(input: { readonly holdId: string }): WalletCommand<null> {
  return settleHold(input.holdId, {
    event: 'hold.expired',
    payees: (hold) => hold.sources.map((source) => source.address),
    walletRefusal: () => null,
    settle: settleExpire,
  });
}
