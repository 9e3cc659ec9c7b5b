/**
 * Create a named balance on a wallet, optionally with an overdraft limit per asset (stored on
 * the balance's volume rows, where the funds check reads it). `main` exists from the start
 * and cannot be created; give it an overdraft with PATCH (wallets/update-balance.ts). A
 * closed wallet takes no new balance (WALLET_CLOSED).
 */
import type { Balance } from '../domain/balance.ts';
import { balanceAddress } from '../domain/chart.ts';
import { ok, refused } from '../domain/errors.ts';
import { changeRefusal } from '../domain/wallet-status.ts';
import type { WalletCommand } from '../committer/command.ts';
import { balanceChanged } from './events.ts';

export interface CreateBalanceInput {
  readonly walletId: string;
  readonly balance: Balance;
  /** Overdraft limit per asset; absent assets have none. */
  readonly overdraft: ReadonlyMap<string, bigint>;
}

/** The new balance and the limits it was given. */
export interface CreatedBalance {
  readonly balance: Balance;
  readonly overdraft: ReadonlyMap<string, bigint>;
}

export function createBalance(input: CreateBalanceInput): WalletCommand<CreatedBalance> {
  const address = balanceAddress(input.walletId, input.balance.name);
  return {
    reads: (reads) => reads.wallets.add(input.walletId),
    plan: (snapshot, context) => {
      const wallet = snapshot.wallets.get(input.walletId);
      if (!wallet) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      const closed = changeRefusal(wallet.id, wallet.status);
      if (closed) return { ok: false, refusal: closed };
      return ok({
        locks: [...input.overdraft.keys()].map((asset) => ({ address, asset })),
        apply: (effects) => {
          const refusal = changeRefusal(wallet.id, effects.walletStatus(wallet.id)!);
          if (refusal) return { ok: false, refusal };
          // Checked here, not in plan: another command of the same batch may create it first.
          if (effects.balanceExists(input.walletId, input.balance.name)) {
            return refused('VALIDATION', `balance ${input.balance.name} already exists in wallet ${input.walletId}`);
          }
          effects.createBalance(input.walletId, input.balance, context.now, context.createdBy);
          for (const [asset, limit] of input.overdraft) effects.setOverdraft(address, asset, limit);
          balanceChanged(effects, 'balance.created', input.walletId, {
            ...input.balance,
            ...(context.createdBy !== null ? { createdBy: context.createdBy } : {}),
            overdraft: input.overdraft,
          });
          return ok({ balance: context.createdBy !== null ? { ...input.balance, createdBy: context.createdBy } : input.balance, overdraft: input.overdraft });
        },
      });
    },
  };
}
