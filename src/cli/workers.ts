/**
 * `coffer serve --workers N`: N server processes sharing one port, on one PostgreSQL — the
 * same scale-out unit as N processes behind a proxy, on one machine, without the proxy. The
 * first process forks the others with node:cluster (which hands incoming connections to them
 * in turn) and only supervises: a worker that dies is replaced — at once after a worker that
 * ran a while, with a growing delay while replacements keep dying young (`restartDelayMs`:
 * a database that refuses every new process must not turn into a fork loop); SIGTERM or SIGINT is passed to
 * every worker, each stops as a single server does, and the supervisor exits when they have
 * (0 when all stopped cleanly) — during start-up too; a second signal kills the workers and
 * exits 1. The embedded database cannot be shared: one data folder is
 * held by one process, so --workers needs DATABASE_URL.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config.ts';
import { ConfigError } from '../domain/errors.ts';

/** More workers than this on one machine is a typo, not a plan (each holds POOL_SIZE connections). */
export const WORKERS_MAX = 64;

/** A worker that ran this long died of something other than its start: replace it at once. */
export const RESTART_STABLE_MS = 10_000;
const RESTART_DELAY_FIRST_MS = 100;
export const RESTART_DELAY_MAX_MS = 30_000;

/**
 * How long to wait before replacing a worker that died after `livedMs`, when the previous
 * replacement waited `previousDelayMs` (0: none yet). Doubles while workers die young, up to
 * RESTART_DELAY_MAX_MS; back to 0 once one ran RESTART_STABLE_MS.
 */
export function restartDelayMs(previousDelayMs: number, livedMs: number): number {
  if (livedMs >= RESTART_STABLE_MS) return 0;
  return Math.min(RESTART_DELAY_MAX_MS, previousDelayMs === 0 ? RESTART_DELAY_FIRST_MS : previousDelayMs * 2);
}

export function parseWorkers(text: string): number {
  if (!/^\d{1,2}$/.test(text) || Number(text) < 1 || Number(text) > WORKERS_MAX) throw new ConfigError(`--workers must be an integer from 1 to ${WORKERS_MAX}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Runs the server in this process (a worker, or --workers 1), or supervises `workers` of them. */
export async function serveWorkers(config: Config, workers: number): Promise<void> {
  const { serve } = await import('../server.ts');
  if (workers === 1 || cluster.isWorker) return serve(config);
  if (config.databaseUrl === undefined) {
    throw new ConfigError('--workers needs DATABASE_URL: the embedded database (DATA_DIR) is held by one process; run one process, or use PostgreSQL');
  }
  await supervise(workers, config.timeouts.shutdownMs);
}

function line(msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg, ...extra })}\n`);
}

async function supervise(count: number, shutdownMs: number): Promise<void> {
  let stopping = false;
  /** The signal a stop passed to the workers. */
  let stopSignal: NodeJS.Signals | undefined;
  const live = new Set<Worker>();
  let delayMs = 0;
  const fork = () => {
    const worker = cluster.fork();
    let listened = false;
    worker.once('listening', () => (listened = true));
    const startedAt = Date.now();
    live.add(worker);
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      // Here, not in cluster's 'exit' (which comes after this one): the last worker to stop
      // ends the supervisor in this handler, and its code must count.
      // A worker ended by the stop signal itself before it ever listened (still starting, its
      // own handler not yet installed) stopped as asked: it had no connection to lose. One that
      // listened and was ended by a signal (a second one, say) did not stop cleanly.
      if (stopping) exitCodes.push(code ?? (!listened && signal !== null && signal === stopSignal ? 0 : 1));
      if (stopping) {
        if (live.size === 0) process.exit(exitCodes.every((c) => c === 0) ? 0 : 1);
        return;
      }
      delayMs = restartDelayMs(delayMs, Date.now() - startedAt);
      line('a worker ended; starting another', { worker: worker.process.pid, code, signal, inMs: delayMs });
      setTimeout(() => {
        if (stopping) return;
        const replacement = fork();
        replacement.once('listening', () => line('a replacement worker is serving', { worker: replacement.process.pid }));
      }, delayMs);
    });
    return worker;
  };
  // The supervisor's exit code tells how the workers it asked to stop ended (each pushes its
  // code above), not how replaced ones ended before.
  const exitCodes: number[] = [];
  const stop = (signal: NodeJS.Signals) => () => {
    if (stopping) {
      for (const worker of live) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    stopSignal = signal;
    // No worker alive (one is waiting for its delayed replacement): nothing to wait for.
    if (live.size === 0) process.exit(exitCodes.every((c) => c === 0) ? 0 : 1);
    for (const worker of live) worker.process.kill(signal);
    // Each worker ends itself by SHUTDOWN_TIMEOUT_MS; a stuck one is killed just after.
    setTimeout(() => {
      for (const worker of live) worker.process.kill('SIGKILL');
      process.exit(1);
    }, shutdownMs + 1_000).unref();
  };
  // Before the first fork: a stop asked for while the workers start is passed to them too
  // (installed after start-up, it once left the supervisor to the signal's default action: it
  // ended by the signal, and its workers only with its IPC channel, not by a clean stop).
  process.on('SIGTERM', stop('SIGTERM'));
  process.on('SIGINT', stop('SIGINT'));
  // Start-up: every worker must come up; the first that cannot ends the whole start with its
  // exit code (2: a setting, 3: the database), as a single server would — unless it ended
  // because a stop was asked for meanwhile.
  const started = Array.from({ length: count }, () => fork());
  await Promise.all(
    started.map(
      (worker) =>
        new Promise<void>((resolve) => {
          const failed = (code: number | null) => {
            if (stopping) return;
            stopping = true;
            for (const other of live) other.process.kill('SIGKILL');
            process.exit(code ?? 1);
          };
          worker.once('exit', failed);
          worker.once('listening', () => {
            worker.off('exit', failed);
            resolve();
          });
        }),
    ),
  );
  if (!stopping) line(`coffer is serving with ${count} workers`, { workers: started.map((w) => w.process.pid) });
}
