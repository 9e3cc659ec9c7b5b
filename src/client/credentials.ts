/**
 * OAuth 2.0 client credentials for the typed client: it asks the server's token endpoint for
 * an access token with the client's id and secret, attaches it to every call, and fetches a
 * new one before it expires (or at once, when the server answers 401 to it: revoked keys,
 * a rotated secret, a restarted clock). Concurrent calls share one token request.
 */
import { CofferConnectionError, CofferError } from './errors.ts';
import type { AccessToken, ErrorCode, Scope } from './types.ts';

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Ask for fewer scopes than the client has (least privilege for this process); default: all of them. */
  readonly scopes?: readonly Scope[];
  /** Default: `<url>/oauth/token`. */
  readonly tokenUrl?: string;
}

/** A token is renewed this long before it expires, or at half its life when that is sooner (short-lived tokens). */
const RENEW_BEFORE_MS = 60_000;

export class TokenSource {
  private current: AccessToken | null = null;
  private renewAtMs = 0;
  private pending: Promise<AccessToken> | null = null;

  constructor(
    private readonly credentials: ClientCredentials,
    private readonly tokenUrl: string,
    private readonly fetch: typeof globalThis.fetch,
    private readonly timeoutMs: number,
  ) {}

  /** A token that is good for a while yet: the one held, or a new one. */
  async token(): Promise<AccessToken> {
    if (this.current !== null && Date.now() < this.renewAtMs) return this.current;
    this.pending ??= this.request().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** Drops `token` (the server refused it), so the next call fetches another. */
  discard(token: string): void {
    if (this.current?.token === token) this.current = null;
  }

  private async request(): Promise<AccessToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.credentials.clientId, client_secret: this.credentials.clientSecret });
    if (this.credentials.scopes !== undefined) form.set('scope', this.credentials.scopes.join(' '));
    let response: Response;
    try {
      response = await this.fetch(this.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new CofferConnectionError(this.tokenUrl, 1, { cause: error });
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      const code = typeof body.errorCode === 'string' ? (body.errorCode as ErrorCode) : 'UNEXPECTED_RESPONSE';
      const message = typeof body.error_description === 'string' ? body.error_description : `the token endpoint answered HTTP ${response.status}`;
      throw new CofferError(response.status, code, message, response.headers.get('x-request-id') ?? undefined);
    }
    const lifetimeMs = body.expires_in * 1000;
    const token: AccessToken = {
      token: body.access_token,
      scopes: (typeof body.scope === 'string' ? body.scope.split(' ').filter((scope) => scope !== '') : []) as Scope[],
      expiresAt: new Date(Date.now() + lifetimeMs),
    };
    this.current = token;
    this.renewAtMs = Date.now() + Math.max(0, Math.min(lifetimeMs - RENEW_BEFORE_MS, lifetimeMs / 2));
    return token;
  }
}

/** COFFER_CLIENT_ID and COFFER_CLIENT_SECRET from the environment, where there is one (not in a browser). */
export function credentialsFromEnvironment(): ClientCredentials | undefined {
  // Read through globalThis: the console's browser build has no Node types, and no process.
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  const clientId = env?.COFFER_CLIENT_ID;
  const clientSecret = env?.COFFER_CLIENT_SECRET;
  return clientId && clientSecret ? { clientId, clientSecret } : undefined;
}
