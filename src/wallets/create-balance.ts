/** Create a named balance on a wallet. `main` exists from the start and cannot be created. */
import type { Balance } from '../domain/balance.ts';
import { ok, refused } from '../domain/errors.ts';
import type { WalletCommand } from '../committer/command.ts';

export interface CreateBalanceInput {
  readonly walletId: string;
  readonly balance: Balance;
}

export function createBalance(input: CreateBalanceInput): WalletCommand<Balance> {
  return {
    reads: (reads) => reads.wallets.add(input.walletId),
    plan: (snapshot, context) => {
      if (!snapshot.wallets.has(input.walletId)) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      return ok({
        locks: [],
        apply: (effects) => {
          // Checked here, not in plan: another command of the same batch may create it first.
          if (effects.balanceExists(input.walletId, input.balance.name)) {
            return refused('VALIDATION', `balance ${input.balance.name} already exists in wallet ${input.walletId}`);
          }
          effects.createBalance(input.walletId, input.balance, context.now, context.createdBy);
          return ok(context.createdBy !== null ? { ...input.balance, createdBy: context.createdBy } : input.balance);
        },
      });
    },
  };
}
