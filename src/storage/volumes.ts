/**
 * SQL for `accounts` and `volumes`. The rows a command will touch are created if missing and
 * locked in one statement, in (address, asset) order, so concurrent commands wait for each
 * other without a cycle (but for the one case `batchConcurrency` in committer/committer.ts
 * describes, which PostgreSQL breaks and the committer retries); 'world' is unbounded and
 * has no row, so it is never a point of contention.
 */
import { compareVolumeKeys, volumeKey, type LockedBalances, type LockedOverdrafts, type VolumeKey } from '../domain/posting.ts';
import { accountOwner, isUnbounded } from '../domain/chart.ts';
import { assert } from '../domain/errors.ts';
import type { Queryable } from './database.ts';
import { amountColumn } from './sql.ts';

/**
 * The wallet an account row belongs to, so that the wallet's transaction list finds the
 * account's postings: the owner its address names (domain/chart.ts `accountOwner`), whatever
 * command creates the row — a wallet's balance, a hold, or a hold's destination.
 */
export function accountWallet(key: VolumeKey): string | null {
  const owner = accountOwner(key.address);
  if (owner === null) return null;
  if ('walletId' in owner) return owner.walletId;
  assert(key.holdWalletId !== undefined, `the lock of hold account ${key.address} must name the hold's wallet`);
  return key.holdWalletId;
}

export interface LockedVolumes {
  readonly balances: LockedBalances;
  /** The overdraft limits of the locked rows that have one. */
  readonly overdrafts: LockedOverdrafts;
  /** Rows this statement created, and account rows it created, so unused ones can be removed. */
  readonly created: CreatedRows;
}

export interface CreatedRows {
  readonly volumes: readonly { address: string; asset: string }[];
  readonly accounts: ReadonlySet<string>;
}

/**
 * The rows to lock, in the one order every lock in Coffer follows: each (address, asset)
 * once, sorted; unbounded accounts have no row and are left out.
 */
export function lockOrder(keys: Iterable<VolumeKey>): VolumeKey[] {
  const unique = new Map<string, VolumeKey>();
  for (const key of keys) if (!isUnbounded(key.address)) unique.set(volumeKey(key.address, key.asset), key);
  return [...unique.values()].sort(compareVolumeKeys);
}

/**
 * Creates the missing account and volume rows and locks them all `FOR UPDATE`-strength, in
 * lock order, returning their balances.
 */
export async function lockVolumes(tx: Queryable, ledger: string, keys: readonly VolumeKey[]): Promise<LockedVolumes> {
  const sorted = lockOrder(keys);
  const balances: LockedBalances = new Map();
  const overdrafts: LockedOverdrafts = new Map();
  const created: { volumes: { address: string; asset: string }[]; accounts: Set<string> } = { volumes: [], accounts: new Set() };
  if (sorted.length === 0) return { balances, overdrafts, created };
  // ON CONFLICT DO UPDATE takes the row lock of an existing row, in the order the rows are
  // inserted; the ORDER BY makes that the sorted order.
  // `xmax = 0` tells a row this statement inserted from one it locked.
  const rows = await tx.query<{ address: string; asset: string; balance: string; overdraft: string; created: boolean; account_created: boolean }>(
    `WITH keys AS (
       SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(address, asset, wallet_id, position)
     ), new_accounts AS (
       INSERT INTO accounts (ledger, address, wallet_id)
       SELECT DISTINCT $1, address, wallet_id FROM keys
       ON CONFLICT (ledger, address) DO NOTHING
       RETURNING address
     )
     INSERT INTO volumes AS v (ledger, address, asset)
     SELECT $1, address, asset FROM keys ORDER BY position
     ON CONFLICT (ledger, address, asset) DO UPDATE SET input = v.input
     RETURNING v.address, v.asset, (v.input - v.output)::text AS balance, v.overdraft::text AS overdraft, (v.xmax = 0) AS created,
       EXISTS (SELECT 1 FROM new_accounts n WHERE n.address = v.address) AS account_created`,
    [ledger, sorted.map((k) => k.address), sorted.map((k) => k.asset), sorted.map(accountWallet)],
  );
  for (const row of rows) {
    balances.set(volumeKey(row.address, row.asset), amountColumn(row.balance));
    if (amountColumn(row.overdraft) !== 0n) overdrafts.set(volumeKey(row.address, row.asset), amountColumn(row.overdraft));
    if (row.created) created.volumes.push({ address: row.address, asset: row.asset });
    if (row.account_created) created.accounts.add(row.address);
  }
  return { balances, overdrafts, created };
}

/** The overdraft limits set on each address, per asset (limits of 0 left out), read without locking. */
export async function readOverdrafts(q: Queryable, ledger: string, addresses: readonly string[]): Promise<Map<string, Map<string, bigint>>> {
  const result = new Map<string, Map<string, bigint>>();
  for (const address of addresses) result.set(address, new Map());
  if (addresses.length === 0) return result;
  const rows = await q.query<{ address: string; asset: string; overdraft: string }>(
    `SELECT address, asset, overdraft::text AS overdraft FROM volumes
     WHERE ledger = $1 AND address = ANY($2::text[]) AND overdraft <> 0 ORDER BY address, asset`,
    [ledger, addresses],
  );
  for (const row of rows) result.get(row.address)?.set(row.asset, amountColumn(row.overdraft));
  return result;
}

/**
 * Per-asset balances of each address, read without locking. A row no posting ever moved
 * (created by a lock for a command that was then refused) is left out, as if absent.
 */
export async function readBalances(q: Queryable, ledger: string, addresses: readonly string[]): Promise<Map<string, Map<string, bigint>>> {
  const result = new Map<string, Map<string, bigint>>();
  for (const address of addresses) result.set(address, new Map());
  if (addresses.length === 0) return result;
  const rows = await q.query<{ address: string; asset: string; balance: string }>(
    `SELECT address, asset, (input - output)::text AS balance FROM volumes
     WHERE ledger = $1 AND address = ANY($2::text[]) AND (input <> 0 OR output <> 0) ORDER BY address, asset`,
    [ledger, addresses],
  );
  for (const row of rows) result.get(row.address)?.set(row.asset, amountColumn(row.balance));
  return result;
}
