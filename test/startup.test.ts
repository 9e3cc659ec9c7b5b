/**
 * Start-up failures, from real processes: each bad setting or unreachable database ends the
 * process within seconds with exit code 2 (a bad setting) or 3 (the database does not
 * answer), one line on stderr naming the setting, and one pino-style fatal line on stdout
 * when serving. `npm start`'s command (src/main.ts) and `coffer serve` answer alike; `coffer
 * migrate` refuses a database that a newer Coffer migrated.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { openPglite } from '../src/storage/database.ts';
import { migrate, SCHEMA_VERSION } from '../src/storage/migrations.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { freePort, runCommand, type Run } from './support/server-process.ts';

const SERVE_COMMANDS = {
  'npm start (src/main.ts)': ['--import', 'tsx', 'src/main.ts'],
  'coffer serve': ['--import', 'tsx', 'src/cli/index.ts', 'serve'],
} as const;

/** Runs a command with only the given settings on top of the test's environment; returns the run and its duration. */
async function run(args: readonly string[], settings: Record<string, string>): Promise<Run & { ms: number }> {
  const env = { ...process.env, DATABASE_URL: '', DATA_DIR: '', HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'silent', ...settings };
  const started = Date.now();
  const result = await runCommand(process.execPath, args, env);
  return { ...result, ms: Date.now() - started };
}

function expectRefusal(result: Run & { ms: number }, code: number, setting: RegExp, serving: boolean): void {
  assert.equal(result.code, code, `exit code (stderr: ${result.stderr})`);
  assert.match(result.stderr, /^coffer[^\n]*\n$/, 'exactly one line on stderr, no stack trace');
  assert.match(result.stderr, setting);
  assert.ok(result.ms < 15_000, `ended within seconds (${result.ms} ms)`);
  if (!serving) return;
  const entry = JSON.parse(result.stdout.trim());
  assert.equal(entry.level, 60);
  assert.equal(entry.exitCode, code);
  assert.match(entry.msg, setting);
}

describe('start-up failures', () => {
  const folder = mkdtempSync(join(tmpdir(), 'coffer-startup-'));
  /** An initialised, migrated PGlite folder, so the rows that get as far as listening are quick. */
  const dataDir = join(folder, 'data');
  /** A copy of it that a "newer Coffer" migrated. */
  const newerDir = join(folder, 'newer');
  const aFile = join(folder, 'a-file');
  let holder: Server;
  let takenPort = 0;

  before(async () => {
    writeFileSync(aFile, '');
    const db = await openPglite(dataDir);
    await migrate(db);
    await db.close();
    cpSync(dataDir, newerDir, { recursive: true });
    const newer = await openPglite(newerDir);
    await newer.query("INSERT INTO coffer_migrations (version, name) VALUES ($1, 'from the future')", [SCHEMA_VERSION + 1]);
    await newer.close();
    takenPort = await freePort();
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(takenPort, '127.0.0.1', resolve));
  });

  after(() => {
    holder.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const rows: { name: string; settings: () => Record<string, string>; code: number; setting: RegExp }[] = [
    { name: 'DATA_DIR is a file', settings: () => ({ DATA_DIR: aFile }), code: 2, setting: /DATA_DIR ".*a-file" is not a writable folder/ },
    { name: 'DATA_DIR under a file', settings: () => ({ DATA_DIR: join(aFile, 'data') }), code: 2, setting: /DATA_DIR .* is not a writable folder/ },
    // What is unwritable even to root: a path under /proc (Node's own mkdir -p loops there forever).
    { name: 'DATA_DIR under /proc', settings: () => ({ DATA_DIR: '/proc/coffer-data' }), code: 2, setting: /DATA_DIR "\/proc\/coffer-data" is not a writable folder/ },
    { name: 'DATABASE_URL: connection refused', settings: () => ({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' }), code: 3, setting: /DATABASE_URL 127\.0\.0\.1:1\/postgres does not answer/ },
    { name: 'DATABASE_URL: host does not resolve', settings: () => ({ DATABASE_URL: 'postgres://postgres@coffer-no-such-host.invalid/postgres' }), code: 3, setting: /DATABASE_URL coffer-no-such-host\.invalid:5432\/postgres does not answer/ },
    { name: 'PORT in use', settings: () => ({ DATA_DIR: dataDir, PORT: String(takenPort) }), code: 2, setting: /PORT \d+ is already in use on HOST 127\.0\.0\.1/ },
    { name: 'HOST does not resolve', settings: () => ({ DATA_DIR: dataDir, HOST: 'coffer-no-such-host.invalid' }), code: 2, setting: /HOST coffer-no-such-host\.invalid does not resolve/ },
    { name: 'HOST is not local', settings: () => ({ DATA_DIR: dataDir, HOST: '192.0.2.1' }), code: 2, setting: /HOST 192\.0\.2\.1 is not an address of this machine/ },
    { name: 'a schema newer than this Coffer', settings: () => ({ DATA_DIR: newerDir }), code: 2, setting: /DATA_DIR ".*newer": the database's schema is at version \d+, newer than this Coffer's \d+/ },
  ];

  for (const row of rows) {
    for (const [command, args] of Object.entries(SERVE_COMMANDS)) {
      it(`${command}: ${row.name} → exit ${row.code}, one line naming the setting`, { timeout: 30_000 }, async () => {
        expectRefusal(await run(args, row.settings()), row.code, row.setting, true);
      });
    }
  }

  it('HOST and PORT are refused before the data folder is made or the database opened', { timeout: 30_000 }, async () => {
    for (const [settings, setting] of [
      [{ PORT: String(takenPort) }, /PORT \d+ is already in use/],
      [{ HOST: '192.0.2.1' }, /HOST 192\.0\.2\.1 is not an address of this machine/],
    ] as const) {
      const untouched = join(folder, `untouched-${settings.PORT ?? 'host'}`);
      const started = Date.now();
      expectRefusal(await run(SERVE_COMMANDS['npm start (src/main.ts)'], { DATA_DIR: untouched, ...settings }), 2, setting, true);
      assert.equal(existsSync(untouched), false, 'no data folder was made');
      assert.ok(Date.now() - started < 10_000);
    }
  });

  it('coffer migrate: a schema newer than this Coffer → exit 2, not "up to date"', { timeout: 30_000 }, async () => {
    const result = await run(['--import', 'tsx', 'src/cli/index.ts', 'migrate'], { DATA_DIR: newerDir });
    expectRefusal(result, 2, /newer than this Coffer's/, false);
    assert.doesNotMatch(result.stdout, /up to date/);
  });

  it('coffer migrate: DATA_DIR under /proc → exit 2 at once', { timeout: 30_000 }, async () => {
    expectRefusal(await run(['--import', 'tsx', 'src/cli/index.ts', 'migrate'], { DATA_DIR: '/proc/coffer-data' }), 2, /DATA_DIR "\/proc\/coffer-data"/, false);
  });

  it('coffer migrate: connection refused → exit 3', { timeout: 30_000 }, async () => {
    expectRefusal(await run(['--import', 'tsx', 'src/cli/index.ts', 'migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' }), 3, /DATABASE_URL .* does not answer/, false);
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  describe('start-up failures on a PostgreSQL server', () => {
    const missing = new URL(serverUrl);
    missing.pathname = '/coffer_no_such_database';

    it('DATABASE_URL names a database that does not exist → exit 2 from npm start, coffer serve and coffer migrate', { timeout: 60_000 }, async () => {
      for (const args of [...Object.values(SERVE_COMMANDS), ['--import', 'tsx', 'src/cli/index.ts', 'migrate']]) {
        expectRefusal(await run(args, { DATABASE_URL: missing.toString() }), 2, /DATABASE_URL .*\/coffer_no_such_database names a database that does not exist/, args.length === 3 || args[1] === 'serve');
      }
    });

    it('a schema newer than this Coffer → exit 2 from npm start and coffer migrate', { timeout: 60_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const migrated = await run(['--import', 'tsx', 'src/cli/index.ts', 'migrate'], { DATABASE_URL: fresh.url });
        assert.equal(migrated.code, 0, migrated.stderr);
        const pg = (await import('pg')).default;
        const client = new pg.Client({ connectionString: fresh.url });
        await client.connect();
        await client.query("INSERT INTO coffer.coffer_migrations (version, name) VALUES ($1, 'from the future')", [SCHEMA_VERSION + 1]);
        await client.end();
        expectRefusal(await run(SERVE_COMMANDS['npm start (src/main.ts)'], { DATABASE_URL: fresh.url }), 2, /DATABASE_URL .*: the database's schema is at version/, true);
        expectRefusal(await run(['--import', 'tsx', 'src/cli/index.ts', 'migrate'], { DATABASE_URL: fresh.url }), 2, /newer than this Coffer's/, false);
      } finally {
        await fresh.drop();
      }
    });
  });
} else {
  postgresSkipped('start-up failures on a PostgreSQL server');
}

describe('start-up progress', () => {
  const folder = mkdtempSync(join(tmpdir(), 'coffer-progress-'));
  after(() => rmSync(folder, { recursive: true, force: true }));

  /** Starts `npm start`'s command at LOG_LEVEL info, returns the log messages up to "coffer is serving", then stops it. */
  async function messagesUntilServing(dataDir: string): Promise<string[]> {
    const child = spawn(process.execPath, SERVE_COMMANDS['npm start (src/main.ts)'], {
      cwd: new URL('../', import.meta.url),
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const messages: string[] = [];
    try {
      for await (const line of createInterface({ input: child.stdout! })) {
        messages.push((JSON.parse(line) as { msg: string }).msg);
        if (messages.at(-1) === 'coffer is serving') break;
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    return messages;
  }

  it('a first start says it initialises the new data folder, then opens, migrates and serves; later starts do not initialise', { timeout: 120_000 }, async () => {
    const dataDir = join(folder, 'data');
    const first = await messagesUntilServing(dataDir);
    assert.match(first[0]!, /^initialising a new data folder, DATA_DIR ".*" \(first start only/);
    assert.deepEqual(first.slice(1).filter((msg) => !msg.startsWith('Server listening')), [`opening DATA_DIR ${JSON.stringify(dataDir)}`, 'migrating the schema', 'coffer is serving']);
    const again = await messagesUntilServing(dataDir);
    assert.deepEqual(again.filter((msg) => !msg.startsWith('Server listening')), [`opening DATA_DIR ${JSON.stringify(dataDir)}`, 'migrating the schema', 'coffer is serving']);
  });
});
