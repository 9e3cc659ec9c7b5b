/**
 * Serving: open the database, migrate, listen. SIGTERM/SIGINT stop accepting, let in-flight
 * requests finish (for at most SHUTDOWN_TIMEOUT_MS), then close the database cleanly.
 * `npm start` (src/main.ts) and `coffer serve` both come here.
 */
import type { Config } from './config.ts';
import { instantFromDate } from './domain/time.ts';
import { buildApp } from './http/app.ts';
import { startPurge } from './idempotency/retention.ts';
import { migrate } from './storage/migrations.ts';
import { openDatabase } from './storage/open.ts';

/** How often the idempotency purge runs when a retention is set. */
const PURGE_INTERVAL_MS = 60_000;

export async function serve(config: Config): Promise<void> {
  const db = await openDatabase(config);
  await migrate(db);
  const app = buildApp({
    db,
    ledger: config.ledger,
    limits: config.limits,
    timeouts: config.timeouts,
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
    app.log.info({ signal, timeoutMs: config.timeouts.shutdownMs }, 'stopping: finishing in-flight requests');
    stopPurge();
    const deadline = setTimeout(() => {
      app.log.error({ timeoutMs: config.timeouts.shutdownMs }, 'in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, config.timeouts.shutdownMs);
    deadline.unref();
    await app.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ backend: db.kind, ledger: config.ledger }, 'coffer is serving');
}
