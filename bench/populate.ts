/**
 * Fills a migrated Coffer database with a ledger of realistic shape, fast: every row is made
 * by the database itself (INSERT … SELECT over generate_series, no row crosses the network),
 * one chunk of wallets per transaction, so a load can stop anywhere and resume at the next
 * chunk (`loadedThrough`). Used by `npm run bench:load` (bench/load.ts, 1,000,000 wallets and
 * 10,000,000 transactions) and by test/explain.test.ts (a smaller ledger).
 *
 * The shape, for wallet number i (ids are UUID-shaped and derived from i):
 * - a wallet named `customer-i` with metadata `{tier, customer}`; every 100th one frozen (with
 *   its status change recorded);
 * - `main`, and on every third wallet an expiring, prioritized `promo` balance;
 * - `perWallet` transactions, each with one posting and a stored Idempotency-Key outcome: a
 *   credit of 1,000,000 from the world, then debits of 1–100 to the world (a reference on every
 *   tenth, metadata on every fourth); on every fifth wallet the last two are a pending debit of
 *   50 (a hold) and, on every tenth, its confirmation — so half the holds are open (expiring
 *   in 2030) and half confirmed;
 * - the accounts and volumes those postings imply, so every ledger invariant holds.
 */
import type { Queryable } from '../src/storage/database.ts';

export interface LoadShape {
  readonly ledger: string;
  readonly wallets: number;
  /** Transactions per wallet (≥ 3). */
  readonly perWallet: number;
  /** Wallets per transaction of the load. */
  readonly chunk: number;
}

const walletId = (i: string) => `'00000000-0000-4000-8000-' || lpad(to_hex(${i}), 12, '0')`;
const holdId = (i: string) => `'00000000-0000-4000-9000-' || lpad(to_hex(${i}), 12, '0')`;
const at = (seconds: string) => `timestamptz '2026-01-01T00:00:00Z' + (${seconds}) * interval '1 second'`;
/** Transaction id of wallet i's slot j (1-based) with n slots per wallet. */
const txId = (i: string, j: string) => `((${i} - 1)::bigint * $4::int + ${j})`;
/** A slot's kind: the credit first, then debits; the hold slots last on every fifth wallet. */
const slotKind = (i: string, j: string) =>
  `CASE WHEN ${j} = 1 THEN 'credit' WHEN ${i} % 5 = 0 AND ${j} = $4::int - 1 THEN 'hold' WHEN ${i} % 10 = 0 AND ${j} = $4::int THEN 'confirm' ELSE 'debit' END`;

/** Statements for wallets $2..$3 of ledger $1, $4 transactions each. */
const CHUNK_STATEMENTS = [
  `INSERT INTO wallets (ledger, id, name, metadata, created_at, status, status_changed_at)
   SELECT $1, ${walletId('i')}, 'customer-' || i,
     jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + i % 3], 'customer', i::text),
     ${at('i')}, CASE WHEN i % 100 = 7 THEN 'frozen' ELSE 'active' END, CASE WHEN i % 100 = 7 THEN ${at('i + 86400')} END
   FROM generate_series($2::bigint, $3::bigint) i`,
  `INSERT INTO wallet_status_changes (ledger, wallet_id, previous_status, status, changed_at)
   SELECT $1, ${walletId('i')}, 'active', 'frozen', ${at('i + 86400')} FROM generate_series($2::bigint, $3::bigint) i WHERE i % 100 = 7`,
  `INSERT INTO balances (ledger, wallet_id, name, expires_at, priority, created_at)
   SELECT $1, ${walletId('i')}, 'main', NULL, 0, ${at('i')} FROM generate_series($2::bigint, $3::bigint) i
   UNION ALL
   SELECT $1, ${walletId('i')}, 'promo', CASE WHEN i % 2 = 0 THEN timestamptz '2026-06-01T00:00:00Z' ELSE timestamptz '2030-01-01T00:00:00Z' END, 1, ${at('i')}
   FROM generate_series($2::bigint, $3::bigint) i WHERE i % 3 = 0`,
  `INSERT INTO accounts (ledger, address, wallet_id, created_at)
   SELECT $1, 'wallets:' || ${walletId('i')} || ':main', ${walletId('i')}, ${at('i')} FROM generate_series($2::bigint, $3::bigint) i
   UNION ALL
   SELECT $1, 'wallets:holds:' || ${holdId('i')}, ${walletId('i')}, ${at('i')} FROM generate_series($2::bigint, $3::bigint) i WHERE i % 5 = 0`,
  `INSERT INTO transactions (ledger, id, timestamp, reference, metadata, inserted_at)
   SELECT $1, ${txId('i', 'j')}, ${at('i + j * 60')},
     CASE WHEN j % 10 = 0 THEN 'ref-' || ${txId('i', 'j')} END,
     CASE WHEN j % 4 = 0 THEN jsonb_build_object('order', 'o-' || ${txId('i', 'j')}) ELSE '{}'::jsonb END,
     ${at('i + j * 60')}
   FROM generate_series($2::bigint, $3::bigint) i, generate_series(1, $4::int) j`,
  `INSERT INTO postings (ledger, transaction_id, position, source, destination, asset, amount)
   SELECT $1, ${txId('i', 'j')}, 0,
     CASE kind WHEN 'credit' THEN 'world' WHEN 'confirm' THEN 'wallets:holds:' || ${holdId('i')} ELSE 'wallets:' || ${walletId('i')} || ':main' END,
     CASE kind WHEN 'credit' THEN 'wallets:' || ${walletId('i')} || ':main' WHEN 'hold' THEN 'wallets:holds:' || ${holdId('i')} ELSE 'world' END,
     'USD/2',
     CASE kind WHEN 'credit' THEN 1000000 WHEN 'hold' THEN 50 WHEN 'confirm' THEN 50 ELSE 1 + (i * 31 + j * 17) % 100 END
   FROM (SELECT i, j, ${slotKind('i', 'j')} AS kind FROM generate_series($2::bigint, $3::bigint) i, generate_series(1, $4::int) j) slots`,
  `INSERT INTO volumes (ledger, address, asset, input, output)
   SELECT $1, address, 'USD/2', sum(input), sum(output) FROM (
     SELECT destination AS address, amount AS input, 0 AS output FROM postings
     WHERE ledger = $1 AND transaction_id BETWEEN ($2::bigint - 1) * $4::int + 1 AND $3::bigint * $4::int
     UNION ALL
     SELECT source, 0, amount FROM postings
     WHERE ledger = $1 AND transaction_id BETWEEN ($2::bigint - 1) * $4::int + 1 AND $3::bigint * $4::int
   ) moves WHERE address <> 'world' GROUP BY address`,
  `INSERT INTO holds (ledger, id, wallet_id, asset, original_amount, remaining, destination, destination_address, description, metadata, sources, created_at, status, expires_at)
   SELECT $1, ${holdId('i')}, ${walletId('i')}, 'USD/2', 50, CASE WHEN i % 10 = 0 THEN 0 ELSE 50 END,
     '{"type": "ACCOUNT", "identifier": "world"}'::jsonb, 'world', 'order ' || i, jsonb_build_object('order', 'h-' || i),
     jsonb_build_array(jsonb_build_object('address', 'wallets:' || ${walletId('i')} || ':main', 'amount', '50')),
     ${at('i + ($4::int - 1) * 60')}, CASE WHEN i % 10 = 0 THEN 'confirmed' ELSE 'open' END,
     CASE WHEN i % 10 = 5 THEN timestamptz '2030-01-01T00:00:00Z' END
   FROM generate_series($2::bigint, $3::bigint) i WHERE i % 5 = 0`,
  `INSERT INTO idempotency_keys (ledger, key, operation, fingerprint, status, response, created_at)
   SELECT $1, 'load-' || ${txId('i', 'j')}, CASE WHEN j = 1 THEN 'creditWallet' ELSE 'debitWallet' END, md5(${txId('i', 'j')}::text), 204, NULL, ${at('i + j * 60')}
   FROM generate_series($2::bigint, $3::bigint) i, generate_series(1, $4::int) j`,
];

/** The table that records how far a load got, so a load resumes after the last whole chunk. */
const PROGRESS = `CREATE TABLE IF NOT EXISTS bench_load_progress (ledger text PRIMARY KEY, wallets bigint NOT NULL, per_wallet int NOT NULL, loaded_through bigint NOT NULL)`;

export interface Transactional {
  transaction<T>(body: (tx: Queryable) => Promise<T>): Promise<T>;
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** Wallets loaded so far (0 when none), checking a resumed load has the same shape. */
export async function loadedThrough(db: Transactional, shape: LoadShape): Promise<number> {
  await db.query(PROGRESS);
  const [row] = await db.query<{ wallets: string; per_wallet: number; loaded_through: string }>(
    'SELECT wallets::text, per_wallet, loaded_through::text FROM bench_load_progress WHERE ledger = $1',
    [shape.ledger],
  );
  if (!row) return 0;
  if (Number(row.per_wallet) !== shape.perWallet) throw new Error(`ledger ${shape.ledger} was loaded with ${row.per_wallet} transactions per wallet, not ${shape.perWallet}`);
  return Number(row.loaded_through);
}

/** Loads wallets (from, to] in one transaction and records the progress with them. */
export async function loadChunk(db: Transactional, shape: LoadShape, from: number, to: number): Promise<void> {
  if (shape.perWallet < 3) throw new Error('perWallet must be at least 3 (a credit, a hold and its confirmation)');
  await db.transaction(async (tx) => {
    const params = [shape.ledger, from + 1, to, shape.perWallet];
    // Each statement gets the parameters it names ($1 to its highest).
    for (const sql of CHUNK_STATEMENTS) await tx.query(sql, params.slice(0, Math.max(...[...sql.matchAll(/\$(\d)/g)].map((m) => Number(m[1])))));
    await tx.query(
      `INSERT INTO bench_load_progress (ledger, wallets, per_wallet, loaded_through) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ledger) DO UPDATE SET loaded_through = excluded.loaded_through, wallets = excluded.wallets`,
      [shape.ledger, shape.wallets, shape.perWallet, to],
    );
  });
}

/**
 * After the last chunk: new transactions continue after the loaded ids; the planner learns the
 * tables' sizes; and the loaded rows are vacuumed and frozen, as autovacuum leaves a database
 * that has been serving. Without it, the first reads of each page set its rows' hint bits and
 * write it back, and index-only scans visit the heap: the first growth run measured that
 * (debits 0.79× the empty database's, p99 up to 734 ms) instead of a grown ledger. (This
 * machine's PostgreSQL runs with autovacuum off, so nothing else would do it.)
 */
export async function finishLoad(db: Transactional): Promise<void> {
  await db.query("SELECT setval('transaction_ids', greatest((SELECT coalesce(max(id), 0) FROM transactions), 1))");
  await db.query('VACUUM (FREEZE, ANALYZE)');
}

/** Loads the whole shape (resuming after what was loaded), reporting progress. */
export async function populate(db: Transactional, shape: LoadShape, progress: (loaded: number) => void = () => {}): Promise<void> {
  for (let from = await loadedThrough(db, shape); from < shape.wallets; from += shape.chunk) {
    const to = Math.min(from + shape.chunk, shape.wallets);
    await loadChunk(db, shape, from, to);
    progress(to);
  }
  await finishLoad(db);
}
