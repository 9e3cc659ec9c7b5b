/**
 * Configuration: one module reads the environment, every variable it reads is in SETTINGS
 * and in docs/configuration.md's table with the same default, a default written out explicitly changes
 * nothing, and a bad value stops start-up at once with a message naming the variable.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadConfig, SETTINGS, type SettingName } from '../src/config.ts';
import { ConfigError } from '../src/domain/errors.ts';
import { DEFAULT_URL } from '../src/client/index.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CONFIGURATION = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
const CLI = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');

/** The configuration page's table: [variable, default or undefined when unset]. */
function readmeSettings(): [string, string | undefined][] {
  const section = CONFIGURATION;
  return [...section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map(([, name, cell]) => {
    const text = cell!.trim();
    return [name!, text.startsWith('*(unset') ? undefined : text.replace(/^`|`$/g, '')];
  });
}

describe('config', () => {
  it('the configuration table (docs/configuration.md) lists every setting, in order, with the default the code uses', () => {
    const expected = Object.entries(SETTINGS).map(([name, setting]) => [name, setting.default]);
    assert.deepEqual(readmeSettings(), expected);
  });

  it('loadConfig reads exactly the variables in SETTINGS, and nothing else', () => {
    const read = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get(_target, name) {
        if (typeof name === 'string') read.add(name);
        return undefined;
      },
    });
    loadConfig(env);
    assert.deepEqual([...read].sort(), Object.keys(SETTINGS).sort());
  });

  it('writing every default out explicitly gives the same config as leaving it unset', () => {
    const explicit = Object.fromEntries(Object.entries(SETTINGS).flatMap(([name, setting]) => (setting.default === undefined ? [] : [[name, setting.default]])));
    assert.deepEqual(loadConfig(explicit), loadConfig({}));
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.deepEqual(config.timeouts, { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 72_000, connectionMs: 60_000, shutdownMs: 30_000 });
    assert.equal(config.idempotencyRetentionMicros, null);
    assert.equal(config.databaseUrl, undefined);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.timeouts) && Object.isFrozen(config.limits));
  });

  it('values are parsed: timeouts, pool, retention, a PostgreSQL URL', () => {
    const config = loadConfig({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '5000', POOL_SIZE: '4', IDEMPOTENCY_RETENTION: '72h', DATABASE_URL: 'postgres://u@h/db' });
    assert.equal(config.timeouts.requestMs, 5_000);
    assert.equal(config.timeouts.headersMs, 5_000);
    assert.equal(config.poolSize, 4);
    assert.equal(config.bulkConcurrency, 4, 'BULK_CONCURRENCY default');
    assert.equal(loadConfig({ BULK_CONCURRENCY: '16' }).bulkConcurrency, 16);
    assert.equal(config.idempotencyRetentionMicros, 72n * 3_600_000_000n);
    assert.equal(config.databaseUrl, 'postgres://u@h/db');
    assert.equal(config.databaseSchema, undefined, 'unset: coffer, or public for an install from before the setting (storage/open.ts)');
    assert.equal(loadConfig({ DATABASE_SCHEMA: 'coffer_eu' }).databaseSchema, 'coffer_eu');
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write' }).databaseUrl, 'postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write');
    assert.deepEqual([config.webhooks.backoffFirstMicros, config.webhooks.backoffMaxMicros], [5_000_000n, 6n * 3_600_000_000n], 'the retry schedule by default');
    const schedule = loadConfig({ WEBHOOK_RETRY_FIRST: '30s', WEBHOOK_RETRY_MAX_DELAY: '30m', WEBHOOK_RETRY_WINDOW: '7d' }).webhooks;
    assert.deepEqual([schedule.backoffFirstMicros, schedule.backoffMaxMicros, schedule.retryWindowMicros], [30_000_000n, 1_800_000_000n, 7n * 86_400_000_000n]);
  });

  it('a bad value fails with a message that names the variable', () => {
    const bad: [Partial<Record<SettingName, string>>, RegExp][] = [
      [{ PORT: 'eighty' }, /^PORT must be an integer from 0 to 65535, got "eighty"$/],
      [{ PORT: '70000' }, /^PORT /],
      [{ HOST: 'two words' }, /^HOST /],
      [{ POOL_SIZE: '0' }, /^POOL_SIZE /],
      [{ STATEMENT_TIMEOUT_MS: '1.5' }, /^STATEMENT_TIMEOUT_MS /],
      [{ REQUEST_TIMEOUT_MS: '0' }, /^REQUEST_TIMEOUT_MS must be an integer from 1000/],
      [{ HEADERS_TIMEOUT_MS: '40000' }, /^HEADERS_TIMEOUT_MS \(40000\) must not exceed REQUEST_TIMEOUT_MS \(30000\)$/],
      [{ KEEP_ALIVE_TIMEOUT_MS: '-1' }, /^KEEP_ALIVE_TIMEOUT_MS /],
      [{ CONNECTION_TIMEOUT_MS: 'soon' }, /^CONNECTION_TIMEOUT_MS /],
      [{ SHUTDOWN_TIMEOUT_MS: '99999999999' }, /^SHUTDOWN_TIMEOUT_MS /],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
      [{ LEDGER_NAME: 'a b' }, /^LEDGER_NAME /],
      [{ DATABASE_URL: 'mysql://h/db' }, /^DATABASE_URL must be a postgres/],
      [{ DATABASE_SCHEMA: 'Coffer' }, /^DATABASE_SCHEMA must be a lower-case name/],
      [{ DATABASE_SCHEMA: 'coffer; DROP TABLE x' }, /^DATABASE_SCHEMA /],
      [{ DATABASE_SCHEMA: 'coffer,public' }, /^DATABASE_SCHEMA /],
      [{ DATABASE_SCHEMA: '"coffer"' }, /^DATABASE_SCHEMA /],
      [{ DATABASE_SCHEMA: 'pg_coffer' }, /^DATABASE_SCHEMA .*not pg_/],
      [{ DATABASE_SCHEMA: 'information_schema' }, /^DATABASE_SCHEMA /],
      [{ DATABASE_SCHEMA: 'a'.repeat(64) }, /^DATABASE_SCHEMA /],
      [{ DATABASE_SCHEMA: '1coffer' }, /^DATABASE_SCHEMA /],
      [{ IDEMPOTENCY_RETENTION: '3 weeks' }, /^IDEMPOTENCY_RETENTION must be a positive duration/],
      [{ METADATA_KEYS_MAX: '0' }, /^METADATA_KEYS_MAX /],
      [{ WALLET_NAME_LENGTH_MAX: 'x' }, /^WALLET_NAME_LENGTH_MAX /],
      [{ BULK_CONCURRENCY: '0' }, /^BULK_CONCURRENCY must be an integer from 1 to 1000, got "0"$/],
      [{ BULK_CONCURRENCY: 'four' }, /^BULK_CONCURRENCY /],
      [{ BULK_CONCURRENCY: '1001' }, /^BULK_CONCURRENCY /],
      [{ WEBHOOK_RETRY_FIRST: '0s' }, /^WEBHOOK_RETRY_FIRST must be a positive duration/],
      [{ WEBHOOK_RETRY_FIRST: 'soon' }, /^WEBHOOK_RETRY_FIRST /],
      [{ WEBHOOK_RETRY_MAX_DELAY: '-1h' }, /^WEBHOOK_RETRY_MAX_DELAY must be a positive duration/],
      [{ WEBHOOK_RETRY_FIRST: '2h', WEBHOOK_RETRY_MAX_DELAY: '1h' }, /^WEBHOOK_RETRY_MAX_DELAY \(1h\) must not be shorter than WEBHOOK_RETRY_FIRST \(2h\)$/],
      [{ WEBHOOK_RETRY_FIRST: '7h' }, /^WEBHOOK_RETRY_MAX_DELAY \(6h\) must not be shorter than WEBHOOK_RETRY_FIRST \(7h\)$/],
    ];
    for (const [env, message] of bad) {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  it('npm start fails fast on a bad setting: exit code 2, the message, nothing started', async () => {
    const started = Date.now();
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...process.env, HEADERS_TIMEOUT_MS: '60000' }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'coffer: HEADERS_TIMEOUT_MS (60000) must not exceed REQUEST_TIMEOUT_MS (30000)\n');
    assert.ok(Date.now() - started < 10_000, 'before opening any database');
  });

  it('AUTH: unset is off on a loopback HOST and required on any other; explicit values win; bad values name the variable', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(loadConfig({ HOST: host }).auth.mode, 'off', host);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'coffer.internal']) assert.equal(loadConfig({ HOST: host }).auth.mode, 'required', host);
    assert.deepEqual([loadConfig({ HOST: '0.0.0.0', AUTH: 'off' }).auth.mode, loadConfig({ HOST: '0.0.0.0', AUTH: 'off' }).auth.explicit], ['off', true]);
    assert.equal(loadConfig({ AUTH: 'required' }).auth.mode, 'required');
    const auth = loadConfig({ AUTH_TOKEN_TTL: '15m', AUTH_RATE_LIMIT: '50', AUTH_RATE_LIMIT_BURST: '80', AUTH_TOKEN_RATE_LIMIT: '12', REDIS_URL: 'redis://127.0.0.1:6379' }).auth;
    assert.equal(auth.tokenTtlSeconds, 900);
    assert.deepEqual(auth.clientRate, { perSecond: 50, burst: 80 });
    assert.deepEqual(auth.tokenRate, { perSecond: 0.2, burst: 12 });
    assert.equal(auth.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(loadConfig({}).auth.tokenTtlSeconds, 3600);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy, '10.0.0.0/8,127.0.0.1');
    for (const [name, value] of [
      ['AUTH', 'on'],
      ['AUTH_TOKEN_TTL', '10s'],
      ['AUTH_TOKEN_TTL', '2d'],
      ['AUTH_TOKEN_TTL', '1 h'],
      ['AUTH_RATE_LIMIT', '0'],
      ['AUTH_TOKEN_RATE_LIMIT', 'many'],
      ['REDIS_URL', 'http://127.0.0.1:6379'],
      ['TRUST_PROXY', 'true; rm -rf'],
    ] as const) {
      assert.throws(() => loadConfig({ [name]: value }), (error: unknown) => error instanceof ConfigError && error.message.startsWith(name), `${name}=${value}`);
    }
  });

  it("the CLI's settings table (docs/cli.md) gives the client's default URL", () => {
    assert.match(CLI, new RegExp(`^\\| \`--url\`, else \`COFFER_URL\` \\| \`${DEFAULT_URL.replace(/\./g, '\\.')}\` \\|`, 'm'));
  });
});
