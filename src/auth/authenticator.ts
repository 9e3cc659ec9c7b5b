/**
 * Bearer token → principal, on every request with auth on, so it must cost next to nothing.
 *
 * - A token's signature and claims are verified once, then cached by the token's text until
 *   it expires (at most TOKENS_CACHED_MAX tokens; the oldest go first). Later requests with
 *   the same token cost a map lookup.
 * - Revocation and secret rotation are checked on every request against the client's
 *   standing, which is cached for STANDING_TTL_MS and then read again (one query for the
 *   client, shared by the requests waiting for it). So a client revoked in another process,
 *   or by the CLI, loses access within STANDING_TTL_MS (1 s); in the process that revoked
 *   it (the admin route), at once.
 */
import type { Principal } from '../domain/principal.ts';
import type { Queryable } from '../storage/database.ts';
import { clientStandings, type ClientStanding } from '../storage/auth-clients.ts';
import type { KeyRing } from './keys.ts';
import { InvalidToken, verifyToken, type TokenClaims } from './tokens.ts';

/** How long a client's standing (revoked, secret generation) is trusted before it is read again. */
export const STANDING_TTL_MS = 1_000;
/** Verified tokens kept; a busy deployment has a few per client, so this is many clients. */
const TOKENS_CACHED_MAX = 10_000;

interface CachedStanding {
  readonly standing: ClientStanding | null;
  readonly readAtMs: number;
}

export class Authenticator {
  private readonly tokens = new Map<string, TokenClaims>();
  private readonly standings = new Map<string, CachedStanding>();
  private readonly reading = new Map<string, Promise<ClientStanding | null>>();

  constructor(
    private readonly db: Queryable,
    private readonly keys: KeyRing,
    private readonly nowMs: () => number,
  ) {}

  /** The principal a bearer token stands for; throws InvalidToken (→ 401) when it stands for none. */
  async authenticate(token: string): Promise<Principal> {
    const now = this.nowMs();
    const claims = await this.claims(token, now);
    const standing = await this.standing(claims.principal.clientId, now);
    if (standing === null) throw new InvalidToken('the token names an unknown client');
    if (standing.revoked) throw new InvalidToken('the client has been revoked');
    if (standing.secretGeneration !== claims.secretGeneration) throw new InvalidToken("the token was issued before the client's secret was rotated");
    return claims.principal;
  }

  /** Forgets a client's standing at once: this process revoked it or rotated its secret. */
  forgetClient(clientId: string): void {
    this.standings.delete(clientId);
  }

  private async claims(token: string, now: number): Promise<TokenClaims> {
    const cached = this.tokens.get(token);
    if (cached !== undefined) {
      if (cached.expiresAtMs > now) return cached;
      this.tokens.delete(token);
      throw new InvalidToken('the token has expired');
    }
    const claims = await verifyToken(this.keys, token, Math.floor(now / 1000));
    if (this.tokens.size >= TOKENS_CACHED_MAX) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(token, claims);
    return claims;
  }

  private async standing(clientId: string, now: number): Promise<ClientStanding | null> {
    const cached = this.standings.get(clientId);
    if (cached !== undefined && now - cached.readAtMs < STANDING_TTL_MS) return cached.standing;
    let reading = this.reading.get(clientId);
    if (reading === undefined) {
      reading = clientStandings(this.db, [clientId])
        .then((found) => {
          const standing = found.get(clientId) ?? null;
          this.standings.set(clientId, { standing, readAtMs: now });
          return standing;
        })
        .finally(() => this.reading.delete(clientId));
      this.reading.set(clientId, reading);
    }
    return reading;
  }
}
