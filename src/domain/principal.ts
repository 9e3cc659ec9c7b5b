/**
 * Who is calling, once a bearer token has been verified (src/auth): an API client and the
 * scopes its token carries. It travels in a command so that the committer can scope the
 * Idempotency-Key to the client and stamp what the command creates with `createdBy`; the
 * domain and the ledger see the client's id, never a token.
 */

/**
 * Every scope Coffer grants. `wallets:read` covers every GET of the wallets API,
 * `wallets:write` every mutation, `admin` the clients and signing keys, `metrics:read` the
 * Prometheus endpoint (a scraper needs nothing else).
 */
export const SCOPES = ['wallets:read', 'wallets:write', 'admin', 'metrics:read'] as const;

export type Scope = (typeof SCOPES)[number];

export interface Principal {
  readonly clientId: string;
  readonly scopes: readonly Scope[];
}

export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}

/**
 * A space-separated scope list (RFC 6749 §3.3) as sorted, distinct scopes; null when it
 * names a scope Coffer does not know or is empty.
 */
export function parseScopes(text: string): Scope[] | null {
  const names = text.split(' ').filter((name) => name !== '');
  if (names.length === 0 || !names.every(isScope)) return null;
  return [...new Set(names)].sort() as Scope[];
}

export function formatScopes(scopes: readonly Scope[]): string {
  return scopes.join(' ');
}
