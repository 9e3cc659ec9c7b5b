/**
 * SQL for `auth_clients`: the API clients that may ask for tokens. A client's secret is
 * never stored, only its slow hash (src/auth/secrets.ts); a revoked client keeps its row,
 * so its id is never handed out again and `clients list` still shows it.
 */
import type { Instant } from '../domain/time.ts';
import type { Scope } from '../domain/principal.ts';
import type { Queryable } from './database.ts';
import { instantColumn, instantParam, tsText } from './sql.ts';

export interface ClientRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly createdAt: Instant;
  readonly secretRotatedAt: Instant | null;
  readonly revokedAt: Instant | null;
  /** Bumped by every secret rotation; tokens carry the generation they were minted in. */
  readonly secretGeneration: number;
}

/** A client with its secret's hash: only the token endpoint reads it. */
export interface ClientCredentials extends ClientRecord {
  readonly secretHash: string;
}

interface ClientRow {
  id: string;
  name: string;
  scopes: string[];
  secret_hash: string;
  secret_generation: number;
  created_at: string;
  secret_rotated_at: string | null;
  revoked_at: string | null;
}

const COLUMNS = `id, name, scopes, secret_hash, secret_generation, ${tsText('created_at')} AS created_at,
  ${tsText('secret_rotated_at')} AS secret_rotated_at, ${tsText('revoked_at')} AS revoked_at`;

function toClient(row: ClientRow): ClientCredentials {
  return {
    id: row.id,
    name: row.name,
    // Written only from parsed scopes (src/auth/clients.ts).
    scopes: row.scopes as Scope[],
    secretHash: row.secret_hash,
    secretGeneration: Number(row.secret_generation),
    createdAt: instantColumn(row.created_at),
    secretRotatedAt: row.secret_rotated_at === null ? null : instantColumn(row.secret_rotated_at),
    revokedAt: row.revoked_at === null ? null : instantColumn(row.revoked_at),
  };
}

/** Drops the hash: what every reader but the token endpoint gets. */
export function publicClient(client: ClientCredentials): ClientRecord {
  return {
    id: client.id,
    name: client.name,
    scopes: client.scopes,
    createdAt: client.createdAt,
    secretRotatedAt: client.secretRotatedAt,
    revokedAt: client.revokedAt,
    secretGeneration: client.secretGeneration,
  };
}

export interface NewClient {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly secretHash: string;
  readonly createdAt: Instant;
}

export async function insertClient(q: Queryable, client: NewClient): Promise<ClientRecord> {
  const rows = await q.query<ClientRow>(
    `INSERT INTO auth_clients (id, name, scopes, secret_hash, created_at) VALUES ($1, $2, $3::text[], $4, $5::timestamptz)
     RETURNING ${COLUMNS}`,
    [client.id, client.name, client.scopes, client.secretHash, instantParam(client.createdAt)],
  );
  return publicClient(toClient(rows[0]!));
}

export async function findClient(q: Queryable, id: string): Promise<ClientCredentials | null> {
  const rows = await q.query<ClientRow>(`SELECT ${COLUMNS} FROM auth_clients WHERE id = $1`, [id]);
  return rows[0] ? toClient(rows[0]) : null;
}

/** Every client, oldest first, revoked ones included (there are few: they are made by hand). */
export async function listClients(q: Queryable): Promise<ClientRecord[]> {
  const rows = await q.query<ClientRow>(`SELECT ${COLUMNS} FROM auth_clients ORDER BY created_at, id`);
  return rows.map((row) => publicClient(toClient(row)));
}

/** Marks a client revoked (once: a second revocation keeps the first instant); null when there is no such client. */
export async function revokeClient(q: Queryable, id: string, at: Instant): Promise<ClientRecord | null> {
  const rows = await q.query<ClientRow>(
    `UPDATE auth_clients SET revoked_at = coalesce(revoked_at, $2::timestamptz) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, instantParam(at)],
  );
  return rows[0] ? publicClient(toClient(rows[0])) : null;
}

/** Replaces a live client's secret hash and bumps its generation; null when there is no such live client. */
export async function replaceSecret(q: Queryable, id: string, secretHash: string, at: Instant): Promise<ClientRecord | null> {
  const rows = await q.query<ClientRow>(
    `UPDATE auth_clients SET secret_hash = $2, secret_generation = secret_generation + 1, secret_rotated_at = $3::timestamptz
     WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
    [id, secretHash, instantParam(at)],
  );
  return rows[0] ? publicClient(toClient(rows[0])) : null;
}

/** What a token check needs to know of each client: live or not, and its secret generation. */
export interface ClientStanding {
  readonly revoked: boolean;
  readonly secretGeneration: number;
}

export async function clientStandings(q: Queryable, ids: readonly string[]): Promise<Map<string, ClientStanding>> {
  const rows = await q.query<{ id: string; revoked: boolean; secret_generation: number }>(
    'SELECT id, revoked_at IS NOT NULL AS revoked, secret_generation FROM auth_clients WHERE id = ANY($1::text[])',
    [ids],
  );
  return new Map(rows.map((row) => [row.id, { revoked: row.revoked, secretGeneration: Number(row.secret_generation) }]));
}
