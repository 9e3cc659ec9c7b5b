/**
 * The ledger engine's in-transaction journal: the balances of the rows a batch has locked,
 * and the transactions posted on them so far. Posting checks that every bounded account
 * stays at or above minus its overdraft limit (zero for most) and that a reference is used
 * once, then moves the balances; a refused transaction changes nothing. Storage writes the
 * journal in a few statements.
 */
import { assert, ok, refused, type Result } from '../domain/errors.ts';
import { volumeDeltas, volumeKey, type LockedBalances, type LockedOverdrafts, type VolumeDelta } from '../domain/posting.ts';
import type { NewTransaction } from '../domain/records.ts';

export class Journal {
  readonly transactions: NewTransaction[] = [];
  private readonly references = new Set<string>();

  constructor(
    /** Balances of the locked rows, moved as transactions are posted. */
    private readonly locked: LockedBalances,
    /** References already used in the database, among those the batch asked about. */
    private readonly usedReferences: ReadonlySet<string>,
    /** Overdraft limits of the locked rows that have one, changed as the batch changes them. */
    private readonly overdrafts: LockedOverdrafts = new Map(),
  ) {}

  balance(address: string, asset: string): bigint {
    const balance = this.locked.get(volumeKey(address, asset));
    assert(balance !== undefined, `${address} ${asset} was not locked`);
    return balance;
  }

  /** How far below zero the locked row may go. */
  overdraft(address: string, asset: string): bigint {
    assert(this.locked.has(volumeKey(address, asset)), `${address} ${asset} was not locked`);
    return this.overdrafts.get(volumeKey(address, asset)) ?? 0n;
  }

  /** A new limit for a locked row; the caller checked that its balance is within it. */
  setOverdraft(address: string, asset: string, overdraft: bigint): void {
    assert(this.balance(address, asset) >= -overdraft, `${address} ${asset} would be below its new overdraft limit`);
    this.overdrafts.set(volumeKey(address, asset), overdraft);
  }

  post(transaction: NewTransaction): Result<null> {
    const deltas = volumeDeltas(transaction.postings);
    for (const delta of deltas) {
      const balance = this.balance(delta.address, delta.asset);
      const overdraft = this.overdraft(delta.address, delta.asset);
      if (balance + delta.input - delta.output < -overdraft) {
        const within = overdraft > 0n ? ` (overdraft limit ${overdraft})` : '';
        return refused('INSUFFICIENT_FUND', `account ${delta.address} has ${balance} ${delta.asset}${within}, ${delta.output - delta.input} needed`);
      }
    }
    const reference = transaction.reference;
    if (reference !== undefined) {
      if (this.usedReferences.has(reference) || this.references.has(reference)) {
        return refused('CONFLICT', `reference ${JSON.stringify(reference)} is already used by another transaction`);
      }
      this.references.add(reference);
    }
    for (const delta of deltas) {
      const key = volumeKey(delta.address, delta.asset);
      this.locked.set(key, this.locked.get(key)! + delta.input - delta.output);
    }
    this.transactions.push(transaction);
    return ok(null);
  }

  /** Volume changes of all posted transactions, summed per account, sorted. */
  volumeDeltas(): VolumeDelta[] {
    return volumeDeltas(this.transactions.flatMap((transaction) => transaction.postings));
  }
}
