/**
 * Request and response schemas of the auth routes: the token endpoint (RFC 6749's field
 * names), the JWKS, and the admin routes for clients and signing keys. Like schemas.ts and
 * response-schemas.ts, they are the OpenAPI document's bodies and the tests parse real
 * answers with them.
 */
import { z } from 'zod';
import { SCOPES, type Scope } from '../domain/principal.ts';
import { parseInstant } from '../domain/time.ts';
import { CLIENT_NAME_PATTERN } from '../auth/clients.ts';
import { ERROR_CODES } from '../domain/errors.ts';
import { integer } from './schemas.ts';

const dateTime = z
  .string()
  .refine((text) => parseInstant(text) !== null, { error: 'must be an RFC 3339 date-time' })
  .meta({ format: 'date-time' });

const scope = z.enum(SCOPES);

/** Space-separated scopes (as OAuth writes them) or an array of them; distinct and sorted once parsed. */
const scopeList = z
  .union([z.array(scope).min(1), z.string().transform((text) => text.split(' ').filter((name) => name !== ''))])
  .pipe(z.array(scope, { error: `scopes must be some of: ${SCOPES.join(', ')}` }).min(1, { error: 'at least one scope is required' }))
  .transform((scopes): Scope[] => [...new Set(scopes)].sort())
  .meta({ description: `Scopes granted: an array, or one space-separated string; of ${SCOPES.join(', ')}`, examples: [['wallets:read', 'wallets:write']] });

export const createClientRequest = z
  .strictObject({
    name: z.string({ error: 'name must be a string' }).regex(CLIENT_NAME_PATTERN, { error: 'name must be 1 to 128 printable ASCII characters' }),
    scopes: scopeList,
  })
  .meta({ examples: [{ name: 'checkout service', scopes: ['wallets:read', 'wallets:write'] }] });

/** RFC 6749 §4.4.2; the credentials may come as HTTP Basic instead (§2.3.1). */
export const tokenRequest = z
  .object({
    grant_type: z.string({ error: 'grant_type is required' }).meta({ description: 'client_credentials' }),
    client_id: z.string().optional(),
    client_secret: z.string().optional(),
    scope: z.string().optional().meta({ description: "Space-separated; a subset of the client's scopes (absent: all of them)" }),
  })
  .meta({ examples: [{ grant_type: 'client_credentials', client_id: 'cof_ci_…', client_secret: 'cof_cs_…', scope: 'wallets:read' }] });

export const tokenResponse = z.strictObject({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: integer('expires_in', 1n, 86_400n, 'int64').meta({ description: 'Seconds' }),
  scope: z.string(),
});

/** RFC 6749 §5.2's body, with Coffer's own error fields beside it. */
export const tokenErrorResponse = z.strictObject({
  error: z.enum(['invalid_request', 'invalid_client', 'invalid_scope', 'unsupported_grant_type', 'slow_down', 'server_error', 'temporarily_unavailable']),
  error_description: z.string(),
  errorCode: z.enum(ERROR_CODES),
  errorMessage: z.string(),
});

export const clientResponse = z.strictObject({
  clientId: z.string(),
  name: z.string(),
  scopes: z.array(scope),
  createdAt: dateTime,
  secretRotatedAt: dateTime.nullable(),
  revokedAt: dateTime.nullable(),
});

export const clientWithSecretResponse = clientResponse.extend({
  clientSecret: z.string().meta({ description: 'Shown this once; Coffer keeps only a hash of it' }),
});

export const signingKeyResponse = z.strictObject({
  kid: z.string(),
  algorithm: z.literal('ES256'),
  createdAt: dateTime,
  retiredAt: dateTime.nullable().meta({ description: 'When a newer key took over signing; it still verifies until its tokens expire' }),
});

export const jsonWebKeySet = z.strictObject({
  keys: z.array(
    z.strictObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), alg: z.literal('ES256'), use: z.literal('sig') }),
  ),
});
