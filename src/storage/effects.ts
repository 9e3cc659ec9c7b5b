/**
 * Writes a batch's effects in a few multi-row statements, whatever the batch size: new
 * wallets with their balances, metadata patches, the ledger journal (transactions, postings
 * and volume changes in one statement), new holds and their remaining amounts.
 *
 * Nothing here reads a result: every statement is deferred (storage/database.ts), so the
 * committer waits once for all of them and COMMIT. A unique value taken concurrently (a wallet,
 * balance or hold id, a transaction reference) fails its INSERT, which rolls the whole batch
 * back; the committer sees SQLSTATE 23505 and retries (see `batchConflict`). Every statement
 * states how many rows it must change (`defer`'s `expectedRows`): a write that disagrees with
 * its plan rolls the batch back and fails loudly instead of committing a ledger the plan
 * did not describe.
 */
import type { BatchWrites, JournalWrites } from '../domain/batch.ts';
import type { Transaction } from './database.ts';
import { instantParam } from './sql.ts';
import { outcomesParams, outcomesUpsert, storeOutcomes } from './idempotency-keys.ts';
import type { Instant } from '../domain/time.ts';
import type { CreatedRows } from './volumes.ts';
import { volumeKey } from '../domain/posting.ts';

const UNIQUE_VIOLATION = '23505';

const DEADLOCK_DETECTED = '40P01';

/**
 * Why a batch's transaction failed, when it met a concurrent one and must be retried: a
 * writer took a unique value this batch assumed free ('unique'), or PostgreSQL broke a lock
 * cycle ('deadlock'; see `Reads.locksUnknown` for why that needs two concurrent first uses
 * of one volume row). Undefined for any other failure.
 */
export function batchConflict(error: unknown): 'unique' | 'deadlock' | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === UNIQUE_VIOLATION) return 'unique';
  if (code === DEADLOCK_DETECTED) return 'deadlock';
  return undefined;
}

function writeWallets(tx: Transaction, ledger: string, effects: BatchWrites): void {
  if (effects.wallets.length === 0 && effects.balances.length === 0) return;
  const wallets = effects.wallets;
  const balances = effects.balances;
  tx.defer(
    `WITH w AS (
       INSERT INTO wallets (ledger, id, name, metadata, created_at, created_by)
       SELECT $1, x.id, x.name, x.metadata, x.created_at, x.created_by
       FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::timestamptz[], $11::text[]) AS x(id, name, metadata, created_at, created_by)
     )
     INSERT INTO balances (ledger, wallet_id, name, expires_at, priority, created_at, created_by)
     SELECT $1, x.wallet_id, x.name, x.expires_at, x.priority, x.created_at, x.created_by
     FROM unnest($6::text[], $7::text[], $8::timestamptz[], $9::int8[], $10::timestamptz[], $12::text[])
       AS x(wallet_id, name, expires_at, priority, created_at, created_by)`,
    [
      ledger,
      wallets.map((w) => w.id),
      wallets.map((w) => w.name),
      wallets.map((w) => JSON.stringify(w.metadata)),
      wallets.map((w) => instantParam(w.createdAt)),
      balances.map((b) => b.walletId),
      balances.map((b) => b.balance.name),
      balances.map((b) => (b.balance.expiresAt === null ? null : instantParam(b.balance.expiresAt))),
      balances.map((b) => b.balance.priority.toString()),
      balances.map((b) => instantParam(b.createdAt)),
      wallets.map((w) => w.createdBy ?? null),
      balances.map((b) => b.createdBy),
    ],
    balances.length,
  );
}

function writeMetadataPatches(tx: Transaction, ledger: string, effects: BatchWrites): void {
  if (effects.metadataPatches.size === 0) return;
  const patches = [...effects.metadataPatches].sort(([a], [b]) => (a < b ? -1 : 1));
  tx.defer(
    `UPDATE wallets AS w SET metadata = w.metadata || x.patch
     FROM unnest($2::text[], $3::jsonb[]) AS x(id, patch) WHERE w.ledger = $1 AND w.id = x.id`,
    [ledger, patches.map(([id]) => id), patches.map(([, patch]) => JSON.stringify(patch))],
    patches.length,
  );
}

export interface OutcomeRow {
  readonly key: string;
  /** The claim's own columns: the upsert below names them, though the row exists already. */
  readonly operation: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly response: string | null;
}

/**
 * Transactions with ids in posting order, their postings, the summed volume changes and the
 * batch's stored idempotency outcomes: one statement. False when there was no transaction to
 * write (the outcomes are then left to the caller).
 *
 * It must be planned with its parameters (see storage/database.ts): the volume UPDATE …
 * FROM unnest(…) is a join, and a plan made without the batch's size scans the whole table.
 */
function writeJournal(tx: Transaction, ledger: string, journal: JournalWrites, outcomes: readonly OutcomeRow[], claimedAt: Instant): boolean {
  const transactions = journal.transactions;
  if (transactions.length === 0) return false;
  const postings = transactions.flatMap((transaction, index) =>
    transaction.postings.map((posting, position) => ({ ...posting, index: index + 1, position })),
  );
  const deltas = journal.volumeDeltas();
  tx.defer(
    `WITH ids AS MATERIALIZED (
       SELECT ord, nextval('transaction_ids') AS id FROM generate_series(1, $2::int) AS ord ORDER BY ord
     ), t AS (
       INSERT INTO transactions (ledger, id, timestamp, reference, metadata, inserted_at, created_by)
       SELECT $1, ids.id, x.timestamp, x.reference, x.metadata, x.inserted_at, x.created_by
       FROM unnest($3::timestamptz[], $4::text[], $5::jsonb[], $6::timestamptz[], $23::text[])
         WITH ORDINALITY AS x(timestamp, reference, metadata, inserted_at, created_by, ord)
       JOIN ids ON ids.ord = x.ord
     ), p AS (
       INSERT INTO postings (ledger, transaction_id, position, source, destination, asset, amount)
       SELECT $1, ids.id, x.position, x.source, x.destination, x.asset, x.amount
       FROM unnest($7::int[], $8::int[], $9::text[], $10::text[], $11::text[], $12::numeric[]) AS x(ord, position, source, destination, asset, amount)
       JOIN ids ON ids.ord = x.ord
     ), o AS (
       ${outcomesUpsert(17)}
     )
     UPDATE volumes AS v SET input = v.input + d.input, output = v.output + d.output
     FROM unnest($13::text[], $14::text[], $15::numeric[], $16::numeric[]) AS d(address, asset, input, output)
     WHERE v.ledger = $1 AND v.address = d.address AND v.asset = d.asset`,
    [
      ledger,
      transactions.length,
      transactions.map((t) => instantParam(t.timestamp)),
      transactions.map((t) => t.reference ?? null),
      transactions.map((t) => JSON.stringify(t.metadata)),
      transactions.map((t) => instantParam(t.insertedAt)),
      postings.map((p) => p.index),
      postings.map((p) => p.position),
      postings.map((p) => p.source),
      postings.map((p) => p.destination),
      postings.map((p) => p.asset),
      postings.map((p) => p.amount.toString()),
      deltas.map((d) => d.address),
      deltas.map((d) => d.asset),
      deltas.map((d) => d.input.toString()),
      deltas.map((d) => d.output.toString()),
      ...outcomesParams(outcomes, claimedAt),
      transactions.map((t) => t.createdBy),
    ],
    deltas.length,
  );
  return true;
}

function writeHolds(tx: Transaction, ledger: string, effects: BatchWrites): void {
  const holds = effects.holds;
  if (holds.length > 0) {
    tx.defer(
      `INSERT INTO holds (ledger, id, wallet_id, asset, original_amount, remaining, destination, destination_address,
         description, metadata, sources, created_at, created_by)
       SELECT $1, x.* FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[], $8::text[],
         $9::text[], $10::jsonb[], $11::jsonb[], $12::timestamptz[], $13::text[])
       AS x(id, wallet_id, asset, original_amount, remaining, destination, destination_address, description, metadata, sources, created_at, created_by)`,
      [
        ledger,
        holds.map((h) => h.id),
        holds.map((h) => h.walletId),
        holds.map((h) => h.asset),
        holds.map((h) => h.originalAmount.toString()),
        // A hold confirmed or voided later in the same batch starts from its final remaining.
        holds.map((h) => (effects.holdRemaining.get(h.id) ?? h.remaining).toString()),
        holds.map((h) => JSON.stringify(h.destination)),
        holds.map((h) => h.destinationAddress),
        holds.map((h) => h.description),
        holds.map((h) => JSON.stringify(h.metadata)),
        holds.map((h) => JSON.stringify(h.sources.map((s) => ({ address: s.address, amount: s.amount.toString() })))),
        holds.map((h) => instantParam(h.createdAt)),
        holds.map((h) => h.createdBy ?? null),
      ],
      holds.length,
    );
  }
  const created = new Set(holds.map((h) => h.id));
  const updates = [...effects.holdRemaining].filter(([id]) => !created.has(id)).sort(([a], [b]) => (a < b ? -1 : 1));
  if (updates.length > 0) {
    tx.defer(
      `UPDATE holds AS h SET remaining = x.remaining FROM unnest($2::text[], $3::numeric[]) AS x(id, remaining)
       WHERE h.ledger = $1 AND h.id = x.id`,
      [ledger, updates.map(([id]) => id), updates.map(([, remaining]) => remaining.toString())],
      updates.length,
    );
  }
}

/**
 * Removes the volume rows (and account rows) the batch created for commands that were then
 * refused: no posting touched them, and a refused command must leave nothing behind.
 */
function removeUnusedRows(tx: Transaction, ledger: string, journal: JournalWrites, created: CreatedRows): void {
  if (created.volumes.length === 0) return;
  const touched = new Set(journal.volumeDeltas().map((delta) => volumeKey(delta.address, delta.asset)));
  const unused = created.volumes.filter((row) => !touched.has(volumeKey(row.address, row.asset)));
  if (unused.length === 0) return;
  const keptAddresses = new Set(created.volumes.filter((row) => touched.has(volumeKey(row.address, row.asset))).map((row) => row.address));
  const accounts = [...new Set(unused.map((row) => row.address))].filter((address) => created.accounts.has(address) && !keptAddresses.has(address));
  tx.defer(
    `WITH v AS (
       DELETE FROM volumes AS v USING unnest($2::text[], $3::text[]) AS x(address, asset)
       WHERE v.ledger = $1 AND v.address = x.address AND v.asset = x.asset
     )
     DELETE FROM accounts WHERE ledger = $1 AND address = ANY($4::text[])`,
    [ledger, unused.map((row) => row.address), unused.map((row) => row.asset), accounts],
    accounts.length,
  );
}

/** Writes the effects, then the idempotency outcomes (with the journal when there is one). */
export function writeEffects(
  tx: Transaction,
  ledger: string,
  effects: BatchWrites,
  outcomes: readonly OutcomeRow[],
  claimedAt: Instant,
  created: CreatedRows,
): void {
  removeUnusedRows(tx, ledger, effects.journal, created);
  writeWallets(tx, ledger, effects);
  writeMetadataPatches(tx, ledger, effects);
  writeHolds(tx, ledger, effects);
  if (!writeJournal(tx, ledger, effects.journal, outcomes, claimedAt)) storeOutcomes(tx, ledger, outcomes, claimedAt);
}
