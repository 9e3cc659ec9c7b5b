/**
 * The `coffer` command, driven as a user drives it: the bin as a child process, against a
 * server started with `coffer serve` on a database prepared by `coffer migrate` (PostgreSQL
 * when TEST_DATABASE_URL is set, else PGlite on disk). Tables for people, exact JSON for
 * scripts, help everywhere, and exit codes that say what happened.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventSummary } from '../src/cli/event-commands.ts';
import { loadConfig, SETTINGS } from '../src/config.ts';
import { disabledEvent } from '../src/events/webhooks.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { openDatabase } from '../src/storage/open.ts';
import { parseJson } from '../src/http/json.ts';
import { freshPostgresDatabase, type ParsedJson } from './support/harness.ts';
import { freePort, runCommand, startServer, type Run, type ServerProcess } from './support/server-process.ts';

const U128_MAX = (1n << 128n) - 1n;

/** Runs `coffer …` in the project folder, as `npx coffer …` would. */
function coffer(args: readonly string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> {
  return runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { ...process.env, ...env }, input);
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
    assert.deepEqual(json(await coffer(['migrate', '--json'], database)), { data: { applied: [] }, idempotencyKey: null });
  });

  it('coffer serve: serves the API on the configured port (the server every test below talks to)', async () => {
    server = await startServer(database, 60_000, ['--import', 'tsx', 'src/cli/index.ts', 'serve']);
    env = { COFFER_URL: server.url };
    const info = json(await coffer(['--json', 'wallets', 'list'], env));
    assert.deepEqual(info.data, []);
  });

  it('--help everywhere: every command explains itself and exits 0; serve --help lists every setting', async () => {
    const commands = [
      [], ['wallets'], ['wallets', 'create'], ['wallets', 'list'], ['wallets', 'get'], ['credit'], ['debit'], ['holds'], ['holds', 'list'], ['holds', 'get'], ['holds', 'confirm'], ['holds', 'void'],
      ['summary'], ['bulk'], ['balances', 'create'], ['balances', 'list'], ['balances', 'get'], ['transactions', 'list'], ['migrate'], ['verify'],
      ['events'], ['events', 'tail'],
    ];
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

  it('coffer bulk < ops.jsonl: JSON lines sent in chunks, one answer line per operation; the same key again replays; a refusal exits 1', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create', '--name', 'bulk'], env)).data.id as string;
    const lines = [
      JSON.stringify({ action: 'CREDIT_WALLET', data: { walletID: id, amount: { asset: 'USD/2', amount: 500 } } }),
      '',
      ...Array.from({ length: 4 }, (_, i) => JSON.stringify({ action: 'DEBIT_WALLET', ik: `cli-op-${id}-${i}`, data: { walletID: id, amount: { asset: 'USD/2', amount: 100 } } })),
      `{"action":"CREDIT_WALLET","data":{"walletID":"${id}","amount":{"asset":"USD/2","amount":${U128_MAX}}}}`,
    ].join('\n');
    const first = ok(await coffer(['--json', 'bulk', '--chunk-size', '2', '--idempotency-key', `cli-bulk-${id}`], env, lines));
    const items = first.stdout.trim().split('\n').map((line) => parseJson(line) as { line: bigint; action: string; status: bigint });
    assert.deepEqual(items.map((item) => [Number(item.line), item.action, Number(item.status)]), [
      [1, 'CREDIT_WALLET', 204],
      [3, 'DEBIT_WALLET', 204],
      [4, 'DEBIT_WALLET', 204],
      [5, 'DEBIT_WALLET', 204],
      [6, 'DEBIT_WALLET', 204],
      [7, 'CREDIT_WALLET', 204],
    ]);
    assert.match(first.stderr, /6 operations in 3 requests, 0 refused/);
    const again = ok(await coffer(['--json', 'bulk', '--chunk-size', '2', '--idempotency-key', `cli-bulk-${id}`], env, lines));
    assert.equal(again.stdout, first.stdout, 'replayed, not run again');
    const summary = json(await coffer(['--json', 'summary', id], env)).data;
    assert.equal(summary.balances[0].assets['USD/2'], U128_MAX + 100n, 'each operation applied once');
    const refused = await coffer(['bulk', '--atomic'], env, `${JSON.stringify({ action: 'DEBIT_WALLET', data: { walletID: id, amount: { asset: 'USD/2', amount: 1 }, balances: ['nope'] } })}\n`);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stdout, /^1\tDEBIT_WALLET\t400\tVALIDATION: /);
    const broken = await coffer(['bulk'], env, '{"action":\n');
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /line 1: not JSON/);
    assert.equal((await coffer(['bulk', '--chunk-size', '1001'], env, '')).code, 2);
  });

  it('coffer bulk whose later chunk fails: it advises the base key and chunk size, and the advised rerun applies every operation once', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create', '--name', 'bulk-rerun'], env)).data.id as string;
    const lines = Array.from({ length: 6 }, () => JSON.stringify({ action: 'CREDIT_WALLET', data: { walletID: id, amount: { asset: 'USD/2', amount: 1 } } })).join('\n');
    // A proxy that lets the second chunk run on the server but answers it 500, as a lost answer would look.
    let bulkRequests = 0;
    const proxy = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const failing = request.url === '/bulk' && ++bulkRequests === 2;
        const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'host' && name !== 'content-length')) as Record<string, string>;
        void fetch(`${env.COFFER_URL}${request.url}`, { method: request.method, headers, body: request.method === 'GET' ? undefined : Buffer.concat(chunks) }).then(async (answer) => {
          const body = await answer.text();
          if (failing) {
            response.writeHead(500, { 'content-type': 'application/json' }).end('{"errorCode":"INTERNAL","errorMessage":"injected"}');
          } else {
            response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(body);
          }
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as { port: number }).port;
      const failed = await coffer(['bulk', '--chunk-size', '2', '--idempotency-key', `cli-rerun-${id}`], { COFFER_URL: `http://127.0.0.1:${port}` }, lines);
      assert.equal(failed.code, 3, failed.stderr);
      // Said before the first chunk, so an interrupted run can be finished too.
      assert.match(failed.stderr, new RegExp(`^coffer bulk: idempotency-key cli-rerun-${id}; if interrupted, rerun the same file with --idempotency-key cli-rerun-${id} --chunk-size 2`));
      // The advice printed after the failure, followed as an operator would.
      const advice = /\ncoffer: \S.*--idempotency-key (\S+) --chunk-size (\d+)/.exec(failed.stderr.slice(failed.stderr.indexOf('INTERNAL')));
      assert.ok(advice, failed.stderr);
      assert.equal(advice[1], `cli-rerun-${id}`, 'the base key, not a chunk key');
      const rerun = ok(await coffer(['--json', 'bulk', '--chunk-size', advice[2]!, '--idempotency-key', advice[1]!], env, lines));
      assert.equal(rerun.stdout.trim().split('\n').length, 6);
      const summary = json(await coffer(['--json', 'summary', id], env)).data;
      assert.equal(summary.balances[0].assets['USD/2'], 6n, 'each operation applied exactly once');
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
    const tooLong = await coffer(['bulk', '--idempotency-key', 'k'.repeat(245)], env, '');
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /--idempotency-key must be at most 244 characters for bulk/);
  });

  it('a day of operations: create, credit, hold, confirm, summary, lists — tables for people, exact JSON for scripts', async () => {
    const created = ok(await coffer(['wallets', 'create', '--name', 'alice', '--metadata', 'customer=42'], env));
    assert.match(created.stdout, /^id {8}[0-9a-f-]{36}$/m);
    assert.match(created.stdout, /^metadata {2}customer=42$/m);
    const wallet = json(await coffer(['--json', 'wallets', 'create', '--name', 'bob'], env));
    const id = wallet.data.id as string;

    const credited = json(await coffer(['credit', id, String(U128_MAX), 'USD/2', '--json', '--metadata', 'why=topup'], env));
    assert.equal(credited.data, null, 'a credit answers 204');
    assert.match(credited.idempotencyKey, /^[0-9a-f-]{36}$/);
    const held = json(await coffer(['debit', id, '2500', 'USD/2', '--pending', '--description', 'ride 7', '--json'], env));
    const hold = held.data.id as string;
    assert.equal(held.data.description, 'ride 7');
    const confirmed = ok(await coffer(['holds', 'confirm', hold, '--amount', '2000', '--final'], env));
    assert.match(confirmed.stdout, /^remaining {8}0$/m);
    ok(await coffer(['debit', id, '1', 'USD/2', '--balance', '*', '--destination', 'account:merchants:7'], env));

    const summary = json(await coffer(['summary', id, '--json'], env));
    assert.equal(summary.data.availableFunds['USD/2'], U128_MAX - 2001n, 'exact in JSON output');
    const table = ok(await coffer(['summary', id], env)).stdout;
    assert.match(table, /^BALANCE +EXPIRES +PRIORITY +OVERDRAFT +AMOUNTS$/m);
    assert.match(table, new RegExp(`^main +- +0 +- +${U128_MAX - 2001n} USD/2$`, 'm'));
    assert.match(table, /^available +\d+ USD\/2$/m);

    const list = ok(await coffer(['wallets', 'list'], env)).stdout.split('\n');
    assert.match(list[0]!, /^ID +NAME +CREATED +MAIN +METADATA$/);
    assert.ok(list.some((line) => line.startsWith(id) && line.includes(' bob ')));
    const holds = ok(await coffer(['holds', 'list', '--wallet', id], env)).stdout;
    assert.match(holds, /^ID +WALLET +ASSET +AMOUNT +REMAINING +STATUS +EXPIRES +DESTINATION +DESCRIPTION$/m);
    assert.match(holds, new RegExp(`^${hold} +${id} +USD/2 +2500 +0 +confirmed +- +world +ride 7$`, 'm'));
    const transactions = json(await coffer(['transactions', 'list', '--wallet', id, '--all', '--json'], env));
    assert.equal(transactions.data.length, 4, 'credit, hold, confirm (with the final return), debit');
    const page = ok(await coffer(['transactions', 'list', '--wallet', id, '--page-size', '2'], env)).stdout;
    assert.match(page, /^more: coffer transactions list --wallet \S+ --cursor \S+$/m);

    assert.match(ok(await coffer(['wallets', 'freeze', id], env)).stdout, /^wallet \S+ is frozen$/m);
    const refused = await coffer(['debit', id, '1', 'USD/2'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /WALLET_FROZEN/);
    assert.match(ok(await coffer(['wallets', 'get', id], env)).stdout, /^status {4}frozen since \S+$/m);
    ok(await coffer(['wallets', 'unfreeze', id], env));
    const closing = json(await coffer(['--json', 'wallets', 'create'], env)).data.id as string;
    assert.equal(json(await coffer(['--json', 'wallets', 'close', closing], env)).data, null);
    assert.equal(json(await coffer(['--json', 'wallets', 'get', closing], env)).data.status, 'closed');

    ok(await coffer(['balances', 'create', id, 'promo', '--priority', '3', '--expires-at', '2999-01-01T00:00:00Z'], env));
    assert.deepEqual(json(await coffer(['balances', 'get', id, 'promo', '--json'], env)), {
      data: { name: 'promo', expiresAt: '2999-01-01T00:00:00Z', priority: 3n, assets: {} },
      idempotencyKey: null,
    });
  });

  it('coffer --version (and -V) prints the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) assert.equal(ok(await coffer([flag])).stdout, `${version}\n`);
  });

  it('--json: every command prints one envelope, {data, idempotencyKey}, lists add next', async () => {
    /** Runs a command with --json and checks the envelope; returns its data. */
    async function envelope(args: readonly string[], kind: 'mutation' | 'read' | 'list'): Promise<ParsedJson> {
      const out = json(await coffer(['--json', ...args], env));
      const label = args.join(' ');
      assert.deepEqual(Object.keys(out).sort(), kind === 'list' ? ['data', 'idempotencyKey', 'next'] : ['data', 'idempotencyKey'], label);
      if (kind === 'mutation') assert.match(out.idempotencyKey, /^[0-9a-f-]{36}$/, `${label}: the key it sent`);
      else assert.equal(out.idempotencyKey, null, `${label}: a read sends no key`);
      if (kind === 'list') {
        assert.ok(Array.isArray(out.data), `${label}: data is an array`);
        assert.ok(out.next === null || typeof out.next === 'string', `${label}: next is a cursor or null`);
      }
      return out.data;
    }

    const wallet = await envelope(['wallets', 'create', '--name', 'shapes'], 'mutation');
    const id = wallet.id as string;
    assert.equal(wallet.name, 'shapes', 'wallets create: the wallet');
    assert.equal((await envelope(['wallets', 'get', id], 'read')).id, id, 'wallets get: the wallet');
    assert.ok((await envelope(['wallets', 'list', '--name', 'shapes'], 'list')).some((w: ParsedJson) => w.id === id));

    assert.deepEqual(await envelope(['balances', 'create', id, 'gift', '--priority', '2'], 'mutation'), { name: 'gift', expiresAt: null, priority: 2n }, 'balances create: the balance');
    assert.deepEqual(await envelope(['balances', 'get', id, 'gift'], 'read'), { name: 'gift', expiresAt: null, priority: 2n, assets: {} });
    assert.deepEqual((await envelope(['balances', 'list', id], 'list')).map((b: ParsedJson) => b.name), ['gift', 'main']);

    assert.equal(await envelope(['credit', id, '1000', 'USD/2'], 'mutation'), null, 'credit: 204');
    assert.equal(await envelope(['debit', id, '10', 'USD/2'], 'mutation'), null, 'immediate debit: 204');
    const hold = await envelope(['debit', id, '300', 'USD/2', '--pending'], 'mutation');
    assert.deepEqual(Object.keys(hold).sort(), ['asset', 'description', 'destination', 'expiresAt', 'id', 'metadata', 'status', 'walletID'], 'debit --pending: the hold');
    const other = await envelope(['debit', id, '200', 'USD/2', '--pending'], 'mutation');
    const got = await envelope(['holds', 'get', hold.id], 'read');
    assert.equal(got.originalAmount, 300n);
    assert.equal(got.remaining, 300n);
    assert.equal((await envelope(['holds', 'list', '--wallet', id], 'list')).length, 2);
    assert.equal(await envelope(['holds', 'confirm', hold.id, '--amount', '100'], 'mutation'), null, 'confirm: 204');
    assert.equal(await envelope(['holds', 'void', other.id], 'mutation'), null, 'void: 204');

    const summary = await envelope(['summary', id], 'read');
    assert.deepEqual(summary.availableFunds, { 'USD/2': 690n });
    assert.deepEqual(summary.holdFunds, { 'USD/2': 200n });
    assert.equal((await envelope(['transactions', 'list', '--wallet', id], 'list')).length, 6, 'credit, debit, two holds, confirm, void');
  });

  it('holds list: amount, remaining, status and expiry for each hold; --status, --open and --closed filter; JSON has the amounts', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).data.id as string;
    ok(await coffer(['credit', id, '1000', 'USD/2'], env));
    const hold = async (amount: string) => json(await coffer(['--json', 'debit', id, amount, 'USD/2', '--pending'], env)).data.id as string;
    const [open, partial, confirmed, voided, finalized] = [await hold('100'), await hold('200'), await hold('300'), await hold('50'), await hold('70')];
    ok(await coffer(['holds', 'confirm', partial, '--amount', '50'], env));
    ok(await coffer(['holds', 'confirm', confirmed], env));
    ok(await coffer(['holds', 'void', voided], env));
    ok(await coffer(['holds', 'confirm', finalized, '--amount', '7', '--final'], env));

    const text = ok(await coffer(['holds', 'list', '--wallet', id], env)).stdout;
    const row = (hold: string, amount: number, remaining: number, status: string) => new RegExp(`^${hold} +${id} +USD/2 +${amount} +${remaining} +${status} +- +world +-$`, 'm');
    assert.match(text, row(open, 100, 100, 'open'));
    assert.match(text, row(partial, 200, 150, 'open'));
    assert.match(text, row(confirmed, 300, 0, 'confirmed'));
    assert.match(text, row(voided, 50, 0, 'voided'));
    assert.match(text, row(finalized, 70, 0, 'confirmed'));

    const listed = async (...flags: string[]) => (json(await coffer(['--json', 'holds', 'list', '--wallet', id, ...flags], env)).data as ParsedJson[]).map((h) => [h.id, h.originalAmount, h.remaining]);
    assert.deepEqual(await listed('--open'), [[open, 100n, 100n], [partial, 200n, 150n]]);
    assert.deepEqual(await listed('--closed'), [[confirmed, 300n, 0n], [voided, 50n, 0n], [finalized, 70n, 0n]]);
    assert.deepEqual(await listed('--status', 'open'), [[open, 100n, 100n], [partial, 200n, 150n]]);
    assert.deepEqual(await listed('--status', 'voided'), [[voided, 50n, 0n]]);
    assert.equal((await coffer(['holds', 'list', '--status', 'shut'], env)).code, 2, 'an unknown status is a usage error');
    assert.equal((await listed()).length, 5);
    const openText = ok(await coffer(['holds', 'list', '--wallet', id, '--status', 'open'], env)).stdout;
    assert.doesNotMatch(openText, /confirmed|voided/);
    // A page filtered to nothing still says where the next one is.
    const firstPage = ok(await coffer(['holds', 'list', '--wallet', id, '--closed', '--page-size', '2'], env)).stdout;
    assert.match(firstPage, /^\(none\)\n\nmore: coffer holds list --closed --cursor \S+$/m);
    const both = await coffer(['holds', 'list', '--open', '--closed'], env);
    assert.equal(both.code, 2, 'open and closed together is a usage error');
  });

  it('--all follows the cursors on every list command: every item, no next page', async () => {
    const name = `all-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(json(await coffer(['--json', 'wallets', 'create', '--name', name], env)).data.id as string);
    const id = ids[0]!;
    for (const balance of ['b1', 'b2', 'b3', 'b4']) ok(await coffer(['balances', 'create', id, balance], env));
    ok(await coffer(['credit', id, '100', 'USD/2'], env));
    for (let i = 0; i < 4; i += 1) ok(await coffer(['debit', id, '1', 'USD/2', '--pending'], env));
    const lists: [string[], number][] = [
      [['wallets', 'list', '--name', name], 5],
      [['balances', 'list', id], 5],
      [['holds', 'list', '--wallet', id], 4],
      [['transactions', 'list', '--wallet', id], 5],
    ];
    for (const [args, count] of lists) {
      const page = json(await coffer(['--json', ...args, '--page-size', '2'], env));
      assert.equal(page.data.length, 2, args.join(' '));
      assert.equal(typeof page.next, 'string', `${args.join(' ')}: a next page`);
      const every = json(await coffer(['--json', ...args, '--page-size', '2', '--all'], env));
      assert.equal(every.data.length, count, `${args.join(' ')} --all: every item`);
      assert.equal(every.next, null, `${args.join(' ')} --all: no next page`);
      assert.equal(new Set(every.data.map((item: ParsedJson) => item.id ?? item.name)).size, count, 'no item twice');
      const rest = json(await coffer(['--json', ...args, '--cursor', page.next, '--all'], env));
      assert.equal(rest.data.length, count - 2, `${args.join(' ')} --cursor … --all: the rest`);
      const text = ok(await coffer([...args, '--page-size', '2', '--all'], env)).stdout;
      assert.doesNotMatch(text, /^more:/m, `${args.join(' ')} --all: no "more:" line`);
    }
  });

  it('--idempotency-key: the same command twice moves the money once', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).data.id as string;
    const args = ['credit', id, '700', 'EUR/2', '--idempotency-key', `cli-${id}`];
    const [first, second] = [ok(await coffer(args, env)), ok(await coffer(args, env))];
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(json(await coffer(['--json', ...args], env)), { data: null, idempotencyKey: `cli-${id}` }, 'the key given is the key reported');
    assert.deepEqual(json(await coffer(['--json', 'wallets', 'get', id], env)).data.balances.main.assets, { 'EUR/2': 700n });
  });

  it('events tail: prints the feed, filtered by --type and --wallet, then follows it; --json prints one exact event per line', async () => {
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).data.id as string;
    ok(await coffer(['credit', id, U128_MAX.toString(), 'USD/2'], env));
    const text = ok(await coffer(['events', 'tail', '--wallet', id, '--count', '2'], env)).stdout.trim().split('\n');
    assert.equal(text.length, 2);
    assert.match(text[0]!, new RegExp(`^\\d+\t\\S+\twallet\\.created\twallet ${id}$`));
    assert.match(text[1]!, new RegExp(`^\\d+\t\\S+\twallet\\.credited\twallet ${id} ${U128_MAX} USD/2 balance main$`));
    const lines = ok(await coffer(['--json', 'events', 'tail', '--wallet', id, '--type', 'wallet.credited', '--count', '1'], env)).stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const event = parseJson(lines[0]!) as ParsedJson;
    assert.equal(event.type, 'wallet.credited');
    assert.equal(event.data.amount.amount, U128_MAX, 'exact past 2^64');
    // Following: tail waits for the next event, and prints it when it commits.
    const following = coffer(['events', 'tail', '--wallet', id, '--after', event.position.toString(), '--count', '1'], env);
    await new Promise((resolve) => setTimeout(resolve, 500));
    ok(await coffer(['debit', id, '5', 'USD/2'], env));
    assert.match(ok(await following).stdout, /\twallet\.debited\twallet \S+ 5 USD\/2\n$/);
    const refused = await coffer(['events', 'tail', '--type', 'wallet.exploded'], env);
    assert.equal(refused.code, 2);
  });

  it('exit codes: 1 refused by the server, 2 wrong command line or configuration, 3 no answer', async () => {
    const port = await freePort();
    const id = json(await coffer(['--json', 'wallets', 'create'], env)).data.id as string;
    const [notFound, poor, notFoundJson, badAmount, unknown, missing, nobody, badPort, badDatabase, lostCredit, lostCreditJson] = await Promise.all([
      coffer(['wallets', 'get', 'no-such-wallet'], env),
      coffer(['debit', id, '5', 'USD/2'], env),
      coffer(['--json', 'holds', 'void', 'no-such-hold', '--idempotency-key', `void-${id}`], env),
      coffer(['credit', id, '1.50', 'USD/2'], env),
      coffer(['wallets', 'delete'], env),
      coffer(['credit', id], env),
      coffer(['--url', `http://127.0.0.1:${port}`, 'wallets', 'list'], env),
      coffer(['serve'], { ...database, PORT: 'eighty' }),
      coffer(['migrate'], { DATABASE_URL: 'mysql://somewhere' }),
      coffer(['--url', `http://127.0.0.1:${port}`, 'credit', id, '5', 'USD/2'], env),
      coffer(['--url', `http://127.0.0.1:${port}`, '--json', 'credit', id, '5', 'USD/2', '--idempotency-key', `lost-${id}`], env),
    ]);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /^coffer: NOT_FOUND: wallet no-such-wallet not found \(HTTP 404, request \S+\)$/m);
    assert.equal(poor.code, 1);
    assert.match(poor.stderr, /INSUFFICIENT_FUND/);
    assert.equal(notFoundJson.code, 1);
    assert.deepEqual({ ...JSON.parse(notFoundJson.stderr), requestId: 'r' }, { status: 404, errorCode: 'NOT_FOUND', errorMessage: 'hold no-such-hold not found', requestId: 'r', idempotencyKey: `void-${id}` });
    assert.doesNotMatch(notFound.stderr, /idempotency-key/, 'a read sent no key');
    assert.equal(lostCredit.code, 3);
    assert.match(lostCredit.stderr, /^coffer: retry safely with --idempotency-key [0-9a-f-]{36} \(the command runs at most once\)$/m, 'a mutation with no answer says the key to retry with');
    assert.equal(lostCreditJson.code, 3);
    assert.deepEqual(JSON.parse(lostCreditJson.stderr).idempotencyKey, `lost-${id}`);
    assert.equal(JSON.parse(lostCreditJson.stderr).errorCode, null);
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

  it('coffer verify --json (server stopped, as PGlite needs): the same envelope', async () => {
    await server?.kill('SIGTERM');
    assert.deepEqual(json(await coffer(['verify', '--json'], database)), { data: { ok: true, violations: [] }, idempotencyKey: null });
  });
});

describe('cli: events tail lines', () => {
  it("a webhook's event names the webhook, its URL and why (the loop's own webhook.disabled event)", () => {
    const endpoint = { id: 'wh_1', ledger: 'default', url: 'https://hooks.example.com/in', eventTypes: [], description: '', secret: 'whsec_x', previousSecret: null, previousSecretUntil: null, enabled: false, disabledReason: null, createdAt: 0n };
    const event = disabledEvent(endpoint, 0n);
    const line = eventSummary({ position: 1n, id: event.id, type: 'webhook.disabled', occurredAt: '1970-01-01T00:00:00Z', ledger: 'default', data: event.data as Record<string, unknown>, cause: event.cause });
    assert.equal(line, 'webhook wh_1 https://hooks.example.com/in: every delivery failed for the whole retry window');
    // A control character in a stored URL cannot drive the terminal.
    const sneaky = eventSummary({ position: 2n, id: event.id, type: 'webhook.disabled', occurredAt: '1970-01-01T00:00:00Z', ledger: 'default', data: { webhook: { id: 'wh_2', url: 'https://x.example/\u001b[2J' } }, cause: event.cause });
    assert.equal(sneaky, 'webhook wh_2 https://x.example/?[2J');
  });
});
