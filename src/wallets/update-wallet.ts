/** Patch a wallet: merge metadata keys into it (existing keys overwritten; none deleted). */
import { ok, refused, type Result } from '../domain/errors.ts';
import type { Metadata } from '../domain/records.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { mergeWalletMetadata } from '../storage/wallets.ts';

export interface UpdateWalletInput {
  readonly walletId: string;
  readonly metadata: Metadata;
}

export async function updateWallet(context: CommandContext, input: UpdateWalletInput): Promise<Result<null>> {
  const found = await mergeWalletMetadata(context.tx, context.ledger, input.walletId, input.metadata);
  return found ? ok(null) : refused('NOT_FOUND', `wallet ${input.walletId} not found`);
}
