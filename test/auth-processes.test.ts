/**
 * Auth as an operator runs it, with real processes:
 * - `coffer clients create` on the embedded default before the first start, then a server with
 *   AUTH=required doing the whole flow (tokens by form and Basic, money movement through the
 *   typed client and the CLI with COFFER_CLIENT_ID/SECRET, a secret in a URL, bad tokens,
 *   revocation, secret and key rotation). Every line of its log, at trace level, is scanned:
 *   no secret, token or Authorization header.
 * - The mode follows HOST when AUTH is unset; AUTH=off on a non-loopback address warns loudly.
 * - Two processes on one PostgreSQL with REDIS_URL draw one client's requests, and one
 *   address's token requests, from one budget.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Coffer } from '../src/client/index.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { leaks } from './support/auth.ts';
import { runCommand, startServer, type ServerProcess } from './support/server-process.ts';

function coffer(args: readonly string[], env: Record<string, string | undefined>) {
  return runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { ...process.env, ...env });
}

interface Created {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly name: string;
  readonly scopes: string[];
}

async function createClient(name: string, scopes: string, env: Record<string, string>): Promise<Created> {
  const run = await coffer(['clients', 'create', '--name', name, '--scopes', scopes, '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const created = JSON.parse(run.stdout) as Created & { data: Created };
  assert.equal(created.data.clientId, created.clientId, 'the envelope holds the same client');
  return created;
}

async function token(url: string, client: Created, scope?: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, ...(scope ? { scope } : {}) }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function get(url: string, path: string, authorization?: string): Promise<Response> {
  return fetch(`${url}${path}`, authorization ? { headers: { authorization } } : {});
}

describe('auth in a real server [pglite]', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'coffer-auth-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('the CLI creates the first client before the first start; a whole auth flow logs no secret, token or Authorization header', async () => {
    const env = { DATA_DIR: join(dataDir, 'data') };
    const admin = await createClient('operator', 'admin wallets:read wallets:write', env);
    assert.match(admin.clientSecret, /^cof_cs_/);
    assert.deepEqual(admin.scopes, ['admin', 'wallets:read', 'wallets:write']);
    // The other client commands, on the database: rotate a secret, revoke, rotate the signing key.
    const old = await createClient('old', 'wallets:read', env);
    const rotated = await coffer(['clients', 'rotate-secret', old.clientId, '--json'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const renewed = JSON.parse(rotated.stdout) as Created;
    assert.equal(renewed.clientId, old.clientId);
    assert.notEqual(renewed.clientSecret, old.clientSecret);
    assert.equal((await coffer(['clients', 'revoke', old.clientId], env)).code, 0);
    assert.equal((await coffer(['clients', 'rotate-secret', old.clientId], env)).code, 2, 'a revoked client has no secret to rotate');
    const key = await coffer(['keys', 'rotate', '--json'], env);
    assert.equal(key.code, 0, key.stderr);
    const kid = (JSON.parse(key.stdout) as { data: { kid: string } }).data.kid;
    const listed = await coffer(['clients', 'list', '--json'], env);
    assert.ok(!listed.stdout.includes(admin.clientSecret) && !listed.stdout.includes(renewed.clientSecret), 'a list never prints a secret');
    const clients = (JSON.parse(listed.stdout) as { data: { clientId: string; revokedAt: string | null }[] }).data;
    assert.deepEqual(clients.map((c) => [c.clientId, c.revokedAt !== null]), [[admin.clientId, false], [old.clientId, true]]);
    const lines: string[] = [];
    const server = await startServer({ ...env, AUTH: 'required', LOG_LEVEL: 'trace' }, 60_000, undefined, [], lines);
    const secrets = new Set<string>([admin.clientSecret]);
    try {
      assert.equal((await get(server.url, '/wallets')).status, 401);
      const adminToken = await token(server.url, admin);
      secrets.add(adminToken);
      assert.equal(JSON.parse(Buffer.from(adminToken.split('.')[0]!, 'base64url').toString()).kid, kid, 'signed with the key the CLI added');
      secrets.add(old.clientSecret);
      secrets.add(renewed.clientSecret);
      assert.equal((await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${old.clientId}&client_secret=${renewed.clientSecret}` })).status, 401, 'revoked by the CLI');
      const basic = `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`;
      secrets.add(basic);
      const viaBasic = await fetch(`${server.url}/api/auth/oauth/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      assert.equal(viaBasic.status, 200);
      secrets.add(((await viaBasic.json()) as { access_token: string }).access_token);
      // A secret in a URL's query string (a client's mistake): the request line is logged, the secret is not.
      await fetch(`${server.url}/oauth/token?client_secret=${admin.clientSecret}&access_token=${adminToken}`, { method: 'POST' });
      // Wrong secrets and bad tokens are refused and logged without their values.
      const wrong = `${admin.clientSecret.slice(0, -4)}xxxx`;
      secrets.add(wrong);
      assert.equal((await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${admin.clientId}&client_secret=${wrong}` })).status, 401);
      assert.equal((await get(server.url, '/wallets', `Bearer ${adminToken}x`)).status, 401);

      // The typed client fetches its own token; the CLI too, from COFFER_CLIENT_ID/COFFER_CLIENT_SECRET.
      const client = new Coffer({ url: server.url, clientId: admin.clientId, clientSecret: admin.clientSecret });
      const wallet = await client.createWallet({ name: 'logged' });
      assert.equal(wallet.createdBy, admin.clientId);
      await client.credit(wallet.id, { amount: { asset: 'USD/2', amount: 1_000n } });
      const hold = await client.debit(wallet.id, { amount: { asset: 'USD/2', amount: 300n }, pending: true });
      await client.confirmHold(hold.id, { final: true });
      const granted = await client.accessToken();
      assert.ok(granted);
      secrets.add(granted.token);
      assert.deepEqual(granted.scopes, ['admin', 'wallets:read', 'wallets:write']);
      const cliEnv = { COFFER_URL: server.url, COFFER_CLIENT_ID: admin.clientId, COFFER_CLIENT_SECRET: admin.clientSecret };
      const summary = await coffer(['summary', wallet.id, '--json'], cliEnv);
      assert.equal(summary.code, 0, summary.stderr);
      assert.match(summary.stdout, /"availableFunds": \{\s*"USD\/2": 700/);
      const anonymous = await coffer(['wallets', 'list'], { COFFER_URL: server.url, COFFER_CLIENT_ID: '', COFFER_CLIENT_SECRET: '' });
      assert.equal(anonymous.code, 1, 'refused: exit 1');
      assert.match(anonymous.stderr, /UNAUTHORIZED/);

      // Admin over HTTP through the typed client: a second client, its secret rotated, then revoked.
      const worker = await client.createClient({ name: 'worker', scopes: ['wallets:read'] });
      secrets.add(worker.clientSecret);
      const workerClient = new Coffer({ url: server.url, clientId: worker.clientId, clientSecret: worker.clientSecret });
      assert.equal((await workerClient.listWallets()).data.length, 1);
      const rotated = await client.rotateClientSecret(worker.clientId);
      secrets.add(rotated.clientSecret);
      await assert.rejects(workerClient.listWallets(), { errorCode: 'UNAUTHORIZED' });
      await client.revokeClient(worker.clientId);
      const key = await client.rotateSigningKey();
      assert.equal((await client.listSigningKeys())[0]?.kid, key.kid);
    } finally {
      await server.kill('SIGTERM');
    }
    assert.ok(lines.length > 40, `the server logged ${lines.length} lines`);
    assert.ok(lines.some((line) => line.includes(`"clientId":"${admin.clientId}"`)), 'request lines name the client');
    assert.ok(lines.some((line) => line.includes('[REDACTED]')), 'the secret in the URL was redacted');
    assert.deepEqual(leaks(lines, secrets), []);
  });

  it('AUTH unset on a non-loopback HOST means required; AUTH=off there starts with a loud warning', async () => {
    // The folder of the test above: reopening it is quick, a new one would run initdb.
    const env = { DATA_DIR: join(dataDir, 'data'), HOST: '0.0.0.0' };
    const open = await startServer(env);
    try {
      const refused = await get(open.url, '/wallets');
      assert.equal(refused.status, 401);
      assert.match(String(refused.headers.get('www-authenticate')), /^Bearer/);
    } finally {
      await open.kill('SIGTERM');
    }
    const lines: string[] = [];
    const exposed = await startServer({ ...env, AUTH: 'off', LOG_LEVEL: 'info' }, 60_000, undefined, [], lines);
    try {
      assert.equal((await get(exposed.url, '/wallets')).status, 200);
    } finally {
      await exposed.kill('SIGTERM');
    }
    const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((line) => line.level === 40 && /AUTH=off/.test(line.msg));
    assert.ok(warning, 'a warning names AUTH=off');
    assert.match(warning.msg, /ANYONE WHO CAN REACH THIS PORT CAN MOVE MONEY/);
  });
});

const postgresUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

if (postgresUrl) {
  describe('two processes share rate limits through Redis [postgres]', () => {
    let fresh: Awaited<ReturnType<typeof freshPostgresDatabase>>;
    let servers: ServerProcess[] = [];
    let client: Created;
    let redisUp = false;
    before(async () => {
      redisUp = await redisAnswers(redisUrl);
      if (!redisUp && process.env.TEST_REDIS_URL) throw new Error(`TEST_REDIS_URL ${redisUrl} does not answer`);
      fresh = await freshPostgresDatabase(postgresUrl);
      client = await createClient('shared', 'wallets:read', { DATABASE_URL: fresh.url });
      if (!redisUp) return;
      // The ledger name keeps this run's buckets apart from any other's in the same Redis.
      const env = {
        DATABASE_URL: fresh.url,
        AUTH: 'required',
        REDIS_URL: redisUrl,
        LEDGER_NAME: `t${Date.now()}`,
        AUTH_RATE_LIMIT: '1',
        AUTH_RATE_LIMIT_BURST: '10',
        AUTH_TOKEN_RATE_LIMIT: '6',
      };
      servers = await Promise.all([startServer(env), startServer(env)]);
    });
    after(async () => {
      await Promise.all(servers.map((server) => server.kill('SIGTERM')));
      await fresh?.drop();
    });

    it("one client's requests spread over two processes spend one budget of 10; an address's token requests one budget of 6", async (t) => {
      if (!redisUp) return t.skip(`Redis does not answer at ${redisUrl}: shared limits not tested (CI starts it)`);
      const [one, two] = [servers[0]!.url, servers[1]!.url];
      const bearer = `Bearer ${await token(one, client)}`;
      // One token request was spent just now; 5 more, over both processes, then 429 from either.
      // First, while the bucket (6, refilling one each 10 s) cannot yet have refilled one.
      const tokenStatuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const response = await fetch(`${i % 2 === 0 ? one : two}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&client_id=${client.clientId}&client_secret=nope`,
        });
        tokenStatuses.push(response.status);
      }
      assert.deepEqual(tokenStatuses, [401, 401, 401, 401, 401, 429, 429, 429]);
      // Sent at once, so that how many the bucket refills (1/s) depends on the time they took,
      // which is measured, not on this machine's speed.
      const started = Date.now();
      const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => get(i % 2 === 0 ? one : two, '/wallets', bearer)))).map((answer) => answer.status);
      const refilled = Math.floor((Date.now() - started) / 1000) + 1;
      const served = statuses.filter((status) => status === 200).length;
      // In memory each process would serve 10 (20 in all); one shared bucket serves its 10 and what refills.
      assert.ok(refilled < 10, `the 20 requests took ${Date.now() - started} ms: too long to tell one bucket from two`);
      assert.ok(served >= 10 && served <= 10 + refilled, `served ${served} of 20 (${refilled} s of refill): ${statuses.join(',')}`);
      assert.ok(statuses.every((status) => status === 200 || status === 429), statuses.join(','));
    });
  });
} else {
  postgresSkipped('two processes share rate limits through Redis [postgres]');
}
