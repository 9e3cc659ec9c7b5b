/**
 * Confirm a hold: send `amount` (default: all that remains) to the hold's destination;
 * with `final`, send what is left back to the wallet's `main`. Rules in domain/hold.ts.
 */
import { balanceAddress, holdAddress, MAIN } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import { confirmHold as settleConfirm, type HoldState } from '../domain/hold.ts';
import { volumeKey } from '../domain/posting.ts';
import type { Hold } from '../domain/records.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { postTransaction } from '../ledger/post-transaction.ts';
import { findHold, setHoldRemaining } from '../storage/holds.ts';
import { lockVolumes, type LockedBalances } from '../storage/volumes.ts';

export interface ConfirmHoldInput {
  readonly holdId: string;
  readonly amount?: bigint;
  readonly final: boolean;
}

export function holdState(hold: Hold, locked: LockedBalances): HoldState {
  const address = holdAddress(hold.id);
  return {
    id: hold.id,
    address,
    asset: hold.asset,
    remaining: locked.get(volumeKey(address, hold.asset)) ?? 0n,
    destinationAddress: hold.destinationAddress,
    mainAddress: balanceAddress(hold.walletId, MAIN),
    sources: hold.sources,
  };
}

export async function confirmHold(context: CommandContext, input: ConfirmHoldInput): Promise<Result<null>> {
  const { tx, ledger } = context;
  const hold = await findHold(tx, ledger, input.holdId);
  if (!hold) return refused('NOT_FOUND', `hold ${input.holdId} not found`);
  const locked = await lockVolumes(
    tx,
    ledger,
    [holdAddress(hold.id), hold.destinationAddress, balanceAddress(hold.walletId, MAIN)].map((address) => ({
      address,
      asset: hold.asset,
      walletId: address === hold.destinationAddress ? null : hold.walletId,
    })),
  );
  const settlement = settleConfirm(holdState(hold, locked), input.amount, input.final);
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
