/**
 * Prometheus metrics of the process, served at `/metrics`. There is one registry per
 * process because a process serves one app, and because code below the http layer (the
 * group committer) must be able to record into it without being handed anything: it calls
 * `commitBatchSize.observe(n)` once per database commit.
 *
 * Labels are bounded: `route` is the route's template (`/wallets/:id/debit`), never the raw
 * URL, and requests that match no route share one label.
 */
import { publisherLag } from './storage/events.ts';
import type { Queryable } from './storage/database.ts';
import { deliveryBacklog } from './storage/webhooks.ts';
import type { Instant } from './domain/time.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolStats } from './storage/database.ts';

export const metricsRegistry = new Registry();

// Process CPU, memory, event-loop lag and handles: the first things to look at under load.
collectDefaultMetrics({ register: metricsRegistry, prefix: 'coffer_' });

/** Seconds; from a cached read (~1 ms) to a request that hits the 30 s timeout. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const httpRequests = new Counter({
  name: 'coffer_http_requests_total',
  help: 'HTTP requests answered, by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'coffer_http_request_duration_seconds',
  help: 'Time from receiving a request to sending its answer, by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

export const idempotencyReplays = new Counter({
  name: 'coffer_idempotency_replays_total',
  help: 'Requests answered with the stored outcome of an earlier request with the same Idempotency-Key',
  labelNames: ['route'] as const,
  registers: [metricsRegistry],
});

export const idempotencyConflicts = new Counter({
  name: 'coffer_idempotency_conflicts_total',
  help: 'Requests refused with 409 because their Idempotency-Key was used for a different request',
  labelNames: ['route'] as const,
  registers: [metricsRegistry],
});

/** Commands per commit: 1 without group commit; the committer records each batch it commits. */
export const commitBatchSize = new Histogram({
  name: 'coffer_commit_batch_size',
  help: 'Commands committed together in one database transaction',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
  registers: [metricsRegistry],
});

/** A failed batch's commands are retried one per transaction; a steady rate here is a problem. */
export const commitBatchFailures = new Counter({
  name: 'coffer_commit_batch_failures_total',
  help: 'Group-commit transactions that failed, by reason (unique: a value taken concurrently; deadlock: a lock cycle PostgreSQL broke; other: anything else that rolled back; their commands were retried alone) or unknown (COMMIT sent and not answered: keyed commands resolved through their keys, unkeyed ones answered 503)',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

const pools = new Set<() => PoolStats>();

/** Reports a pool's numbers on every scrape until the returned function is called. */
export function watchPool(stats: () => PoolStats): () => void {
  pools.add(stats);
  return () => {
    pools.delete(stats);
  };
}

function poolGauge(name: string, help: string, pick: (stats: PoolStats) => number): void {
  new Gauge({
    name,
    help,
    registers: [metricsRegistry],
    collect() {
      let total = 0;
      for (const stats of pools) total += pick(stats());
      this.set(total);
    },
  });
}

poolGauge('coffer_db_pool_max', 'Database connections the pool may open', (stats) => stats.max);
poolGauge('coffer_db_pool_open', 'Database connections open', (stats) => stats.open);
poolGauge('coffer_db_pool_idle', 'Open database connections not in use', (stats) => stats.idle);
poolGauge('coffer_db_pool_waiting', 'Callers waiting for a database connection', (stats) => stats.waiting);

const outboxes = new Set<Queryable>();

/** Reports how far each feed publisher trails the feed (storage/events.ts `publisherLag`) on every scrape until the returned function is called. */
export function watchOutbox(db: Queryable): () => void {
  outboxes.add(db);
  return () => {
    outboxes.delete(db);
  };
}

new Gauge({
  name: 'coffer_events_publisher_lag',
  help: "Outbox lag: how far a publisher (NATS: nats:<ledger>; each enabled webhook endpoint: webhook:<id>) trails its ledger's newest event, in feed positions (its events not yet published or made into deliveries; an event is in the feed, GET /events, from its commit on)",
  labelNames: ['publisher'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    try {
      for (const db of outboxes) {
        for (const lag of await publisherLag(db)) this.set({ publisher: lag.name }, lag.events);
      }
    } catch {
      // A scrape while the database is down shows no lag rather than failing /metrics.
    }
  },
});

export const webhookAttempts = new Counter({
  name: 'coffer_webhook_attempts_total',
  help: 'Webhook delivery attempts by outcome: delivered (a 2xx), retry (failed, retried later), failed (failed, retry window over: given up)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

export const webhookDeliveries = new Counter({
  name: 'coffer_webhook_deliveries_total',
  help: 'Webhook deliveries ended, by outcome: delivered (an attempt answered 2xx) or failed (given up once the retry window was over); those still being retried are in coffer_webhook_deliveries_pending',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

const deliveryWatches = new Map<Queryable, () => Instant>();

/** Reports the webhook backlog (storage/webhooks.ts `deliveryBacklog`) on every scrape until the returned function is called. */
export function watchDeliveries(db: Queryable, clock: () => Instant): () => void {
  deliveryWatches.set(db, clock);
  return () => {
    deliveryWatches.delete(db);
  };
}

/** The last read of the backlog: both of its gauges are collected in one scrape, from one read (it reads every event still waiting in the feed). */
let lastBacklog: { readonly atMs: number; readonly read: Promise<{ pending: number; oldestSeconds: number }> } | undefined;
const BACKLOG_READ_REUSED_MS = 1_000;

function readBacklog(): Promise<{ pending: number; oldestSeconds: number }> {
  const nowMs = Date.now();
  if (lastBacklog === undefined || nowMs - lastBacklog.atMs > BACKLOG_READ_REUSED_MS) lastBacklog = { atMs: nowMs, read: readBacklogNow() };
  return lastBacklog.read;
}

async function readBacklogNow(): Promise<{ pending: number; oldestSeconds: number }> {
  let pending = 0;
  let oldestSeconds = 0;
  try {
    for (const [db, clock] of deliveryWatches) {
      const backlog = await deliveryBacklog(db, clock());
      pending += backlog.pending;
      oldestSeconds = Math.max(oldestSeconds, backlog.oldestSeconds);
    }
  } catch {
    // The database is down: no backlog shown rather than a failed scrape.
  }
  return { pending, oldestSeconds };
}

new Gauge({
  name: 'coffer_webhook_deliveries_pending',
  help: 'Webhook deliveries to enabled endpoints not yet delivered nor given up: those made and pending, and the events an enabled endpoint wants that still wait in the feed for a sending slot (a paused or disabled endpoint\'s are not counted)',
  registers: [metricsRegistry],
  async collect() {
    this.set((await readBacklog()).pending);
  },
});

new Gauge({
  name: 'coffer_webhook_oldest_undelivered_age_seconds',
  help: 'Age of the oldest webhook delivery to an enabled endpoint not yet delivered nor given up: of a pending delivery, from when it was made; of an event still waiting in the feed, from when it occurred; 0 when none',
  registers: [metricsRegistry],
  async collect() {
    this.set((await readBacklog()).oldestSeconds);
  },
});

export const natsPublished = new Counter({
  name: 'coffer_nats_published_total',
  help: 'Events this process published to NATS JetStream, by how their storing was confirmed: ack="batch" (one acknowledgement proved the whole batch stored) or ack="each" (every message acknowledged)',
  labelNames: ['ack'] as const,
  registers: [metricsRegistry],
});

export const eventsPositioned = new Counter({
  name: 'coffer_events_positioned_total',
  help: 'Events this process wrote to the feed (each takes its position in the transaction that writes it)',
  registers: [metricsRegistry],
});

/** Requests refused for a spent budget: `limit` is `client` (an API client's requests), `token` (an address's token requests) or `bulk` (BULK_CONCURRENCY bulk requests in flight). */
export const rateLimited = new Counter({
  name: 'coffer_rate_limited_total',
  help: 'Requests refused with 429: an API client over its request budget, an address over its token requests, or a bulk request over BULK_CONCURRENCY',
  labelNames: ['limit'] as const,
  registers: [metricsRegistry],
});

/** Requests refused by auth: 401 (no or a bad token) or 403 (a token without the scope), by reason. */
export const authRefusals = new Counter({
  name: 'coffer_auth_refusals_total',
  help: 'Requests refused by auth, by status (401, 403) and reason',
  labelNames: ['status', 'reason'] as const,
  registers: [metricsRegistry],
});
