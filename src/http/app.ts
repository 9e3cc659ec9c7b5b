/**
 * The Fastify app: lossless JSON bodies up to 1 MiB, JSON errors for everything (404 and
 * 415 included), and the Formance Wallets v1 routes served at the root and again under
 * `/api/wallets`, the prefix the official SDK calls. Around them: a request id on every
 * log line and answer, Prometheus metrics per route, the OpenAPI document and its
 * reference page, the operator console, and server timeouts set explicitly (Node leaves some at "never").
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { loadConfig, type Timeouts } from '../config.ts';
import type { Database } from '../storage/database.ts';
import type { Limits } from '../domain/limits.ts';
import { BODY_BYTES_MAX } from '../domain/limits.ts';
import { instantFromDate, type Instant } from '../domain/time.ts';
import { createCommitter, type BatchFailure, type Committer } from '../committer/committer.ts';
import { startHoldSweeper, type HoldSweeper } from '../wallets/hold-sweeper.ts';
import { startFeedWatcher, type FeedWatcher } from '../events/watcher.ts';
import { createWaiter, FEED_POLL_MS } from '../events/feed.ts';
import { eventRoutes } from './routes/events.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { startNatsPublisher, type NatsPublisher } from '../events/nats.ts';
import { DEFAULT_WEBHOOK_SETTINGS, startWebhookWorker, type WebhookSettings, type WebhookWorker } from '../events/webhooks.ts';
import { httpRequestDuration, httpRequests, watchPool, commitBatchFailures, commitBatchSize, eventsPositioned, watchOutbox, webhookAttempts, webhookDeliveries, watchDeliveries, natsPublished } from '../metrics.ts';
import { errorReply, replyForConnectionError, replyForError } from './errors.ts';
import { parseJson, unstorableText } from './json.ts';
import { assert, ClientError } from '../domain/errors.ts';
import { buildOpenApi } from './openapi.ts';
import type { OperationId } from './operations.ts';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.ts';
import { buildSchemas } from './schemas.ts';
import type { RouteDeps } from './deps.ts';
import { walletRoutes } from './routes/wallets.ts';
import { balanceRoutes } from './routes/balances.ts';
import { moneyRoutes } from './routes/money.ts';
import { holdRoutes } from './routes/holds.ts';
import { transactionRoutes } from './routes/transactions.ts';
import { backupRoutes, systemRoutes, VERSION } from './routes/system.ts';
import { bulkRoutes } from './routes/bulk.ts';
import { runAtomic } from '../committer/sequence.ts';
import { InFlightLimit } from './in-flight-limit.ts';
import { docsRoutes } from './routes/docs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { consoleRoutes } from './routes/console.ts';
import { authRoutes } from './routes/auth.ts';
import { authHook } from './auth-hook.ts';
import { Auth, type AuthSettings } from '../auth/index.ts';
import { REDACT_PATHS, scrubSecrets } from '../auth/redact.ts';

export interface AppOptions {
  readonly db: Database;
  readonly ledger: string;
  readonly limits: Limits;
  /** Pino options (Fastify's logger); absent = no logs. */
  readonly logger?: FastifyServerOptions['logger'];
  readonly clock?: () => Instant;
  /** Absent = the defaults of src/config.ts. */
  readonly timeouts?: Timeouts;
  /**
   * The hold expiry sweeper's pause between turns (wallets/hold-sweeper.ts); absent = every
   * HOLD_SWEEP_INTERVAL_MS; null = no loop (tests run turns with `app.holdSweeper.sweep()`).
   */
  readonly holdSweepIntervalMs?: number | null;
  /**
   * How often the feed watcher reads the feed's top, to notice events other processes
   * committed (events/watcher.ts); absent = FEED_WATCH_INTERVAL_MS; null = no loop (tests
   * run `app.feedWatcher.check()`).
   */
  readonly feedWatchIntervalMs?: number | null;
  /**
   * The longest a long poll of `GET /events` sleeps between two reads of the feed, whatever
   * wakes it (events/feed.ts); absent = FEED_POLL_MS. Tests lengthen it to show what wakes a poll.
   */
  readonly feedPollMs?: number;
  /** Webhook settings (absent = the defaults of src/config.ts), and the delivery loop's pause: null = no loop (tests run turns with `app.webhooks.run()`). */
  readonly webhooks?: Partial<WebhookSettings> & { readonly intervalMs?: number | null };
  /** NATS JetStream (NATS_URL): absent = off; `intervalMs` null = no loop (tests run turns with `app.nats.run()`). */
  readonly nats?: { readonly url: string; readonly intervalMs?: number | null };
  /** HOLD_DEFAULT_TTL in microseconds; absent or null = a hold without expiresAt never expires. */
  readonly holdDefaultTtlMicros?: bigint | null;
  /** Group commit: most commands per transaction, how long a batch waits to fill, batches in flight, and observers. */
  /** Absent = auth off, with the default token lifetime and limits (the token endpoint still works). */
  readonly auth?: AuthSettings;
  /** Fastify's trustProxy: whose X-Forwarded-For gives the client's address (the token endpoint's limit is per address). */
  readonly trustProxy?: boolean | number | string;
  /** BULK_CONCURRENCY: POST /bulk requests in flight at once; absent = the default of src/config.ts. */
  readonly bulkConcurrency?: number;
  readonly batch?: {
    readonly sizeMax?: number;
    readonly waitMs?: number;
    readonly concurrency?: number;
    readonly onBatch?: (size: number) => void;
    readonly onBatchFailed?: (reason: BatchFailure) => void;
  };
}

export const API_PREFIX = '/api/wallets';

/** How often every process looks for due holds: a hold is voided within about this much of its expiry. */
export const HOLD_SWEEP_INTERVAL_MS = 250;

/** How often every process reads the feed's top: the delay before its long polls and publishers hear of other processes' events. */
export const FEED_WATCH_INTERVAL_MS = 100;

/** How often every process looks for due webhook deliveries (retries, other processes' events). */
export const WEBHOOK_INTERVAL_MS = 250;

/** How often every process offers to publish to NATS (one at a time publishes). */
export const NATS_INTERVAL_MS = 250;

declare module 'fastify' {
  interface FastifyInstance {
    /** The hold expiry sweeper of this app: it shares the app's committer. */
    holdSweeper: HoldSweeper;
    /** The feed watcher of this app: notices events other processes committed. */
    feedWatcher: FeedWatcher;
    /** The webhook delivery loop of this app. */
    webhooks: WebhookWorker;
    /** The NATS publisher of this app, when NATS_URL is set. */
    nats: NatsPublisher | null;
  }
}

/**
 * Answers a request Node's HTTP parser refused before Fastify saw it (headers over 16 KiB,
 * a malformed request line or chunk, a timeout) with Coffer's JSON error, then closes the
 * connection, as Fastify's default handler does with its own body shape.
 */
function answerConnectionError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = replyForConnectionError(error.code);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(answer.body)}\r\nConnection: close\r\n\r\n${answer.body}`,
    );
  }
  socket.destroy(error);
}

/** Probes a load balancer or a scraper sends every few seconds: their request lines are logged at debug, not info. */
const PROBE_OPERATIONS: ReadonlySet<OperationId> = new Set<OperationId>(['getHealth', 'getServerInfo', 'getMetrics']);

function isProbe(request: FastifyRequest): boolean {
  const operationId = (request.routeOptions?.config as { operationId?: OperationId } | undefined)?.operationId;
  return operationId !== undefined && PROBE_OPERATIONS.has(operationId);
}

/**
 * Fastify's request lines ("incoming request", "request completed"), except for probes
 * (`/_healthcheck`, `/_info`, `/metrics`, also under /api/wallets): those go out at debug,
 * so a health check every few seconds does not fill the info log. A probe answered with a
 * 5xx (the database is down) is still logged at info, and its errors at error.
 */
class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!isProbe(request)) return super.incomingRequest(request, reply, metadata);
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error || !isProbe(request) || reply.statusCode >= 500) return super.requestCompleted(error, request, reply, metadata);
    if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Requests that match no route share one metrics label, so a scan cannot blow up the series. */
const UNMATCHED_ROUTE = 'unmatched';

/** How often Node looks for requests past their headers or request timeout. Its default, 30 s, would triple a 10 s limit. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** A route outside the route table would be served but not documented: refuse to start. */
function guardRouteTable(app: FastifyInstance): void {
  app.addHook('onRoute', (options) => {
    if (options.config?.operationId === undefined && options.config?.uiAsset !== true) {
      throw new Error(`route ${String(options.method)} ${options.url} is not in the route table (src/http/operations.ts)`);
    }
  });
}

/** The request id echoed on every answer; each answer counted and timed; the pool reported while the app lives. */
function observe(app: FastifyInstance, db: Database): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status: String(reply.statusCode) };
    httpRequests.inc(labels);
    httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
  });
  const unwatchPool = watchPool(() => db.poolStats());
  app.addHook('onClose', async () => unwatchPool());
}

/**
 * The logger with credentials redacted by field name, and every line scrubbed of
 * secret-shaped text on its way to the stream (src/auth/redact.ts).
 */
function redactedLogger(logger: AppOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === undefined || typeof logger === 'boolean') return logger ?? false;
  const stream = logger.stream ?? { write: (line: string) => void process.stdout.write(line) };
  return { ...logger, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, stream: { write: (line: string) => stream.write(scrubSecrets(line)) } };
}

/** A hop count as the function proxy-addr makes of one (Fastify's types leave numbers out). */
function trustProxyOption(trust: AppOptions['trustProxy']): boolean | string | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return trust ?? false;
}

const DEFAULT_AUTH: AuthSettings = (() => {
  const config = loadConfig({}).auth;
  return { mode: 'off', tokenTtlSeconds: config.tokenTtlSeconds, clientRate: config.clientRate, tokenRate: config.tokenRate };
})();

/**
 * Starts the hold expiry sweeper on the app's own committer, so expiries batch with requests.
 * It stops before the app closes (preClose: a turn in flight finishes, then in-flight
 * requests, then the caller closes the database). Quiet: a failure is logged once, its end once.
 */
function startSweeper(app: FastifyInstance, options: AppOptions, run: Committer, clock: () => Instant): void {
  const intervalMs = options.holdSweepIntervalMs === undefined ? HOLD_SWEEP_INTERVAL_MS : options.holdSweepIntervalMs;
  const sweeper = startHoldSweeper(
    {
      db: options.db,
      ledger: options.ledger,
      clock,
      run,
      intervalMs: intervalMs ?? HOLD_SWEEP_INTERVAL_MS,
      onFailure: (error) => app.log.warn({ err: error }, 'hold expiry sweep failed; retrying quietly until it works again'),
      onRecovery: () => app.log.info('hold expiry sweep works again'),
    },
    intervalMs !== null,
  );
  app.decorate('holdSweeper', sweeper);
  app.addHook('preClose', async () => sweeper.stop());
}

/** Starts the webhook delivery loop (events/webhooks.ts); it stops before the app closes, like the sweeper. */
function startWebhooks(app: FastifyInstance, options: AppOptions, clock: () => Instant, eventsWritten: (count: number) => void): { worker: WebhookWorker; settings: WebhookSettings } {
  const settings: WebhookSettings = { ...DEFAULT_WEBHOOK_SETTINGS, ...options.webhooks };
  const intervalMs = options.webhooks?.intervalMs === undefined ? WEBHOOK_INTERVAL_MS : options.webhooks.intervalMs;
  const worker = startWebhookWorker(
    {
      db: options.db,
      clock,
      settings,
      intervalMs: intervalMs ?? WEBHOOK_INTERVAL_MS,
      onAttempt: (outcome, recorded) => {
        webhookAttempts.inc({ outcome });
        // A delivery ends once: counted by the record that ended it, not by one whose lease had lapsed.
        if (outcome !== 'retry' && recorded) webhookDeliveries.inc({ outcome });
      },
      onEventsWritten: eventsWritten,
      onFailure: (error) => app.log.warn({ err: error }, 'webhook deliveries failed; retrying quietly until they work again'),
      onRecovery: () => app.log.info('webhook deliveries work again'),
    },
    intervalMs !== null,
  );
  app.decorate('webhooks', worker);
  const unwatch = watchDeliveries(options.db, clock);
  app.addHook('preClose', async () => {
    unwatch();
    await worker.stop();
  });
  return { worker, settings };
}

function startNats(app: FastifyInstance, options: AppOptions, clock: () => Instant): NatsPublisher | null {
  if (options.nats === undefined) {
    app.decorate('nats', null);
    return null;
  }
  const intervalMs = options.nats.intervalMs === undefined ? NATS_INTERVAL_MS : options.nats.intervalMs;
  const publisher = startNatsPublisher(
    {
      db: options.db,
      url: options.nats.url,
      ledger: options.ledger,
      clock,
      intervalMs: intervalMs ?? NATS_INTERVAL_MS,
      onPublished: (count, proven) => natsPublished.inc({ ack: proven ? 'batch' : 'each' }, count),
      onFailure: (error) => app.log.warn({ err: error }, 'publishing events to NATS failed; retrying quietly until it works again'),
      onRecovery: () => app.log.info('publishing events to NATS works again'),
    },
    intervalMs !== null,
  );
  app.decorate('nats', publisher);
  app.addHook('preClose', async () => publisher.stop());
  return publisher;
}

function startWatcher(app: FastifyInstance, options: AppOptions, notify: () => void): FeedWatcher {
  const intervalMs = options.feedWatchIntervalMs === undefined ? FEED_WATCH_INTERVAL_MS : options.feedWatchIntervalMs;
  const watcher = startFeedWatcher(
    {
      db: options.db,
      intervalMs: intervalMs ?? FEED_WATCH_INTERVAL_MS,
      onAdvanced: notify,
      onFailure: (error) => app.log.warn({ err: error }, 'reading the event feed failed; retrying quietly until it works again'),
      onRecovery: () => app.log.info('reading the event feed works again'),
    },
    intervalMs !== null,
  );
  app.decorate('feedWatcher', watcher);
  const unwatch = watchOutbox(options.db);
  app.addHook('preClose', async () => {
    unwatch();
    await watcher.stop();
  });
  return watcher;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const timeouts = options.timeouts ?? loadConfig({}).timeouts;
  const app = Fastify({
    logger: redactedLogger(options.logger),
    trustProxy: trustProxyOption(options.trustProxy),
    genReqId: requestIdOf,
    logController: new RequestLogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: BODY_BYTES_MAX,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    connectionTimeout: timeouts.connectionMs,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, timeouts.headersMs),
    },
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 255 },
    clientErrorHandler: answerConnectionError,
    // A URL that does not decode, or a path parameter over maxParamLength: Coffer's JSON error.
    frameworkErrors: (error, _request, reply) => {
      const answer = replyForError(error);
      // The hook's reply is typed per route generic; this one is a plain reply. The hook returns
      // nothing (Fastify ignores its result), so the thenable reply is sent, not returned.
      (reply as FastifyReply).code(answer.status).type('application/json').send(answer.body);
    },
  });

  guardRouteTable(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJson(text));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Path parameters and query strings reach SQL as text: refuse what PostgreSQL cannot store.
  app.addHook('preValidation', async (request) => {
    const problem = unstorableText(request.params) ?? unstorableText(request.query);
    if (problem !== null) throw new ClientError('VALIDATION', `path or query string: ${problem}`);
  });

  observe(app, options.db);

  app.setErrorHandler((error, request, reply) => {
    const answer = replyForError(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(answer.status).type('application/json').send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const answer = errorReply('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(answer.status).type('application/json').send(answer.body);
  });

  const clock = options.clock ?? (() => instantFromDate(new Date()));
  // A Redis outage fails every request's limit check: say so once a minute, not per request.
  let limiterWarnedAtMs = -Infinity;
  const onLimiterError = (error: unknown) => {
    if (Date.now() - limiterWarnedAtMs < 60_000) return;
    limiterWarnedAtMs = Date.now();
    app.log.warn({ err: error }, 'the rate limit store (Redis) failed; requests are let through unlimited until it answers');
  };
  const auth = new Auth(options.db, options.auth ?? DEFAULT_AUTH, clock, options.ledger, onLimiterError);
  app.addHook('onClose', async () => auth.close());
  authHook(app, auth);
  const feed = createWaiter();
  // Events the delivery loop commits (a `webhook.disabled`) are counted and announced like a batch's.
  const webhooks = startWebhooks(app, options, clock, (events) => committed(events));
  const nats = startNats(app, options, clock);
  const notifyPositioned = () => {
    feed.notify();
    webhooks.worker.kick();
    nats?.kick();
  };
  startWatcher(app, options, notifyPositioned);
  // After a commit in this process: its events took their feed positions in it
  // (storage/events.ts), so the feed's readers are told at once.
  const committed = (events: number) => {
    if (events === 0) return;
    eventsPositioned.inc(events);
    notifyPositioned();
  };
  const run = createCommitter({
      db: options.db,
      ledger: options.ledger,
      clock,
      batchSizeMax: options.batch?.sizeMax,
      batchWaitMs: options.batch?.waitMs,
      batchConcurrency: options.batch?.concurrency,
      onBatch: (size, events) => {
        commitBatchSize.observe(size);
        committed(events);
        options.batch?.onBatch?.(size);
      },
      onBatchFailed: (reason) => {
        commitBatchFailures.inc({ reason });
        options.batch?.onBatchFailed?.(reason);
      },
  });
  const feedPollMs = options.feedPollMs ?? FEED_POLL_MS;
  assert(Number.isFinite(feedPollMs) && feedPollMs > 0, `feedPollMs must be a positive number of milliseconds, got ${feedPollMs}`);
  const deps: RouteDeps = {
    ledger: options.ledger,
    limits: options.limits,
    schemas: buildSchemas(options.limits),
    run,
    runAtomic: async (items) => {
      const result = await runAtomic(options.db, options.ledger, clock, items);
      if (result.kind === 'committed') {
        // After COMMIT nothing may fail the request, as in the committer: a 500 for applied work
        // would have a client without an Idempotency-Key send it again, and apply it twice.
        try {
          commitBatchSize.observe(items.length);
          committed(result.events);
        } catch (error) {
          app.log.error({ err: error }, 'waking the event readers after an atomic bulk commit failed; their loops pick the events up on their next turn');
        }
      }
      return result;
    },
    query: { db: options.db, ledger: options.ledger, clock },
    holdTtl: options.holdDefaultTtlMicros ?? null,
    feedWaiter: feed.listen,
    feedPollMs,
    // One count for the process: the route is served at / and under /api/wallets.
    bulkInFlight: new InFlightLimit('bulk', options.bulkConcurrency ?? loadConfig({}).bulkConcurrency),
  };
  startSweeper(app, options, run, clock);

  for (const prefix of ['', API_PREFIX]) {
    app.register(
      async (scope) => {
        systemRoutes(scope, options.db);
        walletRoutes(scope, deps);
        balanceRoutes(scope, deps);
        moneyRoutes(scope, deps);
        holdRoutes(scope, deps);
        transactionRoutes(scope, deps);
        eventRoutes(scope, deps);
        webhookRoutes(scope, { db: options.db, ledger: options.ledger, clock, settings: webhooks.settings, wake: () => webhooks.worker.wake() });
        bulkRoutes(scope, deps);
      },
      { prefix },
    );
  }
  docsRoutes(app, buildOpenApi(options.limits, VERSION));
  metricsRoutes(app);
  backupRoutes(app, options.db);
  consoleRoutes(app);
  authRoutes(app, auth, options.db, clock);
  return app;
}
