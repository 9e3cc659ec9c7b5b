/**
 * Auth routes. The token endpoint (`POST /oauth/token`, and again at
 * `/api/auth/oauth/token`, where the Formance SDK looks by default) speaks RFC 6749's client
 * credentials grant: a form body, the credentials in it or as HTTP Basic, errors as §5.2
 * (with Coffer's errorCode beside them). `/.well-known/jwks.json` publishes the public keys.
 * The admin routes manage clients and signing keys under the `admin` scope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientError, type ErrorCode } from '../../domain/errors.ts';
import { formatInstant, type Instant } from '../../domain/time.ts';
import type { Queryable } from '../../storage/database.ts';
import type { Auth } from '../../auth/index.ts';
import { clientList, createClient, revoke, rotateSecret, type ClientRecord, type ClientWithSecret } from '../../auth/clients.ts';
import { rotateSigningKey } from '../../auth/keys.ts';
import { listSigningKeys, type SigningKeyRecord } from '../../storage/signing-keys.ts';
import { findClient, publicClient } from '../../storage/auth-clients.ts';
import { createClientRequest, tokenRequest } from '../auth-schemas.ts';
import { noBody, notFound, parseBody, sendData, sendJson } from '../command.ts';
import { replyForError, STATUS_BY_CODE } from '../errors.ts';
import { writeJson } from '../json.ts';
import { route } from '../operations.ts';
import { tooManyRequests } from '../auth-hook.ts';

export function clientView(client: ClientRecord) {
  return {
    clientId: client.id,
    name: client.name,
    scopes: client.scopes,
    createdAt: formatInstant(client.createdAt),
    secretRotatedAt: client.secretRotatedAt === null ? null : formatInstant(client.secretRotatedAt),
    revokedAt: client.revokedAt === null ? null : formatInstant(client.revokedAt),
  };
}

export function clientWithSecretView(created: ClientWithSecret) {
  return { ...clientView(created.client), clientSecret: created.clientSecret };
}

export function signingKeyView(key: SigningKeyRecord) {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    createdAt: formatInstant(key.createdAt),
    retiredAt: key.retiredAt === null ? null : formatInstant(key.retiredAt),
  };
}

type OAuthError = 'invalid_request' | 'invalid_client' | 'invalid_scope' | 'unsupported_grant_type' | 'slow_down' | 'server_error' | 'temporarily_unavailable';

/** RFC 6749 §5.2's body, with Coffer's fields beside it so every client of Coffer reads it too. */
function oauthErrorBody(error: OAuthError, code: ErrorCode, description: string): string {
  return writeJson({ error, error_description: description, errorCode: code, errorMessage: description });
}

function oauthError(reply: FastifyReply, error: OAuthError, code: ErrorCode, description: string): FastifyReply {
  if (error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="coffer"');
  return reply.code(STATUS_BY_CODE[code]).header('cache-control', 'no-store').type('application/json').send(oauthErrorBody(error, code, description));
}

/** An OAuth error raised while validating, thrown to the token scope's error handler. */
class OAuthRefusal extends ClientError {
  constructor(
    readonly error: OAuthError,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** `a=1&b=2` → an object; a parameter given twice is refused (RFC 6749 §3.2). */
function parseForm(text: string): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(form, name)) throw new OAuthRefusal('invalid_request', 'VALIDATION', `${name} is given more than once`);
    form[name] = value;
  }
  return form;
}

/** HTTP Basic credentials, each part form-decoded as RFC 6749 §2.3.1 asks; null when the header is not Basic. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthRefusal('invalid_client', 'UNAUTHORIZED', 'HTTP Basic credentials must be client_id:client_secret');
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      throw new OAuthRefusal('invalid_client', 'UNAUTHORIZED', 'HTTP Basic credentials are not form-encoded');
    }
  };
  return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
}

/** The client's credentials, from HTTP Basic or the body (not both: §2.3). */
function credentialsOf(request: FastifyRequest, body: { client_id?: string | undefined; client_secret?: string | undefined }): { id: string; secret: string } {
  const basic = basicCredentials(request.headers.authorization);
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (basic !== null && inBody) throw new OAuthRefusal('invalid_request', 'VALIDATION', 'send the client credentials either as HTTP Basic or in the body, not both');
  if (basic !== null) return basic;
  if (body.client_id === undefined || body.client_secret === undefined) {
    throw new OAuthRefusal('invalid_client', 'UNAUTHORIZED', 'client_id and client_secret are required (in the body or as HTTP Basic)');
  }
  return { id: body.client_id, secret: body.client_secret };
}

function tokenRoutes(app: FastifyInstance, auth: Auth): void {
  app.register(async (scope) => {
    // OAuth's own body type, accepted here only: the wallets routes stay JSON-only (415).
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    scope.setErrorHandler((error, request, reply) => {
      if (error instanceof OAuthRefusal) return oauthError(reply, error.error, error.code, error.message);
      const answer = replyForError(error);
      if (answer.status >= 500) request.log.error({ err: error }, 'token request failed');
      const { errorCode, errorMessage } = JSON.parse(answer.body) as { errorCode: ErrorCode; errorMessage: string };
      const oauth: OAuthError = answer.status >= 500 ? (answer.status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request';
      return reply.code(answer.status).header('cache-control', 'no-store').type('application/json').send(oauthErrorBody(oauth, errorCode, errorMessage));
    });
    const token = async (request: FastifyRequest, reply: FastifyReply) => {
      // Counted before anything is checked: a guesser spends the budget with every try.
      const taken = await auth.takeTokenRequest(request.ip);
      if (!taken.allowed) {
        const message = `too many token requests from this address; retry in ${taken.retryAfterSeconds} s`;
        return tooManyRequests(reply.header('cache-control', 'no-store'), taken.retryAfterSeconds, 'token', oauthErrorBody('slow_down', 'TOO_MANY_REQUESTS', message));
      }
      const parsed = tokenRequest.safeParse(request.body ?? {});
      if (!parsed.success) return oauthError(reply, 'invalid_request', 'VALIDATION', parsed.error.issues[0]?.message ?? 'a malformed token request');
      if (parsed.data.grant_type !== 'client_credentials') {
        return oauthError(reply, 'unsupported_grant_type', 'VALIDATION', 'grant_type must be client_credentials');
      }
      const credentials = credentialsOf(request, parsed.data);
      const grant = await auth.grant(credentials.id, credentials.secret, parsed.data.scope);
      if (!grant.ok) return oauthError(reply, grant.error, grant.error === 'invalid_client' ? 'UNAUTHORIZED' : 'VALIDATION', grant.description);
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .type('application/json')
        .send(writeJson({ access_token: grant.accessToken, token_type: 'Bearer', expires_in: grant.expiresIn, scope: grant.scope }));
    };
    route(scope, 'createToken', token);
    route(scope, 'createTokenUnderApi', token);
  });
}

export function authRoutes(app: FastifyInstance, auth: Auth, db: Queryable, clock: () => Instant): void {
  tokenRoutes(app, auth);

  route(app, 'getJwks', async (_request, reply) => sendJson(reply, { keys: await auth.keys.publicKeys() }));

  route(app, 'listClients', async (_request, reply) => sendData(reply, (await clientList(db)).map(clientView)));

  route(app, 'createClient', async (request, reply) => {
    const body = parseBody(createClientRequest, request.body);
    const created = await createClient(db, body.name, body.scopes, clock());
    request.log.info({ createdClientId: created.client.id, scopes: created.client.scopes }, 'API client created');
    return reply.code(201).type('application/json').send(writeJson({ data: clientWithSecretView(created) }));
  });

  route<{ Params: { clientId: string } }>(app, 'getClient', async (request, reply) => {
    const client = await findClient(db, request.params.clientId);
    if (client === null) notFound(`client ${request.params.clientId}`);
    return sendData(reply, clientView(publicClient(client)));
  });

  route<{ Params: { clientId: string } }>(app, 'revokeClient', async (request, reply) => {
    noBody(request.body);
    const client = await revoke(db, request.params.clientId, clock());
    if (client === null) notFound(`client ${request.params.clientId}`);
    auth.authenticator.forgetClient(client.id);
    request.log.info({ revokedClientId: client.id }, 'API client revoked');
    return sendData(reply, clientView(client));
  });

  route<{ Params: { clientId: string } }>(app, 'rotateClientSecret', async (request, reply) => {
    noBody(request.body);
    const rotated = await rotateSecret(db, request.params.clientId, clock());
    if (rotated === null) notFound(`live client ${request.params.clientId}`);
    auth.authenticator.forgetClient(rotated.client.id);
    request.log.info({ rotatedClientId: rotated.client.id }, 'API client secret rotated');
    return sendData(reply, clientWithSecretView(rotated));
  });

  route(app, 'listSigningKeys', async (_request, reply) => sendData(reply, (await listSigningKeys(db)).map(signingKeyView)));

  route(app, 'rotateSigningKey', async (request, reply) => {
    noBody(request.body);
    const { kid } = await rotateSigningKey(db, clock());
    auth.keys.invalidate();
    const key = (await listSigningKeys(db)).find((candidate) => candidate.kid === kid)!;
    request.log.info({ kid }, 'signing key rotated');
    return reply.code(201).type('application/json').send(writeJson({ data: signingKeyView(key) }));
  });
}
