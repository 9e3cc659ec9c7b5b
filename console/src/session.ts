/**
 * The console's one way to the API: the typed client (`coffer/client`), pointed at this
 * server's `/api/wallets` (the prefix the official SDKs use), so the console has no API
 * layer of its own.
 *
 * Sign-in slots in here: with authentication off (today's only mode) a session needs no
 * credentials. When the server answers 401, the app shows the sign-in screen (see app.tsx)
 * and a session is opened with the operator's client credentials instead.
 */
import { Coffer, CofferError } from 'coffer/client';

export const API_PATH = '/api/wallets';

export interface Session {
  readonly coffer: Coffer;
}

export function openSession(origin: string = window.location.origin): Session {
  return { coffer: new Coffer({ url: `${origin}${API_PATH}` }) };
}

/** The server refused the call for want of credentials: the console must sign in. */
export function needsSignIn(error: unknown): boolean {
  return error instanceof CofferError && error.status === 401;
}
