/** Create a wallet: its row and its implicit `main` balance, which never expires. */
import { MAIN } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { Metadata, Wallet } from '../domain/records.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { insertBalance } from '../storage/balances.ts';
import { insertWallet } from '../storage/wallets.ts';

export interface CreateWalletInput {
  readonly name: string;
  readonly metadata: Metadata;
}

export async function createWallet(context: CommandContext, input: CreateWalletInput): Promise<Result<Wallet>> {
  const wallet: Wallet = { id: context.newId('wallet'), name: input.name, metadata: input.metadata, createdAt: context.now };
  if (!(await insertWallet(context.tx, context.ledger, wallet))) {
    // Only a key-derived id can collide: the key's stored outcome was purged, the wallet was not.
    return refused('CONFLICT', `wallet ${wallet.id}, derived from this Idempotency-Key, already exists; use a new key`);
  }
  await insertBalance(context.tx, context.ledger, wallet.id, { name: MAIN, expiresAt: null, priority: 0n }, context.now);
  return ok(wallet);
}
