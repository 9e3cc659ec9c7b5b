/**
 * The first statement of every batch: it claims the batch's idempotency keys (in key order)
 * and, in the same round trip, loads everything the batch's commands named in their `Reads`
 * — wallets with all their balances, holds, and which references are taken.
 *
 * The snapshot is read without locks. That is safe because what commands decide from it
 * does not change under them: wallets, balances and holds are never deleted, a balance's
 * expiry and priority never change, and amounts are read from the locked volume rows, not
 * from here. A reference taken meanwhile by another process makes the batch's insert fail,
 * and the batch is retried (committer/committer.ts).
 */
import type { Balance } from '../domain/balance.ts';
import type { Reads, Snapshot } from '../domain/batch.ts';
import type { Hold, Wallet } from '../domain/records.ts';
import type { Instant } from '../domain/time.ts';
import type { Queryable } from './database.ts';
import { volumeKey, type LockedBalances } from '../domain/posting.ts';
import { lockOrder } from './volumes.ts';
import { holdJson, toHold, type HoldRow } from './holds.ts';
import type { KeyClaim } from './idempotency-keys.ts';
import { amountColumn, instantColumn, instantParam, tsText } from './sql.ts';

interface WalletJson {
  id: string;
  name: string;
  metadata: Record<string, string>;
  created_at: string;
  balances: { name: string; expires_at: string | null; priority: string }[] | null;
}

interface VolumeJson {
  address: string;
  asset: string;
  balance: string;
}

export interface ClaimedSnapshot {
  /** Keys this transaction now owns; the others were used before (see claimKeys). */
  readonly claimed: ReadonlySet<string>;
  readonly snapshot: Snapshot;
  /** Balances of the expected volume rows that exist, now locked. */
  readonly locked: LockedBalances;
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
  const [row] = await tx.query<{ claimed: string[]; wallets: WalletJson[]; holds: HoldRow[]; refs: string[]; volumes: VolumeJson[] }>(
    `WITH claimed AS (
       INSERT INTO idempotency_keys (ledger, key, operation, fingerprint, created_at)
       SELECT $1, x.key, x.operation, x.fingerprint, $5::timestamptz
       FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS x(key, operation, fingerprint, position)
       ORDER BY x.position
       ON CONFLICT (ledger, key) DO NOTHING RETURNING key
     ), locked AS MATERIALIZED (
       -- Row by row in the sorted order of the keys: a LATERAL subquery with a locking clause
       -- is never flattened into a join, so each key is one primary-key probe and lock.
       SELECT v.address, v.asset, v.balance
       FROM unnest($9::text[], $10::text[]) AS k(address, asset)
       CROSS JOIN LATERAL (
         SELECT v.address, v.asset, (v.input - v.output)::text AS balance FROM volumes v
         WHERE v.ledger = $1 AND v.address = k.address AND v.asset = k.asset
         FOR UPDATE
       ) v
     )
     SELECT
       (SELECT coalesce(json_agg(key), '[]') FROM claimed) AS claimed,
       (SELECT coalesce(json_agg(json_build_object('address', address, 'asset', asset, 'balance', balance)), '[]') FROM locked) AS volumes,
       (SELECT coalesce(json_agg(json_build_object('id', w.id, 'name', w.name, 'metadata', w.metadata,
          'created_at', ${tsText('w.created_at')},
          'balances', (SELECT json_agg(json_build_object('name', b.name, 'expires_at', ${tsText('b.expires_at')}, 'priority', b.priority::text))
                       FROM balances b WHERE b.ledger = w.ledger AND b.wallet_id = w.id))), '[]')
        FROM wallets w WHERE w.ledger = $1 AND w.id = ANY($6::text[])) AS wallets,
       (SELECT coalesce(json_agg(${holdJson('h')}), '[]') FROM holds h WHERE h.ledger = $1 AND h.id = ANY($7::text[])) AS holds,
       (SELECT coalesce(json_agg(t.reference), '[]') FROM transactions t WHERE t.ledger = $1 AND t.reference = ANY($8::text[])) AS refs`,
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
    wallets.set(wallet.id, { id: wallet.id, name: wallet.name, metadata: wallet.metadata, createdAt: instantColumn(wallet.created_at) });
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
  for (const volume of row!.volumes) locked.set(volumeKey(volume.address, volume.asset), amountColumn(volume.balance));
  return {
    locked,
    claimed: new Set(row!.claimed),
    snapshot: { wallets, balances, holds, usedReferences: new Set(row!.refs) },
  };
}
