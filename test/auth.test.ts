/**
 * Auth (AUTH=required) through HTTP, on both backends: every protected route refuses every
 * kind of bad credential with 401/403 and writes nothing; the token endpoint speaks RFC 6749;
 * scopes, per-client idempotency, createdBy, key rotation, revocation and secret rotation,
 * rate limits; and no log line of any of it holds a secret, a token or an Authorization
 * header.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { buildApp } from '../src/http/app.ts';
import { API_PREFIX } from '../src/http/app.ts';
import { OPERATIONS, requiredScopes, type Operation, type OperationId } from '../src/http/operations.ts';
import { SCOPES, type Scope } from '../src/domain/principal.ts';
import { STANDING_TTL_MS } from '../src/auth/authenticator.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { metricsRegistry } from '../src/metrics.ts';
import { backends, expectError, expectStatus, postgresSkipped, startHarness, type Harness, type Response } from './support/harness.ts';
import {
  AUTH_ON,
  bearer,
  forgeToken,
  jwtHeader,
  leaks,
  LogCapture,
  makeClient,
  requestToken,
  tableSnapshot,
  tokenFor,
  type TestClient,
} from './support/auth.ts';

const ALL_SCOPES: readonly Scope[] = SCOPES;

/** Every request of a protected operation, with path parameters and a body that would succeed. */
interface Target {
  readonly id: OperationId;
  readonly method: Operation['method'];
  readonly url: string;
  readonly body?: unknown;
  readonly scopes: readonly Scope[];
}

function targets(ids: { wallet: string; hold: string; client: string }): Target[] {
  const params: Record<string, string> = { id: ids.wallet, balanceName: 'main', holdID: ids.hold, clientId: ids.client };
  const bodies: Partial<Record<OperationId, unknown>> = {
    createWallet: { name: 'x' },
    updateWallet: { metadata: { a: 'b' } },
    createBalance: { name: 'fresh' },
    debitWallet: { amount: { asset: 'USD/2', amount: 1n } },
    creditWallet: { amount: { asset: 'USD/2', amount: 1n } },
    confirmHold: { amount: 1n },
    bulk: { operations: [{ action: 'CREDIT_WALLET', data: { walletID: ids.wallet, amount: { asset: 'USD/2', amount: 1n } } }] },
    createClient: { name: 'intruder', scopes: ['admin'] },
  };
  const list: Target[] = [];
  for (const [id, operation] of Object.entries(OPERATIONS) as [OperationId, Operation][]) {
    const scopes = requiredScopes(operation);
    if (scopes.length === 0) continue;
    const path = operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => params[name]!);
    for (const prefix of operation.mount === 'api' ? ['', API_PREFIX] : ['']) {
      list.push({ id, method: operation.method, url: `${prefix}${path}`, scopes, ...(bodies[id] !== undefined ? { body: bodies[id] } : {}) });
    }
  }
  return list;
}

interface AuthHarness {
  readonly h: Harness;
  readonly logs: LogCapture;
  /** Every secret and token handed out, for the log scan. */
  readonly secrets: Set<string>;
  client(scopes: readonly Scope[], name?: string): Promise<TestClient>;
  token(client: TestClient, scope?: string): Promise<string>;
}

async function startAuthHarness(backend: ReturnType<typeof backends>[number], clientRate = AUTH_ON.clientRate, tokenRate = AUTH_ON.tokenRate): Promise<AuthHarness> {
  const logs = new LogCapture();
  const h = await startHarness(backend, 'test-ledger', { auth: { ...AUTH_ON, clientRate, tokenRate }, logger: { level: 'trace', stream: logs.stream } });
  const secrets = new Set<string>();
  return {
    h,
    logs,
    secrets,
    async client(scopes, name) {
      const client = await makeClient(h, scopes, name);
      secrets.add(client.clientSecret);
      return client;
    },
    async token(client, scope) {
      const token = await tokenFor(h, client, scope);
      secrets.add(token);
      return token;
    },
  };
}

function call(h: Harness, target: Target, headers: Record<string, string>): Promise<Response> {
  return h.call({ method: target.method, url: target.url, ...(target.body !== undefined ? { body: target.body } : {}), headers: { 'idempotency-key': 'matrix', ...headers } });
}

function assertRefused(response: Response, status: 401 | 403, what: string): void {
  assert.equal(response.status, status, `${what}: ${response.text}`);
  assert.equal(response.body?.errorCode, status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', what);
  assert.equal(typeof response.body?.errorMessage, 'string', what);
  assert.match(String(response.headers['www-authenticate']), /^Bearer realm="coffer"/, `${what}: WWW-Authenticate`);
}

for (const backend of backends()) {
  describe(`auth [${backend.name}]`, () => {
    let a: AuthHarness;
    let h: Harness;
    before(async () => {
      a = await startAuthHarness(backend);
      h = a.h;
    });
    after(async () => {
      // The log scan covers everything this file's app did: token requests, every refusal, admin calls.
      assert.ok(a.logs.lines.length > 100, `the app logged (${a.logs.lines.length} lines)`);
      assert.deepEqual(leaks(a.logs.lines, a.secrets), [], 'no secret, token or Authorization header in any log line');
      await h.close();
    });
    afterEach(async () => h.checkInvariants());

    it('every protected route × {no token, garbage, expired, wrong signature, unknown kid, revoked client, missing scope} → 401/403 JSON; nothing written', async () => {
      const admin = await a.client(ALL_SCOPES, 'fixtures');
      const adminToken = await a.token(admin);
      const wallet = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'w' }, headers: bearer(adminToken) }), 201).body.data.id as string;
      expectStatus(await h.call({ method: 'POST', url: `/wallets/${wallet}/credit`, body: { amount: { asset: 'USD/2', amount: 100n } }, headers: bearer(adminToken) }), 204);
      const hold = expectStatus(
        await h.call({ method: 'POST', url: `/wallets/${wallet}/debit`, body: { amount: { asset: 'USD/2', amount: 10n }, pending: true }, headers: bearer(adminToken) }),
        201,
      ).body.data.id as string;
      const revoked = await a.client(ALL_SCOPES, 'to be revoked');
      const revokedToken = await a.token(revoked);
      expectStatus(await h.call({ method: 'POST', url: `/auth/clients/${revoked.clientId}/revoke`, headers: bearer(adminToken) }), 200);
      const kid = String(jwtHeader(adminToken).kid);
      const now = Math.floor(Number(h.clock.now() / 1_000_000n));
      const expired = await forgeToken(h.db, { clientId: admin.clientId, scopes: ALL_SCOPES, issuedAt: now - 7200, ttlSeconds: 3600, kid, realKey: true });
      const wrongSignature = await forgeToken(h.db, { clientId: admin.clientId, scopes: ALL_SCOPES, issuedAt: now, ttlSeconds: 3600, kid, realKey: false });
      const unknownKid = await forgeToken(h.db, { clientId: admin.clientId, scopes: ALL_SCOPES, issuedAt: now, ttlSeconds: 3600, kid: 'no-such-kid', realKey: false });
      for (const token of [expired, wrongSignature, unknownKid]) a.secrets.add(token);
      // Sanity: the real key's token for the same claims, unexpired, is accepted.
      const genuine = await forgeToken(h.db, { clientId: admin.clientId, scopes: ALL_SCOPES, issuedAt: now, ttlSeconds: 3600, kid, realKey: true });
      a.secrets.add(genuine);
      expectStatus(await h.call({ method: 'GET', url: '/wallets', headers: bearer(genuine) }), 200);
      const lacking = new Map<string, string>();
      const all = targets({ wallet, hold, client: admin.clientId });
      assert.ok(all.length >= 38, `${all.length} protected requests`);
      for (const target of all) {
        const others = ALL_SCOPES.filter((scope) => !target.scopes.includes(scope));
        const key = others.join(' ');
        if (!lacking.has(key)) {
          const client = await a.client(others, `lacks ${target.scopes.join(',')}`);
          lacking.set(key, await a.token(client));
        }
        const before = await tableSnapshot(h.db);
        const cases: [string, Record<string, string>, 401 | 403][] = [
          ['no token', {}, 401],
          ['garbage', { authorization: 'Bearer garbage' }, 401],
          ['garbage JWT', { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }, 401],
          ['not Bearer', { authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}` }, 401],
          ['expired', bearer(expired), 401],
          ['wrong signature', bearer(wrongSignature), 401],
          ['unknown kid', bearer(unknownKid), 401],
          ['revoked client', bearer(revokedToken), 401],
          ['missing scope', bearer(lacking.get(key)!), 403],
        ];
        for (const [what, headers, status] of cases) assertRefused(await call(h, target, headers), status, `${target.method} ${target.url}, ${what}`);
        assert.deepEqual(await tableSnapshot(h.db), before, `${target.method} ${target.url}: nothing written`);
      }
    });

    it('open routes need no token: /_healthcheck, /_info, /openapi.json, /docs, /.well-known/jwks.json', async () => {
      for (const url of ['/_healthcheck', '/_info', '/api/wallets/_info', '/openapi.json', '/docs', '/.well-known/jwks.json']) {
        expectStatus(await h.get(url), 200);
      }
      const jwks = (await h.get('/.well-known/jwks.json')).body;
      assert.ok(jwks.keys.length >= 1);
      for (const key of jwks.keys) {
        assert.equal(key.alg, 'ES256');
        assert.equal(key.d, undefined, 'no private part');
      }
    });

    it('token endpoint: form or JSON body, HTTP Basic, both paths; answer {access_token, token_type, expires_in, scope}, no-store', async () => {
      const client = await a.client(['wallets:read', 'wallets:write']);
      for (const path of ['/oauth/token', '/api/auth/oauth/token']) {
        const response = await requestToken(h, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }, {}, path);
        expectStatus(response, 200);
        a.secrets.add(response.body.access_token);
        assert.deepEqual(Object.keys(response.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
        assert.equal(response.body.token_type, 'Bearer');
        assert.equal(response.body.expires_in, 3600n);
        assert.equal(response.body.scope, 'wallets:read wallets:write');
        assert.equal(response.headers['cache-control'], 'no-store');
      }
      const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
      const viaBasic = expectStatus(await requestToken(h, { grant_type: 'client_credentials', scope: 'wallets:read' }, { authorization: `Basic ${basic}` }), 200);
      a.secrets.add(viaBasic.body.access_token);
      assert.equal(viaBasic.body.scope, 'wallets:read');
      const viaJson = expectStatus(
        await h.call({ method: 'POST', url: '/oauth/token', body: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret } }),
        200,
      );
      a.secrets.add(viaJson.body.access_token);
      // A narrowed token opens reads, not writes.
      expectStatus(await h.call({ method: 'GET', url: '/wallets', headers: bearer(viaBasic.body.access_token) }), 200);
      assertRefused(await h.call({ method: 'POST', url: '/wallets', body: {}, headers: bearer(viaBasic.body.access_token) }), 403, 'read-only token writing');
    });

    it('token endpoint errors are RFC 6749 §5.2: invalid_client 401, invalid_scope and unsupported_grant_type 400', async () => {
      const client = await a.client(['wallets:read']);
      const oauth = (response: Response, status: number, error: string, errorCode: string) => {
        assert.equal(response.status, status, response.text);
        assert.equal(response.body.error, error, response.text);
        assert.equal(typeof response.body.error_description, 'string');
        assert.equal(response.body.errorCode, errorCode);
        assert.equal(response.headers['cache-control'], 'no-store');
      };
      const good = { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret };
      oauth(await requestToken(h, { ...good, client_secret: `${client.clientSecret}x` }), 401, 'invalid_client', 'UNAUTHORIZED');
      const wrong = await requestToken(h, { ...good, client_id: 'cof_ci_nobody' });
      oauth(wrong, 401, 'invalid_client', 'UNAUTHORIZED');
      assert.match(String(wrong.headers['www-authenticate']), /^Basic realm="coffer"/);
      oauth(await requestToken(h, { grant_type: 'client_credentials' }), 401, 'invalid_client', 'UNAUTHORIZED');
      oauth(await requestToken(h, { ...good, scope: 'wallets:write' }), 400, 'invalid_scope', 'VALIDATION');
      oauth(await requestToken(h, { ...good, scope: 'wallets:read root' }), 400, 'invalid_scope', 'VALIDATION');
      oauth(await requestToken(h, { ...good, grant_type: 'password' }), 400, 'unsupported_grant_type', 'VALIDATION');
      oauth(await requestToken(h, { client_id: client.clientId, client_secret: client.clientSecret }), 400, 'invalid_request', 'VALIDATION');
      const basic = Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64');
      oauth(await requestToken(h, good, { authorization: `Basic ${basic}` }), 400, 'invalid_request', 'VALIDATION');
      const twice = await h.call({ method: 'POST', url: '/oauth/token', raw: 'grant_type=client_credentials&grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      oauth(twice, 400, 'invalid_request', 'VALIDATION');
      const text = await h.call({ method: 'POST', url: '/oauth/token', raw: 'x', headers: { 'content-type': 'text/plain' } });
      oauth(text, 415, 'invalid_request', 'UNSUPPORTED_MEDIA_TYPE');
      // The form parser is the token endpoint's alone: a wallets route still refuses a form body.
      const token = await a.token(await a.client(['wallets:write']));
      expectError(await h.call({ method: 'POST', url: '/wallets', raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer(token) } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('scopes: wallets:read reads, wallets:write writes, admin manages clients and keys, metrics:read (or admin) scrapes', async () => {
      const reader = await a.token(await a.client(['wallets:read']));
      const writer = await a.token(await a.client(['wallets:write']));
      const scraper = await a.token(await a.client(['metrics:read']));
      const admin = await a.token(await a.client(['admin']));
      const wallet = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: {}, headers: bearer(writer) }), 201).body.data.id as string;
      assertRefused(await h.call({ method: 'GET', url: `/wallets/${wallet}`, headers: bearer(writer) }), 403, 'writer reading');
      expectStatus(await h.call({ method: 'GET', url: `/wallets/${wallet}`, headers: bearer(reader) }), 200);
      expectStatus(await h.call({ method: 'GET', url: '/metrics', headers: bearer(scraper) }), 200);
      expectStatus(await h.call({ method: 'GET', url: '/metrics', headers: bearer(admin) }), 200);
      assertRefused(await h.call({ method: 'GET', url: '/wallets', headers: bearer(scraper) }), 403, 'scraper reading wallets');
      assertRefused(await h.call({ method: 'GET', url: '/wallets', headers: bearer(admin) }), 403, 'admin reading wallets');
      assertRefused(await h.call({ method: 'GET', url: '/auth/clients', headers: bearer(writer) }), 403, 'writer listing clients');
      const listed = expectStatus(await h.call({ method: 'GET', url: '/auth/clients', headers: bearer(admin) }), 200).body.data;
      assert.ok(listed.length >= 4);
      for (const client of listed) assert.equal(client.clientSecret, undefined, 'a list never shows a secret');
    });

    it('isolation: the same Idempotency-Key from two clients is two executions; each client replays only its own', async () => {
      const first = await a.token(await a.client(['wallets:read', 'wallets:write'], 'first'));
      const second = await a.token(await a.client(['wallets:read', 'wallets:write'], 'second'));
      const key = { 'idempotency-key': 'shared-key' };
      const one = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'one' }, headers: { ...bearer(first), ...key } }), 201);
      const two = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'two' }, headers: { ...bearer(second), ...key } }), 201);
      assert.notEqual(two.body.data.id, one.body.data.id, 'two wallets');
      assert.equal(two.headers['idempotent-replayed'], undefined, 'no cross-client replay');
      assert.equal(two.body.data.name, 'two');
      const again = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'one' }, headers: { ...bearer(first), ...key } }), 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.text, one.text, 'its own stored answer, byte for byte');
      // Same key, same body, other client: executes again instead of receiving the first client's answer.
      const third = await a.token(await a.client(['wallets:write'], 'third'));
      const three = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'one' }, headers: { ...bearer(third), ...key } }), 201);
      assert.notEqual(three.body.data.id, one.body.data.id);
      assert.equal(three.headers['idempotent-replayed'], undefined);
      // A key reused for another request is still a conflict, within one client.
      expectError(await h.call({ method: 'POST', url: '/wallets', body: { name: 'other' }, headers: { ...bearer(first), ...key } }), 409, 'CONFLICT', /shared-key/);
    });

    it('who did what: wallets, balances, holds and transactions record the client that created them', async () => {
      const client = await a.client(['wallets:read', 'wallets:write'], 'author');
      const token = await a.token(client);
      const auth = bearer(token);
      const wallet = expectStatus(await h.call({ method: 'POST', url: '/wallets', body: { name: 'mine' }, headers: auth }), 201).body.data;
      assert.equal(wallet.createdBy, client.clientId);
      const balance = expectStatus(await h.call({ method: 'POST', url: `/wallets/${wallet.id}/balances`, body: { name: 'promo' }, headers: auth }), 201).body.data;
      assert.equal(balance.createdBy, client.clientId);
      expectStatus(await h.call({ method: 'POST', url: `/wallets/${wallet.id}/credit`, body: { amount: { asset: 'USD/2', amount: 50n } }, headers: auth }), 204);
      const hold = expectStatus(
        await h.call({ method: 'POST', url: `/wallets/${wallet.id}/debit`, body: { amount: { asset: 'USD/2', amount: 20n }, pending: true }, headers: auth }),
        201,
      ).body.data;
      assert.equal(hold.createdBy, client.clientId);
      expectStatus(await h.call({ method: 'POST', url: `/holds/${hold.id}/confirm`, body: {}, headers: auth }), 204);
      assert.equal(expectStatus(await h.call({ method: 'GET', url: `/wallets/${wallet.id}`, headers: auth }), 200).body.data.createdBy, client.clientId);
      assert.equal(expectStatus(await h.call({ method: 'GET', url: `/holds/${hold.id}`, headers: auth }), 200).body.data.createdBy, client.clientId);
      const balances = expectStatus(await h.call({ method: 'GET', url: `/wallets/${wallet.id}/balances`, headers: auth }), 200).body.cursor.data;
      assert.deepEqual(balances.map((b: { createdBy?: string }) => b.createdBy), [client.clientId, client.clientId], 'main and promo');
      const transactions = expectStatus(await h.call({ method: 'GET', url: `/transactions?walletID=${wallet.id}`, headers: auth }), 200).body.cursor.data;
      assert.equal(transactions.length, 3, 'credit, hold, confirm');
      for (const transaction of transactions) assert.equal(transaction.createdBy, client.clientId);
      // A bulk request records its client exactly as the single routes do, and its keys are the client's too.
      const bulk = expectStatus(
        await h.call({
          method: 'POST',
          url: '/bulk',
          body: {
            atomic: true,
            operations: [
              { action: 'CREATE_WALLET', ik: 'bulk-author', data: { name: 'bulk' } },
              { action: 'DEBIT_WALLET', data: { walletID: wallet.id, amount: { asset: 'USD/2', amount: 1n }, pending: true } },
            ],
          },
          headers: auth,
        }),
        200,
      ).body.data;
      assert.equal(bulk[0].data.createdBy, client.clientId);
      assert.equal(bulk[1].data.createdBy, client.clientId);
      const bulkTransactions = expectStatus(await h.call({ method: 'GET', url: `/transactions?walletID=${wallet.id}&pageSize=1`, headers: auth }), 200).body.cursor.data;
      assert.equal(bulkTransactions[0].createdBy, client.clientId);
      // The request's log lines name the client beside the request id.
      const completed = a.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request completed' && line.clientId === client.clientId);
      assert.ok(completed.length >= 8, 'completions logged with the client');
      for (const line of completed) assert.equal(typeof line.requestId, 'string');
    });

    it('key rotation: tokens of the old key keep working until they expire; new tokens carry the new kid; JWKS has both', async () => {
      const admin = await a.token(await a.client(['admin']));
      const client = await a.client(['wallets:read']);
      const old = await a.token(client);
      const rotated = expectStatus(await h.call({ method: 'POST', url: '/auth/keys/rotate', headers: bearer(admin) }), 201).body.data;
      assert.notEqual(rotated.kid, jwtHeader(old).kid);
      const fresh = await a.token(client);
      assert.equal(jwtHeader(fresh).kid, rotated.kid, 'new tokens carry the new kid');
      expectStatus(await h.call({ method: 'GET', url: '/wallets', headers: bearer(old) }), 200);
      expectStatus(await h.call({ method: 'GET', url: '/wallets', headers: bearer(fresh) }), 200);
      const kids = (await h.get('/.well-known/jwks.json')).body.keys.map((key: { kid: string }) => key.kid);
      assert.ok(kids.includes(rotated.kid) && kids.includes(jwtHeader(old).kid), 'both keys published');
      const keys = expectStatus(await h.call({ method: 'GET', url: '/auth/keys', headers: bearer(admin) }), 200).body.data;
      assert.equal(keys[0].kid, rotated.kid);
      assert.equal(keys[0].retiredAt, null);
      assert.notEqual(keys[1].retiredAt, null, 'the old key is retired: it verifies, it no longer signs');
      // A day on (the longest token lifetime), the next rotation deletes the old key; the one it retires now stays.
      h.clock.advance(25 * 3600);
      expectStatus(await h.call({ method: 'POST', url: '/auth/keys/rotate', headers: bearer(await a.token(await a.client(['admin']))) }), 201);
      const after = (await h.get('/.well-known/jwks.json')).body.keys.map((key: { kid: string }) => key.kid);
      assert.ok(!after.includes(jwtHeader(old).kid) && after.includes(rotated.kid), after.join(', '));
      assertRefused(await h.call({ method: 'GET', url: '/wallets', headers: bearer(old) }), 401, 'a token of a deleted key (expired too)');
    });

    it('revocation: the revoking process refuses the token at once; another process within a second', async () => {
      const admin = await a.token(await a.client(['admin']));
      const client = await a.client(['wallets:read']);
      const token = await a.token(client);
      // A second app on the same database stands for a second process.
      const other = buildApp({ db: h.db, ledger: 'test-ledger', limits: DEFAULT_LIMITS, clock: h.clock.now, auth: AUTH_ON });
      await other.ready();
      try {
        assert.equal((await other.inject({ method: 'GET', url: '/wallets', headers: bearer(token) })).statusCode, 200, 'the other process accepts it, and caches it');
        expectStatus(await h.call({ method: 'POST', url: `/auth/clients/${client.clientId}/revoke`, headers: bearer(admin) }), 200);
        assertRefused(await h.call({ method: 'GET', url: '/wallets', headers: bearer(token) }), 401, 'revoking process');
        // The other process's cached standing lapses STANDING_TTL_MS after it was read, on the
        // app's clock: moved that far, not waited for, so a slow machine's stalls cannot add to it.
        h.clock.advance(STANDING_TTL_MS / 1000);
        const refused = await other.inject({ method: 'GET', url: '/wallets', headers: bearer(token) });
        assert.equal(refused.statusCode, 401, `the other process, once its cached standing lapsed: ${refused.body}`);
        assert.equal(JSON.parse(refused.body).errorCode, 'UNAUTHORIZED');
        assert.match(JSON.parse(refused.body).errorMessage, /revoked/, 'refused for the revocation, not for the token (it lives an hour)');
        expectError(await requestToken(h, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }), 401, 'UNAUTHORIZED');
      } finally {
        await other.close();
      }
    });

    it('secret rotation: the old secret and tokens minted with it stop working; the new secret works', async () => {
      const admin = await a.token(await a.client(['admin']));
      const client = await a.client(['wallets:read']);
      const old = await a.token(client);
      const rotated = expectStatus(await h.call({ method: 'POST', url: `/auth/clients/${client.clientId}/rotate-secret`, headers: bearer(admin) }), 200).body.data;
      a.secrets.add(rotated.clientSecret);
      assert.notEqual(rotated.clientSecret, client.clientSecret);
      assertRefused(await h.call({ method: 'GET', url: '/wallets', headers: bearer(old) }), 401, 'a token of the old secret');
      expectError(await requestToken(h, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }), 401, 'UNAUTHORIZED');
      const fresh = await a.token({ ...client, clientSecret: rotated.clientSecret });
      expectStatus(await h.call({ method: 'GET', url: '/wallets', headers: bearer(fresh) }), 200);
    });

    it('admin over HTTP: create (secret once), get, list, revoke; bad bodies are 400 and create nothing', async () => {
      const admin = await a.token(await a.client(['admin']));
      const created = expectStatus(await h.call({ method: 'POST', url: '/auth/clients', body: { name: 'svc', scopes: 'wallets:read wallets:write' }, headers: bearer(admin) }), 201).body.data;
      a.secrets.add(created.clientSecret);
      assert.deepEqual(created.scopes, ['wallets:read', 'wallets:write']);
      assert.match(created.clientSecret, /^cof_cs_/);
      const got = expectStatus(await h.call({ method: 'GET', url: `/auth/clients/${created.clientId}`, headers: bearer(admin) }), 200).body.data;
      assert.equal(got.clientSecret, undefined);
      const stored = await h.db.query<{ secret_hash: string }>('SELECT secret_hash FROM auth_clients WHERE id = $1', [created.clientId]);
      assert.match(stored[0]!.secret_hash, /^scrypt\$32768\$8\$1\$/, 'only a slow hash is stored');
      assert.ok(!stored[0]!.secret_hash.includes(created.clientSecret));
      const before = await tableSnapshot(h.db);
      for (const body of [{ name: 'x', scopes: [] }, { name: 'x', scopes: ['root'] }, { name: '', scopes: ['admin'] }, { scopes: ['admin'] }, { name: 'x', scopes: 'admin', extra: 1 }]) {
        expectError(await h.call({ method: 'POST', url: '/auth/clients', body, headers: bearer(admin) }), 400, 'VALIDATION');
      }
      expectError(await h.call({ method: 'POST', url: '/auth/clients/cof_ci_nobody/revoke', headers: bearer(admin) }), 404, 'NOT_FOUND');
      assert.deepEqual(await tableSnapshot(h.db), before);
      const revoked = expectStatus(await h.call({ method: 'POST', url: `/auth/clients/${created.clientId}/revoke`, headers: bearer(admin) }), 200).body.data;
      assert.notEqual(revoked.revokedAt, null);
      expectError(await h.call({ method: 'POST', url: `/auth/clients/${created.clientId}/rotate-secret`, headers: bearer(admin) }), 404, 'NOT_FOUND');
    });
  });
  if (backend.name === 'pglite' && !process.env.TEST_DATABASE_URL) postgresSkipped('auth [postgres]');
}

describe('auth rate limits [pglite]', () => {
  let a: AuthHarness;
  let first: string;
  let second: string;
  before(async () => {
    // Budgets that refill slowly: a loaded machine must not refill them while a test spends them
    // (each token request hashes a secret, about 170 ms here). The client's: 5 at once, then 1 a
    // second; the address's token requests: 10 at once, then 1 an hour.
    a = await startAuthHarness(backends()[0]!, { perSecond: 1, burst: 5 }, { perSecond: 1 / 3600, burst: 10 });
    // Tokens first: the brute-force test spends this address's token budget.
    first = await a.token(await a.client(['wallets:read'], 'busy'));
    second = await a.token(await a.client(['wallets:read'], 'quiet'));
  });
  after(async () => {
    assert.deepEqual(leaks(a.logs.lines, a.secrets), [], 'no secret, token or Authorization header in any log line');
    await a.h.close();
  });

  const refusals = async (limit: string) => {
    const metric = (await metricsRegistry.getSingleMetricAsString('coffer_rate_limited_total')).split('\n').find((line) => line.includes(`limit="${limit}"`));
    return metric === undefined ? 0 : Number(metric.split(' ').at(-1));
  };

  it("a client over its budget gets 429 with Retry-After and a JSON error; another client's budget is its own", async () => {
    const before = await refusals('client');
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const response = await a.h.call({ method: 'GET', url: '/wallets', headers: bearer(first) });
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
    }
    // A burst of 5, refilling at 1 a second: of the 6th, 7th and 8th of a quick loop, at least one is refused.
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
    assert.ok(refused, `refused once over budget: ${statuses.join(',')}`);
    assert.equal(refused.body.errorCode, 'TOO_MANY_REQUESTS');
    assert.equal(typeof refused.body.errorMessage, 'string');
    assert.equal(refused.headers['retry-after'], '1');
    assert.ok((await refusals('client')) - before >= 1, 'the metric counts refusals');
    expectStatus(await a.h.call({ method: 'GET', url: '/wallets', headers: bearer(second) }), 200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expectStatus(await a.h.call({ method: 'GET', url: '/wallets', headers: bearer(first) }), 200);
  });

  it('token endpoint brute force: the 9th guess from one address is 429 with Retry-After, whatever the credentials', async () => {
    const client = await a.client(['wallets:read']);
    const before = await refusals('token');
    const answers: Response[] = [];
    // 2 of the 10 were spent on the tokens above.
    for (let i = 0; i < 10; i++) answers.push(await requestToken(a.h, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: `guess-${i}` }));
    assert.deepEqual(answers.slice(0, 8).map((r) => r.status), Array(8).fill(401));
    for (const answer of answers.slice(8)) {
      assert.equal(answer.status, 429);
      assert.equal(answer.body.errorCode, 'TOO_MANY_REQUESTS');
      assert.equal(answer.body.error, 'slow_down');
      assert.ok(Number(answer.headers['retry-after']) >= 1);
    }
    // Even the right secret waits now: the budget is the address's.
    assert.equal((await requestToken(a.h, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })).status, 429);
    assert.equal((await refusals('token')) - before, 3, 'the metric counts each refusal');
  });
});
