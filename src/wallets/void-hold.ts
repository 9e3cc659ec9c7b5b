/** Void a hold: refund what remains to the original sources, in posting order (domain/hold.ts). */
import { holdAddress } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import { voidHold as settleVoid } from '../domain/hold.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { postTransaction } from '../ledger/post-transaction.ts';
import { findHold, setHoldRemaining } from '../storage/holds.ts';
import { lockVolumes } from '../storage/volumes.ts';
import { holdState } from './confirm-hold.ts';

export async function voidHold(context: CommandContext, input: { readonly holdId: string }): Promise<Result<null>> {
  const { tx, ledger } = context;
  const hold = await findHold(tx, ledger, input.holdId);
  if (!hold) return refused('NOT_FOUND', `hold ${input.holdId} not found`);
  const locked = await lockVolumes(tx, ledger, [
    { address: holdAddress(hold.id), asset: hold.asset, walletId: hold.walletId },
    ...hold.sources.map((source) => ({ address: source.address, asset: hold.asset, walletId: hold.walletId })),
  ]);
  const settlement = settleVoid(holdState(hold, locked));
  if (!settlement.ok) return settlement;
  const posted = await postTransaction(tx, ledger, locked, {
    timestamp: context.now,
    insertedAt: context.now,
    metadata: {},
    postings: settlement.value.postings,
  });
  if (!posted.ok) return posted;
  await setHoldRemaining(tx, ledger, hold.id, settlement.value.remaining);
  return ok(null);
}
