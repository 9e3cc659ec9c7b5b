/**
 * Managing API clients: create (the secret is returned once and stored only hashed), list,
 * revoke, rotate the secret; and the token endpoint's check of a client's credentials. The
 * CLI calls these on the database directly (so the first client needs no server), the admin
 * routes over HTTP.
 */
import type { Instant } from '../domain/time.ts';
import type { Scope } from '../domain/principal.ts';
import type { Queryable } from '../storage/database.ts';
import { findClient, insertClient, listClients, publicClient, replaceSecret, revokeClient, type ClientRecord } from '../storage/auth-clients.ts';
import { hashSecret, newClientId, newClientSecret, secretMatches } from './secrets.ts';

export type { ClientRecord } from '../storage/auth-clients.ts';

/** Client names: what an operator types to tell clients apart, nothing more. */
export const CLIENT_NAME_PATTERN = /^[\x20-\x7e]{1,128}$/;

/** A client with its secret, as create and rotate-secret return it: the only time the secret is seen. */
export interface ClientWithSecret {
  readonly client: ClientRecord;
  readonly clientSecret: string;
}

export async function createClient(q: Queryable, name: string, scopes: readonly Scope[], now: Instant): Promise<ClientWithSecret> {
  const clientSecret = newClientSecret();
  const client = await insertClient(q, { id: newClientId(), name, scopes, secretHash: await hashSecret(clientSecret), createdAt: now });
  return { client, clientSecret };
}

export function clientList(q: Queryable): Promise<ClientRecord[]> {
  return listClients(q);
}

export function revoke(q: Queryable, clientId: string, now: Instant): Promise<ClientRecord | null> {
  return revokeClient(q, clientId, now);
}

/** A new secret for a live client; the old one stops working at once, and so do the tokens minted with it. */
export async function rotateSecret(q: Queryable, clientId: string, now: Instant): Promise<ClientWithSecret | null> {
  const clientSecret = newClientSecret();
  const client = await replaceSecret(q, clientId, await hashSecret(clientSecret), now);
  return client === null ? null : { client, clientSecret };
}

/**
 * The live client these credentials belong to, or null. Unknown ids, revoked clients and
 * wrong secrets all cost one hash and answer null alike.
 */
export async function clientOfCredentials(q: Queryable, clientId: string, clientSecret: string): Promise<ClientRecord | null> {
  const client = await findClient(q, clientId);
  const matches = await secretMatches(clientSecret, client?.secretHash ?? null);
  if (client === null || !matches || client.revokedAt !== null) return null;
  return publicClient(client);
}
