/**
 * Credit a wallet balance (default `main`) from one or more sources (default `world`).
 * Sources are drained in list order, each up to its balance; `world` is unbounded. When the
 * sources cannot cover the amount the credit is refused with INSUFFICIENT_FUND.
 */
import { balanceAddress, MAIN, WORLD } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { Monetary } from '../domain/money.ts';
import { drain, volumeKey } from '../domain/posting.ts';
import type { Metadata, Subject } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import type { CommandContext } from '../idempotency/runner.ts';
import { postTransaction } from '../ledger/post-transaction.ts';
import { findBalance } from '../storage/balances.ts';
import { lockVolumes } from '../storage/volumes.ts';
import { findWallet } from '../storage/wallets.ts';
import { resolveSubject, type ResolvedSubject } from './subjects.ts';

export interface CreditInput {
  readonly walletId: string;
  readonly amount: Monetary;
  readonly balance: string;
  readonly sources: readonly Subject[];
  readonly metadata: Metadata;
  readonly reference?: string;
  readonly timestamp?: Instant;
}

export async function credit(context: CommandContext, input: CreditInput): Promise<Result<null>> {
  const { tx, ledger } = context;
  const wallet = await findWallet(tx, ledger, input.walletId);
  if (!wallet) return refused('NOT_FOUND', `wallet ${input.walletId} not found`);
  if (input.balance !== MAIN && !(await findBalance(tx, ledger, wallet.id, input.balance))) {
    return refused('VALIDATION', `wallet ${wallet.id} has no balance named ${input.balance}`);
  }
  const destination = balanceAddress(wallet.id, input.balance);

  const sources: ResolvedSubject[] = [];
  const subjects = input.sources.length > 0 ? input.sources : [{ type: 'ACCOUNT', identifier: WORLD } as const];
  for (const [index, subject] of subjects.entries()) {
    const resolved = await resolveSubject(tx, ledger, subject, `sources[${index}]`);
    if (!resolved.ok) return resolved;
    sources.push(resolved.value);
  }

  const { asset, amount } = input.amount;
  const locked = await lockVolumes(tx, ledger, [
    { address: destination, asset, walletId: wallet.id },
    ...sources.map((source) => ({ address: source.address, asset, walletId: source.walletId })),
  ]);
  const available = sources.map((source) => ({
    address: source.address,
    available: source.address === WORLD ? null : (locked.get(volumeKey(source.address, asset)) ?? 0n),
  }));
  const portions = drain(amount, available);
  if (!portions) return refused('INSUFFICIENT_FUND', `the sources hold less than ${amount} ${asset}`);

  const posted = await postTransaction(tx, ledger, locked, {
    timestamp: input.timestamp ?? context.now,
    insertedAt: context.now,
    reference: input.reference,
    metadata: input.metadata,
    postings: portions.map((portion) => ({ source: portion.address, destination, asset, amount: portion.amount })),
  });
  return posted.ok ? ok(null) : posted;
}
