/**
 * The ledger's one write: post a balanced transaction on rows the command has locked.
 * Every bounded account must stay at or above zero; the check runs on the locked balances
 * before anything is written, so a refused transaction writes nothing.
 */
import { assert, ok, refused, type Result } from '../domain/errors.ts';
import { volumeDeltas, volumeKey } from '../domain/posting.ts';
import type { Queryable } from '../storage/database.ts';
import { insertTransaction, referenceExists, type NewTransaction } from '../storage/transactions.ts';
import { applyVolumeDeltas, type LockedBalances } from '../storage/volumes.ts';

export async function postTransaction(
  tx: Queryable,
  ledger: string,
  locked: LockedBalances,
  transaction: NewTransaction,
): Promise<Result<bigint>> {
  const deltas = volumeDeltas(transaction.postings);
  for (const delta of deltas) {
    const key = volumeKey(delta.address, delta.asset);
    const balance = locked.get(key);
    assert(balance !== undefined, `posting touches ${delta.address} ${delta.asset} without locking it`);
    const after = balance + delta.input - delta.output;
    if (after < 0n) {
      return refused('INSUFFICIENT_FUND', `account ${delta.address} has ${balance} ${delta.asset}, ${delta.output - delta.input} needed`);
    }
  }
  const referenceTaken = () => refused<bigint>('CONFLICT', `reference ${JSON.stringify(transaction.reference)} is already used by another transaction`);
  if (transaction.reference !== undefined && (await referenceExists(tx, ledger, transaction.reference))) return referenceTaken();
  // The check above cannot see a concurrent transaction's uncommitted reference; the insert can.
  const id = await insertTransaction(tx, ledger, transaction);
  if (id === null) return referenceTaken();
  await applyVolumeDeltas(tx, ledger, deltas);
  for (const delta of deltas) {
    const key = volumeKey(delta.address, delta.asset);
    locked.set(key, locked.get(key)! + delta.input - delta.output);
  }
  return ok(id);
}
