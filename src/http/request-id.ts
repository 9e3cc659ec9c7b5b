/**
 * The request id: the caller's `X-Request-Id` when it is 1–128 visible ASCII characters (so
 * a proxy's or client's id follows the request into our logs), else a new UUIDv7. Anything
 * else — control characters, spaces, a megabyte of header — is replaced, never logged.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { v7 as uuidv7 } from 'uuid';

export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Random bytes for request ids, drawn from a pool refilled 256 ids at a time: one id per
 * request made a system call per request, a measurable share of the server's CPU.
 */
const POOL_IDS = 256;
const pool = Buffer.alloc(16 * POOL_IDS);
let poolNext = POOL_IDS;

function randomBytes16(): Uint8Array {
  if (poolNext === POOL_IDS) {
    randomFillSync(pool);
    poolNext = 0;
  }
  const start = 16 * poolNext++;
  return pool.subarray(start, start + 16);
}

export function requestIdOf(request: IncomingMessage): string {
  const header = request.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && REQUEST_ID.test(value) ? value : uuidv7({ random: randomBytes16() });
}
