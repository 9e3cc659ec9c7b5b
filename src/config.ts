/**
 * The server's environment, read once at start-up into a frozen, validated config. A bad
 * value stops the process with a message naming the variable; nothing else in the server
 * reads process.env. `SETTINGS` is the list of every variable with its default: loadConfig
 * takes its defaults from there, and a test holds docs/configuration.md's table to it.
 */
import { ConfigError } from './domain/errors.ts';
import { DEFAULT_LIMITS, type Limits } from './domain/limits.ts';
import { parseRetention } from './idempotency/retention.ts';

export interface Setting {
  /** The default as text, exactly as docs/configuration.md shows it; undefined = unset. */
  readonly default: string | undefined;
  readonly meaning: string;
}

export const SETTINGS = {
  PORT: { default: '8080', meaning: 'port to listen on' },
  HOST: { default: '127.0.0.1', meaning: 'address to listen on' },
  DATABASE_URL: { default: undefined, meaning: 'PostgreSQL server URL; unset = embedded PGlite' },
  DATABASE_SCHEMA: {
    default: undefined,
    meaning: "PostgreSQL schema of Coffer's tables; unset = coffer, or public for a database Coffer used before this setting existed (PostgreSQL only)",
  },
  DATA_DIR: { default: './data', meaning: "PGlite's data folder (embedded mode only)" },
  LEDGER_NAME: { default: 'coffer', meaning: "the ledger's name; idempotency keys are scoped to it" },
  POOL_SIZE: { default: '16', meaning: 'PostgreSQL connections per process' },
  STATEMENT_TIMEOUT_MS: { default: '30000', meaning: 'PostgreSQL statement_timeout per statement' },
  REQUEST_TIMEOUT_MS: { default: '30000', meaning: 'whole request (headers and body) must arrive within this' },
  HEADERS_TIMEOUT_MS: { default: '10000', meaning: 'request headers must arrive within this (at most REQUEST_TIMEOUT_MS)' },
  KEEP_ALIVE_TIMEOUT_MS: { default: '72000', meaning: 'idle keep-alive connection closed after this' },
  CONNECTION_TIMEOUT_MS: { default: '60000', meaning: 'socket with no activity at all closed after this' },
  SHUTDOWN_TIMEOUT_MS: { default: '30000', meaning: 'on SIGTERM, the process is gone within this, in-flight requests or not' },
  LOG_LEVEL: { default: 'info', meaning: 'pino level' },
  BATCH_SIZE_MAX: { default: '256', meaning: 'group commit: most commands in one database transaction' },
  BATCH_WAIT_MS: { default: '0', meaning: 'group commit: how long a batch waits to fill before it starts; 0 = as soon as a committer is free' },
  BATCH_CONCURRENCY: { default: '1', meaning: 'group commit: batches in flight at once on PostgreSQL (PGlite always runs one)' },
  BULK_CONCURRENCY: { default: '4', meaning: 'POST /bulk requests in flight at once per process (a body may be 8 MiB, about 100 MiB parsed); more are refused with 429 and Retry-After: 1' },
  IDEMPOTENCY_RETENTION: { default: undefined, meaning: 'purge stored idempotency outcomes older than this; unset = forever' },
  HOLD_DEFAULT_TTL: { default: undefined, meaning: 'a pending debit without expiresAt expires this long after it is made; unset = never' },
  METADATA_KEYS_MAX: { default: String(DEFAULT_LIMITS.metadataKeysMax), meaning: 'metadata keys per object' },
  METADATA_KEY_LENGTH_MAX: { default: String(DEFAULT_LIMITS.metadataKeyLengthMax), meaning: 'characters per metadata key' },
  METADATA_VALUE_LENGTH_MAX: { default: String(DEFAULT_LIMITS.metadataValueLengthMax), meaning: 'characters per metadata value' },
  WALLET_NAME_LENGTH_MAX: { default: String(DEFAULT_LIMITS.walletNameLengthMax), meaning: 'characters per wallet name' },
  AUTH: { default: undefined, meaning: 'required or off; unset = off while HOST is a loopback address, required otherwise' },
  AUTH_TOKEN_TTL: { default: '1h', meaning: 'lifetime of an access token (60s to 24h)' },
  AUTH_RATE_LIMIT: { default: '1000', meaning: 'requests per second per API client (token bucket refill)' },
  AUTH_RATE_LIMIT_BURST: { default: '2000', meaning: 'requests an idle API client may send at once (token bucket size)' },
  AUTH_TOKEN_RATE_LIMIT: { default: '30', meaning: 'token requests per minute per client address (brute-force guard)' },
  REDIS_URL: { default: undefined, meaning: 'redis:// URL; rate limits are shared through it; unset = per process, in memory' },
  WEBHOOK_ALLOW_PRIVATE: { default: 'false', meaning: 'true lets webhooks target private, loopback and link-local addresses (refused by default)' },
  WEBHOOK_RETRY_WINDOW: { default: '72h', meaning: 'a failing webhook delivery is retried (exponential backoff with jitter: WEBHOOK_RETRY_FIRST, then doubling up to WEBHOOK_RETRY_MAX_DELAY) for this long; an endpoint failing that long is disabled' },
  WEBHOOK_RETRY_FIRST: { default: '5s', meaning: 'the delay before the first retry of a failed webhook delivery; each next one doubles (±20 % jitter)' },
  WEBHOOK_RETRY_MAX_DELAY: { default: '6h', meaning: 'the longest delay between two attempts at a webhook delivery (at least WEBHOOK_RETRY_FIRST)' },
  WEBHOOK_CONCURRENCY: { default: '8', meaning: 'webhook deliveries in flight at once per endpoint, per process' },
  WEBHOOK_SECRET_GRACE: { default: '24h', meaning: 'after a webhook secret rotation, the old secret keeps signing alongside the new one this long' },
  NATS_URL: { default: undefined, meaning: 'nats:// URL of a NATS server with JetStream: every event is published to coffer.<ledger>.<type> on the stream coffer-<ledger>; unset = off' },
  TRUST_PROXY: { default: undefined, meaning: 'proxies whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated, or a hop count; unset = none' },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

/** HTTP server timeouts. Node's and Fastify's defaults leave some at 0 (never): each is set. */
export interface Timeouts {
  readonly requestMs: number;
  readonly headersMs: number;
  readonly keepAliveMs: number;
  readonly connectionMs: number;
  readonly shutdownMs: number;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  /** PostgreSQL server URL; absent = embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string;
  /**
   * PostgreSQL schema of Coffer's tables; absent = unset: \`coffer\`, or \`public\` where an
   * install from before this setting keeps its tables (storage/open.ts decides).
   */
  readonly databaseSchema?: string;
  readonly dataDir: string;
  readonly ledger: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly timeouts: Timeouts;
  readonly logLevel: string;
  /** Group commit: most commands per database transaction. */
  readonly batchSizeMax: number;
  /** Group commit: how long a batch waits for more commands; 0 = it starts when the previous commit returns. */
  readonly batchWaitMs: number;
  /** Group commit: batches in flight at once (PostgreSQL; PGlite runs one transaction at a time). */
  readonly batchConcurrency: number;
  /** POST /bulk requests in flight at once in this process; more are refused (429) before their body is read. */
  readonly bulkConcurrency: number;
  /** How long idempotency outcomes are kept, in microseconds; null = forever. */
  readonly idempotencyRetentionMicros: bigint | null;
  /** How long a hold made without expiresAt lives, in microseconds; null = until settled. */
  readonly holdDefaultTtlMicros: bigint | null;
  readonly webhooks: WebhookConfig;
  /** NATS_URL, or undefined (off). */
  readonly natsUrl?: string;
  readonly limits: Limits;
  readonly auth: AuthConfig;
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses. */
  readonly trustProxy: false | number | string;
}

export type AuthMode = 'required' | 'off';

export interface AuthConfig {
  readonly mode: AuthMode;
  /** True when AUTH was set, false when the mode follows from HOST. */
  readonly explicit: boolean;
  readonly tokenTtlSeconds: number;
  /** Per API client, on every authenticated request. */
  readonly clientRate: { readonly perSecond: number; readonly burst: number };
  /** Per address, on the token endpoint. */
  readonly tokenRate: { readonly perSecond: number; readonly burst: number };
  readonly redisUrl?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The variable's value, or its default from SETTINGS when unset or empty. */
function text(env: Env, name: SettingName): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? SETTINGS[name].default : value;
}

function integer(env: Env, name: SettingName, min: number, max: number): number {
  const value = text(env, name) ?? '';
  if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** An hour: a timeout longer than this is a typo, not a choice. */
const TIMEOUT_MS_MAX = 3_600_000;

function readTimeouts(env: Env): Timeouts {
  const timeouts = {
    requestMs: integer(env, 'REQUEST_TIMEOUT_MS', 1_000, TIMEOUT_MS_MAX),
    headersMs: integer(env, 'HEADERS_TIMEOUT_MS', 1_000, TIMEOUT_MS_MAX),
    keepAliveMs: integer(env, 'KEEP_ALIVE_TIMEOUT_MS', 1_000, TIMEOUT_MS_MAX),
    connectionMs: integer(env, 'CONNECTION_TIMEOUT_MS', 1_000, TIMEOUT_MS_MAX),
    shutdownMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 1_000, TIMEOUT_MS_MAX),
  };
  // Node refuses a headers timeout longer than the request timeout; say so in our words.
  if (timeouts.headersMs > timeouts.requestMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS (${timeouts.headersMs}) must not exceed REQUEST_TIMEOUT_MS (${timeouts.requestMs})`);
  }
  return Object.freeze(timeouts);
}

/** Addresses that only this machine can reach: auth defaults to off on them. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const TOKEN_TTL_SECONDS_MIN = 60;
const TOKEN_TTL_SECONDS_MAX = 86_400;

function readAuth(env: Env, host: string): AuthConfig {
  const modeText = text(env, 'AUTH');
  if (modeText !== undefined && modeText !== 'required' && modeText !== 'off') {
    throw new ConfigError(`AUTH must be required or off, got ${JSON.stringify(modeText)}`);
  }
  const mode: AuthMode = modeText ?? (isLoopback(host) ? 'off' : 'required');
  const ttlText = text(env, 'AUTH_TOKEN_TTL') ?? '';
  const ttlMicros = parseRetention(ttlText);
  const tokenTtlSeconds = ttlMicros === null ? NaN : Number(ttlMicros / 1_000_000n);
  if (!(tokenTtlSeconds >= TOKEN_TTL_SECONDS_MIN && tokenTtlSeconds <= TOKEN_TTL_SECONDS_MAX)) {
    throw new ConfigError(`AUTH_TOKEN_TTL must be a duration from 60s to 24h such as 15m or 1h, got ${JSON.stringify(ttlText)}`);
  }
  const perMinute = integer(env, 'AUTH_TOKEN_RATE_LIMIT', 1, 1_000_000);
  const redisUrl = text(env, 'REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL');
  return Object.freeze({
    mode,
    explicit: modeText !== undefined,
    tokenTtlSeconds,
    clientRate: Object.freeze({ perSecond: integer(env, 'AUTH_RATE_LIMIT', 1, 1_000_000), burst: integer(env, 'AUTH_RATE_LIMIT_BURST', 1, 1_000_000) }),
    tokenRate: Object.freeze({ perSecond: perMinute / 60, burst: perMinute }),
    ...(redisUrl !== undefined ? { redisUrl } : {}),
  });
}

function readTrustProxy(env: Env): false | number | string {
  const value = text(env, 'TRUST_PROXY');
  if (value === undefined) return false;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim());
  if (!entries.every((entry) => /^[0-9A-Fa-f.:]{2,45}(\/\d{1,3})?$/.test(entry))) {
    throw new ConfigError(`TRUST_PROXY must be a hop count or comma-separated addresses or CIDRs, got ${JSON.stringify(value)}`);
  }
  return entries.join(',');
}

/** Webhook deliveries (events/webhooks.ts `WebhookSettings`). */
export interface WebhookConfig {
  readonly allowPrivate: boolean;
  readonly retryWindowMicros: bigint;
  readonly backoffFirstMicros: bigint;
  readonly backoffMaxMicros: bigint;
  readonly concurrency: number;
  readonly secretGraceMicros: bigint;
}

function duration(env: Env, name: SettingName): bigint {
  const value = text(env, name) ?? '';
  const micros = parseRetention(value);
  if (micros === null) throw new ConfigError(`${name} must be a positive duration such as 90s, 30m, 72h or 7d, got ${JSON.stringify(value)}`);
  return micros;
}

function readWebhooks(env: Env): WebhookConfig {
  const allow = text(env, 'WEBHOOK_ALLOW_PRIVATE') ?? '';
  if (allow !== 'true' && allow !== 'false') throw new ConfigError(`WEBHOOK_ALLOW_PRIVATE must be true or false, got ${JSON.stringify(allow)}`);
  const backoffFirstMicros = duration(env, 'WEBHOOK_RETRY_FIRST');
  const backoffMaxMicros = duration(env, 'WEBHOOK_RETRY_MAX_DELAY');
  if (backoffMaxMicros < backoffFirstMicros) {
    throw new ConfigError(`WEBHOOK_RETRY_MAX_DELAY (${text(env, 'WEBHOOK_RETRY_MAX_DELAY') ?? ''}) must not be shorter than WEBHOOK_RETRY_FIRST (${text(env, 'WEBHOOK_RETRY_FIRST') ?? ''})`);
  }
  return Object.freeze({
    allowPrivate: allow === 'true',
    retryWindowMicros: duration(env, 'WEBHOOK_RETRY_WINDOW'),
    backoffFirstMicros,
    backoffMaxMicros,
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 1, 256),
    secretGraceMicros: duration(env, 'WEBHOOK_SECRET_GRACE'),
  });
}

function natsUrl(env: Env): { natsUrl?: string } {
  const url = text(env, 'NATS_URL');
  if (url === undefined) return {};
  if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(url) && !/^[A-Za-z0-9.-]+:\d+$/.test(url)) throw new ConfigError(`NATS_URL must be a nats:// URL or host:port, got ${JSON.stringify(url.slice(0, 64))}`);
  return { natsUrl: url };
}

/**
 * A schema name Coffer can put in \`search_path\` without quoting: lower case (an unquoted name
 * is folded to it), at most PostgreSQL's 63 bytes, and none of the names the server reserves.
 */
function readSchema(env: Env): string | undefined {
  const schema = text(env, 'DATABASE_SCHEMA');
  if (schema === undefined) return undefined;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema) || schema.startsWith('pg_') || schema === 'information_schema') {
    throw new ConfigError(`DATABASE_SCHEMA must be a lower-case name matching ^[a-z_][a-z0-9_]{0,62}$, not pg_… or information_schema, got ${JSON.stringify(schema)}`);
  }
  return schema;
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = text(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const databaseSchema = readSchema(env);
  const ledger = text(env, 'LEDGER_NAME') ?? '';
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(ledger)) throw new ConfigError('LEDGER_NAME must match ^[A-Za-z0-9_-]{1,63}$');
  const logLevel = text(env, 'LOG_LEVEL') ?? '';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const retentionText = text(env, 'IDEMPOTENCY_RETENTION');
  const idempotencyRetentionMicros = retentionText === undefined ? null : parseRetention(retentionText);
  if (retentionText !== undefined && idempotencyRetentionMicros === null) {
    throw new ConfigError(`IDEMPOTENCY_RETENTION must be a positive duration such as 90s, 30m, 72h or 7d, got ${JSON.stringify(retentionText)}`);
  }
  const ttlText = text(env, 'HOLD_DEFAULT_TTL');
  const holdDefaultTtlMicros = ttlText === undefined ? null : parseRetention(ttlText);
  if (ttlText !== undefined && holdDefaultTtlMicros === null) {
    throw new ConfigError(`HOLD_DEFAULT_TTL must be a positive duration such as 90s, 30m, 72h or 7d, got ${JSON.stringify(ttlText)}`);
  }
  const host = text(env, 'HOST') ?? '';
  if (!/^[A-Za-z0-9.:_-]{1,255}$/.test(host)) throw new ConfigError(`HOST must be a host name or IP address, got ${JSON.stringify(host)}`);
  return Object.freeze({
    host,
    port: integer(env, 'PORT', 0, 65_535),
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    ...(databaseSchema !== undefined ? { databaseSchema } : {}),
    dataDir: text(env, 'DATA_DIR') ?? '',
    ledger,
    poolSize: integer(env, 'POOL_SIZE', 1, 1_000),
    statementTimeoutMs: integer(env, 'STATEMENT_TIMEOUT_MS', 100, TIMEOUT_MS_MAX),
    timeouts: readTimeouts(env),
    logLevel,
    batchSizeMax: integer(env, 'BATCH_SIZE_MAX', 1, 10_000),
    batchWaitMs: integer(env, 'BATCH_WAIT_MS', 0, 1_000),
    batchConcurrency: integer(env, 'BATCH_CONCURRENCY', 1, 64),
    bulkConcurrency: integer(env, 'BULK_CONCURRENCY', 1, 1_000),
    idempotencyRetentionMicros,
    holdDefaultTtlMicros,
    webhooks: readWebhooks(env),
    ...natsUrl(env),
    limits: Object.freeze({
      metadataKeysMax: integer(env, 'METADATA_KEYS_MAX', 1, 10_000),
      metadataKeyLengthMax: integer(env, 'METADATA_KEY_LENGTH_MAX', 1, 10_000),
      metadataValueLengthMax: integer(env, 'METADATA_VALUE_LENGTH_MAX', 1, 1_000_000),
      walletNameLengthMax: integer(env, 'WALLET_NAME_LENGTH_MAX', 1, 100_000),
    }),
    auth: readAuth(env, host),
    trustProxy: readTrustProxy(env),
  });
}
