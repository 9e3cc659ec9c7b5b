/**
 * Auth helpers for tests: an app with auth required, API clients made on its database,
 * tokens from its token endpoint, forged tokens (expired, wrongly signed, of an unknown key),
 * a snapshot of every table to prove nothing was written, and a log capture.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { AuthSettings } from '../../src/auth/index.ts';
import { createClient } from '../../src/auth/clients.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
import type { Scope } from '../../src/domain/principal.ts';
import { listSigningKeys } from '../../src/storage/signing-keys.ts';
import { importJWK } from 'jose';
import type { Queryable } from '../../src/storage/database.ts';
import type { Harness } from './harness.ts';

export const AUTH_ON: AuthSettings = {
  mode: 'required',
  tokenTtlSeconds: 3600,
  clientRate: { perSecond: 10_000, burst: 10_000 },
  tokenRate: { perSecond: 1_000, burst: 1_000 },
};

export interface TestClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly Scope[];
}

export async function makeClient(h: Harness, scopes: readonly Scope[], name = 'test client'): Promise<TestClient> {
  const { client, clientSecret } = await createClient(h.db, name, scopes, h.clock.now());
  return { clientId: client.id, clientSecret, scopes };
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** POST /oauth/token with a form body; returns the raw response. */
export function requestToken(h: Harness, fields: Record<string, string>, headers: Record<string, string> = {}, path = '/oauth/token') {
  return h.call({ method: 'POST', url: path, raw: form(fields), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

export async function tokenFor(h: Harness, client: TestClient, scope?: string): Promise<string> {
  const response = await requestToken(h, {
    grant_type: 'client_credentials',
    client_id: client.clientId,
    client_secret: client.clientSecret,
    ...(scope !== undefined ? { scope } : {}),
  });
  assert.equal(response.status, 200, response.text);
  return response.body.access_token as string;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** The header of a compact JWS, decoded. */
export function jwtHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

interface Forge {
  readonly clientId: string;
  readonly scopes: readonly Scope[];
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly ttlSeconds: number;
  readonly kid: string;
  /** The database's private key of `kid` (a real signature), or a fresh key (a wrong one). */
  readonly realKey: boolean;
}

/** A token as Coffer would mint it, but with the time, key or kid of the test's choosing. */
export async function forgeToken(db: Queryable, forge: Forge): Promise<string> {
  let key: CryptoKey;
  if (forge.realKey) {
    const record = (await listSigningKeys(db)).find((candidate) => candidate.kid === forge.kid);
    assert.ok(record, `a key ${forge.kid} in the database`);
    key = (await importJWK(record.privateJwk, 'ES256')) as CryptoKey;
  } else {
    key = (await generateKeyPair('ES256')).privateKey as CryptoKey;
  }
  return new SignJWT({ client_id: forge.clientId, scope: forge.scopes.join(' '), gen: 1 })
    .setProtectedHeader({ alg: 'ES256', kid: forge.kid, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(forge.clientId)
    .setIssuedAt(forge.issuedAt)
    .setExpirationTime(forge.issuedAt + forge.ttlSeconds)
    .setJti(randomBytes(8).toString('base64url'))
    .sign(key);
}

/** A fresh key's public JWK, to show a forged key is not the database's. */
export async function someOtherPublicKey(): Promise<Record<string, unknown>> {
  return { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) };
}

const TABLES = ['wallets', 'balances', 'accounts', 'volumes', 'transactions', 'postings', 'holds', 'idempotency_keys', 'auth_clients', 'auth_signing_keys'];

/** Row count and a checksum of every row of every table, in one statement: equal snapshots mean nothing was written. */
export async function tableSnapshot(db: Queryable): Promise<Record<string, string>> {
  const sql = TABLES.map(
    (table) => `SELECT '${table}' AS name, count(*)::text || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') AS rows FROM ${table} t`,
  ).join(' UNION ALL ');
  const rows = await db.query<{ name: string; rows: string }>(sql);
  return Object.fromEntries(rows.map((row) => [row.name, row.rows]));
}

/** A pino destination that keeps every line, for scanning. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream = { write: (line: string) => void this.lines.push(line) };
}

/**
 * Every secret-looking string a log line must never hold: each value given (secrets, tokens,
 * Authorization header values, in full and as their first 24 characters), and the shapes of
 * any client secret or JWT.
 */
export function leaks(lines: readonly string[], values: Iterable<string>): string[] {
  const needles = [...new Set([...values].flatMap((value) => [value, value.slice(0, 24)]))].filter((value) => value.length >= 16);
  const found: string[] = [];
  for (const line of lines) {
    if (/cof_cs_[A-Za-z0-9_-]+|eyJ[A-Za-z0-9_-]{10,}\.|authorization"\s*:\s*"(Bearer|Basic)/i.test(line)) found.push(line);
    else if (needles.some((needle) => line.includes(needle))) found.push(line);
  }
  return found;
}
