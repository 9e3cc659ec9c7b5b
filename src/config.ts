/**
 * The environment, read once at start-up into a frozen, validated config. A bad value stops
 * the process with a message naming the variable; nothing reads process.env elsewhere.
 */
import { DEFAULT_LIMITS, type Limits } from './domain/limits.ts';
import { parseRetention } from './idempotency/retention.ts';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** PostgreSQL server URL; absent = embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string;
  readonly dataDir: string;
  readonly ledger: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly logLevel: string;
  /** Group commit: most commands per database transaction. */
  readonly batchSizeMax: number;
  /** Group commit: how long a batch waits for more commands; 0 = it starts when the previous commit returns. */
  readonly batchWaitMs: number;
  /** Group commit: batches in flight at once (PostgreSQL; PGlite runs one transaction at a time). */
  readonly batchConcurrency: number;
  /** How long idempotency outcomes are kept, in microseconds; null = forever. */
  readonly idempotencyRetentionMicros: bigint | null;
  readonly limits: Limits;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const ledger = env.LEDGER_NAME || 'coffer';
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(ledger)) throw new ConfigError('LEDGER_NAME must match ^[A-Za-z0-9_-]{1,63}$');
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const retentionText = env.IDEMPOTENCY_RETENTION || undefined;
  const idempotencyRetentionMicros = retentionText === undefined ? null : parseRetention(retentionText);
  if (retentionText !== undefined && idempotencyRetentionMicros === null) {
    throw new ConfigError(`IDEMPOTENCY_RETENTION must be a positive duration such as 90s, 30m, 72h or 7d, got ${JSON.stringify(retentionText)}`);
  }
  return Object.freeze({
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 8080, 0, 65_535),
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    dataDir: env.DATA_DIR || './data',
    ledger,
    poolSize: integer(env, 'POOL_SIZE', 16, 1, 1_000),
    statementTimeoutMs: integer(env, 'STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
    logLevel,
    batchSizeMax: integer(env, 'BATCH_SIZE_MAX', 256, 1, 10_000),
    batchWaitMs: integer(env, 'BATCH_WAIT_MS', 0, 0, 1_000),
    batchConcurrency: integer(env, 'BATCH_CONCURRENCY', 2, 1, 64),
    idempotencyRetentionMicros,
    limits: Object.freeze({
      metadataKeysMax: integer(env, 'METADATA_KEYS_MAX', DEFAULT_LIMITS.metadataKeysMax, 1, 10_000),
      metadataKeyLengthMax: integer(env, 'METADATA_KEY_LENGTH_MAX', DEFAULT_LIMITS.metadataKeyLengthMax, 1, 10_000),
      metadataValueLengthMax: integer(env, 'METADATA_VALUE_LENGTH_MAX', DEFAULT_LIMITS.metadataValueLengthMax, 1, 1_000_000),
      walletNameLengthMax: integer(env, 'WALLET_NAME_LENGTH_MAX', DEFAULT_LIMITS.walletNameLengthMax, 1, 100_000),
    }),
  });
}
