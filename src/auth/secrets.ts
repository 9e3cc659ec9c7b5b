/**
 * Client ids and secrets. A secret is 32 random bytes, shown once and stored only as an
 * scrypt hash (RFC 7914; Node's own, so no native addon): 2^15 × 8 × 128 bytes = 32 MiB and
 * about 60 ms of one core per check, which makes an offline guess from a stolen table dear.
 * Checks compare in constant time, and an unknown client id costs the same hash, so the
 * answer's timing does not tell whether an id exists.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Prefixes make a leaked value recognisable (secret scanners, log redaction). */
export const CLIENT_ID_PREFIX = 'cof_ci_';
export const CLIENT_SECRET_PREFIX = 'cof_cs_';

const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
/** Node refuses scrypt parameters that need more than `maxmem` (32 MiB by default): room for exactly ours. */
const SCRYPT_MAXMEM = 128 * SCRYPT.N * SCRYPT.r * 2;
const HASH_BYTES = 32;
const SALT_BYTES = 16;

export function newClientId(): string {
  return `${CLIENT_ID_PREFIX}${randomBytes(15).toString('base64url')}`;
}

export function newClientSecret(): string {
  return `${CLIENT_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

function derive(secret: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: Math.max(SCRYPT_MAXMEM, 128 * params.N * params.r * 2) };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, HASH_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can be raised later. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** A hash of nothing anyone knows, checked against when the client id is unknown (same cost, same timing). */
const DECOY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(SALT_BYTES).toString('base64url')}$${randomBytes(HASH_BYTES).toString('base64url')}`;

/** Whether `secret` matches `stored` (or the decoy, when the client is unknown: always false). */
export async function secretMatches(secret: string, stored: string | null): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? DECOY_HASH).split('$');
  if (scheme !== 'scrypt' || n === undefined || r === undefined || p === undefined || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  if (expected.length !== HASH_BYTES) return false;
  const actual = await derive(secret, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected) && stored !== null;
}
