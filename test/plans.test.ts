/**
 * How Coffer's PostgreSQL statements are planned (src/storage/database.ts): a read outside a
 * transaction is prepared and may keep a generic plan; a write outside one is planned with its
 * values every time (sent unnamed), so a plan made while a table was small cannot outlive the
 * table's growth; a write transaction plans every statement with its values.
 *
 * PostgreSQL only: PGlite sends every statement unnamed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPostgres, type Database } from '../src/storage/database.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';

const serverUrl = process.env.TEST_DATABASE_URL;

describe('statement plans', () => {
  if (!serverUrl) {
    postgresSkipped('a read keeps a generic plan; a write outside a transaction is planned with its values after the table grew');
    return;
  }
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    const fresh = await freshPostgresDatabase(serverUrl);
    drop = fresh.drop;
    // One connection: every statement below runs on the same session, which holds the prepared ones.
    db = openPostgres({ url: fresh.url, poolSize: 1, statementTimeoutMs: 60_000, schema: 'public' });
    await db.query('CREATE TABLE t (id bigint PRIMARY KEY, v int NOT NULL)');
    await db.query('INSERT INTO t SELECT g, 0 FROM generate_series(1, 50) AS g');
    await db.query('ANALYZE t');
  });
  after(async () => {
    await db.close();
    await drop();
  });

  it('a read keeps a generic plan; a write outside a transaction is planned with its values after the table grew', async () => {
    const read = 'SELECT t.v FROM t JOIN unnest($1::bigint[]) AS x(id) ON t.id = x.id';
    const write = 'UPDATE t SET v = t.v + 1 FROM unnest($1::bigint[]) AS x(id) WHERE t.id = x.id';
    for (let i = 0; i < 8; i++) {
      await db.query(read, [[1, 2, 3]]);
      await db.query(write, [[1, 2, 3]]);
    }
    const prepared = await db.query<{ statement: string; generic_plans: bigint }>('SELECT statement, generic_plans FROM pg_prepared_statements ORDER BY statement');
    assert.deepEqual(
      prepared.map((row) => row.statement),
      [read],
      'the read is prepared, the write is not',
    );
    assert.ok(Number(prepared[0]!.generic_plans) > 0, 'the read runs its kept generic plan');

    // The table grows a thousandfold, with no ANALYZE since (autovacuum off, as on this machine).
    await db.query('INSERT INTO t SELECT g, 0 FROM generate_series(51, 200000) AS g');
    const explained = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${write.replace('$1::bigint[]', "'{1,2,3}'::bigint[]")}`);
    assert.ok(!explained.some((row) => /Seq Scan on t\b/.test(row['QUERY PLAN'])), `a plan made with the values reads t by its key:\n${explained.map((row) => row['QUERY PLAN']).join('\n')}`);
    const [{ v } = { v: -1 }] = await db.query<{ v: number }>('SELECT v FROM t WHERE id = 1');
    assert.equal(v, 8);
  });

  it('a write transaction plans its statements with their values, even a statement that has a kept generic plan', async () => {
    const read = 'SELECT count(*) AS n FROM t WHERE id = ANY($1::bigint[])';
    for (let i = 0; i < 8; i++) await db.query(read, [[1, 2]]);
    const before = await db.query<{ custom_plans: bigint }>('SELECT custom_plans FROM pg_prepared_statements WHERE statement = $1', [read]);
    await db.transaction(async (tx) => {
      const [mode] = await tx.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
      assert.equal(mode!.plan_cache_mode, 'force_custom_plan');
      await tx.query(read, [[1, 2]]);
    });
    const afterwards = await db.query<{ custom_plans: bigint }>('SELECT custom_plans FROM pg_prepared_statements WHERE statement = $1', [read]);
    assert.equal(Number(afterwards[0]!.custom_plans), Number(before[0]!.custom_plans) + 1, 'planned with its values inside the transaction');
    const [outside] = await db.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
    assert.equal(outside!.plan_cache_mode, 'auto', 'SET LOCAL ends with the transaction');
  });
});
