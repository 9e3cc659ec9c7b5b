/** Patch a wallet: merge metadata keys into it (existing keys overwritten; none deleted). */
import { ok, refused } from '../domain/errors.ts';
import type { Metadata } from '../domain/records.ts';
import type { WalletCommand } from '../committer/command.ts';

export interface UpdateWalletInput {
  readonly walletId: string;
  readonly metadata: Metadata;
}

export function updateWallet(input: UpdateWalletInput): WalletCommand<null> {
  return {
    reads: (reads) => reads.wallets.add(input.walletId),
    plan: (snapshot) => {
      if (!snapshot.wallets.has(input.walletId)) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      return ok({
        locks: [],
        apply: (effects) => {
          effects.patchMetadata(input.walletId, input.metadata);
          return ok(null);
        },
      });
    },
  };
}
