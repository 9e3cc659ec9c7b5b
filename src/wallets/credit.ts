/**
 * Credit a wallet balance (default `main`) from one or more sources (default `world`).
 * Sources are drained in list order, each up to its balance; `world` is unbounded. When the
 * sources cannot cover the amount the credit is refused with INSUFFICIENT_FUND.
 */
import { balanceAddress, WORLD } from '../domain/chart.ts';
import { ok, refused } from '../domain/errors.ts';
import type { Monetary } from '../domain/money.ts';
import { drain } from '../domain/posting.ts';
import type { Metadata, Subject } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import { expectLock } from '../domain/batch.ts';
import type { WalletCommand } from '../committer/command.ts';
import { readSubject, resolveSubject, type ResolvedSubject } from './subjects.ts';

export interface CreditInput {
  readonly walletId: string;
  readonly amount: Monetary;
  readonly balance: string;
  readonly sources: readonly Subject[];
  readonly metadata: Metadata;
  readonly reference?: string;
  readonly timestamp?: Instant;
}

const WORLD_SUBJECT: Subject = { type: 'ACCOUNT', identifier: WORLD };

export function credit(input: CreditInput): WalletCommand<null> {
  const subjects = input.sources.length > 0 ? input.sources : [WORLD_SUBJECT];
  const { asset, amount } = input.amount;
  return {
    reads: (reads) => {
      reads.wallets.add(input.walletId);
      expectLock(reads, { address: balanceAddress(input.walletId, input.balance), asset });
      subjects.forEach((subject) => readSubject(reads, subject, asset));
      if (input.reference !== undefined) reads.references.add(input.reference);
    },
    plan: (snapshot, context) => {
      const wallet = snapshot.wallets.get(input.walletId);
      if (!wallet) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
      if (!snapshot.balances.get(wallet.id)?.has(input.balance)) {
        return refused('VALIDATION', `wallet ${wallet.id} has no balance named ${input.balance}`);
      }
      const destination = balanceAddress(wallet.id, input.balance);
      const sources: ResolvedSubject[] = [];
      for (const [index, subject] of subjects.entries()) {
        const resolved = resolveSubject(snapshot, subject, `sources[${index}]`);
        if (!resolved.ok) return resolved;
        sources.push(resolved.value);
      }
      return ok({
        locks: [
          { address: destination, asset },
          ...sources.map((source) => ({ address: source.address, asset })),
        ],
        apply: (effects) => {
          const portions = drain(
            amount,
            sources.map((source) => ({
              address: source.address,
              available: source.address === WORLD ? null : effects.journal.balance(source.address, asset),
            })),
          );
          if (!portions) return refused('INSUFFICIENT_FUND', `the sources hold less than ${amount} ${asset}`);
          return effects.journal.post({
            timestamp: input.timestamp ?? context.now,
            insertedAt: context.now,
            createdBy: context.createdBy,
            reference: input.reference,
            metadata: input.metadata,
            postings: portions.map((portion) => ({ source: portion.address, destination, asset, amount: portion.amount })),
          });
        },
      });
    },
  };
}
