/**
 * The OpenAPI 3.1 document, generated from the schemas that validate requests (schemas.ts),
 * the response schemas (response-schemas.ts) and the route table (operations.ts): one
 * source of truth, so the document cannot describe a body the server does not check.
 *
 * zod writes the JSON Schema (2020-12, OpenAPI 3.1's dialect). Two things it cannot say on
 * its own are added by `override`: an `integer()` check becomes `{type: integer, format:
 * bigint, minimum, maximum}`, and bounds or defaults that are bigint (2^128 − 1 has no exact
 * float) are carried through zod's JSON round trip as markers and put back as bigint, which
 * json.ts writes as exact digits.
 */
import { z } from 'zod';
import type { ErrorCode } from '../domain/errors.ts';
import { HOLD_STATUSES } from '../domain/records.ts';
import { EVENT_TYPES } from '../domain/events.ts';
import { ID_LENGTH_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, type Limits } from '../domain/limits.ts';
import { STATUS_BY_CODE } from './errors.ts';
import { OPERATIONS, requiredScopes, type Answer, type Operation, type OperationId, type QueryName } from './operations.ts';
import {
  balanceResponse,
  balanceWithAssetsResponse,
  bulkItemResponse,
  cursorOf,
  dataOf,
  errorResponse,
  EVENT_SCHEMAS,
  webhookTestEvent,
  eventResponse,
  expandedHoldResponse,
  healthResponse,
  holdResponse,
  postingResponse,
  serverInfoResponse,
  summaryResponse,
  transactionResponse,
  walletResponse,
} from './response-schemas.ts';
import {
  clientResponse,
  clientWithSecretResponse,
  createClientRequest,
  jsonWebKeySet,
  signingKeyResponse,
  tokenErrorResponse,
  tokenRequest,
  tokenResponse,
} from './auth-schemas.ts';
import { SCOPES, type Scope } from '../domain/principal.ts';
import {
  createWebhookRequest,
  replayWebhookRequest,
  updateWebhookRequest,
  webhookAttemptResponse,
  webhookReplayResponse,
  webhookResponse,
  webhookTestResponse,
  webhookWithSecretResponse,
} from './webhook-schemas.ts';
import { accountSubject, buildSchemas, integerRange, monetary, subject, walletSubject, type Schemas } from './schemas.ts';

/** Every schema the document names, request and response; names follow the reference's. */
export function components(schemas: Schemas) {
  return {
    Monetary: monetary,
    LedgerAccountSubject: accountSubject,
    WalletSubject: walletSubject,
    Subject: subject,
    CreateWalletRequest: schemas.createWallet,
    UpdateWalletRequest: schemas.updateWallet,
    CreateBalanceRequest: schemas.createBalance,
    UpdateBalanceRequest: schemas.updateBalance,
    UpdateHoldRequest: schemas.updateHold,
    DebitWalletRequest: schemas.debit,
    CreditWalletRequest: schemas.credit,
    ConfirmHoldRequest: schemas.confirmHold,
    Wallet: walletResponse,
    Balance: balanceResponse,
    BalanceWithAssets: balanceWithAssetsResponse,
    Hold: holdResponse,
    ExpandedDebitHold: expandedHoldResponse,
    WalletSummary: summaryResponse,
    Posting: postingResponse,
    Transaction: transactionResponse,
    ListWalletsResponse: cursorOf(walletResponse),
    CreateWalletResponse: dataOf(walletResponse),
    GetWalletResponse: dataOf(walletResponse),
    GetWalletSummaryResponse: dataOf(summaryResponse),
    ListBalancesResponse: cursorOf(balanceResponse),
    CreateBalanceResponse: dataOf(balanceResponse),
    GetBalanceResponse: dataOf(balanceWithAssetsResponse),
    DebitWalletResponse: dataOf(holdResponse),
    GetHoldsResponse: cursorOf(holdResponse),
    GetHoldResponse: dataOf(expandedHoldResponse),
    GetTransactionsResponse: cursorOf(transactionResponse),
    ...EVENT_SCHEMAS,
    WebhookTestEvent: webhookTestEvent,
    Event: eventResponse,
    GetEventsResponse: cursorOf(eventResponse),
    BulkRequest: schemas.bulk,
    BulkItem: bulkItemResponse,
    BulkResponse: z.strictObject({ data: z.array(bulkItemResponse) }),
    ErrorResponse: errorResponse,
    ServerInfo: serverInfoResponse,
    Health: healthResponse,
    TokenRequest: tokenRequest,
    TokenResponse: tokenResponse,
    TokenErrorResponse: tokenErrorResponse,
    JsonWebKeySet: jsonWebKeySet,
    CreateClientRequest: createClientRequest,
    Client: clientResponse,
    ClientWithSecret: clientWithSecretResponse,
    SigningKey: signingKeyResponse,
    ClientResponse: dataOf(clientResponse),
    ClientWithSecretResponse: dataOf(clientWithSecretResponse),
    ListClientsResponse: z.strictObject({ data: z.array(clientResponse) }),
    SigningKeyResponse: dataOf(signingKeyResponse),
    ListSigningKeysResponse: z.strictObject({ data: z.array(signingKeyResponse) }),
    CreateWebhookRequest: createWebhookRequest,
    UpdateWebhookRequest: updateWebhookRequest,
    ReplayWebhookRequest: replayWebhookRequest,
    Webhook: webhookResponse,
    WebhookWithSecret: webhookWithSecretResponse,
    WebhookAttempt: webhookAttemptResponse,
    WebhookResponse: dataOf(webhookResponse),
    WebhookWithSecretResponse: dataOf(webhookWithSecretResponse),
    ListWebhooksResponse: z.strictObject({ data: z.array(webhookResponse) }),
    ListWebhookAttemptsResponse: z.strictObject({ data: z.array(webhookAttemptResponse) }),
    WebhookTestResponse: dataOf(webhookTestResponse),
    WebhookReplayResponse: dataOf(webhookReplayResponse),
  } as const;
}

export type ComponentName = keyof ReturnType<typeof components>;

/** What each error code means, for the document's error responses. */
export const ERROR_MEANINGS: Record<ErrorCode, string> = {
  VALIDATION:
    'the request is malformed (body, query, path or Idempotency-Key), names a balance or wallet that does not exist, sets an expiry that is not in the future, ' +
    'closes a wallet that still holds money, or sets an overdraft limit its balance is already below',
  INSUFFICIENT_FUND: 'the sources cannot cover the amount',
  HOLD_CLOSED: 'the hold is settled (confirmed, voided or expired): nothing remains on it, or it expired and only the sweeper voids it',
  HOLD_EXPIRED: 'the hold reached its expiresAt: it can no longer be confirmed or changed',
  WALLET_FROZEN: 'the wallet is frozen: money may come in, never leave',
  WALLET_CLOSED: 'the wallet is closed: it only answers reads',
  UNAUTHORIZED: 'no bearer token, or one that is malformed, expired, wrongly signed, signed by an unknown key or of a revoked client (auth on)',
  FORBIDDEN: "the token is valid but lacks the operation's scope",
  NOT_FOUND: 'no such wallet, balance, hold or route',
  CONFLICT: 'the Idempotency-Key was used for a different request, or the transaction reference is taken',
  ROLLED_BACK:
    'only inside a bulk answer (the request itself answers 200): the request was atomic and another of its operations was refused, ' +
    'so this one was not applied (nothing of the request was)',
  REQUEST_TOO_LARGE: 'the body is over 1 MiB (8 MiB for POST /bulk)',
  UNSUPPORTED_MEDIA_TYPE: 'the body is not application/json',
  TOO_MANY_REQUESTS:
    "the client's request budget, or the address's token requests, are spent for now, or BULK_CONCURRENCY bulk requests are already in flight: wait Retry-After seconds",
  INTERNAL_ERROR: 'a bug; the message is generic and the details are logged',
  SERVICE_UNAVAILABLE: 'the database does not answer; retry later (with the same Idempotency-Key)',
};

type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };
export type OpenApiDocument = { [key: string]: Json };

const BIGINT_MARKER = '\u0000bigint:';

function marker(value: bigint): string {
  return `${BIGINT_MARKER}${value}`;
}

/** Puts back the bigints that went through zod's JSON round trip as markers. */
function restoreBigints(value: unknown): Json {
  if (typeof value === 'string') return value.startsWith(BIGINT_MARKER) ? BigInt(value.slice(BIGINT_MARKER.length)) : value;
  if (Array.isArray(value)) return value.map(restoreBigints);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, restoreBigints(item)]));
  }
  return value as Json;
}

function componentSchemas(schemas: Schemas): Record<string, Json> {
  const registry = z.registry<z.GlobalMeta & { id: string }>();
  // This registry's entry replaces the schema's own .meta() (description, examples): keep both.
  for (const [id, schema] of Object.entries(components(schemas))) registry.add(schema, { ...z.globalRegistry.get(schema), id });
  const generated = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    // Request schemas are described as a client writes them: defaults make fields optional.
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
    override: (context) => {
      const json = context.jsonSchema as Record<string, unknown>;
      const range = integerRange(context.zodSchema);
      if (range) {
        json.type = 'integer';
        json.format = range.format;
        if (range.min !== null) json.minimum = marker(range.min);
        if (range.max !== null) json.maximum = marker(range.max);
      }
      // In input mode zod drops the examples of a schema that transforms (they could be
      // outputs); ours are written as requests, so they stay.
      const examples = registry.get(context.zodSchema)?.examples ?? z.globalRegistry.get(context.zodSchema)?.examples;
      if (examples !== undefined && json.examples === undefined) json.examples = examples;
      // zod leaves out a default it cannot write as JSON (a bigint such as priority's 0).
      const def = context.zodSchema._zod.def;
      if (def.type === 'default' && 'defaultValue' in def && typeof def.defaultValue === 'bigint') json.default = marker(def.defaultValue);
    },
  });
  const result: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(generated.schemas)) {
    // A component is not a standalone document: its dialect is the document's, and a
    // fragment-only $id is not allowed by JSON Schema 2020-12.
    const component = { ...(schema as Record<string, unknown>) };
    delete component.$schema;
    delete component.$id;
    result[id] = restoreBigints(component);
  }
  // The reference declares the subject's discriminator; code generators use it.
  const subjectSchema = result.Subject as Record<string, Json>;
  subjectSchema.discriminator = {
    propertyName: 'type',
    mapping: { ACCOUNT: '#/components/schemas/LedgerAccountSubject', WALLET: '#/components/schemas/WalletSubject' },
  };
  return result;
}

const QUERY_PARAMETERS: Record<QueryName, Json> = {
  pageSize: {
    name: 'pageSize',
    in: 'query',
    description: `Items per page; values above ${PAGE_SIZE_MAX} are served as ${PAGE_SIZE_MAX}`,
    schema: { type: 'integer', minimum: 1, maximum: 999_999_999, default: PAGE_SIZE_DEFAULT },
  },
  cursor: {
    name: 'cursor',
    in: 'query',
    description: "A page's `next` or `previous` token; when given, the other query parameters are ignored",
    schema: { type: 'string' },
  },
  name: { name: 'name', in: 'query', description: 'Exact wallet name', schema: { type: 'string' } },
  metadata: {
    name: 'metadata',
    in: 'query',
    description: '`metadata[key]=value`: exact match on each key given',
    style: 'deepObject',
    explode: true,
    schema: { type: 'object', additionalProperties: { type: 'string' } },
  },
  expand: {
    name: 'expand',
    in: 'query',
    description: '`balances` fills each wallet\'s main balance amounts',
    schema: { type: 'string', enum: ['balances'] },
  },
  walletID: { name: 'walletID', in: 'query', description: 'Only those of this wallet', schema: { type: 'string', maxLength: ID_LENGTH_MAX } },
  status: { name: 'status', in: 'query', description: 'Only holds with this status now', schema: { type: 'string', enum: [...HOLD_STATUSES] } },
  after: {
    name: 'after',
    in: 'query',
    description: 'Events after this position (an event\'s `position`; 0 or absent = from the first), or after a cursor (a page\'s `next`, as `cursor` takes it, its filter and page size with it: `type`, `walletID` and `pageSize` beside it must match them or be left out)',
    schema: { anyOf: [{ type: 'integer', minimum: 0, maximum: 999_999_999_999_999_999n }, { type: 'string', pattern: '^(?![0-9]+$)[A-Za-z0-9_-]{1,4096}$' }] },
  },
  type: {
    name: 'type',
    in: 'query',
    description: 'Only events of these types (repeated or comma-separated)',
    schema: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } },
    style: 'form',
    explode: true,
  },
  wait: {
    name: 'wait',
    in: 'query',
    description: 'Long poll: when no event is there yet, wait up to this many seconds for one',
    schema: { type: 'integer', minimum: 0, maximum: 30, default: 0 },
  },
};

/** The headers of every delivery, per Standard Webhooks. */
const WEBHOOK_DELIVERY_HEADERS: Json[] = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: 'The event id (UUIDv7): the same on every retry and replay of the event, so a receiver deduplicates with it',
    schema: { type: 'string' },
  },
  { name: 'webhook-timestamp', in: 'header', required: true, description: 'When this attempt was signed, in seconds since the Unix epoch', schema: { type: 'string', pattern: '^[0-9]+$' } },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      '`v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` under the endpoint\'s secret (the bytes after `whsec_`, base64-decoded); during a rotation\'s grace period a second one, under the previous secret, space-separated',
    schema: { type: 'string', pattern: '^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$' },
  },
];

/**
 * OpenAPI 3.1 `webhooks`: one entry per event type, the body Coffer sends (and `GET /events`
 * lists) for it, and one for the test delivery, with the Standard Webhooks headers.
 */
function webhooks(): Record<string, Json> {
  const delivery = (type: string, description: string, schema: string): [string, Json] => [
    type,
    {
      post: {
        summary: type,
        description: `${description} Deliveries follow Standard Webhooks: \`webhook-id\` (the event id), \`webhook-timestamp\`, \`webhook-signature\`.`,
        parameters: WEBHOOK_DELIVERY_HEADERS,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } },
        responses: { '2XX': { description: 'Received (within 10 s); any other answer, or none in time, is retried' } },
      },
    },
  ];
  return Object.fromEntries([
    ...EVENT_TYPES.map((type) => delivery(type, 'An event as the feed lists it.', `Event.${type}`)),
    delivery('webhook.test', 'What `POST /webhooks/{id}/test` sends: an event of its own, in no feed.', 'WebhookTestEvent'),
  ]);
}

const HEADERS: Record<string, Json> = {
  RequestId: {
    description: 'The request id: the X-Request-Id sent (1–128 printable ASCII characters), else a new UUIDv7. It is on every log line of the request.',
    schema: { type: 'string' },
  },
  IdempotentReplayed: {
    description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
  IdempotencyHit: { description: 'Same as Idempotent-Replayed, under the reference service\'s name', schema: { type: 'string', enum: ['true'] } },
  WwwAuthenticate: {
    description: 'On a 401 or 403 with auth on: `Bearer` with the reason (RFC 6750 §3), e.g. `Bearer realm="coffer", error="invalid_token"`',
    schema: { type: 'string' },
  },
  RetryAfter: { description: 'On a 429: whole seconds until a request will be accepted again', schema: { type: 'integer', minimum: 1 } },
};

/** What each scope opens, for the security scheme. */
const SCOPE_MEANINGS: Record<Scope, string> = {
  'wallets:read': 'every GET of the wallets API',
  'wallets:write': 'every mutation of the wallets API',
  admin: 'API clients and token signing keys; also /metrics',
  'metrics:read': 'GET /metrics, and nothing else',
};

/**
 * OAuth 2.0 client credentials, under the name and token URL Formance's document uses, so
 * that generated SDKs fetch and attach tokens by themselves.
 */
const SECURITY_SCHEMES: Json = {
  Authorization: {
    type: 'oauth2',
    description: 'Needed when the server runs with AUTH=required (the default on any address but loopback). Create a client with `coffer clients create`.',
    flows: {
      clientCredentials: {
        tokenUrl: '/oauth/token',
        refreshUrl: '/oauth/token',
        scopes: Object.fromEntries(SCOPES.map((scope) => [scope, SCOPE_MEANINGS[scope]])),
      },
    },
  },
};

/** `[]` for an open operation; else one requirement per scope that opens it (any one will do). */
function security(operation: Operation): Json {
  return requiredScopes(operation).map((scope) => ({ Authorization: [scope] }));
}

const IDEMPOTENCY_KEY: Json = {
  name: 'Idempotency-Key',
  in: 'header',
  description: 'Makes a retry return the stored answer instead of running again: 1–255 printable ASCII characters, scoped to the ledger',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7e]+$' },
};

function responseHeaders(operation: Operation, status?: number): Json {
  const headers: Record<string, Json> = { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } };
  if (status === 401 || status === 403) headers['WWW-Authenticate'] = { $ref: '#/components/headers/WwwAuthenticate' };
  if (status === 429) headers['Retry-After'] = { $ref: '#/components/headers/RetryAfter' };
  if (operation.idempotent) {
    headers['Idempotent-Replayed'] = { $ref: '#/components/headers/IdempotentReplayed' };
    headers['Idempotency-Hit'] = { $ref: '#/components/headers/IdempotencyHit' };
  }
  return headers;
}

function content(answer: Answer): Json | undefined {
  switch (answer.body) {
    case undefined:
      return undefined;
    case 'text/plain':
    case 'text/html':
      return { [answer.body]: { schema: { type: 'string' } } };
    case 'openapi':
      return { 'application/json': { schema: { type: 'object' } } };
    case 'application/gzip':
      return { 'application/gzip': { schema: { type: 'string', format: 'binary' } } };
    default:
      return { 'application/json': { schema: { $ref: `#/components/schemas/${answer.body}` } } };
  }
}

function responses(operation: Operation): Json {
  const result: Record<string, Json> = {};
  const headers = responseHeaders(operation);
  for (const [status, answer] of Object.entries(operation.responses)) {
    const body = content(answer);
    result[status] = { description: answer.description, headers, ...(body !== undefined ? { content: body } : {}) };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of operation.errors) byStatus.set(STATUS_BY_CODE[code], [...(byStatus.get(STATUS_BY_CODE[code]) ?? []), code]);
  // The token endpoint answers errors in RFC 6749's shape, with Coffer's fields beside it.
  const errorSchema = operation.body?.form ? 'TokenErrorResponse' : 'ErrorResponse';
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    result[String(status)] = {
      description: codes.map((code) => `${code}: ${ERROR_MEANINGS[code]}`).join('. '),
      headers: responseHeaders(operation, status),
      content: { 'application/json': { schema: { $ref: `#/components/schemas/${errorSchema}` } } },
      'x-error-codes': codes,
    };
  }
  return result;
}

function requestBody(body: NonNullable<Operation['body']>): Json {
  const schema = { $ref: `#/components/schemas/${body.schema}` };
  const types = body.form ? ['application/x-www-form-urlencoded', 'application/json'] : ['application/json'];
  return { required: body.required, content: Object.fromEntries(types.map((type) => [type, { schema }])) };
}

function operationObject(id: OperationId, operation: Operation): Json {
  const pathParameters = [...operation.path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
    name: name!,
    in: 'path',
    required: true,
    schema: { type: 'string', minLength: 1, maxLength: ID_LENGTH_MAX },
  }));
  const parameters: Json[] = [
    ...pathParameters,
    ...(operation.query ?? []).map((name) => ({ $ref: `#/components/parameters/${name}` })),
    ...(operation.idempotent ? [{ $ref: '#/components/parameters/IdempotencyKey' }] : []),
  ];
  return {
    operationId: id,
    summary: operation.summary,
    ...(operation.description !== undefined ? { description: operation.description } : {}),
    tags: [operation.tag],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(operation.body !== undefined ? { requestBody: requestBody(operation.body) } : {}),
    responses: responses(operation),
    security: security(operation),
  };
}

export const API_SERVERS = [
  { url: '/', description: 'The server root' },
  { url: '/api/wallets', description: 'The same routes under the prefix the Formance SDK calls' },
];

export function buildOpenApi(limits: Limits, version: string): OpenApiDocument {
  const paths: Record<string, Record<string, Json>> = {};
  for (const [id, operation] of Object.entries(OPERATIONS) as [OperationId, Operation][]) {
    const item = (paths[operation.path] ??= {});
    // Routes outside the wallets API (docs, metrics) are not repeated under /api/wallets.
    if (operation.mount === 'root') item.servers = [{ url: '/' }];
    item[operation.method.toLowerCase()] = operationObject(id, operation);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Coffer',
      version,
      summary: 'Wallets with their own double-entry ledger, wire-compatible with the Formance Wallets v1 API',
      description: [
        'Amounts are JSON integers of minor units (`USD/2`: 10000 is 100.00 USD), exact up to 2^128 − 1 on the way in and unbounded on the way out: parse them without a float.',
        'Every error is `{errorCode, errorMessage}`; the codes are listed in `ErrorResponse` and per operation under `x-error-codes`.',
        'Every mutation takes an `Idempotency-Key`: a retry with the same key and body gets the stored answer, with `Idempotent-Replayed: true`.',
        'With auth on (`AUTH=required`, the default on any address but loopback), every operation but the open ones needs a bearer token from `POST /oauth/token` (OAuth 2.0 client credentials) carrying its scope: `wallets:read` for reads, `wallets:write` for mutations, `admin` for clients and keys. Idempotency keys are then scoped to the client.',
      ].join('\n\n'),
    },
    servers: API_SERVERS,
    tags: [
      { name: 'wallets', description: 'Wallets, their summary, debits and credits' },
      { name: 'balances', description: 'Named sub-balances of a wallet' },
      { name: 'holds', description: 'Pending debits: confirm or void' },
      { name: 'transactions', description: 'The ledger transactions wallets made' },
      { name: 'events', description: 'What changed, in commit order: the feed (webhook payloads are under `webhooks`)' },
      { name: 'webhooks', description: 'Endpoints that receive every event, signed per Standard Webhooks, retried for days' },
      { name: 'bulk', description: 'Many mutations in one request, atomic or each on its own' },
      { name: 'system', description: 'Health, version, this document, metrics' },
      { name: 'auth', description: 'Access tokens (OAuth 2.0 client credentials), API clients and signing keys' },
    ],
    paths,
    webhooks: webhooks(),
    components: {
      schemas: componentSchemas(buildSchemas(limits)),
      parameters: { ...QUERY_PARAMETERS, IdempotencyKey: IDEMPOTENCY_KEY },
      headers: HEADERS,
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}
