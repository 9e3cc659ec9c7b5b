/**
 * `npm run bench:load`: fills a PostgreSQL database with a grown ledger for the benchmark's
 * growth mode (`BENCH_GROWTH=1 npm run bench`): LOAD_WALLETS wallets (default 1,000,000) and
 * LOAD_TRANSACTIONS transactions (default 10,000,000), with named balances, open and closed
 * holds, metadata and a stored Idempotency-Key outcome per transaction (bench/populate.ts has
 * the shape). Every row is made inside PostgreSQL (INSERT … SELECT over generate_series), one
 * chunk of LOAD_CHUNK wallets (default 20,000) per transaction; the progress is committed with
 * each chunk, so an interrupted load run again resumes after the last whole chunk.
 *
 * Environment: DATABASE_URL (the server; default postgres://postgres@127.0.0.1:5432/postgres),
 * LOAD_DATABASE (the database to fill, created and migrated if missing; default coffer_load).
 */
import pg from 'pg';
import { openPostgres } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { loadedThrough, populate } from './populate.ts';

const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const database = process.env.LOAD_DATABASE || 'coffer_load';
const wallets = Number(process.env.LOAD_WALLETS || 1_000_000);
const transactions = Number(process.env.LOAD_TRANSACTIONS || 10_000_000);
const chunk = Number(process.env.LOAD_CHUNK || 20_000);
if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`LOAD_DATABASE must be a plain lower-case name, got ${database}`);
const perWallet = Math.round(transactions / wallets);

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
await admin.end();

const url = new URL(serverUrl);
url.pathname = `/${database}`;
const db = openPostgres({ url: url.toString(), poolSize: 1 } as Parameters<typeof openPostgres>[0]);
const started = Date.now();
try {
  await migrate(db);
  // The ledger a server serves by default (LEDGER_NAME); the growth bench reads it back from the progress table.
  const shape = { ledger: process.env.LOAD_LEDGER || 'coffer', wallets, perWallet, chunk };
  const from = await loadedThrough(db, shape);
  process.stderr.write(`[load] ${database}: ${wallets} wallets × ${perWallet} transactions, ${from} loaded already\n`);
  await populate(db, shape, (loaded) => {
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`[load] ${loaded} wallets (${((loaded - from) * perWallet / Math.max(seconds, 0.001)).toFixed(0)} transactions/s), ${seconds.toFixed(0)} s\n`);
  });
  const [sizes] = await db.query<{ size: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS size');
  process.stdout.write(`loaded ${database}: ${wallets} wallets, ${wallets * perWallet} transactions in ${((Date.now() - started) / 1000).toFixed(0)} s; database ${sizes!.size}\n`);
} finally {
  await db.close();
}
