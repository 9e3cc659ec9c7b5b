/**
 * Resolving an API subject to a ledger address. ACCOUNT names a ledger account outside
 * Coffer's own `wallets:` namespace; WALLET names an existing wallet and, optionally, one of
 * its existing balances. Unlike the reference, a WALLET subject that names nothing is a
 * 400, not money sent into an account no wallet will ever show.
 */
import { balanceAddress, isReservedAddress, MAIN } from '../domain/chart.ts';
import { ok, refused, type Result } from '../domain/errors.ts';
import type { Subject } from '../domain/records.ts';
import { expectLock, type Reads, type Snapshot } from '../domain/batch.ts';

export interface ResolvedSubject {
  readonly address: string;
}

/** Names the subject's wallet, and expects a lock on its volume row in `asset`. */
export function readSubject(reads: Reads, subject: Subject, asset: string): void {
  if (subject.type === 'WALLET') {
    reads.wallets.add(subject.identifier);
    expectLock(reads, { address: balanceAddress(subject.identifier, subject.balance ?? MAIN), asset });
  } else if (!isReservedAddress(subject.identifier)) {
    expectLock(reads, { address: subject.identifier, asset });
  }
}

export function resolveSubject(snapshot: Snapshot, subject: Subject, role: string): Result<ResolvedSubject> {
  if (subject.type === 'ACCOUNT') {
    if (isReservedAddress(subject.identifier)) {
      return refused('VALIDATION', `${role}: account ${subject.identifier} is in the reserved wallets: namespace; use a WALLET subject`);
    }
    return ok({ address: subject.identifier });
  }
  const wallet = snapshot.wallets.get(subject.identifier);
  if (!wallet) return refused('VALIDATION', `${role}: wallet ${subject.identifier} does not exist`);
  const balance = subject.balance ?? MAIN;
  if (!snapshot.balances.get(wallet.id)?.has(balance)) {
    return refused('VALIDATION', `${role}: wallet ${wallet.id} has no balance named ${balance}`);
  }
  return ok({ address: balanceAddress(wallet.id, balance) });
}
