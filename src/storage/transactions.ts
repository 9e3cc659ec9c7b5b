/** SQL for `transactions` and `postings`: the ledger's journal. */
import type { Metadata, Transaction } from '../domain/records.ts';
import type { Posting } from '../domain/posting.ts';
import type { Instant } from '../domain/time.ts';
import type { Queryable } from './database.ts';
import { amountColumn, instantColumn, instantParam, keysetPage, tsText, type Page, type PageQuery } from './sql.ts';

export interface NewTransaction {
  readonly timestamp: Instant;
  readonly insertedAt: Instant;
  readonly reference?: string;
  readonly metadata: Metadata;
  readonly postings: readonly Posting[];
}

/**
 * Writes a transaction and its postings in one round trip; returns its id, or null when its
 * reference is taken. A concurrent transaction that holds the same reference uncommitted makes
 * this insert wait for it; when it commits, nothing is written here (no unique-violation error,
 * which would abort the command's transaction and surface as a 500).
 */
export async function insertTransaction(tx: Queryable, ledger: string, transaction: NewTransaction): Promise<bigint | null> {
  const { postings } = transaction;
  const rows = await tx.query<{ id: bigint }>(
    `WITH t AS (
       INSERT INTO transactions (ledger, id, timestamp, reference, metadata, inserted_at)
       VALUES ($1, nextval('transaction_ids'), $2::timestamptz, $3, $4::jsonb, $5::timestamptz)
       ON CONFLICT (ledger, reference) WHERE reference IS NOT NULL DO NOTHING
       RETURNING id
     ), p AS (
       INSERT INTO postings (ledger, transaction_id, position, source, destination, asset, amount)
       SELECT $1, t.id, x.position - 1, x.source, x.destination, x.asset, x.amount
       FROM t, unnest($6::text[], $7::text[], $8::text[], $9::numeric[]) WITH ORDINALITY AS x(source, destination, asset, amount, position)
     )
     SELECT id FROM t`,
    [
      ledger,
      instantParam(transaction.timestamp),
      transaction.reference ?? null,
      JSON.stringify(transaction.metadata),
      instantParam(transaction.insertedAt),
      postings.map((p) => p.source),
      postings.map((p) => p.destination),
      postings.map((p) => p.asset),
      postings.map((p) => p.amount.toString()),
    ],
  );
  return rows[0] ? BigInt(rows[0].id) : null;
}

export async function referenceExists(q: Queryable, ledger: string, reference: string): Promise<boolean> {
  const rows = await q.query('SELECT 1 FROM transactions WHERE ledger = $1 AND reference = $2', [ledger, reference]);
  return rows.length > 0;
}

export interface TransactionFilter {
  readonly walletId?: string;
}

interface TransactionRow {
  id: bigint;
  timestamp: string;
  inserted_at: string;
  reference: string | null;
  metadata: Metadata;
  postings: { source: string; destination: string; asset: string; amount: string }[];
}

/**
 * Transactions newest first; with a wallet, every transaction touching any of its accounts
 * (main, named balances, holds).
 */
export async function listTransactions(
  q: Queryable,
  ledger: string,
  page: PageQuery<TransactionFilter>,
): Promise<Page<Transaction, TransactionFilter>> {
  const result = await keysetPage<TransactionRow, TransactionFilter>(page, 'DESC', (row) => String(row.id), (bound, order, limit) => {
    const params: unknown[] = [ledger, limit];
    const where = ['t.ledger = $1'];
    if (page.filter.walletId !== undefined) {
      params.push(page.filter.walletId);
      where.push(`t.id IN (
        SELECT p.transaction_id FROM accounts a
        JOIN postings p ON p.ledger = a.ledger AND p.source = a.address
        WHERE a.ledger = $1 AND a.wallet_id = $${params.length}
        UNION
        SELECT p.transaction_id FROM accounts a
        JOIN postings p ON p.ledger = a.ledger AND p.destination = a.address
        WHERE a.ledger = $1 AND a.wallet_id = $${params.length})`);
    }
    if (bound) {
      params.push(bound.key);
      where.push(`t.id ${bound.comparison} $${params.length}::bigint`);
    }
    return q.query<TransactionRow>(
      `SELECT t.id, ${tsText('t.timestamp')} AS timestamp, ${tsText('t.inserted_at')} AS inserted_at, t.reference, t.metadata,
         (SELECT json_agg(json_build_object('source', p.source, 'destination', p.destination, 'asset', p.asset, 'amount', p.amount::text) ORDER BY p.position)
          FROM postings p WHERE p.ledger = t.ledger AND p.transaction_id = t.id) AS postings
       FROM transactions t WHERE ${where.join(' AND ')} ORDER BY t.id ${order} LIMIT $2`,
      params,
    );
  });
  return {
    ...result,
    items: result.items.map((row) => ({
      id: BigInt(row.id),
      timestamp: instantColumn(row.timestamp),
      insertedAt: instantColumn(row.inserted_at),
      ...(row.reference !== null ? { reference: row.reference } : {}),
      metadata: row.metadata,
      postings: (row.postings ?? []).map((p) => ({ ...p, amount: amountColumn(p.amount) })),
    })),
  };
}
