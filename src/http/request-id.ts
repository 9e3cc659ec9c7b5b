/**
 * The request id: the caller's `X-Request-Id` when it is 1–128 visible ASCII characters (so
 * a proxy's or client's id follows the request into our logs), else a new UUIDv7. Anything
 * else — control characters, spaces, a megabyte of header — is replaced, never logged.
 */
import type { IncomingMessage } from 'node:http';
import { newUuidV7 } from '../committer/ids.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(request: IncomingMessage): string {
  const header = request.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && REQUEST_ID.test(value) ? value : newUuidV7();
}
