/**
 * The first statement of every batch: it claims the batch's idempotency keys (in key order)
 * and, in the same round trip, locks and loads everything the batch's commands named in
 * their `Reads` — wallets with all their balances, holds, which references are taken — and
 * locks the named volume rows that exist.
 *
 * Locks, in the one order every transaction follows: keys; then wallets, sorted by id (the
 * named ones and those of the named holds, their own and their destination's), `FOR KEY
 * SHARE` — or `FOR UPDATE` when a command changes a wallet's status; then holds, sorted,
 * `FOR UPDATE`; then volume rows, sorted. A locked row is returned as last committed, so a
 * wallet's status and a hold's status, expiry and remaining are never stale: a command
 * that waited for a freeze sees the wallet frozen, and a confirm that waited for the
 * sweeper sees the hold expired.
 *
 * The rest of the snapshot is read without locks. That is safe because what commands decide
 * from it does not move money on its own: wallets, balances and holds are never deleted,
 * amounts and overdraft limits are read from the locked volume rows, and a balance's expiry
 * and priority, which a PATCH may change, only order the sources of a debit that ran
 * concurrently with that PATCH (either order is a valid one). A reference taken meanwhile by
 * another process makes the batch's insert fail, and the batch is retried
 * (committer/committer.ts).
 */
import type { Balance } from '../domain/balance.ts';
import type { AccountBalance, Reads, Snapshot } from '../domain/batch.ts';
import type { Hold, Wallet } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import type { Queryable } from './database.ts';
import { volumeKey, type LockedBalances, type LockedOverdrafts } from '../domain/posting.ts';
import { lockOrder } from './volumes.ts';
import { holdJson, toHold, type HoldRow } from './holds.ts';
import type { KeyClaim } from './idempotency-keys.ts';
import { amountColumn, instantColumn, instantParam, tsText } from './sql.ts';
import { walletJson, toWallet, type WalletRow } from './wallets.ts';

interface WalletJson extends WalletRow {
  balances: { name: string; expires_at: string | null; priority: string }[] | null;
}

interface VolumeJson {
  address: string;
  asset: string;
  balance: string;
  overdraft: string;
}

export interface ClaimedSnapshot {
  /** Keys this transaction now owns; the others were used before (see claimKeys). */
  readonly claimed: ReadonlySet<string>;
  readonly snapshot: Snapshot;
  /** Balances of the expected volume rows that exist, now locked. */
  readonly locked: LockedBalances;
  /** Their overdraft limits, those that have one. */
  readonly overdrafts: LockedOverdrafts;
}

export async function claimAndLoad(
  tx: Queryable,
  ledger: string,
  claims: readonly KeyClaim[],
  createdAt: Instant,
  reads: Reads,
): Promise<ClaimedSnapshot> {
  const sorted = [...claims].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const volumes = reads.locksUnknown ? [] : lockOrder(reads.volumes.values());
  const walletLock = reads.walletsExclusive ? 'FOR UPDATE' : 'FOR KEY SHARE';
  // The scalar subqueries of the outer SELECT run in their written order: claims, wallets,
  // holds, then volume rows — the lock order. Each LATERAL subquery with a locking clause is
  // one primary-key probe and lock, taken row by row in the sorted order of its keys.
  const [row] = await tx.query<{ claimed: string[]; wallets: WalletJson[]; holds: HoldRow[]; refs: string[]; volumes: VolumeJson[] }>(
    `WITH claimed AS (
       INSERT INTO idempotency_keys (ledger, key, operation, fingerprint, created_at)
       SELECT $1, x.key, x.operation, x.fingerprint, $5::timestamptz
       FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS x(key, operation, fingerprint, position)
       ORDER BY x.position
       ON CONFLICT (ledger, key) DO NOTHING RETURNING key
     ), wallet_ids AS (
       SELECT unnest($6::text[]) AS id
       UNION SELECT h.wallet_id FROM holds h WHERE h.ledger = $1 AND h.id = ANY($7::text[])
       UNION SELECT h.destination->>'identifier' FROM holds h
             WHERE h.ledger = $1 AND h.id = ANY($7::text[]) AND h.destination->>'type' = 'WALLET'
     ), locked_wallets AS MATERIALIZED (
       SELECT w.* FROM (SELECT id FROM wallet_ids ORDER BY id COLLATE "C") k
       CROSS JOIN LATERAL (SELECT * FROM wallets w WHERE w.ledger = $1 AND w.id = k.id ${walletLock}) w
     ), locked_holds AS MATERIALIZED (
       SELECT h.* FROM (SELECT id FROM (SELECT DISTINCT unnest($7::text[]) AS id) d ORDER BY id COLLATE "C") k
       CROSS JOIN LATERAL (SELECT * FROM holds h WHERE h.ledger = $1 AND h.id = k.id FOR UPDATE) h
     ), locked AS MATERIALIZED (
       SELECT v.address, v.asset, v.balance, v.overdraft
       FROM unnest($9::text[], $10::text[]) AS k(address, asset)
       CROSS JOIN LATERAL (
         SELECT v.address, v.asset, (v.input - v.output)::text AS balance, v.overdraft::text AS overdraft FROM volumes v
         WHERE v.ledger = $1 AND v.address = k.address AND v.asset = k.asset
         FOR UPDATE
       ) v
     )
     SELECT
       (SELECT coalesce(json_agg(key), '[]') FROM claimed) AS claimed,
       (SELECT coalesce(json_agg(json_build_object(${walletJson('w')},
          'balances', (SELECT json_agg(json_build_object('name', b.name, 'expires_at', ${tsText('b.expires_at')}, 'priority', b.priority::text))
                       FROM balances b WHERE b.ledger = w.ledger AND b.wallet_id = w.id))), '[]')
        FROM locked_wallets w) AS wallets,
       (SELECT coalesce(json_agg(${holdJson('h')}), '[]') FROM locked_holds h) AS holds,
       (SELECT coalesce(json_agg(t.reference), '[]') FROM transactions t WHERE t.ledger = $1 AND t.reference = ANY($8::text[])) AS refs,
       (SELECT coalesce(json_agg(json_build_object('address', address, 'asset', asset, 'balance', balance, 'overdraft', overdraft)), '[]') FROM locked) AS volumes`,
    [
      ledger,
      sorted.map((c) => c.key),
      sorted.map((c) => c.operation),
      sorted.map((c) => c.fingerprint),
      instantParam(createdAt),
      [...reads.wallets],
      [...reads.holds],
      [...reads.references],
      volumes.map((key) => key.address),
      volumes.map((key) => key.asset),
    ],
  );
  const wallets = new Map<string, Wallet>();
  const balances = new Map<string, Map<string, Balance>>();
  for (const wallet of row!.wallets) {
    wallets.set(wallet.id, toWallet(wallet));
    const named = new Map<string, Balance>();
    for (const balance of wallet.balances ?? []) {
      named.set(balance.name, {
        name: balance.name,
        expiresAt: balance.expires_at === null ? null : instantColumn(balance.expires_at),
        priority: BigInt(balance.priority),
      });
    }
    balances.set(wallet.id, named);
  }
  const holds = new Map<string, Hold>(row!.holds.map((hold) => [hold.id, toHold(hold)]));
  const locked: LockedBalances = new Map();
  const overdrafts: LockedOverdrafts = new Map();
  for (const volume of row!.volumes) {
    locked.set(volumeKey(volume.address, volume.asset), amountColumn(volume.balance));
    if (amountColumn(volume.overdraft) !== 0n) overdrafts.set(volumeKey(volume.address, volume.asset), amountColumn(volume.overdraft));
  }
  return {
    locked,
    overdrafts,
    claimed: new Set(row!.claimed),
    snapshot: { wallets, balances, holds, usedReferences: new Set(row!.refs), walletAccounts: new Map() },
  };
}

/**
 * Every account of each wallet (its balances' and its holds', by the `accounts` rows' owner)
 * whose balance is not zero. The committer calls it in a new statement once the wallets are
 * locked exclusively, so it sees every commit that moved their money.
 */
export async function readWalletAccounts(q: Queryable, ledger: string, walletIds: readonly string[]): Promise<Map<string, AccountBalance[]>> {
  const result = new Map<string, AccountBalance[]>(walletIds.map((id) => [id, []]));
  const rows = await q.query<{ wallet_id: string; address: string; asset: string; balance: string }>(
    `SELECT a.wallet_id, v.address, v.asset, (v.input - v.output)::text AS balance
     FROM accounts a JOIN volumes v ON v.ledger = a.ledger AND v.address = a.address
     WHERE a.ledger = $1 AND a.wallet_id = ANY($2::text[]) AND v.input <> v.output
     ORDER BY v.address, v.asset`,
    [ledger, walletIds],
  );
  for (const row of rows) result.get(row.wallet_id)?.push({ address: row.address, asset: row.asset, balance: amountColumn(row.balance) });
  return result;
}
