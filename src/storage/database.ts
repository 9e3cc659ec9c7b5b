/**
 * The one storage port: a connection that runs SQL and opens transactions. Two adapters
 * serve it — node-postgres for a PostgreSQL server, PGlite for the embedded default — and
 * everything above runs the same SQL on both. Type parsing is set so that int8 comes back
 * as bigint and NUMERIC as its decimal text, on both.
 */
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(body: (tx: Queryable) => Promise<T>): Promise<T>;
  /** The connection pool's numbers now, for metrics. */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Connections the pool may open. */
  readonly max: number;
  /** Connections open now. */
  readonly open: number;
  /** Open connections not serving a query or transaction. */
  readonly idle: number;
  /** Callers waiting for a connection. */
  readonly waiting: number;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

export interface PostgresOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
}

export function openPostgres(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === INT8_OID) return (text: string) => BigInt(text);
        if (oid === NUMERIC_OID) return (text: string) => text;
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const wrap = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row>(sql: string, params?: readonly unknown[]) {
      const result = await client.query(sql, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  });
  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction<T>(body: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      // A checked-out client is ours to watch: when the server ends its session (a shutdown,
      // a crash) it emits 'error', which with no listener would crash the whole process. The
      // statement in flight fails by itself (a 503); the client is then discarded.
      const onError = (error: Error) => {
        broken = error;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await body(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken ??= rollbackError as Error;
        }
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    poolStats: () => ({ max: options.poolSize, open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await pool.end();
    },
  };
}

export async function openPglite(dataDir: string | undefined): Promise<Database> {
  const db = await PGlite.create({
    dataDir,
    parsers: { [INT8_OID]: (text: string) => BigInt(text), [NUMERIC_OID]: (text: string) => text },
  });
  type PgliteLike = Pick<PGlite, 'query' | 'exec'>;
  const wrap = (conn: PgliteLike): Queryable => ({
    async query<Row>(sql: string, params?: readonly unknown[]) {
      const result = await conn.query<Row>(sql, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await conn.exec(sql);
    },
  });
  // PGlite is one backend, like a pool of one connection: its transactions run one at a
  // time, so every caller but the first is waiting.
  let transactions = 0;
  return {
    kind: 'pglite',
    ...wrap(db),
    async transaction<T>(body: (tx: Queryable) => Promise<T>): Promise<T> {
      transactions += 1;
      try {
        return await db.transaction((tx) => body(wrap(tx)));
      } finally {
        transactions -= 1;
      }
    },
    poolStats: () => ({ max: 1, open: db.closed ? 0 : 1, idle: transactions === 0 && !db.closed ? 1 : 0, waiting: Math.max(transactions - 1, 0) }),
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
