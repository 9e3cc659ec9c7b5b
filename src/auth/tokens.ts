/**
 * Access tokens: JWTs (RFC 9068's profile) signed with the key ring's newest key. They name
 * the client (`sub`, `client_id`), its granted scopes (`scope`), and the generation of the
 * client's secret they were minted with (`gen`: a rotated secret retires its tokens).
 * Verification checks the signature against the key the `kid` names, the algorithm, the
 * issuer and audience, and the expiry with no leeway: every Coffer process shares one
 * database clock source, and an expired token must be refused in a test as in production.
 */
import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { formatScopes, parseScopes, type Principal, type Scope } from '../domain/principal.ts';
import { ALGORITHM, type KeyRing } from './keys.ts';

export const ISSUER = 'coffer';
export const AUDIENCE = 'coffer';
const TOKEN_TYPE = 'at+jwt';

/** A compact JWS is three base64url parts; anything longer than this is not one of ours. */
const TOKEN_LENGTH_MAX = 4_096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresInSeconds: number;
  readonly scopes: readonly Scope[];
}

/** What a verified token says. */
export interface TokenClaims {
  readonly principal: Principal;
  readonly secretGeneration: number;
  /** Milliseconds since the epoch. */
  readonly expiresAtMs: number;
}

/** Why a token was refused, for the 401's message (never the token itself). */
export class InvalidToken extends Error {
  override readonly name = 'InvalidToken';
}

export async function issueToken(
  keys: KeyRing,
  client: { readonly id: string; readonly secretGeneration: number },
  scopes: readonly Scope[],
  ttlSeconds: number,
  nowSeconds: number,
): Promise<IssuedToken> {
  const key = await keys.signingKey();
  const accessToken = await new SignJWT({ client_id: client.id, scope: formatScopes(scopes), gen: client.secretGeneration })
    .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: TOKEN_TYPE })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(client.id)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + ttlSeconds)
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key.privateKey);
  return { accessToken, expiresInSeconds: ttlSeconds, scopes };
}

function describe(error: unknown): string {
  if (error instanceof InvalidToken) return error.message;
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not valid`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is not signed with ES256';
  return 'the token is malformed';
}

export async function verifyToken(keys: KeyRing, token: string, nowSeconds: number): Promise<TokenClaims> {
  if (token.length > TOKEN_LENGTH_MAX || !COMPACT_JWS.test(token)) throw new InvalidToken('the token is not a JWT');
  try {
    const { payload } = await jwtVerify(
      token,
      async (header: JWTHeaderParameters) => {
        if (typeof header.kid !== 'string') throw new InvalidToken('the token names no signing key (kid)');
        const key = await keys.verificationKey(header.kid);
        if (key === null) throw new InvalidToken('the token names an unknown signing key (kid)');
        return key;
      },
      { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE, typ: TOKEN_TYPE, currentDate: new Date(nowSeconds * 1000), requiredClaims: ['exp', 'sub'] },
    );
    const scopes = typeof payload.scope === 'string' ? parseScopes(payload.scope) : null;
    if (scopes === null || typeof payload.sub !== 'string' || typeof payload.gen !== 'number' || typeof payload.exp !== 'number') {
      throw new InvalidToken('the token lacks its client, scopes or generation');
    }
    return { principal: { clientId: payload.sub, scopes }, secretGeneration: payload.gen, expiresAtMs: payload.exp * 1000 };
  } catch (error) {
    throw new InvalidToken(describe(error));
  }
}
