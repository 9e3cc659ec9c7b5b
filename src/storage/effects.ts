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
import { KeyPurged, outcomesParams, outcomesUpsert, storeOutcomes } from './idempotency-keys.ts';
import { eventsInsert, eventsParams, writeEvents, type EventsTarget } from './events.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Instant } from '../domain/time.ts';
import type { CreatedRows } from './volumes.ts';
import { volumeKey } from '../domain/posting.ts';
import { assert } from '../domain/errors.ts';

const UNIQUE_VIOLATION = '23505';

const DEADLOCK_DETECTED = '40P01';

/**
 * Why a batch's transaction failed, when it met a concurrent one and must be retried: a
 * writer took a unique value this batch assumed free ('unique'; also a key the retention purge
 * deleted between its claim and the read of its outcome, `KeyPurged`), or PostgreSQL broke a lock
 * cycle ('deadlock'; see `Reads.locksUnknown` for why that needs two concurrent first uses
 * of one volume row). Undefined for any other failure.
 */
export function batchConflict(error: unknown): 'unique' | 'deadlock' | undefined {
  if (error instanceof KeyPurged) return 'unique';
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
 * Transactions with ids in posting order, their postings, the summed volume changes, the
 * batch's stored idempotency outcomes and its events (the outbox): one statement. False when there was no transaction to
 * write (the outcomes are then left to the caller).
 *
 * It must be planned with its parameters (see storage/database.ts): the volume UPDATE …
 * FROM unnest(…) is a join, and a plan made without the batch's size scans the whole table.
 *
 * The events take their feed positions here (storage/events.ts), which locks the feed's top
 * row until COMMIT: every row this statement and the later ones change was locked by the
 * batch before (lockRemaining), so it then waits for nothing but, in a rare race, a
 * concurrent batch's identical transaction reference; a lock cycle that makes is broken by
 * PostgreSQL (40P01) and the batch retried command by command (committer.ts).
 */
function writeJournal(tx: Transaction, ledger: string, journal: JournalWrites, outcomes: readonly OutcomeRow[], claimedAt: Instant, events: readonly OutboxEvent[], target: EventsTarget): boolean {
  const transactions = journal.transactions;
  if (transactions.length === 0) return false;
  const postings = transactions.flatMap((transaction, index) =>
    transaction.postings.map((posting, position) => ({ ...posting, index: index + 1, position })),
  );
  const deltas = journal.volumeDeltas();
  const written = events.length > 0 ? eventsInsert(24, true, target) : null;
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
     )${written !== null ? `${written.top !== null ? `, ${written.top}` : ''}, e AS (
       ${written.insert}
     )` : ''}
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
      ...(events.length > 0 ? eventsParams(events) : []),
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
         description, metadata, sources, created_at, created_by, expires_at, status)
       SELECT $1, x.* FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[], $8::text[],
         $9::text[], $10::jsonb[], $11::jsonb[], $12::timestamptz[], $13::text[], $14::timestamptz[], $15::text[])
       AS x(id, wallet_id, asset, original_amount, remaining, destination, destination_address, description, metadata, sources, created_at,
         created_by, expires_at, status)`,
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
        holds.map((h) => {
          const expiresAt = effects.holdExpiries.has(h.id) ? effects.holdExpiries.get(h.id)! : h.expiresAt;
          return expiresAt === null ? null : instantParam(expiresAt);
        }),
        holds.map((h) => effects.holdStatuses.get(h.id) ?? h.status),
      ],
      holds.length,
    );
  }
  const created = new Set(holds.map((h) => h.id));
  const updates = [...effects.holdRemaining].filter(([id]) => !created.has(id)).sort(([a], [b]) => (a < b ? -1 : 1));
  if (updates.length > 0) {
    tx.defer(
      `UPDATE holds AS h SET remaining = x.remaining, status = x.status FROM unnest($2::text[], $3::numeric[], $4::text[]) AS x(id, remaining, status)
       WHERE h.ledger = $1 AND h.id = x.id`,
      [
        ledger,
        updates.map(([id]) => id),
        updates.map(([, remaining]) => remaining.toString()),
        updates.map(([id]) => {
          const status = effects.holdStatuses.get(id);
          assert(status !== undefined, `hold ${id} was settled without a status`);
          return status;
        }),
      ],
      updates.length,
    );
  }
  const expiries = [...effects.holdExpiries].filter(([id]) => !created.has(id)).sort(([a], [b]) => (a < b ? -1 : 1));
  if (expiries.length > 0) {
    tx.defer(
      `UPDATE holds AS h SET expires_at = x.expires_at, sweep_lease_until = NULL
       FROM unnest($2::text[], $3::timestamptz[]) AS x(id, expires_at) WHERE h.ledger = $1 AND h.id = x.id`,
      [ledger, expiries.map(([id]) => id), expiries.map(([, at]) => (at === null ? null : instantParam(at)))],
      expiries.length,
    );
  }
}

/** The wallets' new statuses (the last change of each) and every change, in order, in the audit trail. */
function writeStatusChanges(tx: Transaction, ledger: string, effects: BatchWrites): void {
  const changes = effects.statusChanges;
  if (changes.length === 0) return;
  const last = new Map(changes.map((change) => [change.walletId, change.change]));
  const wallets = [...last].sort(([a], [b]) => (a < b ? -1 : 1));
  tx.defer(
    `UPDATE wallets AS w SET status = x.status, status_changed_at = x.changed_at, status_changed_by = x.changed_by
     FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS x(id, status, changed_at, changed_by)
     WHERE w.ledger = $1 AND w.id = x.id`,
    [
      ledger,
      wallets.map(([id]) => id),
      wallets.map(([, change]) => change.status),
      wallets.map(([, change]) => instantParam(change.changedAt)),
      wallets.map(([, change]) => change.changedBy),
    ],
    wallets.length,
  );
  tx.defer(
    `INSERT INTO wallet_status_changes (ledger, wallet_id, previous_status, status, changed_at, changed_by)
     SELECT $1, x.wallet_id, x.previous, x.status, x.changed_at, x.changed_by
     FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) WITH ORDINALITY AS x(wallet_id, previous, status, changed_at, changed_by, position)
     ORDER BY x.position`,
    [
      ledger,
      changes.map((c) => c.walletId),
      changes.map((c) => c.previous),
      changes.map((c) => c.change.status),
      changes.map((c) => instantParam(c.change.changedAt)),
      changes.map((c) => c.change.changedBy),
    ],
    changes.length,
  );
}

function writeBalancePatches(tx: Transaction, ledger: string, effects: BatchWrites): void {
  if (effects.balancePatches.size === 0) return;
  const patches = [...effects.balancePatches.values()];
  tx.defer(
    `UPDATE balances AS b SET expires_at = x.expires_at, priority = x.priority
     FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::int8[]) AS x(wallet_id, name, expires_at, priority)
     WHERE b.ledger = $1 AND b.wallet_id = x.wallet_id AND b.name = x.name`,
    [
      ledger,
      patches.map((p) => p.walletId),
      patches.map((p) => p.name),
      patches.map((p) => (p.expiresAt === null ? null : instantParam(p.expiresAt))),
      patches.map((p) => p.priority.toString()),
    ],
    patches.length,
  );
}

/**
 * Overdraft limits, around the journal's volume update so that the database's check (balance
 * at or above minus the limit) holds after every statement, not only at the end: before it,
 * each row's limit is the larger of its old and new one; after it, the new one. The batch
 * checked every step in memory (ledger/journal.ts), so the end state is within the new limits.
 */
function writeOverdrafts(tx: Transaction, ledger: string, effects: BatchWrites, stage: 'widen' | 'settle'): void {
  if (effects.overdrafts.size === 0) return;
  const rows = [...effects.overdrafts.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.asset < b.asset ? -1 : 1));
  tx.defer(
    `UPDATE volumes AS v SET overdraft = ${stage === 'widen' ? 'greatest(v.overdraft, x.overdraft)' : 'x.overdraft'}
     FROM unnest($2::text[], $3::text[], $4::numeric[]) AS x(address, asset, overdraft)
     WHERE v.ledger = $1 AND v.address = x.address AND v.asset = x.asset`,
    [ledger, rows.map((r) => r.address), rows.map((r) => r.asset), rows.map((r) => r.overdraft.toString())],
    rows.length,
  );
}

/**
 * Removes the volume rows (and account rows) the batch created for commands that were then
 * refused: no posting touched them, and a refused command must leave nothing behind.
 */
function removeUnusedRows(tx: Transaction, ledger: string, effects: BatchWrites, created: CreatedRows): void {
  if (created.volumes.length === 0) return;
  const journal = effects.journal;
  // A row that holds an overdraft limit is kept too: it is where the limit lives.
  const touched = new Set([...journal.volumeDeltas().map((delta) => volumeKey(delta.address, delta.asset)), ...effects.overdrafts.keys()]);
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
  events: EventsTarget = 'feed',
): void {
  removeUnusedRows(tx, ledger, effects, created);
  writeWallets(tx, ledger, effects);
  writeMetadataPatches(tx, ledger, effects);
  writeStatusChanges(tx, ledger, effects);
  writeBalancePatches(tx, ledger, effects);
  writeHolds(tx, ledger, effects);
  writeOverdrafts(tx, ledger, effects, 'widen');
  // The events go with the journal when there is one: those showing a transaction need its id.
  if (!writeJournal(tx, ledger, effects.journal, outcomes, claimedAt, effects.events, events)) {
    storeOutcomes(tx, ledger, outcomes, claimedAt);
    writeEvents(tx, ledger, effects.events, events);
  }
  writeOverdrafts(tx, ledger, effects, 'settle');
}
