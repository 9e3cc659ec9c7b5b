/**
 * Auth, assembled: the key ring, the token check, the rate limiters, and issuing tokens to
 * clients that prove their credentials. The HTTP layer holds one `Auth` per app: its hook
 * calls `authenticate` before any route runs, its token route calls `grant`.
 */
import type { Instant } from '../domain/time.ts';
import { formatScopes, parseScopes, type Principal, type Scope } from '../domain/principal.ts';
import type { Queryable } from '../storage/database.ts';
import { Authenticator } from './authenticator.ts';
import { clientOfCredentials } from './clients.ts';
import { KeyRing } from './keys.ts';
import { MemoryRateLimiter, RedisRateLimiter, type BucketRate, type RateLimiter, type Taken } from './rate-limit.ts';
import { issueToken } from './tokens.ts';

export { InvalidToken } from './tokens.ts';
export type { BucketRate, Taken } from './rate-limit.ts';

export interface AuthSettings {
  /** `required`: every route but the open ones needs a bearer token; `off`: tokens are not asked for (nor looked at). */
  readonly mode: 'required' | 'off';
  readonly tokenTtlSeconds: number;
  readonly clientRate: BucketRate;
  readonly tokenRate: BucketRate;
  /** Shared rate limits; absent = in this process's memory. */
  readonly redisUrl?: string;
}

/** What the token endpoint answers (RFC 6749 §5.1), or why it refuses (§5.2). */
export type Grant =
  | { readonly ok: true; readonly accessToken: string; readonly expiresIn: number; readonly scope: string }
  | { readonly ok: false; readonly error: 'invalid_client' | 'invalid_scope'; readonly description: string };

export class Auth {
  readonly keys: KeyRing;
  readonly authenticator: Authenticator;
  readonly limiter: RateLimiter;

  constructor(
    private readonly db: Queryable,
    readonly settings: AuthSettings,
    private readonly clock: () => Instant,
    ledger: string,
    onLimiterError: (error: unknown) => void,
  ) {
    const nowMs = () => Number(clock() / 1_000n);
    this.keys = new KeyRing(db, clock, nowMs);
    this.authenticator = new Authenticator(db, this.keys, nowMs);
    this.limiter = settings.redisUrl !== undefined ? new RedisRateLimiter(settings.redisUrl, `coffer:${ledger}:rate:`, onLimiterError) : new MemoryRateLimiter(nowMs);
  }

  get required(): boolean {
    return this.settings.mode === 'required';
  }

  authenticate(token: string): Promise<Principal> {
    return this.authenticator.authenticate(token);
  }

  /** One request of an authenticated client, against its budget. */
  takeClientRequest(clientId: string): Promise<Taken> {
    return this.limiter.take(`client:${clientId}`, this.settings.clientRate);
  }

  /** One token request from an address, against its budget (counted before the secret is checked). */
  takeTokenRequest(address: string): Promise<Taken> {
    return this.limiter.take(`token:${address}`, this.settings.tokenRate);
  }

  /**
   * The client_credentials grant: the client's credentials, and the scopes asked for (absent:
   * all of the client's); a scope outside the client's is `invalid_scope`.
   */
  async grant(clientId: string, clientSecret: string, scope: string | undefined): Promise<Grant> {
    const client = await clientOfCredentials(this.db, clientId, clientSecret);
    if (client === null) return { ok: false, error: 'invalid_client', description: 'unknown client, wrong secret, or a revoked client' };
    let scopes: readonly Scope[] = client.scopes;
    if (scope !== undefined && scope.trim() !== '') {
      const asked = parseScopes(scope);
      if (asked === null) return { ok: false, error: 'invalid_scope', description: `scope must be space-separated scopes of: ${client.scopes.join(', ')}` };
      const outside = asked.filter((name) => !client.scopes.includes(name));
      if (outside.length > 0) return { ok: false, error: 'invalid_scope', description: `the client is not granted ${outside.join(', ')}` };
      scopes = asked;
    }
    const nowSeconds = Number(this.clock() / 1_000_000n);
    const token = await issueToken(this.keys, client, scopes, this.settings.tokenTtlSeconds, nowSeconds);
    return { ok: true, accessToken: token.accessToken, expiresIn: token.expiresInSeconds, scope: formatScopes(scopes) };
  }

  async close(): Promise<void> {
    await this.limiter.close();
  }
}
