/** Create a named balance on a wallet. `main` exists from the start and cannot be created. */
import type { Balance } from '../domain/balance.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { insertBalance } from '../storage/balances.ts';
import { findWallet } from '../storage/wallets.ts';

export interface CreateBalanceInput {
  readonly walletId: string;
  readonly balance: Balance;
}

export async function createBalance(context: CommandContext, input: CreateBalanceInput): Promise<Result<Balance>> {
  const { tx, ledger } = context;
  if (!(await findWallet(tx, ledger, input.walletId))) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
  const created = await insertBalance(tx, ledger, input.walletId, input.balance, context.now);
  if (!created) return refused('VALIDATION', `balance ${input.balance.name} already exists in wallet ${input.walletId}`);
  return ok(input.balance);
}
