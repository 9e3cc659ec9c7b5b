/**
 * The one storage port: a connection that runs SQL and opens transactions. Two adapters
 * serve it — node-postgres for a PostgreSQL server, PGlite for the embedded default — and
 * everything above runs the same SQL on both. Type parsing is set so that int8 comes back
 * as bigint and NUMERIC as its decimal text, on both.
 */
import { fsyncSync, writeSync } from 'node:fs';
import pg from 'pg';
import { messages, PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { findPrimary, parseHosts, type HostList } from './hosts.ts';

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/**
 * A transaction in progress. `defer` queues a statement whose result nothing reads: it goes
 * to the server as soon as the statements before it are answered, and COMMIT right after
 * it, without the caller waiting in between. If it fails, the transaction rolls back and
 * `transaction` throws its error. So a batch's writes and its COMMIT cost the committer one
 * wait, however many statements they are.
 */
export interface Transaction extends Queryable {
  /**
   * With `expectedRows`, the statement must change exactly that many rows: any other count
   * is a bug in the plan, and the transaction rolls back with a `WriteMismatch` instead of
   * committing a ledger that disagrees with it.
   */
  defer(sql: string, params?: readonly unknown[], expectedRows?: number): void;
}

/** A deferred write changed another number of rows than its plan expected. */
export class WriteMismatch extends Error {
  constructor(sql: string, expected: number, actual: number | null) {
    super(`a write changed ${actual} rows where its plan expected ${expected}: ${sql.replace(/\s+/g, ' ').slice(0, 120)}`);
    this.name = 'WriteMismatch';
  }
}

/**
 * Thrown by `transaction` when COMMIT was sent and no answer came back (the connection was
 * lost, the embedded engine failed): the transaction may or may not have committed, and
 * nothing may be run again on the guess that it did not. `cause` is the failure.
 */
export class CommitOutcomeUnknown extends Error {
  constructor(cause: unknown) {
    super(`the database did not answer COMMIT: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
    this.name = 'CommitOutcomeUnknown';
  }
}

/**
 * Thrown by `transaction` when the server answered COMMIT, but with a warning that it stopped
 * waiting for the synchronous standby (someone cancelled the session's statement, e.g.
 * `pg_cancel_backend`): the transaction committed on the primary — and is visible there from
 * now on — yet may not be on the standby, so a failover can lose it. It is not acknowledged as
 * a success. `statement_timeout` never gets here: PostgreSQL stops the statement's timer
 * before it commits, so a COMMIT waits for a silent standby as long as it takes
 * (test/sync-standby.test.ts).
 */
export class CommitNotReplicated extends CommitOutcomeUnknown {
  constructor(notice: unknown) {
    super(notice);
    this.message = `the database committed but stopped waiting for its synchronous standby: ${(notice as Error | undefined)?.message ?? String(notice)}`;
    this.name = 'CommitNotReplicated';
  }
}

/**
 * The SQLSTATE of the warning PostgreSQL sends with a COMMIT whose wait for the synchronous
 * standby was cancelled ("canceling wait for synchronous replication due to user request …
 * committed locally, but might not have been replicated"): the generic warning, 01000. It is
 * the one warning a COMMIT of Coffer's can carry (no deferred triggers, no deprecated syntax),
 * and matching its code rather than its text works whatever the server's `lc_messages`.
 */
const SYNC_WAIT_CANCELLED = '01000';

/**
 * Failures of `transaction` that prove nothing committed: the server answered a statement
 * sent before COMMIT with an error (or answered COMMIT itself with one), or the failure came
 * before COMMIT was sent at all. Only these may be retried by running the work again. Every
 * other failure, `CommitOutcomeUnknown` included, may have committed.
 */
const rolledBackErrors = new WeakSet<object>();

export function provenRolledBack(error: unknown): boolean {
  return typeof error === 'object' && error !== null && rolledBackErrors.has(error);
}

function markRolledBack(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) rolledBackErrors.add(error);
  return error;
}

/**
 * A statement the server refused: an ERROR it answered, after which the transaction is
 * aborted and cannot commit. Not a lost connection (no answer), not a FATAL or PANIC (the
 * session or the server died, maybe after writing the commit record: a PANIC in the WAL
 * flush of COMMIT leaves it to crash recovery), not a Node error whose errno code merely
 * looks like a SQLSTATE (EROFS, EPIPE). node-postgres exposes only the localized severity
 * (`S`): on a server with non-English messages a refusal reads as unknown, which costs an
 * unkeyed command a 503, never a second execution.
 */
function refusedByServer(error: unknown): boolean {
  return (error instanceof pg.DatabaseError || error instanceof messages.DatabaseError) && error.severity === 'ERROR';
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** The schema Coffer's tables are in (PGlite: `public`). */
  readonly schema: string;
  /**
   * Runs `body` in one transaction: COMMIT when it returns, ROLLBACK when it throws. BEGIN
   * is queued with the body's first statement rather than awaited on its own. A failure that
   * proves nothing committed is marked (`provenRolledBack`); COMMIT sent and never answered
   * is `CommitOutcomeUnknown`.
   */
  transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs `body`'s queries as one consistent view of the database (a READ ONLY, REPEATABLE
   * READ transaction): an answer assembled from several queries never sees a commit land
   * between two of them.
   */
  snapshot<T>(body: (q: Queryable) => Promise<T>): Promise<T>;
  /** The connection pool's numbers now, for metrics. */
  poolStats(): PoolStats;
  /**
   * PGlite only: the whole data folder as a gzipped tar, consistent — taken while no query
   * runs, after a CHECKPOINT, so that opening it replays little or no WAL. Absent on
   * PostgreSQL, whose backups are pg_dump's or a base backup's (docs/deployment.md).
   */
  readonly dumpDataDir?: () => Promise<Uint8Array>;
  /**
   * PostgreSQL only: where the background loops (the webhook deliveries) send their
   * statements, a few times a second each, outside any request: a small pool of its own whose
   * sessions keep one plan per statement (BACKGROUND_SETTINGS). Absent on PGlite, where they go
   * to the database itself.
   */
  readonly background?: Queryable;
  close(): Promise<void>;
}

/** On PostgreSQL, the main pool and the background pool together. */
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
  /** One server, or several (`h1:p1,h2:p2`): then the pool follows the writable one (storage/hosts.ts). */
  readonly url: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  /** The schema Coffer's tables live in (its `search_path`); DEFAULT_SCHEMA when absent. */
  readonly schema?: string;
}

/**
 * Coffer's own schema on a PostgreSQL server, so that it can share a database with other
 * applications' tables (an `accounts` table of theirs in `public` is not Coffer's). PGlite's
 * folder holds nothing else: there it is `public`, as it always was.
 */
export const DEFAULT_SCHEMA = 'coffer';

/** Most distinct statements prepared per connection; beyond it, statements are parsed each time. */
const PREPARED_MAX = 256;

/**
 * Statements with parameters are prepared once per connection (named, then only bound and
 * executed), which spares PostgreSQL parsing the batch statements again and again.
 *
 * Plans. A statement that writes is planned with its parameters' values on every execution.
 * Inside a write transaction (`transaction`) that is `SET LOCAL plan_cache_mode =
 * force_custom_plan`, sent with BEGIN: a generic plan, made without the values, once turned the
 * journal's UPDATE … FROM unnest(…) into a scan of the whole table, and the committer's
 * statements carry arrays whose lengths change from batch to batch. Outside one (`query`), a
 * statement that writes or locks rows is sent unnamed (`WRITES`), which PostgreSQL plans afresh
 * each time: a generic plan kept on a pooled connection would outlive the table it was made
 * for — made while `webhook_deliveries` held 50 rows, it scanned the whole table once it held a
 * million (80 ms a call against 3). The webhook loop's statements go to the background pool
 * instead (`background`, below), whose sessions keep plans that cannot turn into such a scan. Reads are
 * left to PostgreSQL's own choice (`plan_cache_mode = auto`): after five executions a statement
 * keeps one generic plan when it costs no more than planning each time. Planning was most of a
 * read's cost on a grown ledger — the statement of a wallet's transactions, over random wallets
 * of a 1,000,000-wallet database, ran 2,586 times a second planned each time and 5,725 with a
 * kept plan (pgbench, docs/performance.md) — and test/explain.test.ts checks the generic plan of
 * every statement the routes, the sweeper and the purge send for scans of large tables. Names
 * come from the SQL text, which the code fixes; they are capped anyway.
 */
const preparedNames = new Map<string, string>();

/** A write transaction's first message: its statements are planned with their parameters' values (above). */
const WRITE_BEGIN = 'BEGIN; SET LOCAL plan_cache_mode = force_custom_plan';
/** A statement that writes or locks rows (plans above). */
const WRITES = /\b(INSERT|UPDATE|DELETE)\b/i;

function statement(sql: string, params: readonly unknown[] | undefined, named = true): pg.QueryConfig {
  const values = params as unknown[] | undefined;
  if (!named || values === undefined || values.length === 0) return { text: sql, values };
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < PREPARED_MAX) {
    name = `coffer_${preparedNames.size + 1}`;
    preparedNames.set(sql, name);
  }
  return name === undefined ? { text: sql, values } : { name, text: sql, values };
}

/**
 * The background pool's sessions. Its statements run several times a second, with the same
 * shape every time; planning them afresh each time was 40 % of
 * their cost (`pg_stat_statements`, events bench, 2026-12-01: 1.6 of 3.9 s of the delivery
 * loop's PostgreSQL time). So each is prepared once per connection and keeps one generic plan
 * (`force_generic_plan`; re-made when an ANALYZE of its tables invalidates it, and gone with
 * its connection when the pool closes an idle one) — made with sequential scans, hash joins and merge joins ruled out,
 * so that it is the plan of nested index lookups these statements are written for whatever the
 * tables held when it was made: a plan made while `webhook_deliveries` held 50 rows chose to
 * scan it, and kept doing so once it held a million (above). JIT is off: the cost that ruling
 * a scan out adds to a plan that still needs one (the few rows of `webhook_endpoints`) is past
 * JIT's threshold, and compiling took 400 ms a statement. test/plans.test.ts makes such a plan
 * on a small table and uses it on a grown one; test/explain.test.ts checks the kept plan of
 * every background statement on an empty database and on a populated one.
 */
export const BACKGROUND_SETTINGS: Readonly<Record<string, string>> = {
  plan_cache_mode: 'force_generic_plan',
  enable_seqscan: 'off',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
  jit: 'off',
};
/** BACKGROUND_SETTINGS as a connection's startup options. */
export const BACKGROUND_SESSION = Object.entries(BACKGROUND_SETTINGS)
  .map(([name, value]) => `-c ${name}=${value}`)
  .join(' ');
/**
 * Connections of the background pool: the delivery loop's turn (a fan-out or a claim), its one
 * record of successes in flight, and a give-back beside them.
 */
const BACKGROUND_POOL_SIZE = 3;

/** The driver's answers that mean the server is gone or cannot take writes: the primary may have moved. */
const LOST_PRIMARY_CODES = new Set(['25006', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

function lostPrimary(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return LOST_PRIMARY_CODES.has(error.code ?? '');
  if (!(error instanceof Error) || error instanceof WriteMismatch) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|no server in DATABASE_URL/i.test(error.message);
}

/**
 * The pool of connections to the primary. With one server named it is one pg.Pool for the
 * process's life, as it always was. With several, it is a pool over the server `findPrimary`
 * chose; when that server goes away (a connection fails, an idle one is ended, a write is
 * refused as read-only) the pool is dropped and the next caller looks for the primary again,
 * one search at a time, so a promoted standby is found without a restart. While none is
 * writable every caller fails at once with `NoPrimary` (SQLSTATE 08001: a 503), and the
 * search is repeated at most every PRIMARY_RETRY_MS.
 */
class PrimaryPool {
  private current: pg.Pool | undefined;
  /** The search under way: one at a time, so a slow one (a dead host's 2 s probe) is shared, not repeated. */
  private search: Promise<pg.Pool> | undefined;
  /** The last failed search: callers within PRIMARY_RETRY_MS of its end get its error. */
  private failed: { readonly error: unknown; readonly at: number } | undefined;
  private ended = false;

  constructor(
    private readonly hosts: HostList,
    private readonly config: (url: string) => pg.PoolConfig,
  ) {
    if (!hosts.primaryOnly) this.current = this.poolFor(hosts.urls[0]!);
  }

  get pool(): pg.Pool | undefined {
    return this.current;
  }

  async get(): Promise<pg.Pool> {
    if (this.ended) throw new Error('cannot use a pool after calling end on the pool');
    if (this.current !== undefined) return this.current;
    if (this.search !== undefined) return this.search;
    if (this.failed !== undefined && Date.now() - this.failed.at < PRIMARY_RETRY_MS) throw this.failed.error;
    const search = (async () => {
      try {
        const index = await findPrimary(this.hosts.urls);
        if (this.ended) throw new Error('cannot use a pool after calling end on the pool');
        const pool = this.poolFor(this.hosts.urls[index]!);
        this.current = pool;
        this.failed = undefined;
        return pool;
      } catch (error) {
        this.failed = { error, at: Date.now() };
        throw error;
      } finally {
        this.search = undefined;
      }
    })();
    this.search = search;
    return search;
  }

  /** `pool` failed as a lost primary would: the next caller looks for the primary again. */
  drop(pool: pg.Pool | undefined, error: unknown): void {
    if (!this.hosts.primaryOnly || pool === undefined || pool !== this.current || !lostPrimary(error)) return;
    this.current = undefined;
    void pool.end().catch(() => {});
  }

  private poolFor(url: string): pg.Pool {
    const pool = new pg.Pool({ ...this.config(url), connectionString: url });
    // An idle client losing its server must not crash the process; the next query reports it.
    // With several servers it is also the sign that this one may no longer be the primary.
    pool.on('error', (error) => this.drop(pool, error));
    return pool;
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.current?.end();
  }
}

/** While no server is writable, how long one failed search for the primary answers every caller. */
const PRIMARY_RETRY_MS = 200;

/**
 * How long the server lets a Coffer transaction sit idle, waiting for its next statement,
 * before it ends the session. Coffer sends each statement as soon as the last is answered, so
 * only a frozen or cut-off process gets there — and its transaction may hold the feed's top
 * (storage/events.ts), which every writer of events waits for: it must not hold it until TCP
 * notices.
 */
const IDLE_IN_TRANSACTION_MS = 10_000;

export function openPostgres(options: PostgresOptions): Database {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const hosts = parseHosts(options.url);
  const poolConfig = (max: number, session: string, name: string): pg.PoolConfig => ({
    max,
    // Which pool a session belongs to, as pg_stat_activity shows it.
    application_name: name,
    statement_timeout: options.statementTimeoutMs,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    connectionTimeoutMillis: 5_000,
    // The schema is a validated identifier (config.ts): lower case, no quoting needed.
    // Warnings always reach Coffer, whatever the role or database sets: the one that says a
    // COMMIT's wait for the synchronous standby was cancelled decides its answer (below).
    options: `${session} -c search_path=${schema} -c client_min_messages=warning`,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === INT8_OID) return (text: string) => BigInt(text);
        if (oid === NUMERIC_OID) return (text: string) => text;
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  const primary = new PrimaryPool(hosts, () => poolConfig(options.poolSize, '-c plan_cache_mode=auto', 'coffer'));
  // Its own search for the primary, like the main pool's: a failover moves both.
  const backgroundPrimary = new PrimaryPool(hosts, () => poolConfig(BACKGROUND_POOL_SIZE, BACKGROUND_SESSION, 'coffer-background'));
  /** Runs `work` on the primary's pool; a failure that says the primary is gone drops that pool. */
  const onPrimary = async <T>(work: (pool: pg.Pool) => Promise<T>, on = primary): Promise<T> => {
    const pool = await on.get();
    try {
      return await work(pool);
    } catch (error) {
      on.drop(pool, error instanceof CommitOutcomeUnknown ? error.cause : error);
      throw error;
    }
  };
  /** A pooled connection; failing to get one proves nothing was sent. */
  const checkOut = async (pool: pg.Pool): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (error) {
      throw markRolledBack(error);
    }
  };
  return {
    kind: 'postgres',
    schema,
    async query<Row>(sql: string, params?: readonly unknown[]) {
      if (!WRITES.test(sql)) return onPrimary(async (pool) => (await pool.query(statement(sql, params))).rows as Row[]);
      return onPrimary(async (pool) => (await writeAlone(await checkOut(pool), statement(sql, params, false))).rows as Row[]);
    },
    async exec(sql: string) {
      await onPrimary((pool) => pool.query(sql));
    },
    async transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T> {
      const pool = await primary.get().catch((error: unknown) => Promise.reject(markRolledBack(error)));
      try {
        return await inTransaction(await checkOut(pool), WRITE_BEGIN, body);
      } catch (error) {
        primary.drop(pool, error instanceof CommitOutcomeUnknown ? error.cause : error);
        throw error;
      }
    },
    async snapshot<T>(body: (q: Queryable) => Promise<T>): Promise<T> {
      return onPrimary(async (pool) => inTransaction(await checkOut(pool), 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', body));
    },
    // Both pools: the process's connections to the database (a background statement waiting for one is a caller waiting too).
    poolStats: () => {
      const pools = [primary.pool, backgroundPrimary.pool];
      const sum = (pick: (pool: pg.Pool) => number) => pools.reduce((total, pool) => total + (pool === undefined ? 0 : pick(pool)), 0);
      return {
        max: options.poolSize + BACKGROUND_POOL_SIZE,
        open: sum((pool) => pool.totalCount),
        idle: sum((pool) => pool.idleCount),
        waiting: sum((pool) => pool.waitingCount),
      };
    },
    background: {
      // Its writes are watched like the main pool's: a fan-out whose wait for the standby was
      // cancelled throws, so the loop sends nothing it leased (the leases lapse, and a later
      // claim, whose COMMIT waits for the standby, sends them).
      async query<Row>(sql: string, params?: readonly unknown[]) {
        if (!WRITES.test(sql)) return onPrimary(async (pool) => (await pool.query(statement(sql, params))).rows as Row[], backgroundPrimary);
        return onPrimary(async (pool) => (await writeAlone(await checkOut(pool), statement(sql, params))).rows as Row[], backgroundPrimary);
      },
      async exec(sql: string) {
        await onPrimary((pool) => pool.query(sql), backgroundPrimary);
      },
    },
    async close() {
      await Promise.all([primary.end(), backgroundPrimary.end()]);
    },
  };
}

/**
 * A statement that writes, run on its own (it commits as it ends) on a checked-out connection,
 * which is watched like a COMMIT: a warning that its wait for the synchronous standby was
 * cancelled makes it a `CommitNotReplicated`, not a success. A failure releases the connection
 * to be discarded, as `pool.query` does.
 */
async function writeAlone(client: pg.PoolClient, config: pg.QueryConfig): Promise<pg.QueryResult> {
  let notReplicated: unknown;
  let failure: Error | undefined;
  const onNotice = (notice: { code?: string }) => {
    if (notice.code === SYNC_WAIT_CANCELLED) notReplicated ??= notice;
  };
  const onError = (error: Error) => {
    failure ??= error;
  };
  client.on('notice', onNotice);
  client.on('error', onError);
  try {
    const result = await client.query(config);
    if (notReplicated !== undefined) throw new CommitNotReplicated(notReplicated);
    return result;
  } catch (error) {
    failure ??= error as Error;
    throw error;
  } finally {
    client.off('notice', onNotice);
    client.off('error', onError);
    // A warned statement committed all the same: its connection is sound.
    client.release(failure instanceof CommitNotReplicated ? undefined : failure);
  }
}

/**
 * One transaction on a checked-out connection, begun with `begin`. Statements go out one
 * after another, each as soon as the one before it is answered: the next is sent from the
 * answer's own callback chain, without waiting for the body's code to run, so BEGIN and the
 * deferred writes cost no round trip of their own (and no call overlaps another, which
 * node-postgres 9 will refuse). After a failure nothing more is sent, COMMIT included, so a
 * failure is known to have committed nothing unless it is COMMIT's own lost answer.
 */
async function inTransaction<T>(client: pg.PoolClient, begin: string, body: (tx: Transaction) => Promise<T>): Promise<T> {
  let broken: Error | undefined;
  // A checked-out client is ours to watch: when the server ends its session (a shutdown, a
  // crash) it emits 'error', which with no listener would crash the whole process. The
  // statement in flight fails by itself (a 503); the client is then discarded.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  const queued: Promise<unknown>[] = [];
  let last: Promise<unknown> = Promise.resolve();
  let failed = false;
  const send = (config: string | pg.QueryConfig, expectedRows?: number): Promise<pg.QueryResult> => {
    const sent = last.then(async () => {
      if (failed) throw new Error('not sent: an earlier statement of the transaction failed');
      const result = await client.query(config);
      if (expectedRows !== undefined && result.rowCount !== expectedRows) {
        throw new WriteMismatch(typeof config === 'string' ? config : config.text, expectedRows, result.rowCount);
      }
      return result;
    });
    last = sent.catch(() => {
      failed = true;
    });
    queued.push(sent);
    return sent;
  };
  const firstFailure = async (): Promise<unknown> => {
    for (const outcome of await Promise.allSettled(queued)) if (outcome.status === 'rejected') return outcome.reason;
    return undefined;
  };
  void send(begin);
  try {
    const tx: Transaction = {
      async query<Row>(sql: string, params?: readonly unknown[]) {
        return (await send(statement(sql, params))).rows as Row[];
      },
      async exec(sql: string) {
        await send(sql);
      },
      defer(sql, params, expectedRows) {
        void send(statement(sql, params), expectedRows);
      },
    };
    const result = await body(tx);
    let notReplicated: unknown;
    // Only COMMIT's own notices: they arrive before its answer, so they are in by the time it resolves.
    const onNotice = (notice: { code?: string }) => {
      if (notice.code === SYNC_WAIT_CANCELLED) notReplicated ??= notice;
    };
    const commit = last.then(() => {
      if (failed) return undefined;
      client.on('notice', onNotice);
      return client.query('COMMIT').finally(() => client.off('notice', onNotice));
    });
    const failure = await firstFailure();
    if (failure !== undefined) throw failure;
    let answer: pg.QueryResult | undefined;
    try {
      answer = await commit;
    } catch (commitError) {
      // The server refused COMMIT: nothing committed. No answer at all: nobody knows.
      if (refusedByServer(commitError)) throw markRolledBack(commitError);
      broken ??= commitError as Error;
      throw new CommitOutcomeUnknown(commitError);
    }
    // COMMIT of a transaction that a failed statement aborted answers ROLLBACK.
    if (answer?.command !== 'COMMIT') throw markRolledBack(new Error('the transaction was rolled back'));
    if (notReplicated !== undefined) throw new CommitNotReplicated(notReplicated);
    return result;
  } catch (bodyError) {
    if (bodyError instanceof CommitOutcomeUnknown || provenRolledBack(bodyError)) throw bodyError;
    // COMMIT was not sent: nothing committed. A deferred statement's failure is the cause of
    // what followed it.
    const error = (await firstFailure()) ?? bodyError;
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken ??= rollbackError as Error;
    }
    throw markRolledBack(error);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * PGlite's data folder made durable. Out of the box an acknowledged commit reaches only the
 * OS page cache: PGlite starts PostgreSQL with `-F` (fsync off), its libc `fdatasync` is a
 * no-op, and its node file system has no `fsync` at all. So PostgreSQL runs with fsync on,
 * syncs the WAL with `fsync` (the one call that reaches the file system), and the file
 * system's `fsync` flushes the host file or folder. A commit then returns only once its WAL
 * is on disk (one flush per group-commit batch), and checkpoints sync the data files they
 * wrote, as on a PostgreSQL server.
 */
const DURABLE_START_PARAMS = [...PGlite.defaultStartParams.filter((param) => param !== '-F'), '-c', 'wal_sync_method=fsync'];

interface NodeStream {
  readonly nfd?: number;
}

type ModuleOptions = Parameters<NodeFS['init']>[1];

class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: ModuleOptions): Promise<{ emscriptenOpts: ModuleOptions }> {
    const { emscriptenOpts } = await super.init(pg, opts);
    const flushHostFile = (mod: { NODEFS: unknown }) => {
      // Every node of the mounted folder shares this object, so set before PostgreSQL starts.
      const nodefs = mod.NODEFS as { stream_ops: Record<string, unknown> };
      nodefs.stream_ops.fsync = (stream: NodeStream) => {
        if (stream.nfd === undefined) return;
        try {
          fsyncSync(stream.nfd);
        } catch (error) {
          // What PostgreSQL does when a flush fails (data_sync_retry = off): PANIC. The data
          // written may or may not be on disk, and retrying the flush can report success for
          // pages the kernel already dropped; only a restart's WAL replay is safe. Thrown into
          // WebAssembly instead, the error left the commit hanging with PGlite's lock held.
          writeSync(2, `coffer: PANIC: a flush of the PGlite data folder failed (${(error as Error).message}); stopping so that recovery replays the WAL at the next start\n`);
          process.exit(70);
        }
      };
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), flushHostFile] } };
  }
}

/** `archive`: a tar made by `dumpDataDir`, unpacked into the empty `dataDir` before PostgreSQL starts (a restore). */
export async function openPglite(dataDir: string | undefined, archive?: Uint8Array): Promise<Database> {
  const db = await PGlite.create({
    ...(archive !== undefined ? { loadDataDir: new Blob([archive as Uint8Array<ArrayBuffer>]) } : {}),
    // In memory (tests) there is nothing to flush.
    ...(dataDir === undefined ? {} : { fs: new DurableNodeFS(dataDir), startParams: DURABLE_START_PARAMS }),
    // PGlite reserves its buffer cache in WebAssembly memory up front: PostgreSQL's default
    // (128 MB) took a server under load to 500 MB of RSS. 64 MB kept it near 430 MB at the
    // same throughput (32 MB cost a quarter of it); the file system's cache holds the rest.
    postgresqlconf: ['shared_buffers = 64MB'],
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
    schema: 'public',
    ...wrap(db),
    async transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T> {
      transactions += 1;
      // PGlite's transaction runs BEGIN, the callback, then COMMIT; a failure after the
      // callback returned is COMMIT's own.
      let committing = false;
      try {
        // PGlite runs in this process: there is no round trip to save, so a deferred
        // statement simply runs in order before COMMIT.
        return await db.transaction(async (conn) => {
          let deferred: Promise<unknown> = Promise.resolve();
          const direct = wrap(conn);
          // A statement after deferred ones goes after them, as on a server connection: a
          // bulk request's next step reads what the step before it wrote.
          const tx: Transaction = {
            async query<Row>(sql: string, params?: readonly unknown[]) {
              await deferred;
              return direct.query<Row>(sql, params);
            },
            async exec(sql: string) {
              await deferred;
              await direct.exec(sql);
            },
            defer(sql, params, expectedRows) {
              deferred = deferred.then(async () => {
                const result = await conn.query(sql, params as unknown[] | undefined);
                if (expectedRows !== undefined && result.affectedRows !== expectedRows) {
                  throw new WriteMismatch(sql, expectedRows, result.affectedRows ?? null);
                }
              });
            },
          };
          try {
            const result = await body(tx);
            await deferred;
            committing = true;
            return result;
          } finally {
            deferred.catch(() => {}); // settled here or reported by the await above
          }
        });
      } catch (error) {
        if (committing && !refusedByServer(error)) throw new CommitOutcomeUnknown(error);
        throw markRolledBack(error);
      } finally {
        transactions -= 1;
      }
    },
    async snapshot<T>(body: (q: Queryable) => Promise<T>): Promise<T> {
      // Every PGlite query and transaction runs exclusively: inside one transaction, no other
      // commit can land between two queries, whatever the isolation level.
      return db.transaction((conn) => body(wrap(conn)));
    },
    async dumpDataDir() {
      await db.query('CHECKPOINT');
      // PGlite runs the dump exclusively: no query or transaction writes while the files are read.
      const archive = await db.dumpDataDir('gzip');
      return new Uint8Array(await archive.arrayBuffer());
    },
    poolStats: () => ({ max: 1, open: db.closed ? 0 : 1, idle: transactions === 0 && !db.closed ? 1 : 0, waiting: Math.max(transactions - 1, 0) }),
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
