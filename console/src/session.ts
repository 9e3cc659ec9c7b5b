/**
 * The console's one way to the API: the typed client (`coffer/client`), pointed at this
 * server's `/api/wallets` (the prefix the official SDKs use), so the console has no API
 * layer of its own.
 *
 * With authentication off a session needs no credentials. When the server answers 401, the
 * app shows the sign-in form (see app.tsx) and a session is opened with the operator's client
 * credentials instead: they live in this object only (never in storage), so a reload signs out.
 */
import { Coffer, CofferError } from 'coffer/client';

export const API_PATH = '/api/wallets';
export const TOKEN_PATH = '/oauth/token';

export interface Session {
  readonly coffer: Coffer;
}

export interface Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * The console sends no cookies or browser-held credentials: the token endpoint answers a wrong
 * secret with `WWW-Authenticate: Basic`, and a request that may carry credentials would make
 * the browser pop up its own password dialog over the console's form.
 */
function fetchWithoutBrowserCredentials(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  return globalThis.fetch(input, { ...init, credentials: 'omit' });
}

export function openSession(credentials?: Credentials, origin: string = window.location.origin): Session {
  const signIn = credentials === undefined ? {} : { clientId: credentials.clientId, clientSecret: credentials.clientSecret, tokenUrl: `${origin}${TOKEN_PATH}` };
  return { coffer: new Coffer({ url: `${origin}${API_PATH}`, fetch: fetchWithoutBrowserCredentials, ...signIn }) };
}

/** Opens a session with these credentials once the token endpoint accepts them; throws its refusal otherwise. */
export async function signIn(credentials: Credentials): Promise<Session> {
  const session = openSession(credentials);
  await session.coffer.accessToken();
  return session;
}

/** The server refused the call for want of credentials: the console must sign in. */
export function needsSignIn(error: unknown): boolean {
  return error instanceof CofferError && error.status === 401;
}
