/** Create a wallet: its row and its implicit `main` balance, which never expires. */
import { ok, refused } from '../domain/errors.ts';
import type { Metadata, Wallet } from '../domain/records.ts';
import type { WalletCommand } from '../committer/command.ts';
import { walletCreated } from './events.ts';

export interface CreateWalletInput {
  readonly name: string;
  readonly metadata: Metadata;
}

export function createWallet(input: CreateWalletInput): WalletCommand<Wallet> {
  return {
    reads: (reads, context) => {
      if (context.idsDerived) reads.wallets.add(context.newId('wallet'));
    },
    plan: (_snapshot, context) =>
      ok({
        locks: [],
        apply: (effects) => {
          const wallet: Wallet = {
            id: context.newId('wallet'),
            name: input.name,
            metadata: input.metadata,
            createdAt: context.now,
            ...(context.createdBy !== null ? { createdBy: context.createdBy } : {}),
            status: 'active',
            statusChange: null,
          };
          if (effects.walletExists(wallet.id)) {
            // Only a key-derived id can exist: the key's stored outcome was purged, the wallet was not.
            return refused('CONFLICT', `wallet ${wallet.id}, derived from this Idempotency-Key, already exists; use a new key`);
          }
          effects.createWallet(wallet);
          walletCreated(effects, wallet);
          return ok(wallet);
        },
      }),
  };
}
