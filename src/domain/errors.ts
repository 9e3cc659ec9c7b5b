/**
 * The closed catalog of error codes Coffer can answer with. A code is born here as a
 * value; only `src/http/errors.ts` turns it into an HTTP status.
 */
export const ERROR_CODES = [
  'VALIDATION',
  'INSUFFICIENT_FUND',
  'HOLD_CLOSED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'HOLD_EXPIRED',
  'WALLET_FROZEN',
  'WALLET_CLOSED',
  'NOT_FOUND',
  'CONFLICT',
  'ROLLED_BACK',
  'REQUEST_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'TOO_MANY_REQUESTS',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected, closed outcome of a command that did not happen: a value, never a crash. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
}

export function refusal(code: ErrorCode, message: string): Refusal {
  return { code, message };
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly refusal: Refusal };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function refused<T>(code: ErrorCode, message: string): Result<T> {
  return { ok: false, refusal: refusal(code, message) };
}

/**
 * A client mistake found before any command runs (schema validation, a bad query string).
 * Thrown by the http layer's parsers and caught by its error handler; never stored as an
 * idempotent outcome because nothing executed.
 */
export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/**
 * A setting the operator gave that cannot work (an environment variable, the data folder, the
 * database URL, the port): the process stops with one line naming it, exit code 2. It lives
 * here, not in config.ts, because storage raises it too and imports nothing above itself.
 */
export class ConfigError extends Error {}

/** A broken invariant: a programmer error. It crashes the command (500), never a route's business. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
