/**
 * The route table: every operation Coffer serves, with what the OpenAPI document says about
 * it. Routes are registered through `route(app, operationId, handler)`, which takes the
 * method and path from here, so a handler cannot exist without its documentation; a test
 * checks that nothing is registered around it.
 *
 * `errors` lists every errorCode the operation can answer with. Their union must be the
 * whole catalog of src/domain/errors.ts (a test checks it), and the tests that call an
 * operation check that each error they see is listed for it.
 */
import type { FastifyInstance, onRequestAsyncHookHandler, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault, RouteGenericInterface, RouteHandlerMethod } from 'fastify';
import type { ErrorCode } from '../domain/errors.ts';
import { BULK_BODY_BYTES_MAX } from '../domain/limits.ts';
import type { Scope } from '../domain/principal.ts';
import type { ComponentName } from './openapi.ts';

export type QueryName = 'pageSize' | 'cursor' | 'name' | 'metadata' | 'expand' | 'walletID' | 'status' | 'after' | 'type' | 'wait';

export type Tag = 'wallets' | 'balances' | 'holds' | 'transactions' | 'bulk' | 'events' | 'webhooks' | 'system' | 'auth';

export interface Answer {
  readonly description: string;
  /** A JSON body of this component; `text/*` for the few routes that are not JSON; absent = no body. */
  readonly body?: ComponentName | 'text/plain' | 'text/html' | 'openapi' | 'application/gzip';
}

export interface Operation {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** OpenAPI path template, e.g. `/wallets/{id}`. */
  readonly path: `/${string}`;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  /** `api`: served at `/` and again under `/api/wallets`; `root`: at `/` only. */
  readonly mount: 'api' | 'root';
  readonly query?: readonly QueryName[];
  readonly body?: { readonly schema: ComponentName; readonly required: boolean; readonly form?: true };
  /**
   * With auth on, the token must carry one of these scopes; `[]` = open to anyone. Absent:
   * `wallets:read` for a GET, `wallets:write` for anything else.
   */
  readonly scopes?: readonly Scope[];
  /** Accepts an Idempotency-Key header. */
  readonly idempotent?: boolean;
  /** A body limit of its own, in bytes, instead of the server's (BODY_BYTES_MAX). */
  readonly bodyBytesMax?: number;
  readonly responses: Readonly<Record<number, Answer>>;
  readonly errors: readonly ErrorCode[];
}

/** Every route that reads or writes the database can fail with these two. */
const SERVER: readonly ErrorCode[] = ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'];
/** A route that parses a body: malformed, too large, or not JSON. */
const BODY: readonly ErrorCode[] = ['VALIDATION', 'REQUEST_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** A mutation with an Idempotency-Key: a bad key is VALIDATION, a key reused for another request CONFLICT. */
const KEYED: readonly ErrorCode[] = ['VALIDATION', 'CONFLICT'];
/** A route behind a scope, with auth on: no or a bad token, a token without the scope, the client's budget spent. */
const AUTH: readonly ErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN', 'TOO_MANY_REQUESTS'];
/** Open routes: nothing asked of the caller. */
const OPEN: readonly Scope[] = [];

function errors(...groups: (readonly ErrorCode[])[]): readonly ErrorCode[] {
  return [...new Set(groups.flat())];
}

const PAGE: readonly QueryName[] = ['pageSize', 'cursor'];

export const OPERATIONS = {
  getServerInfo: {
    method: 'GET',
    path: '/_info',
    summary: 'Server version',
    tag: 'system',
    mount: 'api',
    scopes: OPEN,
    responses: { 200: { description: 'The running version', body: 'ServerInfo' } },
    errors: ['INTERNAL_ERROR'],
  },
  getHealth: {
    method: 'GET',
    path: '/_healthcheck',
    summary: 'Health: 200 while the database answers, 503 when it does not',
    tag: 'system',
    mount: 'api',
    scopes: OPEN,
    responses: { 200: { description: 'The database answers', body: 'Health' } },
    errors: SERVER,
  },
  listWallets: {
    method: 'GET',
    path: '/wallets',
    summary: 'List wallets in creation order',
    description: 'Filters: exact `name`, `metadata[key]=value` (all must match). `expand=balances` fills each main balance.',
    tag: 'wallets',
    mount: 'api',
    query: ['pageSize', 'cursor', 'name', 'metadata', 'expand'],
    responses: { 200: { description: 'A page of wallets', body: 'ListWalletsResponse' } },
    errors: errors(AUTH, ['VALIDATION'], SERVER),
  },
  createWallet: {
    method: 'POST',
    path: '/wallets',
    summary: 'Create a wallet',
    description: 'With an Idempotency-Key the wallet id is derived from the key, so a retry returns the same wallet.',
    tag: 'wallets',
    mount: 'api',
    body: { schema: 'CreateWalletRequest', required: false },
    idempotent: true,
    responses: { 201: { description: 'The new wallet', body: 'CreateWalletResponse' } },
    errors: errors(AUTH, BODY, KEYED, SERVER),
  },
  getWallet: {
    method: 'GET',
    path: '/wallets/{id}',
    summary: 'Get a wallet with its main balance',
    tag: 'wallets',
    mount: 'api',
    responses: { 200: { description: 'The wallet', body: 'GetWalletResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  updateWallet: {
    method: 'PATCH',
    path: '/wallets/{id}',
    summary: "Merge metadata into a wallet's metadata, or change its status",
    description:
      'Metadata keys are added or overwritten, never deleted. `status`: `frozen` lets money in but never out; `closed` is read only and for good, ' +
      'and needs every balance and hold of the wallet at zero (else VALIDATION). A closed wallet takes no patch (WALLET_CLOSED).',
    tag: 'wallets',
    mount: 'api',
    body: { schema: 'UpdateWalletRequest', required: true },
    idempotent: true,
    responses: { 204: { description: 'Updated' } },
    errors: errors(AUTH, BODY, KEYED, ['NOT_FOUND', 'WALLET_CLOSED'], SERVER),
  },
  getWalletSummary: {
    method: 'GET',
    path: '/wallets/{id}/summary',
    summary: 'Balances, available, expired, expirable and held funds of a wallet',
    tag: 'wallets',
    mount: 'api',
    responses: { 200: { description: 'The summary', body: 'GetWalletSummaryResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  listBalances: {
    method: 'GET',
    path: '/wallets/{id}/balances',
    summary: "List a wallet's balances in name order, main included",
    tag: 'balances',
    mount: 'api',
    query: PAGE,
    responses: { 200: { description: 'A page of balances', body: 'ListBalancesResponse' } },
    errors: errors(AUTH, ['VALIDATION', 'NOT_FOUND'], SERVER),
  },
  createBalance: {
    method: 'POST',
    path: '/wallets/{id}/balances',
    summary: 'Create a named balance',
    tag: 'balances',
    mount: 'api',
    body: { schema: 'CreateBalanceRequest', required: true },
    idempotent: true,
    responses: { 201: { description: 'The new balance', body: 'CreateBalanceResponse' } },
    errors: errors(AUTH, BODY, KEYED, ['NOT_FOUND', 'WALLET_CLOSED'], SERVER),
  },
  getBalance: {
    method: 'GET',
    path: '/wallets/{id}/balances/{balanceName}',
    summary: 'Get a balance with its amounts',
    tag: 'balances',
    mount: 'api',
    responses: { 200: { description: 'The balance', body: 'GetBalanceResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  updateBalance: {
    method: 'PATCH',
    path: '/wallets/{id}/balances/{balanceName}',
    summary: "Change a balance's overdraft limits, priority or expiry",
    description:
      '`overdraft` sets the limit of each asset named (0 removes it; others keep theirs); a limit the balance is already below is VALIDATION. ' +
      '`expiresAt: null` removes the expiry. `main` takes only `overdraft`.',
    tag: 'balances',
    mount: 'api',
    body: { schema: 'UpdateBalanceRequest', required: true },
    idempotent: true,
    responses: { 204: { description: 'Updated' } },
    errors: errors(AUTH, BODY, KEYED, ['NOT_FOUND', 'WALLET_CLOSED'], SERVER),
  },
  debitWallet: {
    method: 'POST',
    path: '/wallets/{id}/debit',
    summary: 'Debit a wallet, at once or as a pending hold',
    description: 'Sources: `balances` (default `["main"]`; `["*"]` = expiring ones soonest first, then by priority, main last).',
    tag: 'wallets',
    mount: 'api',
    body: { schema: 'DebitWalletRequest', required: true },
    idempotent: true,
    responses: {
      201: { description: 'A pending debit: the hold', body: 'DebitWalletResponse' },
      204: { description: 'Debited' },
    },
    errors: errors(AUTH, BODY, KEYED, ['INSUFFICIENT_FUND', 'NOT_FOUND', 'WALLET_FROZEN', 'WALLET_CLOSED'], SERVER),
  },
  creditWallet: {
    method: 'POST',
    path: '/wallets/{id}/credit',
    summary: 'Credit a wallet from the world or from other subjects',
    tag: 'wallets',
    mount: 'api',
    body: { schema: 'CreditWalletRequest', required: true },
    idempotent: true,
    responses: { 204: { description: 'Credited' } },
    errors: errors(AUTH, BODY, KEYED, ['INSUFFICIENT_FUND', 'NOT_FOUND', 'WALLET_FROZEN', 'WALLET_CLOSED'], SERVER),
  },
  getEvents: {
    method: 'GET',
    path: '/events',
    summary: 'The event feed: every change, oldest first, in commit order',
    description:
      'Each event is written in the transaction of its change; `position` orders the feed and a consumer resuming `after` the last position it handled never misses one. ' +
      '`type` (repeated or comma-separated) and `walletID` filter; `wait` (seconds, up to 30) holds the request until a first event that passes the filters arrives. ' +
      '`next` resumes after the last position the read looked at: the last event of a full page, else the feed\'s high-water mark, so with a filter it moves past the events left out, ' +
      'and an empty filtered page has one too; it is absent only when no event at all is past `after` yet. The payloads are the `webhooks` of this document.',
    tag: 'events',
    mount: 'api',
    query: ['pageSize', 'cursor', 'after', 'type', 'walletID', 'wait'],
    responses: { 200: { description: 'A page of events', body: 'GetEventsResponse' } },
    errors: errors(AUTH, ['VALIDATION'], SERVER),
  },
  createWebhook: {
    method: 'POST',
    path: '/webhooks',
    summary: 'Add a webhook endpoint: every event committed from now on is sent to it; its secret is in this answer',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    body: { schema: 'CreateWebhookRequest', required: true },
    responses: { 201: { description: 'The endpoint with its secret', body: 'WebhookWithSecretResponse' } },
    errors: errors(AUTH, BODY, SERVER),
  },
  listWebhooks: {
    method: 'GET',
    path: '/webhooks',
    summary: 'List webhook endpoints',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    responses: { 200: { description: 'The endpoints, oldest first', body: 'ListWebhooksResponse' } },
    errors: errors(AUTH, SERVER),
  },
  getWebhook: {
    method: 'GET',
    path: '/webhooks/{webhookID}',
    summary: 'Get a webhook endpoint',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    responses: { 200: { description: 'The endpoint', body: 'WebhookResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  updateWebhook: {
    method: 'PATCH',
    path: '/webhooks/{webhookID}',
    summary: 'Change a webhook endpoint: url, event types, description, enabled',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    body: { schema: 'UpdateWebhookRequest', required: true },
    responses: { 200: { description: 'The endpoint as changed', body: 'WebhookResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  deleteWebhook: {
    method: 'DELETE',
    path: '/webhooks/{webhookID}',
    summary: 'Remove a webhook endpoint and its pending deliveries',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    responses: { 204: { description: 'Removed' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  rotateWebhookSecret: {
    method: 'POST',
    path: '/webhooks/{webhookID}/rotate-secret',
    summary: 'A new secret; the old one keeps signing alongside it for WEBHOOK_SECRET_GRACE',
    description: 'Takes no body (or an empty JSON object).',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    responses: { 200: { description: 'The endpoint with its new secret', body: 'WebhookWithSecretResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  testWebhook: {
    method: 'POST',
    path: '/webhooks/{webhookID}/test',
    summary: 'Send the endpoint a `webhook.test` event (by the delivery loop, like any other)',
    description: 'Takes no body (or an empty JSON object).',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    responses: { 202: { description: 'Queued: see its attempts', body: 'WebhookTestResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  listWebhookAttempts: {
    method: 'GET',
    path: '/webhooks/{webhookID}/attempts',
    summary: 'Every delivery attempt to the endpoint, the last recorded first: event, status code, latency, error, next retry',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    query: ['pageSize'],
    responses: { 200: { description: 'The attempts', body: 'ListWebhookAttemptsResponse' } },
    errors: errors(AUTH, ['VALIDATION', 'NOT_FOUND'], SERVER),
  },
  replayWebhook: {
    method: 'POST',
    path: '/webhooks/{webhookID}/replay',
    summary: 'Send the endpoint its events again: after a feed position and/or since an instant',
    tag: 'webhooks',
    mount: 'api',
    scopes: ['admin'],
    body: { schema: 'ReplayWebhookRequest', required: false },
    responses: { 202: { description: 'How many deliveries were queued', body: 'WebhookReplayResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  getHolds: {
    method: 'GET',
    path: '/holds',
    summary: 'List holds in creation order, closed ones included',
    description: '`status`: only holds with that status now (an open hold past its expiry is `expired`).',
    tag: 'holds',
    mount: 'api',
    query: ['pageSize', 'cursor', 'walletID', 'metadata', 'status'],
    responses: { 200: { description: 'A page of holds', body: 'GetHoldsResponse' } },
    errors: errors(AUTH, ['VALIDATION'], SERVER),
  },
  getHold: {
    method: 'GET',
    path: '/holds/{holdID}',
    summary: 'Get a hold with its original and remaining amounts',
    tag: 'holds',
    mount: 'api',
    responses: { 200: { description: 'The hold', body: 'GetHoldResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  updateHold: {
    method: 'PATCH',
    path: '/holds/{holdID}',
    summary: "Move an open hold's expiry (null removes it)",
    tag: 'holds',
    mount: 'api',
    body: { schema: 'UpdateHoldRequest', required: true },
    idempotent: true,
    responses: { 204: { description: 'Updated' } },
    errors: errors(AUTH, BODY, KEYED, ['HOLD_CLOSED', 'HOLD_EXPIRED', 'NOT_FOUND', 'WALLET_CLOSED'], SERVER),
  },
  confirmHold: {
    method: 'POST',
    path: '/holds/{holdID}/confirm',
    summary: "Send all or part of a hold to its destination; `final` returns the rest to main",
    tag: 'holds',
    mount: 'api',
    body: { schema: 'ConfirmHoldRequest', required: false },
    idempotent: true,
    responses: { 204: { description: 'Confirmed' } },
    errors: errors(AUTH, BODY, KEYED, ['INSUFFICIENT_FUND', 'HOLD_CLOSED', 'HOLD_EXPIRED', 'NOT_FOUND', 'WALLET_FROZEN', 'WALLET_CLOSED'], SERVER),
  },
  voidHold: {
    method: 'POST',
    path: '/holds/{holdID}/void',
    summary: 'Cancel a hold: what remains goes back to the balances it came from',
    description: 'Takes no body; one that is sent is ignored (but must still be JSON of at most 1 MiB). An expired hold is HOLD_CLOSED: the sweeper voids it.',
    tag: 'holds',
    mount: 'api',
    idempotent: true,
    responses: { 204: { description: 'Voided' } },
    errors: errors(AUTH, BODY, KEYED, ['HOLD_CLOSED', 'NOT_FOUND'], SERVER),
  },
  bulk: {
    method: 'POST',
    path: '/bulk',
    summary: 'Up to 1,000 mutations in one request, atomic or each on its own',
    description:
      'Each operation is `{action, ik?, data}`: `action` one of CREATE_WALLET, UPDATE_WALLET, CREATE_BALANCE, CREDIT_WALLET, DEBIT_WALLET, ' +
      'CONFIRM_HOLD, VOID_HOLD; `data` the single route\'s body plus its path parameter (`walletID` or `holdID`); `ik` that operation\'s ' +
      'Idempotency-Key. The answer is 200 with one item per operation, in order: the status and body its single route would have answered. ' +
      '`atomic: true` runs them in one transaction: if one is refused, none is applied, and the others answer 424 ROLLED_BACK. ' +
      'An operation that names a wallet or hold an earlier one created or changed sees it. The request\'s own Idempotency-Key replays the whole answer. ' +
      'Body up to 8 MiB. At most BULK_CONCURRENCY (default 4) bulk requests are served at once per process; one more is refused ' +
      'with 429 TOO_MANY_REQUESTS and Retry-After before its body is read. ' +
      'Error codes other than those of the request itself (VALIDATION, CONFLICT, TOO_MANY_REQUESTS, …) appear inside items.',
    tag: 'bulk',
    mount: 'api',
    body: { schema: 'BulkRequest', required: true },
    idempotent: true,
    bodyBytesMax: BULK_BODY_BYTES_MAX,
    responses: { 200: { description: 'One answer per operation, in request order', body: 'BulkResponse' } },
    errors: errors(
      AUTH,
      BODY,
      KEYED,
      // BULK_CONCURRENCY reached (http/in-flight-limit.ts), auth on or off.
      ['TOO_MANY_REQUESTS'],
      ['INSUFFICIENT_FUND', 'HOLD_CLOSED', 'HOLD_EXPIRED', 'NOT_FOUND', 'WALLET_FROZEN', 'WALLET_CLOSED', 'ROLLED_BACK'],
      SERVER,
    ),
  },
  getTransactions: {
    method: 'GET',
    path: '/transactions',
    summary: "List transactions newest first, optionally those touching one wallet's accounts",
    tag: 'transactions',
    mount: 'api',
    query: ['pageSize', 'cursor', 'walletID'],
    responses: { 200: { description: 'A page of transactions', body: 'GetTransactionsResponse' } },
    errors: errors(AUTH, ['VALIDATION'], SERVER),
  },
  getOpenApi: {
    method: 'GET',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    tag: 'system',
    mount: 'root',
    scopes: OPEN,
    responses: { 200: { description: 'The OpenAPI document', body: 'openapi' } },
    errors: ['INTERNAL_ERROR'],
  },
  getDocs: {
    method: 'GET',
    path: '/docs',
    summary: 'Interactive API reference (Swagger UI, served from this server: no CDN)',
    tag: 'system',
    mount: 'root',
    scopes: OPEN,
    responses: { 200: { description: 'An HTML page', body: 'text/html' } },
    errors: ['INTERNAL_ERROR'],
  },
  getMetrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description: 'With auth on: a token with `metrics:read` (a scraper needs nothing more) or `admin`.',
    tag: 'system',
    mount: 'root',
    scopes: ['metrics:read', 'admin'],
    responses: { 200: { description: 'Prometheus text exposition format', body: 'text/plain' } },
    errors: errors(AUTH, ['INTERNAL_ERROR']),
  },
  getBackup: {
    method: 'GET',
    path: '/_backup',
    summary: 'A consistent backup of the embedded database, taken while serving',
    description:
      'Admin (scope `admin`). The PGlite data folder as a gzipped tar, read while no write runs (after a CHECKPOINT); `coffer restore` ' +
      'unpacks it into a new folder. A server on PostgreSQL answers 404: back it up with pg_dump or a base backup (docs/deployment.md).',
    tag: 'system',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'The data folder, a gzipped tar', body: 'application/gzip' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  createToken: {
    method: 'POST',
    path: '/oauth/token',
    summary: 'An access token for an API client (OAuth 2.0 client credentials grant)',
    description:
      'RFC 6749 §4.4: a form body (`application/x-www-form-urlencoded`, or JSON) with `grant_type=client_credentials`, the credentials in it ' +
      '(`client_id`, `client_secret`) or as HTTP Basic, and optionally `scope`, a subset of the client\'s. Errors follow §5.2 ' +
      '(`error`, `error_description`) and carry Coffer\'s `errorCode` and `errorMessage` too. Limited per client address.',
    tag: 'auth',
    mount: 'root',
    scopes: OPEN,
    body: { schema: 'TokenRequest', required: true, form: true },
    responses: { 200: { description: 'The access token', body: 'TokenResponse' } },
    errors: errors(['VALIDATION', 'UNAUTHORIZED', 'TOO_MANY_REQUESTS', 'REQUEST_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'], SERVER),
  },
  createTokenUnderApi: {
    method: 'POST',
    path: '/api/auth/oauth/token',
    summary: 'The same token endpoint, at the path the Formance SDK calls by default',
    tag: 'auth',
    mount: 'root',
    scopes: OPEN,
    body: { schema: 'TokenRequest', required: true, form: true },
    responses: { 200: { description: 'The access token', body: 'TokenResponse' } },
    errors: errors(['VALIDATION', 'UNAUTHORIZED', 'TOO_MANY_REQUESTS', 'REQUEST_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'], SERVER),
  },
  getJwks: {
    method: 'GET',
    path: '/.well-known/jwks.json',
    summary: 'The public keys that verify access tokens (JWKS), old ones included until their tokens expire',
    tag: 'auth',
    mount: 'root',
    scopes: OPEN,
    responses: { 200: { description: 'A JSON Web Key Set', body: 'JsonWebKeySet' } },
    errors: SERVER,
  },
  listClients: {
    method: 'GET',
    path: '/auth/clients',
    summary: 'List API clients, revoked ones included (never their secrets)',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'Every client, oldest first', body: 'ListClientsResponse' } },
    errors: errors(AUTH, SERVER),
  },
  createClient: {
    method: 'POST',
    path: '/auth/clients',
    summary: 'Create an API client; its secret is in this answer and nowhere else',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    body: { schema: 'CreateClientRequest', required: true },
    responses: { 201: { description: 'The client with its secret', body: 'ClientWithSecretResponse' } },
    errors: errors(AUTH, BODY, SERVER),
  },
  getClient: {
    method: 'GET',
    path: '/auth/clients/{clientId}',
    summary: 'Get an API client',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'The client', body: 'ClientResponse' } },
    errors: errors(AUTH, ['NOT_FOUND'], SERVER),
  },
  revokeClient: {
    method: 'POST',
    path: '/auth/clients/{clientId}/revoke',
    summary: 'Revoke an API client: no new tokens, and its tokens stop working within a second',
    description: 'Takes no body. Revoking a revoked client changes nothing.',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'The revoked client', body: 'ClientResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  rotateClientSecret: {
    method: 'POST',
    path: '/auth/clients/{clientId}/rotate-secret',
    summary: "Replace a client's secret; the old secret and the tokens minted with it stop working",
    description: 'Takes no body. A revoked client has no secret to rotate: 404.',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'The client with its new secret', body: 'ClientWithSecretResponse' } },
    errors: errors(AUTH, BODY, ['NOT_FOUND'], SERVER),
  },
  listSigningKeys: {
    method: 'GET',
    path: '/auth/keys',
    summary: 'List token signing keys, newest first (never their private parts)',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 200: { description: 'The keys', body: 'ListSigningKeysResponse' } },
    errors: errors(AUTH, SERVER),
  },
  rotateSigningKey: {
    method: 'POST',
    path: '/auth/keys/rotate',
    summary: 'Add a signing key: new tokens carry its kid; old keys verify until their tokens expire',
    description: 'Takes no body. Keys retired more than 24 hours ago (the longest AUTH_TOKEN_TTL) are deleted.',
    tag: 'auth',
    mount: 'root',
    scopes: ['admin'],
    responses: { 201: { description: 'The new key', body: 'SigningKeyResponse' } },
    errors: errors(AUTH, BODY, SERVER),
  },
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

/** The scopes that open an operation, with auth on (any one of them will do); empty = open. */
export function requiredScopes(operation: Operation): readonly Scope[] {
  return operation.scopes ?? (operation.method === 'GET' ? ['wallets:read'] : ['wallets:write']);
}

/** `/wallets/{id}` → `/wallets/:id`, the form Fastify routes with. */
export function fastifyPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The OPERATIONS entry a route serves. */
    operationId?: OperationId;
    /** A file of the /docs page: part of the UI, not of the API, so not in the table. */
    uiAsset?: true;
  }
}

/** Registers the handler of an operation at the method and path the table gives it. */
export function route<Route extends RouteGenericInterface = RouteGenericInterface>(
  app: FastifyInstance,
  operationId: OperationId,
  handler: RouteHandlerMethod<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, Route>,
  hooks: { readonly onRequest?: onRequestAsyncHookHandler } = {},
): void {
  const operation: Operation = OPERATIONS[operationId];
  app.route<Route>({
    method: operation.method,
    url: fastifyPath(operation.path),
    config: { operationId },
    ...(operation.bodyBytesMax !== undefined ? { bodyLimit: operation.bodyBytesMax } : {}),
    // A route's own onRequest runs after the app's (authentication), before the body is read.
    ...(hooks.onRequest !== undefined ? { onRequest: hooks.onRequest } : {}),
    handler,
  });
}
