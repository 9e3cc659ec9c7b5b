/**
 * Debit a wallet, immediately or as a pending hold.
 * Sources: absent or empty = [main]; ["*"] = every balance in wildcard order (see
 * domain/balance.ts); an explicit list is kept in request order and every name must exist.
 * Expired balances are skipped; when none is left the debit is INSUFFICIENT_FUND. The amount
 * is taken from the sources in order, each up to its balance. A pending debit sends the
 * funds to the hold's own account and records which source gave what, for an exact void.
 * Everything is decided here, once, against locked rows — which is why a keyed retry can
 * replay the stored outcome even after the balance set has changed.
 */
import { isExpired, WILDCARD, wildcardOrder, type Balance } from '../domain/balance.ts';
import { balanceAddress, holdAddress, MAIN, WORLD } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { Monetary } from '../domain/money.ts';
import { drain, volumeKey } from '../domain/posting.ts';
import type { Hold, Metadata, Subject } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { postTransaction } from '../ledger/post-transaction.ts';
import { walletBalances } from '../storage/balances.ts';
import { findHold, insertHold } from '../storage/holds.ts';
import { lockVolumes } from '../storage/volumes.ts';
import { findWallet } from '../storage/wallets.ts';
import { resolveSubject } from './subjects.ts';

export interface DebitInput {
  readonly walletId: string;
  readonly amount: Monetary;
  readonly pending: boolean;
  readonly balances: readonly string[];
  readonly destination: Subject;
  readonly metadata: Metadata;
  readonly description: string;
  readonly reference?: string;
  readonly timestamp?: Instant;
}

/** An immediate debit has nothing to show; a pending one shows its hold. */
export type Debited = { readonly hold: Hold | null };

function chooseSources(all: readonly Balance[], requested: readonly string[]): Result<Balance[]> {
  if (requested.length === 1 && requested[0] === WILDCARD) return ok(wildcardOrder(all));
  const names = requested.length > 0 ? requested : [MAIN];
  const byName = new Map(all.map((balance) => [balance.name, balance]));
  const chosen: Balance[] = [];
  for (const name of names) {
    const balance = byName.get(name);
    if (!balance) return refused('VALIDATION', `the wallet has no balance named ${name}`);
    chosen.push(balance);
  }
  return ok(chosen);
}

export async function debit(context: CommandContext, input: DebitInput): Promise<Result<Debited>> {
  const { tx, ledger, now } = context;
  const wallet = await findWallet(tx, ledger, input.walletId);
  if (!wallet) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);

  const chosen = chooseSources(await walletBalances(tx, ledger, wallet.id), input.balances);
  if (!chosen.ok) return chosen;
  const spendable = chosen.value.filter((balance) => !isExpired(balance, now));
  if (spendable.length === 0) return refused('INSUFFICIENT_FUND', 'every source balance has expired');

  const destination = await resolveSubject(tx, ledger, input.destination, 'destination');
  if (!destination.ok) return destination;

  const { asset, amount } = input.amount;
  const holdId = input.pending ? context.newId('hold') : null;
  if (holdId !== null && context.idsDerived && (await findHold(tx, ledger, holdId))) {
    // Only after the key's stored outcome was purged can its derived hold id exist already.
    return refused('CONFLICT', `hold ${holdId}, derived from this Idempotency-Key, already exists; use a new key`);
  }
  const target = holdId !== null ? { address: holdAddress(holdId), walletId: wallet.id } : destination.value;
  const sourceAddresses = spendable.map((balance) => balanceAddress(wallet.id, balance.name));
  const locked = await lockVolumes(tx, ledger, [
    { address: target.address, asset, walletId: target.walletId },
    ...sourceAddresses.map((address) => ({ address, asset, walletId: wallet.id })),
  ]);
  const portions = drain(
    amount,
    sourceAddresses.map((address) => ({ address, available: locked.get(volumeKey(address, asset)) ?? 0n })),
  );
  if (!portions) return refused('INSUFFICIENT_FUND', `wallet ${wallet.id} has less than ${amount} ${asset} in the source balances`);

  const posted = await postTransaction(tx, ledger, locked, {
    timestamp: input.timestamp ?? now,
    insertedAt: now,
    reference: input.reference,
    metadata: input.metadata,
    postings: portions.map((portion) => ({ source: portion.address, destination: target.address, asset, amount: portion.amount })),
  });
  if (!posted.ok) return posted;
  if (holdId === null) return ok({ hold: null });

  const hold: Hold = {
    id: holdId,
    walletId: wallet.id,
    asset,
    originalAmount: amount,
    remaining: amount,
    destination: input.destination,
    destinationAddress: destination.value.address,
    description: input.description,
    metadata: input.metadata,
    sources: portions,
    createdAt: now,
  };
  await insertHold(tx, ledger, hold);
  return ok({ hold });
}

export const DEFAULT_DESTINATION: Subject = { type: 'ACCOUNT', identifier: WORLD };
