/**
 * Serving: open the database, migrate, listen (the app runs the hold expiry sweeper). SIGTERM/SIGINT
 * stop the sweeper and accepting, let in-flight requests finish, then close the database cleanly; the process is gone within
 * SHUTDOWN_TIMEOUT_MS whatever hangs, and a second signal ends it at once.
 * `npm start` (src/main.ts) and `coffer serve` both come here.
 */
import cluster from 'node:cluster';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isLoopback, type Config } from './config.ts';
import { ConfigError } from './domain/errors.ts';
import { instantFromDate } from './domain/time.ts';
import { buildApp } from './http/app.ts';
import { startPurge } from './idempotency/retention.ts';
import { migrate, SchemaTooNew } from './storage/migrations.ts';
import { databaseSetting, openDatabase } from './storage/open.ts';
import { listClients } from './storage/auth-clients.ts';
import { failoverLossRisk, parseHosts } from './storage/hosts.ts';

/** How often the idempotency purge runs when a retention is set. */
const PURGE_INTERVAL_MS = 60_000;
/** Most bytes of log lines waiting for a slow stdout reader; beyond it, lines are dropped. */
const LOG_BUFFER_MAX = 16 * 1024 * 1024;
/** What the shutdown deadline leaves the watchdog: the process exits by itself before it fires. */
const WATCHDOG_MARGIN_MS = 250;
/** Pino's level numbers, for the start-up lines written before Fastify's logger exists. */
const LOG_LEVEL_NUMBERS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/**
 * The log's destination. Pino's default writes stdout synchronously and retries while the
 * pipe is full, so a log reader that stalls or goes away froze the whole process, shutdown
 * included. Here a line is handed to process.stdout, which buffers a pipe without blocking,
 * and dropped when the reader is that far behind or gone: losing log lines beats not serving.
 */
const logStream = {
  write(line: string): void {
    if (!process.stdout.destroyed && process.stdout.writableLength < LOG_BUFFER_MAX) process.stdout.write(line);
  },
};

export async function serve(config: Config): Promise<void> {
  // A reader gone (EPIPE) costs the log lines, not the server (the CLI's handler would exit).
  process.stdout.removeAllListeners('error');
  process.stdout.on('error', () => {});
  // Before Fastify's logger exists: pino-style lines at level info, so a slow first start is not silent.
  const progress = (msg: string) => {
    if ((LOG_LEVEL_NUMBERS[config.logLevel] ?? Infinity) <= 30) {
      logStream.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, hostname: hostname(), msg })}\n`);
    }
  };
  // HOST and PORT are tried before the database is opened (on a first start, initialised):
  // a bad address fails in a moment, not after that work. The real listen reports it too.
  // A worker of `coffer serve --workers` shares the port its supervisor holds (node:cluster):
  // a probe of its own would find it taken.
  if (!cluster.isWorker) await tryListen(config);
  const db = await openDatabase(config, progress);
  try {
    progress('migrating the schema');
    await migrate(db);
  } catch (error) {
    await db.close().catch(() => {});
    throw error instanceof SchemaTooNew ? new ConfigError(`${databaseSetting(config)}: ${error.message}`) : error;
  }
  const app = buildApp({
    db,
    ledger: config.ledger,
    limits: config.limits,
    timeouts: config.timeouts,
    logger: { level: config.logLevel, stream: logStream },
    auth: config.auth,
    trustProxy: config.trustProxy,
    holdDefaultTtlMicros: config.holdDefaultTtlMicros,
    webhooks: config.webhooks,
    ...(config.natsUrl !== undefined ? { nats: { url: config.natsUrl } } : {}),
    bulkConcurrency: config.bulkConcurrency,
    batch: {
      sizeMax: config.batchSizeMax,
      waitMs: config.batchWaitMs,
      // PGlite is one backend: a second batch would only wait for the first.
      concurrency: db.kind === 'postgres' ? config.batchConcurrency : 1,
    },
  });
  const retention = config.idempotencyRetentionMicros;
  const stopPurge =
    retention === null
      ? () => {}
      : startPurge(db, retention, () => instantFromDate(new Date()), PURGE_INTERVAL_MS, (error) => app.log.error({ err: error }, 'idempotency purge failed'));
  const stop = async (signal: string) => {
    // A second SIGTERM or SIGINT gets the default action, from the kernel: the process ends at
    // once, even with its main thread stuck.
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    startWatchdog(config.timeouts.shutdownMs);
    const deadline = setTimeout(() => {
      app.log.error({ timeoutMs: config.timeouts.shutdownMs }, 'in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, config.timeouts.shutdownMs - WATCHDOG_MARGIN_MS);
    deadline.unref();
    app.log.info({ signal, timeoutMs: config.timeouts.shutdownMs }, 'stopping: finishing in-flight requests');
    stopPurge();
    await app.close();
    await db.close();
    process.exit(0);
  };
  // Fire and forget: a signal listener's result is ignored, so a failed stop is logged here and
  // ends the process with 1 (as the unhandled rejection did, but through the log).
  let stopping: Promise<void> | undefined;
  const stopOn = (signal: string) => () => {
    stopping = stop(signal).catch((error: unknown) => {
      app.log.error({ err: error }, 'stopping failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', stopOn('SIGTERM'));
  process.once('SIGINT', stopOn('SIGINT'));
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    // A signal that came during the listen closed the app and the database under it: what
    // failed is most likely the stop's doing, and the stop ends the process (0 when clean).
    // Logged all the same, in case it was a real fault (a port taken) that the stop hid.
    if (stopping !== undefined) {
      app.log.warn({ err: error }, 'the listener failed to start while stopping');
      return stopping;
    }
    await app.close().catch(() => {});
    await db.close().catch(() => {});
    throw listenError(error, config);
  }
  try {
    await reportAuth(app, db, config);
    await reportFailoverRisk(app, db, config);
  } catch (error) {
    // The same for the reports; their own failure is not a bad HOST or PORT.
    if (stopping !== undefined) {
      app.log.warn({ err: error }, 'the start-up reports failed while stopping');
      return stopping;
    }
    throw error;
  }
  if (stopping === undefined) app.log.info({ backend: db.kind, ledger: config.ledger, auth: config.auth.mode }, 'coffer is serving');
}

/**
 * Says how the server is protected: loudly when AUTH=off exposes it beyond this machine, and
 * with the next step when auth is on but no client exists yet.
 */
async function reportAuth(app: ReturnType<typeof buildApp>, db: Awaited<ReturnType<typeof openDatabase>>, config: Config): Promise<void> {
  if (config.auth.mode === 'off' && !isLoopback(config.host)) {
    app.log.warn(
      { host: config.host, auth: 'off' },
      `AUTH=off on ${config.host}, which is not a loopback address: ANYONE WHO CAN REACH THIS PORT CAN MOVE MONEY. Set AUTH=required (the default here) unless a proxy in front checks every caller`,
    );
  }
  if (config.auth.mode === 'required' && (await listClients(db)).every((client) => client.revokedAt !== null)) {
    app.log.warn({ auth: 'required' }, 'auth is required and no live API client exists: create one with `coffer clients create --name NAME --scopes "wallets:read wallets:write"`');
  }
}

/**
 * With several servers in DATABASE_URL (failover), warns when the primary would acknowledge
 * a write no standby has yet: a promotion could then lose it, whatever Coffer does.
 */
async function reportFailoverRisk(app: ReturnType<typeof buildApp>, db: Awaited<ReturnType<typeof openDatabase>>, config: Config): Promise<void> {
  if (db.kind !== 'postgres' || config.databaseUrl === undefined || parseHosts(config.databaseUrl).urls.length < 2) return;
  const risk = await failoverLossRisk(db).catch(() => null);
  if (risk !== null) {
    app.log.warn(
      { failover: 'unsafe' },
      `DATABASE_URL lists several servers for failover, but on the primary ${risk}: an answer given just before a failover can be lost on the promoted standby. Configure a synchronous standby (docs/deployment.md, Failover)`,
    );
  }
}

/**
 * Kills the process after `ms` from a thread of its own, so that a main thread blocked in a
 * write, a driver or a loop cannot keep it alive past the shutdown deadline.
 */
function startWatchdog(ms: number): void {
  const code = `const { workerData } = require('node:worker_threads');
    setTimeout(() => process.kill(workerData.pid, 'SIGKILL'), workerData.ms);`;
  // execArgv: [] keeps tsx's loader out of the thread: it starts in milliseconds.
  new Worker(code, { eval: true, workerData: { pid: process.pid, ms }, execArgv: [] }).unref();
}

/** Binds HOST:PORT and lets go at once; throws what `app.listen` would, as `listenError`. */
async function tryListen(config: Config): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host: config.host, port: config.port, exclusive: true }, () => resolve());
    });
  } catch (error) {
    throw listenError(error, config);
  }
  await new Promise((resolve) => probe.close(resolve));
}

/** Why the listener could not start, as a bad setting (exit code 2) naming HOST or PORT. */
function listenError(error: unknown, config: Config): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const at = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') return new ConfigError(`PORT ${config.port} is already in use on HOST ${config.host}`);
  if (code === 'EACCES') return new ConfigError(`PORT ${config.port} needs privileges this process does not have (listening on ${at})`);
  if (code === 'EADDRNOTAVAIL') return new ConfigError(`HOST ${config.host} is not an address of this machine`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return new ConfigError(`HOST ${config.host} does not resolve to an address (${code})`);
  return error;
}
