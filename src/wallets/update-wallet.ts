/**
 * Patch a wallet: merge metadata keys into it (existing keys overwritten; none deleted),
 * and/or change its status (domain/wallet-status.ts). A status change locks the wallet
 * exclusively for its batch, so no command moving the wallet's money runs across it; closing
 * also reads the balance of every account of the wallet under that lock and refuses unless
 * all are zero (no money left, no open hold). Each change is recorded with when and by whom,
 * on the wallet and in its status history. A closed wallet takes no patch (WALLET_CLOSED).
 */
import { ok, refused } from '../domain/errors.ts';
import type { Metadata, WalletStatus } from '../domain/records.ts';
import { changeRefusal, transitionRefusal } from '../domain/wallet-status.ts';
import type { WalletCommand } from '../committer/command.ts';
import type { EventType } from '../domain/events.ts';
import { walletChanged } from './events.ts';

/** The event of a status change, by the status it reaches. */
const STATUS_EVENTS: Record<WalletStatus, EventType> = { active: 'wallet.unfrozen', frozen: 'wallet.frozen', closed: 'wallet.closed' };

export interface UpdateWalletInput {
  readonly walletId: string;
  readonly metadata: Metadata;
  readonly status?: WalletStatus;
}

export function updateWallet(input: UpdateWalletInput): WalletCommand<null> {
  return {
    reads: (reads) => {
      reads.wallets.add(input.walletId);
      if (input.status !== undefined) reads.walletsExclusive = true;
      if (input.status === 'closed') reads.closing.add(input.walletId);
    },
    plan: (snapshot, context) => {
      const wallet = snapshot.wallets.get(input.walletId);
      if (!wallet) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      return ok({
        locks: [],
        apply: (effects) => {
          const from = effects.walletStatus(wallet.id)!;
          const refusal = changeRefusal(wallet.id, from) ?? (input.status === undefined ? null : transitionRefusal(wallet.id, from, input.status, () => effects.walletAccounts(wallet.id)));
          if (refusal) return { ok: false, refusal };
          if (Object.keys(input.metadata).length > 0) {
            effects.patchMetadata(wallet.id, input.metadata);
            walletChanged(effects, 'wallet.updated', wallet);
          }
          if (input.status !== undefined && input.status !== from) {
            effects.changeStatus(wallet.id, { status: input.status, changedAt: context.now, changedBy: context.createdBy });
            walletChanged(effects, STATUS_EVENTS[input.status], wallet);
          }
          return ok(null);
        },
      });
    },
  };
}
