/**
 * Debit a wallet, immediately or as a pending hold.
 * Sources: absent or empty = [main]; ["*"] = every balance in wildcard order (see
 * domain/balance.ts); an explicit list is kept in request order and every name must exist.
 * Expired balances are skipped; when none is left the debit is INSUFFICIENT_FUND. The amount
 * is taken first from the positive funds of every source, in order, then from their
 * overdrafts, in the same order (domain/posting.ts `drain`). A pending debit sends the funds
 * to the hold's own account and records which source gave what, for an exact void; it
 * expires at `expiresAt` (which must be after the batch's clock), or after the server's
 * HOLD_DEFAULT_TTL when it gives none. A frozen wallet is WALLET_FROZEN, a closed one —
 * or a closed destination wallet — WALLET_CLOSED.
 * Everything is decided here, once, against locked rows — which is why a keyed retry can
 * replay the stored outcome even after the balance set has changed.
 */
import { isExpired, WILDCARD, wildcardOrder, type Balance } from '../domain/balance.ts';
import { balanceAddress, holdAddress, MAIN, WORLD } from '../domain/chart.ts';
import { ok, refused, type Refusal, type Result } from '../domain/errors.ts';
import type { Monetary } from '../domain/money.ts';
import { drain } from '../domain/posting.ts';
import type { Hold, Metadata, Subject } from '../domain/records.ts';
import { formatInstant, type Instant } from '../domain/time.ts';
import { expectLock } from '../domain/batch.ts';
import { changeRefusal, outgoingRefusal } from '../domain/wallet-status.ts';
import type { WalletStatus } from '../domain/records.ts';
import { holdChanged, walletDebited } from './events.ts';
import type { WalletCommand } from '../committer/command.ts';
import { readSubject, resolveSubject } from './subjects.ts';

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
  /** A pending debit's expiry; absent = `holdTtl` from now, or never. */
  readonly expiresAt?: Instant;
  /** HOLD_DEFAULT_TTL in microseconds; null = holds without an expiresAt never expire. */
  readonly holdTtl?: bigint | null;
}

/** An immediate debit has nothing to show; a pending one shows its hold. */
export type Debited = { readonly hold: Hold | null };

export const DEFAULT_DESTINATION: Subject = { type: 'ACCOUNT', identifier: WORLD };

function chooseSources(all: ReadonlyMap<string, Balance>, requested: readonly string[]): Result<Balance[]> {
  if (requested.length === 1 && requested[0] === WILDCARD) return ok(wildcardOrder([...all.values()]));
  const names = requested.length > 0 ? requested : [MAIN];
  const chosen: Balance[] = [];
  for (const name of names) {
    const balance = all.get(name);
    if (!balance) return refused('VALIDATION', `the wallet has no balance named ${name}`);
    chosen.push(balance);
  }
  return ok(chosen);
}

/** The debited wallet may pay out, and the destination wallet (if any) may receive. */
function statusRefusal(input: DebitInput, status: (walletId: string) => WalletStatus | undefined): Refusal | null {
  const payer = outgoingRefusal(input.walletId, status(input.walletId)!);
  if (payer || input.destination.type !== 'WALLET') return payer;
  const destination = status(input.destination.identifier);
  return destination === undefined ? null : changeRefusal(input.destination.identifier, destination);
}

/** When a new hold expires: as asked (after now, checked when the debit runs), after the default TTL, or never. */
function holdExpiry(input: DebitInput, now: Instant): Result<Instant | null> {
  if (input.expiresAt !== undefined) {
    if (input.expiresAt <= now) return refused('VALIDATION', `expiresAt must be in the future, got ${formatInstant(input.expiresAt)}`);
    return ok(input.expiresAt);
  }
  return ok(input.holdTtl ? now + input.holdTtl : null);
}

export function debit(input: DebitInput): WalletCommand<Debited> {
  const { asset, amount } = input.amount;
  return {
    reads: (reads, context) => {
      reads.wallets.add(input.walletId);
      // A wildcard's balances are known only from the snapshot.
      if (input.balances.length === 1 && input.balances[0] === WILDCARD) reads.locksUnknown = true;
      else {
        for (const name of input.balances.length > 0 ? input.balances : [MAIN]) {
          expectLock(reads, { address: balanceAddress(input.walletId, name), asset });
        }
      }
      if (!input.pending) readSubject(reads, input.destination, asset);
      else {
        // The hold's own account, new: created and locked after planning.
        expectLock(reads, { address: holdAddress(context.newId('hold')), asset, holdWalletId: input.walletId });
        if (input.destination.type === 'WALLET') reads.wallets.add(input.destination.identifier);
      }
      if (input.reference !== undefined) reads.references.add(input.reference);
      if (input.pending && context.idsDerived) reads.holds.add(context.newId('hold'));
    },
    plan: (snapshot, context) => {
      if (!snapshot.wallets.has(input.walletId)) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      const early = statusRefusal(input, (id) => snapshot.wallets.get(id)?.status);
      if (early) return { ok: false, refusal: early };
      const expiresAt = input.pending ? holdExpiry(input, context.now) : ok(null);
      if (!expiresAt.ok) return expiresAt;
      const chosen = chooseSources(snapshot.balances.get(input.walletId) ?? new Map(), input.balances);
      if (!chosen.ok) return chosen;
      const spendable = chosen.value.filter((balance) => !isExpired(balance, context.now));
      if (spendable.length === 0) return refused('INSUFFICIENT_FUND', 'every source balance has expired');
      const destination = resolveSubject(snapshot, input.destination, 'destination');
      if (!destination.ok) return destination;
      const holdId = input.pending ? context.newId('hold') : null;
      if (holdId !== null && snapshot.holds.has(holdId)) {
        // Only after the key's stored outcome was purged can its derived hold id exist already.
        return refused('CONFLICT', `hold ${holdId}, derived from this Idempotency-Key, already exists; use a new key`);
      }
      const target = holdId !== null ? { address: holdAddress(holdId), holdWalletId: input.walletId } : destination.value;
      const addresses = spendable.map((balance) => balanceAddress(input.walletId, balance.name));
      return ok({
        locks: [
          { ...target, asset },
          ...addresses.map((address) => ({ address, asset })),
        ],
        apply: (effects) => {
          // Commands before this one in the batch may have frozen or closed a wallet.
          const refusal = statusRefusal(input, (id) => effects.walletStatus(id));
          if (refusal) return { ok: false, refusal };
          const portions = drain(
            amount,
            addresses.map((address) => ({ address, available: effects.journal.balance(address, asset), overdraft: effects.journal.overdraft(address, asset) })),
          );
          if (!portions) return refused('INSUFFICIENT_FUND', `wallet ${input.walletId} has less than ${amount} ${asset} in the source balances`);
          const posted = effects.journal.post({
            timestamp: input.timestamp ?? context.now,
            insertedAt: context.now,
            createdBy: context.createdBy,
            reference: input.reference,
            metadata: input.metadata,
            postings: portions.map((portion) => ({ source: portion.address, destination: target.address, asset, amount: portion.amount })),
          });
          if (!posted.ok) return posted;
          if (holdId === null) {
            walletDebited(effects, input.walletId, input.amount, input.destination);
            return ok({ hold: null });
          }
          const hold: Hold = {
            id: holdId,
            walletId: input.walletId,
            asset,
            originalAmount: amount,
            remaining: amount,
            destination: input.destination,
            destinationAddress: destination.value.address,
            description: input.description,
            metadata: input.metadata,
            sources: portions,
            createdAt: context.now,
            ...(context.createdBy !== null ? { createdBy: context.createdBy } : {}),
            expiresAt: expiresAt.value,
            status: 'open',
          };
          effects.holds.push(hold);
          holdChanged(effects, 'hold.created', hold, context.now, true);
          return ok({ hold });
        },
      });
    },
  };
}
