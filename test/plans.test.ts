/**
 * How Coffer's PostgreSQL statements are planned (src/storage/database.ts): a read outside a
 * transaction is prepared and may keep a generic plan; a write outside one is planned with its
 * values every time (sent unnamed), so a plan made while a table was small cannot outlive the
 * table's growth; a write transaction plans every statement with its values; the background
 * pool's statements keep one generic plan each, made with scans and hash joins ruled out, so
 * that the plan made on a small table still reads a grown one by its key.
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

  it("the background pool keeps one plan per statement, made on a small table, and it reads the table by its key once it has grown", async () => {
    await db.query('CREATE TABLE bg (id bigint PRIMARY KEY, v int NOT NULL)');
    await db.query('INSERT INTO bg SELECT g, 0 FROM generate_series(1, 50) AS g');
    await db.query('ANALYZE bg');
    const write = 'UPDATE bg SET v = bg.v + 1 FROM unnest($1::bigint[]) AS x(id) WHERE bg.id = x.id';
    const background = db.background!;
    // Sequential calls reuse the pool's last idle connection: every call below is on one session.
    const [{ pid: first } = { pid: -1 }] = await background.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    for (let i = 0; i < 3; i++) await background.query(write, [[1, 2, 3]]);
    const [prepared] = await background.query<{ name: string; generic_plans: bigint; custom_plans: bigint; pid: number }>(
      'SELECT name, generic_plans, custom_plans, pg_backend_pid() AS pid FROM pg_prepared_statements WHERE statement = $1',
      [write],
    );
    assert.equal(prepared?.pid, first, 'one session');
    assert.deepEqual([Number(prepared!.generic_plans), Number(prepared!.custom_plans)], [3, 0], 'the write is prepared and runs its one generic plan from the first call on');

    // An ordinary session's plan of the same join scans the small table: that is what the background session rules out.
    const plain = await db.query<{ 'QUERY PLAN': string }>("EXPLAIN SELECT 1 FROM bg JOIN unnest('{1,2,3}'::bigint[]) AS x(id) ON bg.id = x.id");
    assert.ok(plain.some((row) => /Seq Scan on bg\b/.test(row['QUERY PLAN'])), 'an ordinary plan scans a 50-row table');

    // The table grows four-thousandfold, with no ANALYZE since (autovacuum off, as on this machine): the kept plan still reads it by its key.
    await db.query('INSERT INTO bg SELECT g, 0 FROM generate_series(51, 200000) AS g');
    const kept = await background.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${prepared!.name}('{1,2,3}')`);
    const plan = kept.map((row) => row['QUERY PLAN']).join('\n');
    assert.doesNotMatch(plan, /Seq Scan on bg\b/, plan);
    assert.match(plan, /Index Scan using bg_pkey on bg/, plan);
    // A statement that has no index to use still scans, at the cost that ruling scans out adds —
    // far past JIT's threshold: with JIT on, every run of it would compile (410 ms a statement).
    const unindexed = 'SELECT count(*) AS n FROM bg WHERE v = $1';
    await background.query(unindexed, [1]);
    const [counted] = await background.query<{ name: string }>('SELECT name FROM pg_prepared_statements WHERE statement = $1', [unindexed]);
    const scanning = (await background.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${counted!.name}(1)`)).map((row) => row['QUERY PLAN']).join('\n');
    assert.match(scanning, /Seq Scan on bg .*cost=10000000000/, scanning);
    assert.doesNotMatch(scanning, /JIT/, `no JIT compilation for the cost the ruled-out scan adds:\n${scanning}`);
    await background.query(write, [[1, 2, 3]]);
    const [{ v } = { v: -1 }] = await db.query<{ v: number }>('SELECT v FROM bg WHERE id = 1');
    assert.equal(v, 4);
  });
});
