/**
 * Hostile input. Every route, at `/` and under `/api/wallets`, gets a corpus of malformed and
 * adversarial requests: broken and deeply nested JSON, wrong types in every field, numbers
 * past 2^128, negative and fractional, unicode and control characters, SQL- and
 * Numscript-looking strings in ids, names, metadata and filters, huge bodies and headers,
 * wrong content types, path tricks, duplicate keys, wrong methods.
 *
 * Each body is a request that would succeed, with ONE field made hostile — so the refusal is
 * that field's doing. Every answer must be a 4xx with a JSON error from Coffer's catalog, and
 * the whole database must be byte-for-byte what it was. Strings that are legitimate values
 * (SQL or Numscript text as a wallet name, metadata, a reference, a filter) must instead be
 * accepted and stored and matched verbatim: data, never code.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { it } from 'node:test';
import { ERROR_CODES } from '../src/domain/errors.ts';
import { createClient } from '../src/auth/clients.ts';
import type { Queryable } from '../src/storage/database.ts';
import {
  createBalance,
  createWallet,
  credit,
  expectStatus,
  isoIn,
  json,
  mainBalance,
  suite,
  type Harness,
  type Request,
  type Response,
} from './support/harness.ts';

const TABLES = ['wallets', 'balances', 'accounts', 'volumes', 'transactions', 'postings', 'holds', 'idempotency_keys', 'auth_clients', 'auth_signing_keys', 'wallet_status_changes', 'events', 'webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'];

/** Every row of every table, as text: two equal snapshots mean nothing was written. */
async function snapshot(db: Queryable): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const [row] = await db.query<{ rows: string }>(`SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') AS rows FROM ${table} t`);
    parts.push(`${table}:\n${row!.rows}`);
  }
  return parts.join('\n');
}

interface Fixtures {
  /** Funded: 1000 on main, 100 on `promo`, 5 on the expired balance `old`. */
  readonly funded: string;
  readonly empty: string;
  /** A hold that was voided: confirm and void of it are refused. */
  readonly closedHold: string;
  /** An API client with `wallets:read`, for the token endpoint. */
  readonly client: { readonly id: string; readonly secret: string };
  /** A webhook endpoint (example.com: nothing is sent while the test runs its turns by hand). */
  readonly webhook: string;
}

async function makeFixtures(h: Harness): Promise<Fixtures> {
  const funded = await createWallet(h, { name: 'funded' });
  await createBalance(h, funded, { name: 'promo', priority: 1n });
  await createBalance(h, funded, { name: 'old', expiresAt: isoIn(h, -3600) });
  await credit(h, funded, 1000n);
  await credit(h, funded, 100n, { balance: 'promo' });
  await credit(h, funded, 5n, { balance: 'old' });
  const empty = await createWallet(h, { name: 'empty' });
  const hold = expectStatus(await h.post(`/wallets/${funded}/debit`, { amount: { asset: 'USD/2', amount: 10n }, pending: true }), 201);
  const closedHold = hold.body.data.id as string;
  expectStatus(await h.post(`/holds/${closedHold}/void`), 204);
  const { client, clientSecret } = await createClient(h.db, 'hostile', ['wallets:read'], h.clock.now());
  const webhook = expectStatus(await h.post('/webhooks', { url: 'https://example.com/hook' }), 201).body.data.id as string;
  return { funded, empty, closedHold, client: { id: client.id, secret: clientSecret }, webhook };
}

type Method = Request['method'];

interface Route {
  readonly method: Method;
  /** With `{id}`, `{balanceName}`, `{holdID}`, `{clientId}`, `{webhookID}` placeholders. */
  readonly path: string;
  /** A body that would succeed on the fixtures' real targets (absent for routes without a body). */
  readonly body?: (f: Fixtures) => Record<string, unknown>;
  readonly list?: boolean;
  /** Served at the root only (the auth routes): not repeated under /api/wallets. */
  readonly root?: boolean;
  /** Takes no Idempotency-Key (the auth routes): a malformed one is not its business. */
  readonly unkeyed?: boolean;
}

/** The routes of the API tables (docs/api.md): 17 wallet routes, the two system routes, and the auth routes. */
const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/wallets', list: true },
  { method: 'POST', path: '/wallets', body: () => ({ name: 'x', metadata: { a: 'b' } }) },
  { method: 'GET', path: '/wallets/{id}' },
  { method: 'PATCH', path: '/wallets/{id}', body: () => ({ metadata: { a: 'b' } }) },
  { method: 'GET', path: '/wallets/{id}/summary' },
  { method: 'GET', path: '/wallets/{id}/balances', list: true },
  { method: 'POST', path: '/wallets/{id}/balances', body: () => ({ name: 'fresh', expiresAt: null, priority: 0n }) },
  { method: 'GET', path: '/wallets/{id}/balances/{balanceName}' },
  { method: 'PATCH', path: '/wallets/{id}/balances/{balanceName}', body: () => ({ priority: 3n }) },
  { method: 'POST', path: '/wallets/{id}/debit', body: () => ({ amount: { asset: 'USD/2', amount: 1n } }) },
  { method: 'POST', path: '/wallets/{id}/credit', body: () => ({ amount: { asset: 'USD/2', amount: 1n } }) },
  { method: 'GET', path: '/holds', list: true },
  { method: 'GET', path: '/holds/{holdID}' },
  { method: 'PATCH', path: '/holds/{holdID}', body: () => ({ expiresAt: null }) },
  { method: 'POST', path: '/holds/{holdID}/confirm', body: () => ({ amount: 1n, final: false }) },
  { method: 'POST', path: '/holds/{holdID}/void', body: () => ({}) },
  { method: 'GET', path: '/transactions', list: true },
  {
    method: 'POST',
    path: '/bulk',
    body: (f) => ({ atomic: true, operations: [{ action: 'DEBIT_WALLET', data: { walletID: f.funded, amount: { asset: 'USD/2', amount: 1n } } }] }),
  },
  { method: 'GET', path: '/events', list: true },
  { method: 'POST', path: '/webhooks', unkeyed: true, body: () => ({ url: 'https://example.com/other', eventTypes: ['wallet.created'], description: 'd' }) },
  { method: 'GET', path: '/webhooks' },
  { method: 'GET', path: '/webhooks/{webhookID}' },
  { method: 'PATCH', path: '/webhooks/{webhookID}', unkeyed: true, body: () => ({ description: 'x', enabled: true }) },
  { method: 'POST', path: '/webhooks/{webhookID}/rotate-secret', unkeyed: true, body: () => ({}) },
  { method: 'POST', path: '/webhooks/{webhookID}/test', unkeyed: true, body: () => ({}) },
  { method: 'GET', path: '/webhooks/{webhookID}/attempts' },
  { method: 'POST', path: '/webhooks/{webhookID}/replay', unkeyed: true, body: () => ({ after: 0n }) },
  // Last: the fixture's endpoint must exist for the routes above.
  { method: 'DELETE', path: '/webhooks/{webhookID}' },
  { method: 'GET', path: '/_info' },
  { method: 'GET', path: '/_healthcheck' },
  { method: 'GET', path: '/_backup', root: true },
  ...(['/oauth/token', '/api/auth/oauth/token'] as const).map(
    (path): Route => ({
      method: 'POST',
      path,
      root: true,
      unkeyed: true,
      body: (f) => ({ grant_type: 'client_credentials', client_id: f.client.id, client_secret: f.client.secret }),
    }),
  ),
  { method: 'GET', path: '/.well-known/jwks.json', root: true },
  { method: 'GET', path: '/auth/clients', root: true },
  { method: 'POST', path: '/auth/clients', root: true, unkeyed: true, body: () => ({ name: 'hostile', scopes: ['wallets:read'] }) },
  { method: 'GET', path: '/auth/clients/{clientId}', root: true },
  // Rotate before revoke: a revoked client has no secret to rotate.
  { method: 'POST', path: '/auth/clients/{clientId}/rotate-secret', root: true, unkeyed: true, body: () => ({}) },
  { method: 'POST', path: '/auth/clients/{clientId}/revoke', root: true, unkeyed: true, body: () => ({}) },
  { method: 'GET', path: '/auth/keys', root: true },
  { method: 'POST', path: '/auth/keys/rotate', root: true, unkeyed: true, body: () => ({}) },
];

function prefixesOf(route: Route): readonly string[] {
  return route.root ? [''] : PREFIXES;
}

const PREFIXES = ['', '/api/wallets'];

function realParams(f: Fixtures): Record<string, string> {
  return { id: f.funded, balanceName: 'promo', holdID: f.closedHold, clientId: f.client.id, webhookID: f.webhook };
}

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => params[name]!);
}

const SQL = ["' OR '1'='1", "1; DROP TABLE wallets; --", "x' UNION SELECT * FROM volumes --"];
const NUMSCRIPT = ['send [USD/2 100] (\n  source = @world\n  destination = @wallets:x:main\n)', 'vars { account $a }', '@world'];

/** Path parameter values that name nothing (404) or cannot be one (400): raw, already URL-encoded. */
function hostileIds(real: string): string[] {
  return [
    ...SQL.map(encodeURIComponent),
    ...NUMSCRIPT.map(encodeURIComponent),
    '%00',
    'a%00b',
    '..%2F..%2Fetc%2Fpasswd',
    '%2E%2E%2F_info',
    '%ZZ',
    '%E0%A4%A',
    '%ED%A0%80',
    '*',
    'wallets%3Aholds%3Ax',
    '%F0%9F%92%B8',
    '%E2%80%AE' + 'txen',
    '%C2%A0',
    '%20',
    'null',
    '-1',
    '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D',
    'a'.repeat(256),
    real.toUpperCase(),
    real.replace(/-/g, ''),
    `${real}%00`,
    `${real}%20`,
  ].filter((id) => id !== real);
}

const NUMBERS = [
  '-1',
  '-340282366920938463463374607431768211455',
  '1.5',
  '0.1',
  '1e3',
  '1E+2',
  '1.0',
  '-0.0',
  '340282366920938463463374607431768211456',
  '1' + '0'.repeat(1000),
  '"1"',
  '"0x10"',
  'null',
  'true',
  '[]',
  '{}',
  '[1]',
];
const ASSETS = ['"usd"', '""', '"USD/-2"', '"USD/2/2"', '"💵"', '"A' + 'B'.repeat(40) + '"', '1', 'null', json(SQL[0]), json(NUMSCRIPT[0])];
const METADATA = [
  '[]',
  '"x"',
  '1',
  '{"a":1}',
  '{"a":null}',
  '{"a":{"b":"c"}}',
  '{"a":["b"]}',
  '{"a":true}',
  json(Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']))),
  json({ ['k'.repeat(129)]: 'v' }),
  json({ k: 'v'.repeat(4097) }),
  '{"__proto__":"x"}',
  '{"__proto__":{"a":"b"}}',
  '{"a":"\\u0000"}',
  '{"\\u0000":"a"}',
  '{"a":"\\ud800"}',
  '{"a":"\\udc00x"}',
  '{"a":"b","a":"c"}',
  json({ [SQL[1]!]: 1 }),
];
const TIMESTAMPS = [
  '1700000000',
  '"yesterday"',
  '"2024-13-01T00:00:00Z"',
  '"2024-02-30T00:00:00Z"',
  '"2024-01-01"',
  '"2024-01-01T00:00:00"',
  '"2024-01-01T24:00:00Z"',
  '"2024-01-01T00:00:00+24:00"',
  '"0000-01-01T00:00:00Z"',
  '"0001-01-01T00:00:00+00:01"',
  '"9999-12-31T23:59:59.9999999Z"',
  '"-2024-01-01T00:00:00Z"',
  json(`2024-01-01T00:00:00Z${SQL[0]}`),
  json('2'.repeat(100)),
  '[]',
];
const NAMES = ['""', '" promo"', '"promo "', '"../main"', '"*"', '"a/b"', '"a:b"', '"é"', '"a\\u200bb"', json('a'.repeat(65)), '1', 'null', '[]', json(SQL[1]), json(NUMSCRIPT[0])];
function subjects(f: Fixtures): string[] {
  return [
    '"world"',
    '{}',
    '[]',
    '{"type":"ACCOUNT"}',
    '{"type":"ACCOUNT","identifier":""}',
    '{"type":"ACCOUNT","identifier":1}',
    '{"type":"ACCOUNT","identifier":"@world"}',
    json({ type: 'ACCOUNT', identifier: `world${SQL[1]}` }),
    json({ type: 'ACCOUNT', identifier: NUMSCRIPT[0] }),
    json({ type: 'ACCOUNT', identifier: `wallets:${f.funded}:main` }),
    json({ type: 'ACCOUNT', identifier: `wallets:holds:${f.closedHold}` }),
    json({ type: 'ACCOUNT', identifier: 'a'.repeat(257) }),
    json({ type: 'ACCOUNT', identifier: 'bank::x' }),
    json({ type: 'WALLET', identifier: SQL[0] }),
    json({ type: 'WALLET', identifier: f.empty, balance: 'nope' }),
    json({ type: 'WALLET', identifier: f.empty, balance: '../main' }),
    json({ type: 'WALLET', identifier: f.funded.toUpperCase() }),
    '{"type":"BANK","identifier":"x"}',
    '{"type":"account","identifier":"x"}',
    '{"type":"ACCOUNT","identifier":"x","type":"WALLET"}',
  ];
}

/** Field name → hostile raw JSON values, per body route. Paths with dots reach into objects. */
/** Overdraft limits that are not `{asset: integer 0 … 2^128 − 1}`, or name too many assets. */
const OVERDRAFTS = [
  '[]',
  '"5000"',
  '5000',
  '{"usd":1}',
  '{"USD/2":-1}',
  '{"USD/2":"1"}',
  '{"USD/2":1.5}',
  '{"USD/2":340282366920938463463374607431768211456}',
  '{"USD/2":null}',
  '{"":1}',
  json(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`A${i}`, 1n]))),
];

function fieldCorpus(route: Route, f: Fixtures): Record<string, string[]> {
  const moneyFields = {
    amount: ['"100"', '[1]', 'null', '1', '{"asset":"USD/2"}', '{"amount":1}', '{"asset":"USD/2","amount":1,"amount":2}'],
    'amount.amount': NUMBERS,
    'amount.asset': ASSETS,
    metadata: METADATA,
    reference: ['""', '1', json('r'.repeat(257)), '[]'],
    timestamp: TIMESTAMPS,
  };
  switch (route.path) {
    case '/wallets':
      return { name: ['1', '[]', '{}', 'true', json('n'.repeat(257)), '"a\\u0000"', '"\\udfff"'], metadata: METADATA };
    case '/wallets/{id}':
      return { metadata: [...METADATA, 'null'], status: ['"FROZEN"', '"deleted"', '""', '1', 'null', '[]', '{}', '"closed"'] };
    case '/wallets/{id}/balances':
      return {
        name: [...NAMES, '"main"', '"promo"'],
        expiresAt: TIMESTAMPS,
        priority: ['"1"', '1.5', '9223372036854775808', '-9223372036854775809', 'null', '[]'],
        overdraft: OVERDRAFTS,
      };
    case '/wallets/{id}/balances/{balanceName}':
      return {
        overdraft: OVERDRAFTS,
        expiresAt: TIMESTAMPS,
        priority: ['"1"', '1.5', '9223372036854775808', '-9223372036854775809', 'null', '[]'],
      };
    case '/holds/{holdID}':
      return { expiresAt: [...TIMESTAMPS, '"2020-01-01T00:00:00Z"'] };
    case '/wallets/{id}/debit':
      return {
        ...moneyFields,
        'amount.amount': [...NUMBERS, '340282366920938463463374607431768211455'],
        pending: ['"true"', '1', 'null', '[]'],
        expiresAt: [...TIMESTAMPS, '"2999-01-01T00:00:00Z"'],
        description: ['1', '[]', json('d'.repeat(4097)), '"\\u0000"'],
        destination: subjects(f),
        balances: [
          '"main"',
          '"*"',
          '["*","main"]',
          '["main","main"]',
          '["nope"]',
          '["old"]',
          '["bad name"]',
          '[1]',
          '[null]',
          '[["main"]]',
          json(Array.from({ length: 65 }, (_, i) => `b${i}`)),
          json([SQL[1]]),
          '["main\\u0000"]',
        ],
      };
    case '/wallets/{id}/credit':
      return {
        ...moneyFields,
        sources: [
          '"world"',
          '{}',
          '[null]',
          ...subjects(f).map((subject) => `[${subject}]`),
          json([{ type: 'WALLET', identifier: f.empty }]),
          json(Array.from({ length: 65 }, () => ({ type: 'ACCOUNT', identifier: 'world' }))),
        ],
        balance: [...NAMES, '"nope"'],
      };
    case '/holds/{holdID}/confirm':
      return { amount: NUMBERS, final: ['"true"', '1', 'null', '[]'] };
    case '/bulk':
      return {
        atomic: ['"true"', '1', 'null', '[]'],
        operations: [
          '[]',
          '{}',
          'null',
          '"x"',
          '[1]',
          '[null]',
          json(Array.from({ length: 1001 }, () => ({ action: 'CREATE_WALLET', data: {} }))),
          '[{"action":"NOPE","data":{}}]',
          '[{"action":"create_wallet","data":{}}]',
          json([{ action: SQL[1], data: {} }]),
          '[{"action":"CREATE_WALLET","ik":"","data":{}}]',
          '[{"action":"CREATE_WALLET","ik":"a\\u0001b","data":{}}]',
          json([{ action: 'CREATE_WALLET', ik: 'k'.repeat(256), data: {} }]),
          '[{"action":"CREATE_WALLET","data":[]}]',
          '[{"action":"CREATE_WALLET","data":"x"}]',
          json([{ action: 'DEBIT_WALLET', data: { walletID: 1 } }]),
          json([{ action: 'DEBIT_WALLET', data: { walletID: 'w'.repeat(256) } }]),
          json([{ action: 'DEBIT_WALLET', data: { walletID: '' } }]),
          json([{ action: 'VOID_HOLD', data: { holdID: ['x'] } }]),
        ],
      };
    case '/oauth/token':
    case '/api/auth/oauth/token':
      return {
        grant_type: ['"password"', '"authorization_code"', '""', '1', 'null', '[]', json(SQL[0])],
        client_id: ['"cof_ci_nobody"', json(f.client.id.toUpperCase()), '""', '1', 'null', '[]', json(SQL[1]), '"\u0000"'],
        client_secret: ['"wrong"', json(`${f.client.secret}x`), json(f.client.secret.slice(0, -1)), '""', '1', 'null', '[]', json(SQL[0])],
        scope: ['"wallets:write"', '"admin"', '"root"', '"wallets:read admin"', '1', '[]', json(NUMSCRIPT[0])],
      };
    case '/webhooks':
    case '/webhooks/{webhookID}':
      return {
        url: ['1', 'null', '""', '"ftp://example.com/x"', '"not a url"', '"http://127.0.0.1/x"', '"http://169.254.169.254/latest"', '"http://[::1]/x"', '"http://u:p@example.com/x"', '"https://example.com:0/x"', json(`https://example.com/${'a'.repeat(3000)}`)],
        eventTypes: ['"wallet.created"', '["nope"]', '[1]', 'null', '{}'],
        description: ['1', '[]', json('d'.repeat(1001))],
        ...(route.path === '/webhooks' ? {} : { enabled: ['"true"', '1', 'null', '[]'] }),
      };
    case '/webhooks/{webhookID}/rotate-secret':
    case '/webhooks/{webhookID}/test':
    case '/auth/clients/{clientId}/rotate-secret':
    case '/auth/clients/{clientId}/revoke':
    case '/auth/keys/rotate':
      // These take no body: a field sent to them is refused, not ignored.
      return { unexpected: ['1', '"x"', 'null', '{}'] };
    case '/webhooks/{webhookID}/replay':
      return { after: ['-1', '"1"', '1.5', '9223372036854775808', 'null', '[]'], since: ['"yesterday"', '1', 'null', '"2030-13-01T00:00:00Z"'] };
    case '/auth/clients':
      return {
        name: ['""', '1', 'null', '[]', json('n'.repeat(129)), '"a\u0000"', '"é"', '"tab\there"'],
        scopes: ['[]', '""', '"root"', '["root"]', '["admin","x"]', '[1]', 'null', '1', json(SQL[1]), '"wallets:read,admin"'],
      };
    default:
      return {};
  }
}

/** Malformed JSON, wrong top-level types, nesting, duplicates, forbidden text: for any body. */
const MALFORMED_BODIES = [
  '{',
  '{"',
  '{"amount":',
  '{"amount":{"asset":"USD/2","amount":1',
  '[',
  'tru',
  '{"a":1,}',
  "{'a':1}",
  '{"a":01}',
  'NaN',
  '{"a":Infinity}',
  '{"a":-}',
  '{"a":+1}',
  '{"a":0x10}',
  '{"a":1}x',
  '{}{}',
  '{"a":"\\x41"}',
  '{"a":"\\u00zz"}',
  '{"a":"\u0001"}',
  '{"a":"line\nbreak"}',
  '"\\ud800"',
  '\u0000',
  '{"x":1,"x":2}',
  '{"__proto__":{"amount":{"asset":"USD/2","amount":1}}}',
  '['.repeat(10_000),
  `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`,
  `{"metadata":${'['.repeat(40)}${']'.repeat(40)}}`,
  '[]',
  '1',
  '"x"',
  'true',
  'null',
];

/** Replaces one field of a body (dotted path) by a raw JSON value. */
function bodyWith(base: Record<string, unknown>, path: string, raw: string): string {
  const marker = '\u0001hostile\u0001';
  const copy: Record<string, unknown> = structuredClone(base);
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) {
    target[key] = { ...(target[key] as Record<string, unknown>) };
    target = target[key] as Record<string, unknown>;
  }
  target[keys[keys.length - 1]!] = marker;
  // JSON writes the marker's control characters as escapes; a function replacement, because
  // `raw` may hold `$` patterns that a string replacement would expand.
  const text = json(copy);
  assert.ok(text.includes(JSON.stringify(marker)), `the marker of ${path} is in ${text}`);
  return text.replace(JSON.stringify(marker), () => raw);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** The hostile requests aimed at one route, at one prefix. */
function corpus(route: Route, prefix: string, f: Fixtures): Request[] {
  const params = realParams(f);
  const url = prefix + fill(route.path, params);
  const base = route.body?.(f);
  const requests: Request[] = [];
  const send = (request: Omit<Request, 'method'> & { method?: Method }) => requests.push({ method: route.method, ...request });

  const served = ROUTES.filter((other) => other.path === route.path).map((other) => other.method);
  for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'] as const) {
    if (!served.includes(method)) requests.push({ method, url, raw: base && json(base), headers: base && JSON_HEADERS });
  }
  for (const query of ['x=%00', '%00=x', '__proto__=x']) send({ url: `${url}?${query}`, raw: base && json(base), headers: base && JSON_HEADERS });
  // Dot segments are resolved by any URL-aware client (inject too); the socket test sends them raw.
  for (const trick of ['%00', '/%00', '%2F..%2F_info']) send({ url: `${url}${trick}`, raw: base && json(base), headers: base && JSON_HEADERS });
  send({ url: `/${url}`, raw: base && json(base), headers: base && JSON_HEADERS });

  for (const name of Object.keys(params)) {
    if (!route.path.includes(`{${name}}`)) continue;
    for (const id of hostileIds(params[name]!)) {
      send({ url: prefix + fill(route.path, { ...params, [name]: id }), raw: base && json(base), headers: base && JSON_HEADERS });
    }
  }

  if (route.list) {
    const cursor = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    const queries = [
      'pageSize=0',
      'pageSize=-1',
      'pageSize=1.5',
      'pageSize=1e3',
      'pageSize=abc',
      'pageSize=%20',
      `pageSize=${'9'.repeat(40)}`,
      'pageSize=0x10',
      'cursor=garbage',
      'cursor=%00',
      'cursor=====',
      `cursor=${cursor({ s: 1 })}`,
      `cursor=${cursor({ s: 0, f: {} })}`,
      `cursor=${cursor({ s: 1e9, f: {} })}`,
      `cursor=${cursor({ s: 1, f: {}, a: SQL[0] })}`,
      `cursor=${cursor({ s: 1, f: {}, a: '1', b: '2' })}`,
      `cursor=${cursor({ s: 1, f: { name: 1, walletId: 2, metadata: 'x' } })}`,
      `cursor=${cursor({ s: 1, f: { name: '\u0000', walletId: '\u0000' } })}`,
      `cursor=${cursor({ s: 1, f: { walletId: 'x' }, a: '1'.repeat(70) })}`,
      `cursor=${cursor(SQL[1])}`,
      `cursor=${'A'.repeat(20_000)}`,
      // A cursor this server issues with one character added: Node's base64url decoder skips a
      // character outside the alphabet and a stray last one, which would read it as the original.
      `cursor=${cursor({ s: 1, f: {} })}!`,
      `cursor=${cursor({ s: 1, f: {} })}x`,
      `cursor=${cursor({ s: 1, f: {} })}==`,
    ];
    if (route.path === '/holds' || route.path === '/transactions' || route.path === '/events') {
      queries.push('walletID=' + 'w'.repeat(256), 'walletID=%00');
    }
    if (route.path === '/events') {
      queries.push(
        'after=-1',
        'after=1e3',
        `after=${'9'.repeat(40)}`,
        `after=${encodeURIComponent(SQL[0]!)}`,
        `after=${cursor({ s: 1, f: { types: ['nope'] } })}`,
        `after=${cursor({ s: 1, f: {}, b: '2' })}`,
        `after=${cursor(SQL[1])}`,
        `after=${'A'.repeat(20_000)}`,
        'type=nope',
        'type=%00',
        'type=wallet.created,,nope',
        'wait=31',
        'wait=-1',
        `wait=${'9'.repeat(40)}`,
        `cursor=${cursor({ s: 1, f: { types: ['nope'] } })}`,
        `cursor=${cursor({ s: 1, f: {}, b: '2' })}`,
      );
    }
    if (route.path === '/holds') {
      queries.push('status=closed', 'status=OPEN', 'status=%00', `status=${encodeURIComponent(SQL[0]!)}`, `cursor=${cursor({ s: 1, f: { status: 'closed' } })}`);
    }
    if (route.path === '/wallets' || route.path === '/holds') {
      queries.push(
        `metadata[${'k'.repeat(129)}]=v`,
        `metadata[k]=${'v'.repeat(4097)}`,
        Array.from({ length: 129 }, (_, i) => `metadata[k${i}]=v`).join('&'),
        'metadata[%00]=x',
        'metadata[a]=%00',
        'name=%00',
      );
    }
    for (const query of queries) send({ url: `${url}?${query}` });
  }

  if (base) {
    for (const raw of MALFORMED_BODIES) send({ url, raw, headers: JSON_HEADERS });
    // Over the route's body limit: 1 MiB, 8 MiB for POST /bulk.
    send({ url, raw: json({ ...base, padding: 'p'.repeat(route.path === '/bulk' ? 8 * 1024 * 1024 : 1024 * 1024) }), headers: JSON_HEADERS });
    for (const [field, values] of Object.entries(fieldCorpus(route, f))) {
      for (const raw of values) send({ url, raw: bodyWith(base, field, raw), headers: JSON_HEADERS });
    }
    if (route.path === '/wallets/{id}/debit') {
      send({ url, raw: json({ ...base, pending: true, timestamp: '2024-01-01T00:00:00Z' }), headers: JSON_HEADERS });
    }
    if (route.path === '/bulk') {
      // The debit route's corpus as the data of one operation of an atomic bulk request, and hostile ids as its walletID.
      const debit = { walletID: f.funded, amount: { asset: 'USD/2', amount: 1n } };
      const inBulk = (data: string) => `{"atomic":true,"operations":[{"action":"DEBIT_WALLET","data":${data}}]}`;
      for (const [field, values] of Object.entries(fieldCorpus({ method: 'POST', path: '/wallets/{id}/debit' }, f))) {
        for (const raw of values) send({ url, raw: inBulk(bodyWith(debit, field, raw)), headers: JSON_HEADERS });
      }
      for (const id of hostileIds(f.funded)) send({ url, raw: inBulk(bodyWith(debit, 'walletID', json(decodeURIComponentSafe(id)))), headers: JSON_HEADERS });
    }
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/json-patch+json',
      'application/jsonx',
      'text/json',
      '',
    ]) {
      send({ url, raw: json(base), headers: { 'content-type': type } });
    }
    send({ url, raw: json(base) });
    for (const key of route.unkeyed ? [] : ['', 'k'.repeat(256), 'clé', '\t', 'a\u007fb', 'k'.repeat(100_000)]) {
      send({ url, raw: json(base), headers: { ...JSON_HEADERS, 'idempotency-key': key } });
    }
  }
  return requests;
}

const KNOWN_CODES: readonly string[] = ERROR_CODES;

function describe(request: Request): string {
  return `${request.method} ${request.url.slice(0, 200)} ${JSON.stringify(request.headers ?? {}).slice(0, 100)} ${String(request.raw ?? '').slice(0, 200)}`;
}

/** Sends a request; a response that cannot even be read fails naming the request. */
async function answer(h: Harness, request: Request): Promise<Response> {
  try {
    return await h.call(request);
  } catch (error) {
    assert.fail(`${describe(request)}: ${(error as Error).message}`);
  }
}

/** A path parameter as its text, or the raw text when it does not decode. */
function decodeURIComponentSafe(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/**
 * A bulk request whose operations are each refused answers 200 with an item per operation:
 * each must be a 4xx with a catalog errorCode and a message, like the single route's answer.
 */
function assertBulkItemsRefused(response: Response, request: Request): void {
  const what = `${describe(request)} → ${response.status} ${response.text.slice(0, 300)}`;
  assert.equal(response.status, 200, what);
  for (const item of response.body.data as { status: bigint; errorCode?: string; errorMessage?: string }[]) {
    assert.ok(item.status >= 400n && item.status < 500n, `a 4xx item: ${what}`);
    assert.ok(KNOWN_CODES.includes(item.errorCode ?? ''), `an errorCode of the catalog: ${what}`);
    assert.ok(typeof item.errorMessage === 'string' && item.errorMessage.length > 0, `an errorMessage: ${what}`);
  }
}

function assertJsonClientError(response: Response, request: Request): void {
  const what = `${describe(request)} → ${response.status} ${response.text.slice(0, 300)}`;
  assert.ok(response.status >= 400 && response.status < 500, `a 4xx: ${what}`);
  assert.match(String(response.headers['content-type']), /^application\/json/, `JSON content type: ${what}`);
  assert.ok(KNOWN_CODES.includes(response.body?.errorCode), `an errorCode of the catalog: ${what}`);
  assert.ok(typeof response.body?.errorMessage === 'string' && response.body.errorMessage.length > 0, `an errorMessage: ${what}`);
}

suite('hostile input', (h) => {
  let fixtures: Fixtures | undefined;
  const f = async () => (fixtures ??= await makeFixtures(h()));

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}, at ${route.root ? '/ only' : '/ and /api/wallets'}: every hostile request → 4xx JSON error, database unchanged`, async (t) => {
      const targets = await f();
      const before = await snapshot(h().db);
      let sent = 0;
      for (const prefix of prefixesOf(route)) {
        for (const request of corpus(route, prefix, targets)) {
          const response = await answer(h(), request);
          if (route.path === '/bulk' && response.status === 200) assertBulkItemsRefused(response, request);
          else assertJsonClientError(response, request);
          sent++;
        }
        assert.equal(await snapshot(h().db), before, `${route.method} ${prefix}${route.path}: a hostile request wrote to the database`);
      }
      // At least 10 hostile requests per prefix the route is served at.
      assert.ok(sent >= 10 * prefixesOf(route).length, `corpus size ${sent}`);
      t.diagnostic(`${sent} hostile requests`);
    });
  }

  it('the console (/console, a UI page outside the API): path tricks, unknown names and other methods → 4xx JSON, no file from outside its build', async () => {
    const before = await snapshot(h().db);
    // (A bare `..` is resolved by URL parsing before any router sees it: /console/assets/.. is /console/.)
    const names = [...hostileIds('x'), '.env', '..%2Fpackage.json', '%2e%2e%2f%2e%2e%2fpackage.json', 'assets/..%2F..%2Fpackage.json', 'assets/.x', 'assets/%00', 'src/main.tsx', 'vite.config.ts', 'assets/a/b.js'];
    for (const name of names) {
      for (const url of [`/console/${name}`, `/console/assets/${name}`, `/api/wallets/console/${name}`]) {
        const request: Request = { method: 'GET', url };
        const response = await answer(h(), request);
        assertJsonClientError(response, request);
      }
    }
    for (const method of ['POST', 'PATCH'] as const) {
      const request: Request = { method, url: '/console', body: {} };
      assertJsonClientError(await answer(h(), request), request);
    }
    assert.equal(await snapshot(h().db), before);
  });

  it('the corpus bodies are valid requests but for their hostile field: each base body succeeds on its target', async () => {
    const targets = await f();
    const open = expectStatus(await h().post(`/wallets/${targets.funded}/debit`, { amount: { asset: 'USD/2', amount: 2n }, pending: true }), 201);
    const params = { ...realParams(targets), holdID: open.body.data.id as string };
    for (const route of ROUTES) {
      const base = route.body?.(targets);
      if (!base) continue;
      const response = await h().call({ method: route.method, url: fill(route.path, params), body: base });
      assert.ok(response.status >= 200 && response.status < 300, `${route.method} ${route.path}: ${response.status} ${response.text}`);
    }
  });

  it('over a real socket: headers over 16 KiB on every route → 431 JSON; malformed HTTP → 400 JSON; the server keeps serving', async () => {
    const targets = await f();
    const before = await snapshot(h().db);
    const address = await h().app.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(address).port);
    const exchange = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => resolve(answer));
        socket.end(text);
      });
    const expectJsonError = (answer: string, status: number, sent: string) => {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(sent.slice(0, 120))} → ${answer.slice(0, 300)}`);
      assert.match(head, /content-type: application\/json/i);
      assert.ok(KNOWN_CODES.includes(JSON.parse(body).errorCode), answer);
    };
    const big = 'h'.repeat(20_000);
    for (const prefix of PREFIXES) {
      for (const route of ROUTES.filter((candidate) => prefixesOf(candidate).includes(prefix))) {
        const path = prefix + fill(route.path, realParams(targets));
        const request = `${route.method} ${path} HTTP/1.1\r\nHost: x\r\nX-Padding: ${big}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;
        expectJsonError(await exchange(request), 431, request);
        const longUrl = `${route.method} ${path}?q=${big} HTTP/1.1\r\nHost: x\r\n\r\n`;
        expectJsonError(await exchange(longUrl), 431, longUrl);
      }
    }
    const malformed = [
      'GARBAGE\r\n\r\n',
      'GET /wallets HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET /wallets\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /wallets/\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /wallets HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
      'POST /wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
      'POST /wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
      'POST /wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
      'POST /wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      `POST /wallets/${targets.funded}/credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: a\u0001b\r\nContent-Length: 2\r\n\r\n{}`,
    ];
    for (const request of malformed) expectJsonError(await exchange(request), 400, request);
    for (const path of ['/wallets/../_info', `/wallets/${targets.funded}/../../_info`, '/holds/./../_info', '/wallets/%2e%2e/_info', '/api/wallets/../wallets']) {
      const request = `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
      expectJsonError(await exchange(request), 404, request);
    }
    const tooLarge = 'POST /wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n{}';
    expectJsonError(await exchange(tooLarge), 413, tooLarge);
    assert.equal(await snapshot(h().db), before, 'nothing was written');
    expectStatus(await h().get('/_healthcheck'), 200);
    const alive = await fetch(`${address}/wallets/${targets.funded}`);
    assert.equal(alive.status, 200);
  });

  it('SQL, Numscript and unicode text in names, metadata, descriptions, references and filters → stored and matched verbatim', async () => {
    const texts = [
      ...SQL,
      ...NUMSCRIPT,
      "Robert'); DELETE FROM volumes WHERE ('1'='1",
      '$1',
      '%s%n%x',
      '\\',
      '"',
      '\\u0000 (an escaped escape, not a NUL)',
      'null',
      '{}',
      '<script>alert(1)</script>',
      '../../etc/passwd',
      '😀 💸 ǅ ß 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
      '\u202eRTL override',
      'zero\u200bwidth\ufeff',
      'tab\tnew\nline\rreturn\u0001\u001f\u007f',
      'Ωmega ≈ ç √ ∫',
      'x'.repeat(256),
    ];
    const payer = await createWallet(h(), { name: 'payer' });
    await credit(h(), payer, 1_000_000n);
    for (const [index, text] of texts.entries()) {
      const key = text.slice(0, 128);
      const created = expectStatus(await h().post('/wallets', { name: text, metadata: { [key]: text, tag: `verbatim-${index}` } }), 201);
      const id = created.body.data.id as string;
      const stored = expectStatus(await h().get(`/wallets/${id}`), 200).body.data;
      assert.equal(stored.name, text);
      assert.deepEqual(stored.metadata, { [key]: text, tag: `verbatim-${index}` });

      const byName = expectStatus(await h().get(`/wallets?name=${encodeURIComponent(text)}&pageSize=100`), 200).body.cursor.data;
      assert.deepEqual(byName.map((w: { id: string }) => w.id), [id], `name filter ${JSON.stringify(text)} matches that wallet only`);
      const byMetadata = expectStatus(
        await h().get(`/wallets?metadata[${encodeURIComponent(key)}]=${encodeURIComponent(text)}&pageSize=100`),
        200,
      ).body.cursor.data;
      assert.deepEqual(byMetadata.map((w: { id: string }) => w.id), [id]);

      expectStatus(await h().patch(`/wallets/${id}`, { metadata: { patched: text } }), 204);
      assert.equal(expectStatus(await h().get(`/wallets/${id}`), 200).body.data.metadata.patched, text);

      const reference = `${text.slice(0, 200)}#${index}`;
      expectStatus(
        await h().post(`/wallets/${id}/credit`, {
          amount: { asset: 'USD/2', amount: 7n },
          sources: [{ type: 'WALLET', identifier: payer }],
          metadata: { [key]: text },
          reference,
        }),
        204,
      );
      const [transaction] = expectStatus(await h().get(`/transactions?walletID=${id}`), 200).body.cursor.data;
      assert.equal(transaction.reference, reference);
      assert.deepEqual(transaction.metadata, { [key]: text });

      const hold = expectStatus(
        await h().post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 3n }, pending: true, description: text, metadata: { [key]: text } }),
        201,
      ).body.data;
      assert.equal(hold.description, text);
      const read = expectStatus(await h().get(`/holds/${hold.id}`), 200).body.data;
      assert.equal(read.description, text);
      assert.deepEqual(read.metadata, { [key]: text });
      const holdsByMetadata = expectStatus(await h().get(`/holds?metadata[${encodeURIComponent(key)}]=${encodeURIComponent(text)}&pageSize=100`), 200)
        .body.cursor.data;
      assert.deepEqual(holdsByMetadata.map((x: { id: string }) => x.id), [hold.id]);
      assert.equal(await mainBalance(h(), id), 4n);
    }
    for (const text of [...SQL, ...NUMSCRIPT]) {
      for (const list of ['/holds', '/transactions']) {
        const page = expectStatus(await h().get(`${list}?walletID=${encodeURIComponent(text)}`), 200).body.cursor;
        assert.deepEqual(page.data, [], `${list} filtered by ${JSON.stringify(text)} matches nothing`);
      }
    }
    assert.equal(await mainBalance(h(), payer), 1_000_000n - 7n * BigInt(texts.length));
  });
},
  // No feed watcher loop: like the other background loops, kept off so that nothing but the test's own requests runs.
  { feedWatchIntervalMs: null },
);
