/**
 * Loads, in one statement per kind, everything a batch of commands named in its `Reads`:
 * wallets with all their balances, holds, and which references are taken.
 */
import type { Balance } from '../domain/balance.ts';
import type { Hold, Wallet } from '../domain/records.ts';
import type { Reads, Snapshot } from '../wallets/batch.ts';
import type { Queryable } from './database.ts';
import { findHolds } from './holds.ts';
import { instantColumn, tsText } from './sql.ts';

interface WalletRow {
  id: string;
  name: string;
  metadata: Record<string, string>;
  created_at: string;
  balances: { name: string; expires_at: string | null; priority: string }[];
}

export async function loadSnapshot(tx: Queryable, ledger: string, reads: Reads): Promise<Snapshot> {
  const wallets = new Map<string, Wallet>();
  const balances = new Map<string, Map<string, Balance>>();
  if (reads.wallets.size > 0) {
    const rows = await tx.query<WalletRow>(
      `SELECT w.id, w.name, w.metadata, ${tsText('w.created_at')} AS created_at,
         (SELECT json_agg(json_build_object('name', b.name, 'expires_at', ${tsText('b.expires_at')}, 'priority', b.priority::text))
          FROM balances b WHERE b.ledger = w.ledger AND b.wallet_id = w.id) AS balances
       FROM wallets w WHERE w.ledger = $1 AND w.id = ANY($2::text[])`,
      [ledger, [...reads.wallets]],
    );
    for (const row of rows) {
      wallets.set(row.id, { id: row.id, name: row.name, metadata: row.metadata, createdAt: instantColumn(row.created_at) });
      const named = new Map<string, Balance>();
      for (const balance of row.balances ?? []) {
        named.set(balance.name, {
          name: balance.name,
          expiresAt: balance.expires_at === null ? null : instantColumn(balance.expires_at),
          priority: BigInt(balance.priority),
        });
      }
      balances.set(row.id, named);
    }
  }
  const holds = new Map<string, Hold>();
  if (reads.holds.size > 0) for (const hold of await findHolds(tx, ledger, [...reads.holds])) holds.set(hold.id, hold);
  const usedReferences = new Set<string>();
  if (reads.references.size > 0) {
    const rows = await tx.query<{ reference: string }>(
      'SELECT reference FROM transactions WHERE ledger = $1 AND reference = ANY($2::text[])',
      [ledger, [...reads.references]],
    );
    for (const row of rows) usedReferences.add(row.reference);
  }
  return { wallets, balances, holds, usedReferences };
}
