/** What a failed call throws: the server's refusal (CofferError) or no answer at all (CofferConnectionError). */
import type { ErrorCode } from './types.ts';

/**
 * The server's catalog code (see docs/api.md's Errors), or UNEXPECTED_RESPONSE when the answer
 * was not a Coffer error body at all (a proxy's error page, say).
 */
export type CofferErrorCode = ErrorCode | 'UNEXPECTED_RESPONSE';

/** The server answered with an error. */
export class CofferError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: CofferErrorCode,
    readonly errorMessage: string,
    /** The X-Request-Id of the answer: quote it to find the server's log lines. */
    readonly requestId: string | undefined,
  ) {
    super(`${errorCode}: ${errorMessage}`);
    this.name = 'CofferError';
  }
}

/** No answer: the server could not be reached, or did not answer in time, after every retry. */
export class CofferConnectionError extends Error {
  constructor(
    readonly url: string,
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    const reason = options.cause instanceof Error ? (causeText(options.cause) ?? options.cause.message) : String(options.cause);
    super(`no answer from ${url} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`, options);
    this.name = 'CofferConnectionError';
  }
}

/** fetch reports "fetch failed" and keeps the reason (ECONNREFUSED, …) in its cause. */
function causeText(error: Error): string | undefined {
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
  }
  return error.name === 'TimeoutError' ? 'timed out' : undefined;
}
