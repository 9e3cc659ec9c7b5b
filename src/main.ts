/**
 * `npm start`: read the config, open the database, migrate, serve. SIGTERM/SIGINT stop
 * accepting, let in-flight requests finish, then close the database cleanly.
 */
import { ConfigError, loadConfig, type Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { migrate } from './storage/migrations.ts';
import { openDatabase } from './storage/open.ts';
import { startPurge } from './idempotency/retention.ts';
import { instantFromDate } from './domain/time.ts';

/** How often the idempotency purge runs when a retention is set. */
const PURGE_INTERVAL_MS = 60_000;

export async function serve(config: Config): Promise<void> {
  const db = await openDatabase(config);
  await migrate(db);
  const app = buildApp({
    db,
    ledger: config.ledger,
    limits: config.limits,
    logger: { level: config.logLevel },
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
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'stopping: finishing in-flight requests');
    stopPurge();
    await app.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ backend: db.kind, ledger: config.ledger }, 'coffer is serving');
}

function fail(error: unknown): never {
  process.stderr.write(`coffer: ${error instanceof ConfigError ? error.message : (error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  fail(error);
}
serve(config).catch(fail);
