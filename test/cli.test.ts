/**
 * The `coffer` command, driven as a user drives it: the bin as a child process, against a
 * server started with `coffer serve` on a database prepared by `coffer migrate` (PostgreSQL
 * when TEST_DATABASE_URL is set, else PGlite on disk). Tables for people, exact JSON for
 * scripts, help everywhere, and exit codes that say what happened.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, SETTINGS } from '../src/config.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { openDatabase } from '../src/storage/open.ts';
import { parseJson } from '../src/http/json.ts';
import { freshPostgresDatabase, type ParsedJson } from './support/harness.ts';
import { freePort, runCommand, startServer, type Run, type ServerProcess } from './support/server-process.ts';

const U128_MAX = (1n << 128n) - 1n;

/** Runs `coffer …` in the project folder, as `npx coffer …` would. */
function coffer(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { ...process.env, ...env });
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

function json(run: Run): ParsedJson {
  return parseJson(ok(run).stdout);
}

describe('cli', () => {
  let database: Record<string, string>;
  let cleanup: () => Promise<void> = async () => {};
  let server: ServerProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    const url = process.env.TEST_DATABASE_URL;
    if (url) {
      const fresh = await freshPostgresDatabase(url);
      database = { DATABASE_URL: fresh.url };
      cleanup = fresh.drop;
    } else {
      const dataDir = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
      database = { DATABASE_URL: '', DATA_DIR: dataDir };
      cleanup = async () => rmSync(dataDir, { recursive: true, force: true });
    }
  });

  after(async () => {
    await server?.kill('SIGTERM');
    // What the CLI did left the ledger consistent.
    const db = await openDatabase(loadConfig(database));
    try {
      assert.deepEqual(await findViolations(db), []);
    } finally {
      await db.close();
      await cleanup();
    }
  });

  it('coffer migrate: applies the migrations once, then reports the database up to date', async () => {
    const first = ok(await coffer(['migrate'], database));
    assert.match(first.stdout, /^applied migrations \d+(, \d+)*\n$/);
    assert.deepEqual(json(await coffer(['migrate', '--json'], database)), { applied: [] });
  });

  it('coffer serve: serves the API on the configured port (the server every test below talks to)', async () => {
    server = await startServer(database, 60_000, ['--import', 'tsx', 'src/cli/index.ts', 'serve']);
    env = { COFFER_URL: server.url };
    const info = json(await coffer(['--json', 'wallets', 'list'], env));
    assert.deepEqual(info.data, []);
  });

  it('--help everywhere: every command explains itself and exits 0; serve --help lists every setting', async () => {
    const commands = [[], ['wallets'], ['wallets', 'create'], ['wallets', 'list'], ['wallets', 'get'], ['credit'], ['debit'], ['holds'], ['holds', 'confirm'], ['holds', 'void'], ['summary'], ['balances', 'create'], ['transactions', 'list'], ['migrate']];
    const runs = await Promise.all(commands.map((command) => coffer([...command, '--help'])));
    runs.forEach((run, index) => {
      ok(run);
      assert.match(run.stdout, new RegExp(`^Usage: coffer ${commands[index]!.join(' ')}`), commands[index]!.join(' '));
      assert.match(run.stdout, /--url <url>/, 'global options are shown');
    });
    assert.match(runs[0]!.stdout, /default: "http:\/\/127\.0\.0\.1:8080", env: COFFER_URL/);
    assert.match(runs[0]!.stdout, /Exit codes:/);
    const serve = ok(await coffer(['serve', '--help']));
    for (const name of Object.keys(SETTINGS)) assert.match(serve.stdout, new RegExp(`\\b${name}\\b`), `serve --help lists ${name}`);
  });

  it('a day of operations: create, credit, hold, confirm, summary, lists — tables for people, exact JSON for scripts', async () => {
    const created = ok(await coffer(['wallets', 'create', '--name', 'alice', '--metadata', 'customer=42'], env));
    assert.match(created.stdout, /^id {8}[0-9a-f-]{36}$/m);
    assert.match(created.stdout, /^metadata {2}customer=42$/m);
    const wallet = json(await coffer(['--json', 'wallets', 'create', '--name', 'bob'], env));
    const id = wallet.id as string;

    const credited = json(await coffer(['credit', id, String(U128_MAX), 'USD/2', '--json', '--metadata', 'why=topup'], env));
    assert.equal(credited.credited.amount, U128_MAX, 'exact in JSON output');
    assert.match(credited.idempotencyKey, /^[0-9a-f-]{36}$/);
    const held = json(await coffer(['debit', id, '2500', 'USD/2', '--pending', '--description', 'ride 7', '--json'], env));
    const hold = held.hold.id as string;
    assert.equal(held.hold.description, 'ride 7');
    const confirmed = ok(await coffer(['holds', 'confirm', hold, '--amount', '2000', '--final'], env));
    assert.match(confirmed.stdout, /^remaining {8}0$/m);
    ok(await coffer(['debit', id, '1', 'USD/2', '--balance', '*', '--destination', 'account:merchants:7'], env));

    const summary = json(await coffer(['summary', id, '--json'], env));
    assert.equal(summary.availableFunds['USD/2'], U128_MAX - 2001n);
    const table = ok(await coffer(['summary', id], env)).stdout;
    assert.match(table, /^BALANCE +EXPIRES +PRIORITY +AMOUNTS$/m);
    assert.match(table, new RegExp(`^main +- +0 +${U128_MAX - 2001n} USD/2$`, 'm'));
    assert.match(table, /^available +\d+ USD\/2$/m);

    const list = ok(await coffer(['wallets', 'list'], env)).stdout.split('\n');
    assert.match(list[0]!, /^ID +NAME +CREATED +MAIN +METADATA$/);
    assert.ok(list.some((line) => line.startsWith(id) && line.includes(' bob ')));
    const holds = ok(await coffer(['holds', 'list', '--wallet', id], env)).stdout;
    assert.match(holds, new RegExp(`^${hold} +${id} +USD/2 +world +ride 7$`, 'm'));
    const transactions = json(await coffer(['transactions', 'list', '--wallet', id, '--all', '--json'], env));
    assert.equal(transactions.data.length, 4, 'credit, hold, confirm (with the final return), debit');
    const page = ok(await coffer(['transactions', 'list', '--wallet', id, '--page-size', '2'], env)).stdout;
    assert.match(page, /^more: coffer transactions list --wallet \S+ --cursor \S+$/m);

    ok(await coffer(['balances', 'create', id, 'promo', '--priority', '3', '--expires-at', '2999-01-01T00:00:00Z'], env));
    assert.deepEqual(json(await coffer(['balances', 'get', id, 'promo', '--json'], env)), { name: 'promo', expiresAt: '2999-01-01T00:00:00Z', priority: 3n, assets: {} });
  });

  it('--idempotency-key: the same command twice moves the money once', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).id as string;
    const args = ['credit', id, '700', 'EUR/2', '--idempotency-key', `cli-${id}`];
    const [first, second] = [ok(await coffer(args, env)), ok(await coffer(args, env))];
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(json(await coffer(['--json', 'wallets', 'get', id], env)).balances.main.assets, { 'EUR/2': 700n });
  });

  it('exit codes: 1 refused by the server, 2 wrong command line or configuration, 3 no answer', async () => {
    const port = await freePort();
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).id as string;
    const [notFound, poor, notFoundJson, badAmount, unknown, missing, nobody, badPort, badDatabase] = await Promise.all([
      coffer(['wallets', 'get', 'no-such-wallet'], env),
      coffer(['debit', id, '5', 'USD/2'], env),
      coffer(['--json', 'holds', 'void', 'no-such-hold'], env),
      coffer(['credit', id, '1.50', 'USD/2'], env),
      coffer(['wallets', 'delete'], env),
      coffer(['credit', id], env),
      coffer(['--url', `http://127.0.0.1:${port}`, 'wallets', 'list'], env),
      coffer(['serve'], { ...database, PORT: 'eighty' }),
      coffer(['migrate'], { DATABASE_URL: 'mysql://somewhere' }),
    ]);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /^coffer: NOT_FOUND: wallet no-such-wallet not found \(HTTP 404, request \S+\)$/m);
    assert.equal(poor.code, 1);
    assert.match(poor.stderr, /INSUFFICIENT_FUND/);
    assert.equal(notFoundJson.code, 1);
    assert.equal(JSON.parse(notFoundJson.stderr).errorCode, 'NOT_FOUND');
    assert.equal(badAmount.code, 2);
    assert.match(badAmount.stderr, /integer of minor units/);
    assert.equal(unknown.code, 2);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'amount'/);
    assert.equal(nobody.code, 3);
    assert.match(nobody.stderr, new RegExp(`no answer from http://127\\.0\\.0\\.1:${port}/wallets.*ECONNREFUSED`));
    assert.equal(badPort.code, 2, 'a bad setting stops serve at once');
    assert.match(badPort.stderr, /^coffer: PORT must be an integer from 0 to 65535, got "eighty"$/m);
    assert.equal(badDatabase.code, 2);
    assert.match(badDatabase.stderr, /DATABASE_URL must be a postgres/);
  });
});
