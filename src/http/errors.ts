/**
 * The one place an error code becomes an HTTP status, and every error body is
 * `{errorCode, errorMessage}`. Driver failures that mean "the database is not answering"
 * are 503; anything else unexpected is a 500 with a generic message (details go to the log).
 */
import type { FastifyError } from 'fastify';
import { ClientError, type ErrorCode } from '../domain/errors.ts';
import { CommitNotReplicated } from '../storage/database.ts';
import { writeJson } from './json.ts';

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION: 400,
  INSUFFICIENT_FUND: 400,
  HOLD_CLOSED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  HOLD_EXPIRED: 400,
  WALLET_FROZEN: 400,
  WALLET_CLOSED: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // WebDAV's Failed Dependency: not applied because another operation it depended on failed.
  ROLLED_BACK: 424,
  REQUEST_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

export interface ErrorReply {
  readonly status: number;
  readonly body: string;
}

export function errorReply(code: ErrorCode, message: string): ErrorReply {
  return { status: STATUS_BY_CODE[code], body: writeJson({ errorCode: code, errorMessage: message }) };
}

const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/** True when an error says the database is unreachable or going away (not a bug in a query). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_ERRNOS.has(code)) return true;
    // 25006: a write sent to a server that became read-only (a primary demoted to standby):
    // the pool looks for the new primary (storage/database.ts), and the request may be retried.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '25006') return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|PGlite is closed|cannot use a pool after calling end/i.test(
    error.message,
  );
}

/**
 * The answer to a request Node's HTTP parser refused (by its error code). Headers over the
 * 16 KiB limit are 431 (the status HTTP defines for them) under REQUEST_TOO_LARGE, a request
 * not received within the request timeout is 408, anything else malformed is a 400.
 */
export function replyForConnectionError(code: string | undefined): ErrorReply {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, body: errorReply('REQUEST_TOO_LARGE', 'request headers too large').body };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, body: errorReply('VALIDATION', 'the request was not received in time').body };
  return errorReply('VALIDATION', 'malformed HTTP request');
}

/** Maps anything thrown while serving a request to the reply the client gets. */
export function replyForError(error: unknown): ErrorReply {
  if (error instanceof ClientError) return errorReply(error.code, error.message);
  const fastifyError = error as FastifyError;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errorReply('REQUEST_TOO_LARGE', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errorReply('UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errorReply('VALIDATION', fastifyError.message);
  }
  if (isUnavailable(error)) return errorReply('SERVICE_UNAVAILABLE', 'the database is unavailable; retry later');
  // Outside the committer (a webhook endpoint's delete): committed on the primary only, so not a success.
  if (error instanceof CommitNotReplicated) return errorReply('SERVICE_UNAVAILABLE', `${error.message}; it may be lost if the database fails over now: check before repeating the request`);
  // 40P01 reaches here only when the retries of a lock cycle with concurrent requests ran out
  // (an atomic POST /bulk, sequence.ts): nothing was applied, and the same request may pass
  // once the others are done. Not the server's bug, so not a 500.
  if ((error as { code?: unknown } | null)?.code === '40P01') {
    return errorReply('SERVICE_UNAVAILABLE', 'the request met concurrent requests in a lock cycle (deadlock) and was not applied; retry it (with the same Idempotency-Key)');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return errorReply('VALIDATION', fastifyError.message);
  return errorReply('INTERNAL_ERROR', 'internal server error');
}
