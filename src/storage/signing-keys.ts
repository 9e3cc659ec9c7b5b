/**
 * SQL for `auth_signing_keys`: the keys that sign access tokens. The newest live key signs;
 * every key still in the table verifies, so tokens signed before a rotation keep working
 * until they expire. A key retired longer ago than the longest token lifetime carries no
 * live token, and `pruneRetiredKeys` deletes it.
 */
import type { Instant } from '../domain/time.ts';
import type { Queryable } from './database.ts';
import { instantColumn, instantParam, tsText } from './sql.ts';

/** A JSON Web Key as stored: plain JSON members. */
export type StoredJwk = Readonly<Record<string, string>>;

export interface SigningKeyRecord {
  readonly kid: string;
  readonly algorithm: string;
  readonly privateJwk: StoredJwk;
  readonly publicJwk: StoredJwk;
  readonly createdAt: Instant;
  readonly retiredAt: Instant | null;
}

interface KeyRow {
  kid: string;
  algorithm: string;
  private_jwk: StoredJwk;
  public_jwk: StoredJwk;
  created_at: string;
  retired_at: string | null;
}

const COLUMNS = `kid, algorithm, private_jwk, public_jwk, ${tsText('created_at')} AS created_at, ${tsText('retired_at')} AS retired_at`;

function toKey(row: KeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    privateJwk: row.private_jwk,
    publicJwk: row.public_jwk,
    createdAt: instantColumn(row.created_at),
    retiredAt: row.retired_at === null ? null : instantColumn(row.retired_at),
  };
}

/** Every key, newest first: the first live one signs. */
export async function listSigningKeys(q: Queryable): Promise<SigningKeyRecord[]> {
  const rows = await q.query<KeyRow>(`SELECT ${COLUMNS} FROM auth_signing_keys ORDER BY created_at DESC, kid DESC`);
  return rows.map(toKey);
}

export type NewSigningKey = Omit<SigningKeyRecord, 'retiredAt'>;

/**
 * Adds a key and retires the ones before it, in one statement: from then on the new key
 * signs, and the old ones only verify.
 */
export async function addSigningKey(q: Queryable, key: NewSigningKey): Promise<void> {
  await q.query(
    `WITH retired AS (UPDATE auth_signing_keys SET retired_at = $5::timestamptz WHERE retired_at IS NULL)
     INSERT INTO auth_signing_keys (kid, algorithm, private_jwk, public_jwk, created_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::timestamptz)`,
    [key.kid, key.algorithm, JSON.stringify(key.privateJwk), JSON.stringify(key.publicJwk), instantParam(key.createdAt)],
  );
}

/** Deletes keys retired before `cutoff`; returns their kids. */
export async function pruneRetiredKeys(q: Queryable, cutoff: Instant): Promise<string[]> {
  const rows = await q.query<{ kid: string }>('DELETE FROM auth_signing_keys WHERE retired_at < $1::timestamptz RETURNING kid', [instantParam(cutoff)]);
  return rows.map((row) => row.kid);
}
