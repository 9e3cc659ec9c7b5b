/**
 * The auth hook: before any route runs (and before its body is read), a request to an
 * operation behind a scope must carry `Authorization: Bearer <token>` whose client holds one
 * of the operation's scopes (operations.ts `requiredScopes`), within its request budget.
 * Otherwise it is answered here — 401 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), 403,
 * or 429 with `Retry-After` — and nothing runs. On success the principal is put on the
 * request; routes hand it to the committer, and every log line of the request names the
 * client. With auth off, nothing is asked and the Authorization header is not looked at.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../domain/principal.ts';
import { InvalidToken, type Auth } from '../auth/index.ts';
import { authRefusals, rateLimited } from '../metrics.ts';
import { errorReply, type ErrorReply } from './errors.ts';
import { OPERATIONS, requiredScopes, type Operation } from './operations.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API client the request runs for: null with auth off and on open routes. */
    principal: Principal | null;
  }
}

const REALM = 'realm="coffer"';

/** A pino logger (app.ts configures pino) takes bindings in place; with logs off Fastify's silent logger has no such method and nothing to bind. */
interface PinoBindings {
  setBindings(bindings: Record<string, unknown>): void;
}

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), or null when absent or of another scheme. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  return match ? match[1]! : null;
}

function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, '')}"`;
}

function refuse(reply: FastifyReply, answer: ErrorReply, challenge: string, reason: string): FastifyReply {
  authRefusals.inc({ status: String(answer.status), reason });
  return reply.code(answer.status).header('www-authenticate', challenge).type('application/json').send(answer.body);
}

export function tooManyRequests(reply: FastifyReply, retryAfterSeconds: number, limit: 'client' | 'token', body?: string): FastifyReply {
  rateLimited.inc({ limit });
  const answer = errorReply('TOO_MANY_REQUESTS', `too many requests; retry in ${retryAfterSeconds} s`);
  return reply.code(429).header('retry-after', String(retryAfterSeconds)).type('application/json').send(body ?? answer.body);
}

function operationOf(request: FastifyRequest): Operation | undefined {
  const operationId = request.routeOptions.config?.operationId;
  return operationId === undefined ? undefined : OPERATIONS[operationId];
}

async function guard(auth: Auth, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const operation = operationOf(request);
  if (operation === undefined) return undefined;
  const scopes = requiredScopes(operation);
  if (scopes.length === 0) return undefined;
  const header = request.headers.authorization;
  const token = bearerToken(header);
  if (token === null) {
    const message = header === undefined ? 'a bearer token is required: Authorization: Bearer <token> (POST /oauth/token issues one)' : 'the Authorization header is not "Bearer <token>"';
    return refuse(reply, errorReply('UNAUTHORIZED', message), `Bearer ${REALM}`, header === undefined ? 'missing' : 'malformed');
  }
  let principal: Principal;
  try {
    principal = await auth.authenticate(token);
  } catch (error) {
    if (!(error instanceof InvalidToken)) throw error;
    return refuse(reply, errorReply('UNAUTHORIZED', error.message), `Bearer ${REALM}, error="invalid_token", error_description=${quoted(error.message)}`, 'invalid_token');
  }
  // A client is limited whatever it asks for, so a scan of forbidden routes costs it too.
  const taken = await auth.takeClientRequest(principal.clientId);
  if (!taken.allowed) return tooManyRequests(reply, taken.retryAfterSeconds, 'client');
  if (!scopes.some((scope) => principal.scopes.includes(scope))) {
    const needed = scopes.join(' or ');
    const challenge = `Bearer ${REALM}, error="insufficient_scope", scope=${quoted(scopes.join(' '))}`;
    return refuse(reply, errorReply('FORBIDDEN', `this operation needs the scope ${needed}`), challenge, 'insufficient_scope');
  }
  request.principal = principal;
  // Every later log line of the request (its completion included) names the client. The
  // request's own logger takes the binding: a child logger per request cost about 14 µs here
  // (a CPU profile of `npm run bench` with auth on), most of what the check cost.
  const log = request.log as FastifyBaseLogger & Partial<PinoBindings>;
  if (log.setBindings !== undefined) log.setBindings({ clientId: principal.clientId });
  return undefined;
}

export function authHook(app: FastifyInstance, auth: Auth): void {
  app.decorateRequest('principal', null);
  if (!auth.required) return;
  app.addHook('onRequest', async (request, reply) => {
    const refused = await guard(auth, request, reply);
    if (refused !== undefined) return refused;
  });
}
