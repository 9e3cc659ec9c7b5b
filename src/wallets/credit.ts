/**
 * Credit a wallet balance (default `main`) from one or more sources (default `world`).
 * Sources are drained as a debit drains its balances: the positive funds of each in list
 * order, then their overdrafts in the same order; `world` is unbounded. When the sources
 * cannot cover the amount the credit is refused with INSUFFICIENT_FUND. A frozen wallet can
 * be credited (money comes in); a closed one cannot (WALLET_CLOSED), and a wallet source that
 * is frozen or closed cannot give (WALLET_FROZEN, WALLET_CLOSED).
 */
import { balanceAddress, WORLD } from '../domain/chart.ts';
import { ok, refused, type Refusal } from '../domain/errors.ts';
import type { Monetary } from '../domain/money.ts';
import { drain } from '../domain/posting.ts';
import type { Metadata, Subject, WalletStatus } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import { expectLock } from '../domain/batch.ts';
import { changeRefusal, outgoingRefusal } from '../domain/wallet-status.ts';
import type { WalletCommand } from '../committer/command.ts';
import { readSubject, resolveSubject, type ResolvedSubject } from './subjects.ts';
import { walletCredited } from './events.ts';

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

/** The credited wallet may receive; every wallet among the sources may pay out. */
function statusRefusal(walletId: string, subjects: readonly Subject[], status: (walletId: string) => WalletStatus | undefined): Refusal | null {
  const receiver = changeRefusal(walletId, status(walletId)!);
  if (receiver) return receiver;
  for (const subject of subjects) {
    const source = subject.type === 'WALLET' ? status(subject.identifier) : undefined;
    const refusal = source === undefined ? null : outgoingRefusal(subject.identifier, source);
    if (refusal) return refusal;
  }
  return null;
}

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
      const early = statusRefusal(wallet.id, subjects, (id) => snapshot.wallets.get(id)?.status);
      if (early) return { ok: false, refusal: early };
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
          // Commands before this one in the batch may have frozen or closed a wallet.
          const refusal = statusRefusal(wallet.id, subjects, (id) => effects.walletStatus(id));
          if (refusal) return { ok: false, refusal };
          const portions = drain(
            amount,
            sources.map((source) => ({
              address: source.address,
              available: source.address === WORLD ? null : effects.journal.balance(source.address, asset),
              overdraft: source.address === WORLD ? 0n : effects.journal.overdraft(source.address, asset),
            })),
          );
          if (!portions) return refused('INSUFFICIENT_FUND', `the sources hold less than ${amount} ${asset}`);
          const posted = effects.journal.post({
            timestamp: input.timestamp ?? context.now,
            insertedAt: context.now,
            createdBy: context.createdBy,
            reference: input.reference,
            metadata: input.metadata,
            postings: portions.map((portion) => ({ source: portion.address, destination, asset, amount: portion.amount })),
          });
          if (posted.ok) walletCredited(effects, wallet.id, input.balance, input.amount, subjects);
          return posted;
        },
      });
    },
  };
}
