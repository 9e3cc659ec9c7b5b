/**
 * `npm run bench`: Coffer against PostgreSQL's own one-transfer-per-commit limit, in one run.
 *
 * 1. Baseline: pgbench running a bare transfer (BEGIN; 2 UPDATEs; 1 INSERT; COMMIT) with as
 *    many clients as Coffer gets connections, uniform over 1,000 accounts and all on one hot
 *    account; the batched-SQL limit, 100 transfers per transaction over the same accounts;
 *    and the records' limit, the same batches writing Coffer's rows for each debit (below).
 * 2. Coffer on the same server, over HTTP, loaded by wrk (bench/load.lua, its own process)
 *    on 64 keep-alive connections, every mutation keyed: immediate debits uniform over 1,000
 *    wallets and on one hot wallet, bulk requests of 100 keyed debits (not atomic, atomic),
 *    pending debit + confirm, create wallet, get wallet. Then
 *    the first two on the embedded PGlite.
 * Needs pgbench and wrk on PATH (Debian packages postgresql-client and wrk).
 * Reports ops/s, p50/p99, errors, server peak RSS, CPU per request and the ratios to pgbench; writes
 * bench/results/<date>.{json,md,svg}. Creates its own databases and drops them after.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_SECONDS (default 15), BENCH_CONNECTIONS (64), PGBENCH_CLIENTS (= BENCH_CONNECTIONS), BULK_SIZE (100), BULK_CONNECTIONS (= PGBENCH_BATCHED_CLIENTS, 4), SERVER_ENV
 * (extra server settings, `NAME=value,...`). For experiments, BENCH_ONLY narrows the run to
 * some scenarios (`pgbench,postgres:debit-uniform,pglite:debit-hot`); such a run prints its table
 * but writes no results file, since the published results are always the full set.
 * BENCH_AUTH: `off` (default), `on` (every server with AUTH=required, every request with a
 * bearer token: rows marked +auth) or `both` (each backend's scenarios without, then with
 * auth, on fresh databases, for the auth-on/auth-off ratio). The client's request budget is
 * raised out of the way (AUTH_RATE_LIMIT): the bench measures the token check, not the limiter
 * refusing; the limiter's own check still runs on every request.
 * BENCH_EVENTS=1 adds `debit-uniform+events` rows on each backend: the same keyed debits with
 * one webhook endpoint (a receiver answering 204: BENCH_RECEIVER, below) and NATS JetStream on
 * (BENCH_NATS_URL, default nats://127.0.0.1:4222), for the events-on/off ratio;
 * BENCH_EVENTS=webhook or =nats turns on only that one (rows `+webhook`, `+nats`), to see
 * each one's cost apart. The pairs run BENCH_EVENTS_ROUNDS times (default 2), off then on,
 * then on then off, each on a fresh server, and the log ends with both summed per backend.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, startServer, type ServerProcess } from '../test/support/server-process.ts';
import { PURGE_BATCH } from '../src/idempotency/retention.ts';
import { DEFAULT_SCHEMA, openPostgres } from '../src/storage/database.ts';
import { purgeKeys } from '../src/storage/idempotency-keys.ts';
import { migrate } from '../src/storage/migrations.ts';
import { renderChart, renderTable, type BenchResult, type Row } from './report.ts';
import { CLOCK_TICKS, CpuMeter, machineTicks, pidsNamed, postgresPids } from './cpu.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS || 15);
const connections = Number(process.env.BENCH_CONNECTIONS || 64);
/** Equal concurrency on both sides: pgbench runs as many clients as Coffer gets connections, unless told otherwise. */
const pgbenchClients = Number(process.env.PGBENCH_CLIENTS || connections);
const WALLETS = 1_000;
/** Keyed debits per POST /bulk request in the bulk scenarios. */
const BULK_SIZE = Number(process.env.BULK_SIZE || 100);
/** PostgreSQL's CPU can be read from /proc only when the server runs on this machine. */
const isLocal = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(serverUrl).hostname);

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function admin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

const TRANSFER = {
  uniform: `\\set a random(1, ${WALLETS})
\\set b random(1, ${WALLETS})
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE accounts SET balance = balance - 1 WHERE id = :lo;
UPDATE accounts SET balance = balance + 1 WHERE id = :hi;
INSERT INTO transfers (source, destination, amount) VALUES (:lo, :hi, 1);
END;
`,
  hot: `\\set b random(2, ${WALLETS})
BEGIN;
UPDATE accounts SET balance = balance - 1 WHERE id = 1;
UPDATE accounts SET balance = balance + 1 WHERE id = :b;
INSERT INTO transfers (source, destination, amount) VALUES (1, :b, 1);
END;
`,
};

/**
 * The batched-SQL limit: what PostgreSQL itself commits when a client batches. One
 * transaction moves BATCH_TRANSFERS transfers over the same 1,000 accounts: the rows are
 * locked in id order first (so concurrent batches never deadlock), then one data-modifying
 * statement updates every account the batch touches and inserts its transfers. The pairs are
 * derived from one random seed per transaction (hashint8), so both statements see the same.
 */
const BATCH_TRANSFERS = 100;
/** pgbench clients of the second batched measurement (STACK.md: the batched limit peaked at 2–8 clients). */
const BATCHED_FEW_CLIENTS = Number(process.env.PGBENCH_BATCHED_CLIENTS || 4);
/**
 * Connections of the bulk scenarios: as many as pgbench's batched clients at its limit, so the
 * two sides batch at equal concurrency. The server admits BULK_CONCURRENCY bulk requests at
 * once (4 by default) and answers the others 429 at once; a request's slot is given back only
 * once its handler has returned and its response closed, so a connection that sends its next
 * request the moment it reads an answer can find its slot still taken: the bench sets twice
 * as many slots as connections.
 */
const BULK_CONNECTIONS = Number(process.env.BULK_CONNECTIONS || BATCHED_FEW_CLIENTS);
const account = (offset: number) => `1 + ((hashint8(:seed::bigint * 1000 + ${offset} + g)::bigint % ${WALLETS}) + ${WALLETS}) % ${WALLETS}`;
const BATCHED_TRANSFER = `\\set seed random(1, 1000000000)
BEGIN;
SELECT count(*) FROM (SELECT id FROM accounts WHERE id IN (SELECT ${account(0)} FROM generate_series(1, ${BATCH_TRANSFERS}) g UNION SELECT ${account(500)} FROM generate_series(1, ${BATCH_TRANSFERS}) g) ORDER BY id FOR UPDATE) locked;
WITH pairs AS (SELECT ${account(0)} AS a, ${account(500)} AS b FROM generate_series(1, ${BATCH_TRANSFERS}) g), moves AS (SELECT id, sum(delta) AS delta FROM (SELECT least(a, b) AS id, -1 AS delta FROM pairs UNION ALL SELECT greatest(a, b), 1 FROM pairs) x GROUP BY id), moved AS (UPDATE accounts SET balance = balance + moves.delta FROM moves WHERE accounts.id = moves.id) INSERT INTO transfers (source, destination, amount) SELECT least(a, b), greatest(a, b), 1 FROM pairs;
END;
`;

/**
 * The records' limit: the batched-SQL limit's transactions (BATCH_TRANSFERS per transaction,
 * the same random, overlapping choice of 1,000 wallets, the rows locked in order first), but
 * each transfer is a keyed debit that writes the rows Coffer keeps for one, on Coffer's own
 * schema (its migrations: the same tables, indexes and checks) — and nothing else: no HTTP,
 * no server, no claim of the key before the write (the key is inserted once, with its
 * outcome), no reads but the row locks. Per debit: its transaction, its posting to `world`,
 * its Idempotency-Key with its 204 outcome, its `wallet.debited` event (the API's payload,
 * about 450 bytes, with its cause) at the next feed positions, and its wallet's volume.
 * Keys and event ids are ordered, as the bench's keys and Coffer's UUIDv7 event ids are;
 * strings Coffer computes in Node (fingerprints, request ids) are constants here, so the
 * database does no work for them. Compare the bulk rows with it to see how far Coffer is from
 * what its own records cost PostgreSQL.
 */
const WALLET_ID_PREFIX = '00000000-0000-4000-8000-';
/** The id of a bench wallet `n` (1..WALLETS), as SQL. */
const benchWalletSql = (n: string) => `'${WALLET_ID_PREFIX}' || lpad(to_hex(${n}), 12, '0')`;
const S = DEFAULT_SCHEMA;
/** An ordered 36-character id from one of the script's sequences, as SQL. */
const orderedId = (sequence: string) => `lpad(to_hex(nextval('${S}.${sequence}')), 36, '0')`;
/**
 * Knobs for experiments on the records' limit (the defaults are the reported figure):
 * RECORDS_BATCH debits per transaction (100); RECORDS_WALLETS=disjoint gives each pgbench
 * client its own share of the wallets, so that batches never wait for each other's wallet
 * rows (they still queue on `event_feed_top`'s one row unless RECORDS_LEAVE_OUT has `event`;
 * default `overlapping`, as the batched-SQL limit and Coffer's bulk requests choose them);
 * RECORDS_LEAVE_OUT=event,key writes the debits without those rows, to see what each costs;
 * RECORDS_EVENT_INDEXES=few keeps only the events' primary key and unique position, to see
 * what their other indexes (by id, by ledger and position, the GIN by wallet) cost. A run
 * with any of them set is an experiment: it needs BENCH_ONLY, so no published result holds it.
 */
const RECORDS_BATCH = Number(process.env.RECORDS_BATCH || BATCH_TRANSFERS);
const RECORDS_WALLETS = process.env.RECORDS_WALLETS || 'overlapping';
const RECORDS_LEAVE_OUT = new Set((process.env.RECORDS_LEAVE_OUT ?? '').split(',').filter(Boolean));
if (!Number.isInteger(RECORDS_BATCH) || RECORDS_BATCH < 1) throw new Error(`RECORDS_BATCH must be a whole number, at least 1, got ${process.env.RECORDS_BATCH}`);
if (!['overlapping', 'disjoint'].includes(RECORDS_WALLETS)) throw new Error(`RECORDS_WALLETS must be overlapping or disjoint, got ${RECORDS_WALLETS}`);
for (const part of RECORDS_LEAVE_OUT) if (!['event', 'key'].includes(part)) throw new Error(`RECORDS_LEAVE_OUT takes event and key, got ${part}`);
const RECORDS_EVENT_INDEXES = process.env.RECORDS_EVENT_INDEXES || 'all';
if (!['all', 'few'].includes(RECORDS_EVENT_INDEXES)) throw new Error(`RECORDS_EVENT_INDEXES must be all or few, got ${RECORDS_EVENT_INDEXES}`);
/** The knobs as set, for the log line; empty when the records' limit is measured as published. */
const RECORDS_SETTINGS = ['RECORDS_BATCH', 'RECORDS_WALLETS', 'RECORDS_LEAVE_OUT', 'RECORDS_EVENT_INDEXES']
  .filter((name) => process.env[name])
  .map((name) => `${name}=${process.env[name]}`)
  .join(' ');
if (RECORDS_SETTINGS !== '' && !process.env.BENCH_ONLY) throw new Error(`${RECORDS_SETTINGS}: the RECORDS_* settings are for experiments, with BENCH_ONLY (a full run publishes the default records' limit)`);

/** The records' limit's script for `clients` pgbench clients (see above). */
function recordsScript(clients: number): string {
  const n = RECORDS_BATCH;
  const share = Math.floor(WALLETS / clients);
  if (RECORDS_WALLETS === 'disjoint' && share === 0) throw new Error(`RECORDS_WALLETS=disjoint needs at most ${WALLETS} clients, got ${clients}`);
  // Disjoint: client c (pgbench numbers them from 0) takes wallets c·share+1 .. (c+1)·share.
  const walletNumber =
    RECORDS_WALLETS === 'disjoint' ? `1 + (:client_id % ${clients}) * ${share} + ((hashint8(:seed::bigint * 1000 + g)::bigint % ${share}) + ${share}) % ${share}` : account(0);
  const key = RECORDS_LEAVE_OUT.has('key')
    ? ''
    : `, k AS (INSERT INTO ${S}.idempotency_keys (ledger, key, operation, fingerprint, status, created_at) SELECT 'coffer', key, 'debitWallet', '${'f'.repeat(64)}', 204, now() FROM ids)`;
  const event = RECORDS_LEAVE_OUT.has('event')
    ? ''
    : `, top AS (UPDATE ${S}.event_feed_top SET position = position + ${n} WHERE singleton RETURNING position - ${n} AS base), e AS (INSERT INTO ${S}.events (ledger, id, type, occurred_at, wallet_ids, data, cause, position) SELECT 'coffer', ${orderedId('bench_event_ids')}, 'wallet.debited', now(), ARRAY[wallet], jsonb_build_object('amount', jsonb_build_object('asset', 'USD/2', 'amount', 1), 'walletID', wallet, 'destination', jsonb_build_object('type', 'ACCOUNT', 'identifier', 'world'), 'transaction', jsonb_build_object('id', id, 'ledger', 'coffer', 'metadata', '{}'::jsonb, 'postings', jsonb_build_array(jsonb_build_object('asset', 'USD/2', 'amount', 1, 'source', address, 'destination', 'world')), 'reverted', false, 'timestamp', at, 'insertedAt', at)), jsonb_build_object('clientId', null, 'requestId', '${'0'.repeat(36)}', 'idempotencyKey', key), (SELECT base FROM top) + g FROM ids)`;
  return `\\set seed random(1, 1000000000)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM ${S}.volumes WHERE ledger = 'coffer' AND asset = 'USD/2' AND address IN (SELECT 'wallets:' || ${benchWalletSql(walletNumber)} || ':main' FROM generate_series(1, ${n}) g) ORDER BY address FOR UPDATE) locked;
WITH d AS MATERIALIZED (SELECT g, ${benchWalletSql(walletNumber)} AS wallet, 'bench-' || lpad(nextval('${S}.bench_keys')::text, 12, '0') AS key, to_jsonb(now()) AS at FROM generate_series(1, ${n}) g), ids AS MATERIALIZED (SELECT g, wallet, 'wallets:' || wallet || ':main' AS address, key, at, nextval('${S}.transaction_ids') AS id FROM d ORDER BY g), t AS (INSERT INTO ${S}.transactions (ledger, id, timestamp, metadata, inserted_at) SELECT 'coffer', id, now(), '{}', now() FROM ids), p AS (INSERT INTO ${S}.postings (ledger, transaction_id, position, source, destination, asset, amount) SELECT 'coffer', id, 0, address, 'world', 'USD/2', 1 FROM ids)${key}${event} UPDATE ${S}.volumes AS v SET output = v.output + m.n FROM (SELECT address, count(*) AS n FROM ids GROUP BY address) m WHERE v.ledger = 'coffer' AND v.address = m.address AND v.asset = 'USD/2';
END;
`;
}

type PgbenchScript = 'uniform' | 'hot' | 'batched' | 'batched-records';
const SCRIPTS: Record<Exclude<PgbenchScript, 'batched-records'>, string> = { ...TRANSFER, batched: BATCHED_TRANSFER };

/** Fills the fresh database at `url` for `name`: its tables and 1,000 funded accounts (Coffer's schema for `batched-records`). */
async function preparePgbench(name: PgbenchScript, url: string): Promise<void> {
  if (name === 'batched-records') {
    const db = openPostgres({ url, poolSize: 1, statementTimeoutMs: 0 });
    try {
      await migrate(db);
      await db.query(
        `INSERT INTO accounts (ledger, address, wallet_id) SELECT 'coffer', 'wallets:' || w || ':main', w FROM (SELECT ${benchWalletSql('i')} AS w FROM generate_series(1, ${WALLETS}) i) x;
         INSERT INTO volumes (ledger, address, asset, input) SELECT 'coffer', address, 'USD/2', 1000000000000 FROM accounts WHERE ledger = 'coffer';
         CREATE SEQUENCE bench_keys; CREATE SEQUENCE bench_event_ids`,
      );
      if (RECORDS_EVENT_INDEXES === 'few') await db.query('DROP INDEX events_by_id, events_feed, events_by_wallet');
      await db.query('VACUUM ANALYZE');
    } finally {
      await db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
    INSERT INTO accounts SELECT i, 1000000000 FROM generate_series(1, ${WALLETS}) i;
    CREATE TABLE transfers (id bigserial PRIMARY KEY, source int NOT NULL, destination int NOT NULL, amount bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now());`);
  await client.query('VACUUM ANALYZE accounts');
  await client.end();
}

/** pgbench's transactions per second for a script; for the batched ones, transfers (debits) per second (BATCH_TRANSFERS per transaction; RECORDS_BATCH for batched-records). */
async function pgbench(name: PgbenchScript, clients = pgbenchClients): Promise<number> {
  const database = `bench_pgbench_${process.pid}`;
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${database}`);
    await client.query(`CREATE DATABASE ${database}`);
  });
  const url = databaseUrl(database);
  await preparePgbench(name, url);
  const dir = mkdtempSync(join(tmpdir(), 'coffer-pgbench-'));
  const script = join(dir, `${name}.sql`);
  writeFileSync(script, name === 'batched-records' ? recordsScript(clients) : SCRIPTS[name]);
  const target = new URL(url);
  const before = machineTicks();
  const output = execFileSync(
    'pgbench',
    ['-n', '-c', String(clients), '-j', '2', '-T', String(seconds), '--max-tries=20', '-f', script,
      '-h', target.hostname, '-p', target.port || '5432', '-U', decodeURIComponent(target.username || 'postgres'), database],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const after = machineTicks();
  rmSync(dir, { recursive: true, force: true });
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  if (!match) throw new Error(`could not read pgbench output:\n${output}`);
  const failed = /number of failed transactions: (\d+)/.exec(output);
  if (failed && Number(failed[1]) > 0) log(`pgbench ${name}: ${failed[1]} failed transactions`);
  const perSecond = Number(match[1]) * (name === 'uniform' || name === 'hot' ? 1 : name === 'batched-records' ? RECORDS_BATCH : BATCH_TRANSFERS);
  // Whether the run was CPU-bound, as for Coffer's rows (pgbench's own process included).
  const all = after.busy - before.busy + (after.idle - before.idle);
  log(`pgbench ${name} at ${clients} clients: ${Math.round(perSecond)}/s, the machine ${Math.round((100 * (after.busy - before.busy)) / Math.max(all, 1))} % busy (steal ${Math.round((100 * (after.steal - before.steal)) / Math.max(all, 1))} %)`);
  return perSecond;
}

/** The bearer token of the server under load (auth on), for funding and for wrk. */
let benchToken: string | undefined;

async function call(url: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { ...(body ? { 'content-type': 'application/json' } : {}), ...(benchToken ? { authorization: `Bearer ${benchToken}` } : {}) };
  const response = await fetch(`${url}${path}`, { method, headers, body });
  return { status: response.status, text: await response.text() };
}

/**
 * How the scenarios' server is started: `npm start`'s command, after BENCH_SERVER_NODE_ARGS
 * (Node options such as `--cpu-prof --cpu-prof-dir=/tmp/prof`, for a profile of the run).
 */
const SERVER_COMMAND = [...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', 'src/main.ts'];

/** Settings of a server with auth on: required, and a client budget the load cannot reach. */
const AUTH_SERVER_ENV = { AUTH: 'required', AUTH_RATE_LIMIT: '1000000', AUTH_RATE_LIMIT_BURST: '1000000' };

/** Creates an API client on the database the server will open (before it holds a PGlite folder), like `coffer clients create`. */
/**
 * The API client is created the way an operator creates the first one: `coffer clients create`
 * against the server's database before it starts. It runs as its own process because an
 * embedded data folder stays locked by whichever process opened it until that process ends.
 */
function createBenchClient(env: Record<string, string>): { clientId: string; clientSecret: string } {
  const output = execFileSync(
    process.execPath,
    [join(ROOT, 'bin', 'coffer.js'), 'clients', 'create', '--name', 'bench', '--scopes', 'wallets:read wallets:write', '--json'],
    { env: { ...process.env, ...env }, encoding: 'utf8' },
  );
  const created = JSON.parse(output) as { clientId: string; clientSecret: string };
  return { clientId: created.clientId, clientSecret: created.clientSecret };
}

async function fetchToken(url: string, client: { clientId: string; clientSecret: string }): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }),
  });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** 1,000 funded wallets and a hot one, made through the API with a few requests in flight. */
async function fund(url: string): Promise<{ uniform: string[]; hot: string }> {
  const make = async () => {
    const created = await call(url, 'POST', '/wallets', '{"name":"bench"}');
    const id = (JSON.parse(created.text) as { data: { id: string } }).data.id;
    const credited = await call(url, 'POST', `/wallets/${id}/credit`, '{"amount":{"asset":"USD/2","amount":100000000000}}');
    if (credited.status !== 204) throw new Error(`funding failed: ${credited.text}`);
    return id;
  };
  const uniform: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < WALLETS) {
        next++;
        uniform.push(await make());
      }
    }),
  );
  return { uniform, hot: await make() };
}

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Number(match[1]) : 0;
}

async function load(
  server: ServerProcess,
  backend: string,
  scenario: string,
  walletsFile: string,
  clients = connections,
  extraEnv: Record<string, string> = {},
): Promise<Omit<Row, 'backend'>> {
  const pid = server.child.pid!;
  let peak = rssKiB(pid, 'VmRSS');
  const serverCpu = new CpuMeter(() => [pid]);
  const postgresCpu = backend === 'postgres' && isLocal ? new CpuMeter(postgresPids) : undefined;
  // The other processes on the machine, to say where the rest of its CPU went: wrk, this
  // process (the node:http webhook receiver answers in it with BENCH_RECEIVER=node), haproxy
  // (the webhook's receiver when it is installed; any other haproxy on the machine is counted
  // too) and nats-server.
  const others = { wrk: new CpuMeter(() => pidsNamed('wrk')), bench: new CpuMeter(() => [process.pid]), haproxy: new CpuMeter(() => pidsNamed('haproxy')), 'nats-server': new CpuMeter(() => pidsNamed('nats-server')) };
  const machineBefore = machineTicks();
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKiB(pid, 'VmRSS'));
    serverCpu.sample();
    postgresCpu?.sample();
    // wrk exits when the load ends: read it while it runs (the others outlive the load).
    others.wrk.sample();
  }, 200);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'wrk',
      ['-t', '2', '-c', String(clients), '-d', `${seconds}s`, '--timeout', '10s', '-s', join(ROOT, 'bench', 'load.lua'), server.url, '--', walletsFile],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...extraEnv, SCENARIO: scenario, BULK_SIZE: String(BULK_SIZE), BENCH_TOKEN: benchToken ?? '' } },
    );
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', (error) => reject(new Error(`could not run wrk (Debian: apt-get install wrk): ${error.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}`))));
  });
  clearInterval(sampler);
  const machineAfter = machineTicks();
  const summary = output.trim().split('\n').at(-1)!;
  const measured = JSON.parse(summary) as { requests: number; durationUs: number; errors: number; non2xx: number; itemErrors: number; latencyP50Ms: number; latencyP99Ms: number };
  // A pending-confirm operation is two requests; a bulk request is BULK_SIZE operations, counted
  // only when answered 200 and not refused (a 429 or a refused item moved nothing).
  const operations = scenario === 'pending-confirm' ? measured.requests / 2 : scenario.startsWith('bulk-') ? (measured.requests - measured.non2xx) * BULK_SIZE - measured.itemErrors : measured.requests;
  const result = { ...measured, operationsPerSecond: operations / (measured.durationUs / 1e6) };
  // CPU per request, except for bulk: per operation, to compare with a single request's.
  const divisor = scenario.startsWith('bulk-') ? result.requests * BULK_SIZE : result.requests;
  const microsPerRequest = (cpu: CpuMeter) => Math.round((1e6 * cpu.seconds()) / Math.max(divisor, 1));
  // Every process on the machine (wrk, a webhook receiver, nats-server included): whether the
  // run was CPU-bound, and how much the hypervisor took (steal), which swings runs on a VM.
  const ticks = { busy: machineAfter.busy - machineBefore.busy, idle: machineAfter.idle - machineBefore.idle, steal: machineAfter.steal - machineBefore.steal };
  const all = ticks.busy + ticks.idle;
  log(
    `${backend}: ${scenario}: the machine ${Math.round((100 * ticks.busy) / Math.max(all, 1))} % busy (steal ${Math.round((100 * ticks.steal) / Math.max(all, 1))} %), ` +
      `${Math.round((1e6 * (ticks.busy - ticks.steal)) / CLOCK_TICKS / Math.max(divisor, 1))} µs of CPU per ${scenario.startsWith('bulk-') ? 'operation' : 'request'} over all processes: ` +
      [['Coffer', serverCpu] as const, ...(postgresCpu ? [['PostgreSQL', postgresCpu] as const] : []), ...Object.entries(others)].map(([name, cpu]) => `${name} ${microsPerRequest(cpu)}`).join(', '),
  );
  return {
    scenario,
    operationsPerSecond: Math.round(result.operationsPerSecond),
    latencyP50Ms: Math.round(result.latencyP50Ms * 10) / 10,
    latencyP99Ms: Math.round(result.latencyP99Ms * 10) / 10,
    errors: result.errors,
    peakRssMiB: Math.round(peak / 1024),
    serverCpuMicrosPerRequest: microsPerRequest(serverCpu),
    postgresCpuMicrosPerRequest: postgresCpu ? microsPerRequest(postgresCpu) : null,
  };
}

/** BENCH_EVENTS: which publishers the `+…` rows turn on (`1`: both). */
type EventsMode = 'events' | 'webhook' | 'nats';
const eventsMode: EventsMode | undefined = ({ '1': 'events', webhook: 'webhook', nats: 'nats' } as const)[process.env.BENCH_EVENTS ?? ''];

/** Whether `program` runs here (`<program> -v`). */
function installed(program: string): boolean {
  try {
    execFileSync(program, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * BENCH_RECEIVER: what answers the webhook's POSTs with 204. `haproxy` (the default when
 * HAProxy is installed: Debian's package, which CI installs for test/proxy.test.ts):
 * HAProxy answering from its frontend once it has read the whole request — a receiver that
 * costs the two shared cores little (13–14 µs a debit on a 2 × Intel Xeon machine), as one
 * on another machine would cost them nothing; it counts the requests it answered, which the
 * bench reads from its stats socket. `node` (the default without HAProxy): a node:http server
 * in this process, whose answers cost about 33–35 µs a debit there: the ratio was 75 % with
 * it where HAProxy gave 78–80 % (docs/events.md, Cost).
 */
const receiverKind = process.env.BENCH_RECEIVER ?? (eventsMode !== undefined && eventsMode !== 'nats' && installed('haproxy') ? 'haproxy' : 'node');
if (!['node', 'haproxy'].includes(receiverKind)) throw new Error(`BENCH_RECEIVER must be node or haproxy, got ${receiverKind}`);

interface Receiver {
  readonly url: string;
  /** Requests received so far (HAProxy counts one when it has read its headers). */
  received(): Promise<number>;
  close(): void;
}

async function nodeReceiver(): Promise<Receiver> {
  const { createServer } = await import('node:http');
  let received = 0;
  const server = createServer((request, response) => request.resume().on('end', () => (received++, response.writeHead(204).end())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/hook`, received: async () => received, close: () => server.close() };
}

async function haproxyReceiver(): Promise<Receiver> {
  const { connect } = await import('node:net');
  const dir = mkdtempSync(join(tmpdir(), 'coffer-bench-haproxy-'));
  const port = await freePort();
  const socket = join(dir, 'stats.sock');
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 1000',
      `  stats socket ${socket} mode 600 level user`,
      'defaults',
      '  mode http',
      '  timeout client 30s',
      '  timeout connect 5s',
      '  timeout server 30s',
      '  timeout http-request 10s',
      'frontend hook',
      `  bind 127.0.0.1:${port}`,
      '  option http-buffer-request',
      '  http-request return status 204',
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `haproxy exited (${signal ?? code})`));
  const close = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) => (close(), reject(new Error(`could not run haproxy (Debian: apt-get install haproxy): ${error.message}`))));
    child.once('spawn', () => resolve());
  });
  /** The CSV of `show stat`: the frontend's `req_tot`. */
  const received = () =>
    new Promise<number>((resolve, reject) => {
      let text = '';
      const connection = connect(socket, () => connection.end('show stat\n'));
      connection.on('data', (chunk: Buffer) => (text += chunk.toString()));
      connection.once('error', reject);
      connection.once('close', () => {
        const lines = text.split('\n');
        const header = (lines[0] ?? '').replace(/^# /, '').split(',');
        const row = lines.find((line) => line.startsWith('hook,FRONTEND,'))?.split(',');
        const column = header.indexOf('req_tot');
        if (row === undefined || column < 0) return reject(new Error(`no request count in haproxy's stats: ${text.slice(0, 200)}`));
        resolve(Number(row[column]));
      });
    });
  for (let tries = 0; ; tries++) {
    try {
      await received();
      break;
    } catch (error) {
      if (exited !== null || tries >= 100) {
        close();
        throw exited !== null ? new Error(exited) : error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url: `http://127.0.0.1:${port}/hook`, received, close };
}

/**
 * The publishers of `mode`: for a webhook, a receiver (BENCH_RECEIVER) answering 204 to
 * everything (null for NATS alone), and the server settings that turn them on.
 */
async function eventsOn(mode: EventsMode): Promise<{ env: Record<string, string>; receiver: Receiver | null; close: () => void }> {
  const nats: Record<string, string> = mode === 'webhook' ? {} : { NATS_URL: process.env.BENCH_NATS_URL || 'nats://127.0.0.1:4222' };
  if (mode === 'nats') return { env: nats, receiver: null, close: () => {} };
  const receiver = receiverKind === 'haproxy' ? await haproxyReceiver() : await nodeReceiver();
  return { env: { WEBHOOK_ALLOW_PRIVATE: 'true', ...nats }, receiver, close: () => receiver.close() };
}

/** Resolves once `count()` has not grown for `quietMs`; the milliseconds that took. `onGrowth` is called each time it grew. */
async function settled(count: () => Promise<number>, quietMs: number, onGrowth?: () => void): Promise<number> {
  const started = Date.now();
  let last = await count();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await count();
    if (now !== last) {
      last = now;
      since = Date.now();
      onGrowth?.();
    }
  }
  return since - started;
}

async function runCoffer(backend: 'postgres' | 'pglite', scenarios: string[], auth = false, events?: EventsMode): Promise<Row[]> {
  const database = `bench_coffer_${backend}_${auth ? 'auth_' : ''}${events ? `${events}_` : ''}${process.pid}`;
  const dataDir = backend === 'pglite' ? mkdtempSync(join(tmpdir(), 'coffer-bench-')) : undefined;
  if (backend === 'postgres') {
    await admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${database}`);
      await client.query(`CREATE DATABASE ${database}`);
    });
  }
  const env: Record<string, string> = backend === 'postgres' ? { DATABASE_URL: databaseUrl(database) } : { DATA_DIR: dataDir! };
  const extra = Object.fromEntries((process.env.SERVER_ENV ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string]));
  const client = auth ? createBenchClient(env) : undefined;
  const publishers = events ? await eventsOn(events) : undefined;
  // A receiver that is a process of its own (haproxy) must not outlive a server that failed to start.
  const server = await startServer({ ...env, LOG_LEVEL: 'warn', BULK_CONCURRENCY: String(Math.max(2 * BULK_CONNECTIONS, 4)), ...(auth ? AUTH_SERVER_ENV : {}), ...publishers?.env, ...extra }, 120_000, SERVER_COMMAND).catch((error: unknown) => {
    publishers?.close();
    throw error;
  });
  const rows: Row[] = [];
  try {
    benchToken = client ? await fetchToken(server.url, client) : undefined;
    if (publishers?.receiver) await fetch(`${server.url}/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: publishers.receiver.url }) });
    log(`${backend}: funding ${WALLETS} wallets`);
    const wallets = await fund(server.url);
    const walletsFile = join(tmpdir(), `coffer-bench-wallets-${process.pid}.txt`);
    writeFileSync(walletsFile, [wallets.hot, ...wallets.uniform].join('\n') + '\n');
    for (const scenario of scenarios) {
      const clients = scenario.startsWith('bulk-') ? BULK_CONNECTIONS : connections;
      // With a webhook receiver: the funding's deliveries first, then how many of the load's
      // events it received while the load ran, and how long the rest took after.
      const receiver = publishers?.receiver;
      if (receiver) await settled(receiver.received, 1_000);
      const receivedBefore = receiver ? await receiver.received() : 0;
      log(`${backend}: ${scenario} for ${seconds}s at ${clients} connections`);
      const row = await load(server, backend, scenario, walletsFile, clients);
      if (receiver) {
        const during = (await receiver.received()) - receivedBefore;
        // The deliveries left when the load ended are sent with no load running: Coffer's and
        // PostgreSQL's whole CPU while they drain, to the last one received, per delivery
        // (background work included: WAL writer, garbage collection, NATS publishing when on).
        const drainCpu = [new CpuMeter(() => [server.child.pid!]), ...(backend === 'postgres' && isLocal ? [new CpuMeter(postgresPids)] : [])];
        let drainSeconds: number[] = [];
        const after = await settled(receiver.received, 2_000, () => (drainSeconds = drainCpu.map((meter) => meter.seconds())));
        const drained = (await receiver.received()) - receivedBefore - during;
        const counts = deliveriesOf(backend);
        counts.during += during;
        counts.all += during + drained;
        if (drained > 0) counts.drainMs += after;
        const perDelivery = drainSeconds.map((cpu) => Math.round((1e6 * cpu) / Math.max(drained, 1)));
        log(
          `${backend}: webhook receiver got ${during} deliveries during the load, ${drained} more in the ${(after / 1000).toFixed(1)} s after it` +
            (drained > 0 ? `; while those drained, ${perDelivery[0]} µs of Coffer's CPU${perDelivery.length > 1 ? ` and ${perDelivery[1]} µs of PostgreSQL's` : ''} a delivery` : ''),
        );
      }
      rows.push({ backend, ...(auth ? { auth } : {}), ...row, ...(events ? { scenario: `${scenario}+${events}` } : {}) });
    }
    rmSync(walletsFile, { force: true });
  } finally {
    benchToken = undefined;
    await server.kill('SIGTERM');
    publishers?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (backend === 'postgres') await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }
  return rows;
}

/**
 * Per backend, the webhook deliveries of the events loads: how many reached the receiver
 * while their load ran, of all they made, and how long those left after the loads took to
 * reach it (milliseconds, summed). The ratio counts debits; deliveries that fall behind the
 * load do their work after it, so the summary says what share kept up, and the ratio with
 * that time counted in.
 */
const deliveries = new Map<string, { during: number; all: number; drainMs: number }>();
function deliveriesOf(backend: string): { during: number; all: number; drainMs: number } {
  let counts = deliveries.get(backend);
  if (counts === undefined) deliveries.set(backend, (counts = { during: 0, all: 0, drainMs: 0 }));
  return counts;
}

if (process.env.BENCH_GROWTH) {
  await runGrowth();
  process.exit(0);
}
if (process.env.BENCH_SOAK) {
  await runSoak(Number(process.env.BENCH_SOAK));
  process.exit(0);
}

const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const authSetting = process.env.BENCH_AUTH ?? 'off';
if (!['off', 'on', 'both'].includes(authSetting)) throw new Error(`BENCH_AUTH must be off, on or both, got ${authSetting}`);
const authModes = authSetting === 'both' ? ['off', 'on'] : [authSetting];
const selected = (backend: string, scenarios: string[]) => scenarios.filter((s) => !only || only.has(`${backend}:${s}`));

const started = new Date();
// A narrowed run compares with pgbench only when `pgbench` is among BENCH_ONLY's names.
const withPgbench = !only || only.has('pgbench');
if (withPgbench) log(`pgbench uniform (${pgbenchClients} clients, ${seconds}s)`);
const pgbenchUniform = withPgbench ? await pgbench('uniform') : NaN;
if (withPgbench) log(`pgbench hot`);
const pgbenchHot = withPgbench ? await pgbench('hot') : NaN;
if (withPgbench) log(`pgbench batched (${BATCH_TRANSFERS} transfers per transaction)`);
const pgbenchBatched = withPgbench ? await pgbench('batched') : NaN;
// At many clients, batches of 100 random accounts out of 1,000 wait on each other's row locks:
// the batched limit is also measured at a few clients, where it is highest, and the bulk rows
// are compared with the higher of the two.
if (withPgbench) log(`pgbench batched at ${BATCHED_FEW_CLIENTS} clients`);
const pgbenchBatchedFew = withPgbench ? await pgbench('batched', BATCHED_FEW_CLIENTS) : NaN;
if (withPgbench) log(`pgbench batched with Coffer's records at ${BATCHED_FEW_CLIENTS} clients${RECORDS_SETTINGS === '' ? '' : `, ${RECORDS_SETTINGS}`}`);
const pgbenchRecords = withPgbench ? await pgbench('batched-records', BATCHED_FEW_CLIENTS) : NaN;
const rows: Row[] = [];
/** Runs a server's scenarios and keeps its rows in the table. */
const pushed = async (running: Promise<Row[]>): Promise<Row[]> => {
  const got = await running;
  rows.push(...got);
  return got;
};
/** BENCH_EVENTS_ROUNDS (default 2): events off/on pairs, the order turned each round. */
const eventsRounds = Number(process.env.BENCH_EVENTS_ROUNDS || 2);
if (!Number.isInteger(eventsRounds) || eventsRounds < 1) throw new Error(`BENCH_EVENTS_ROUNDS must be a whole number of rounds, at least 1, got ${process.env.BENCH_EVENTS_ROUNDS}`);
const eventsRatios: string[] = [];
for (const [backend, scenarios] of [
  ['postgres', ['debit-uniform', 'debit-hot', 'bulk-debit', 'bulk-debit-atomic', 'pending-confirm', 'create-wallet', 'get-wallet']],
  ['pglite', ['debit-uniform', 'debit-hot']],
] as const) {
  const chosen = selected(backend, [...scenarios]);
  if (chosen.length === 0) continue;
  if (authModes.includes('off')) rows.push(...(await runCoffer(backend, chosen)));
  if (authModes.includes('on')) rows.push(...(await runCoffer(backend, chosen, true)));
  if (eventsMode !== undefined && chosen.includes('debit-uniform')) {
    // Off and on in both orders (off → on, then on → off, …), each on a fresh server and
    // database (round 1's off run is the backend's own debit-uniform run above, after any
    // scenario chosen before it), summed: single pairs swung by ±25 % here, more than the
    // margin measured. Each run is a row of the table.
    const uniform = (from: Row[]) => from.find((row) => row.scenario.startsWith('debit-uniform'))!.operationsPerSecond;
    const off = authModes.includes('off') ? [uniform(rows.filter((row) => row.backend === backend && !row.auth && row.scenario === 'debit-uniform'))] : [];
    const on: number[] = [];
    for (let round = 1; round <= eventsRounds; round++) {
      const offFirst = round % 2 === 1;
      if (offFirst && off.length < round) off.push(uniform(await pushed(runCoffer(backend, ['debit-uniform']))));
      on.push(uniform(await pushed(runCoffer(backend, ['debit-uniform'], false, eventsMode))));
      if (!offFirst) off.push(uniform(await pushed(runCoffer(backend, ['debit-uniform']))));
      log(`${backend}: events round ${round} (${offFirst ? 'off first' : 'on first'}): off ${off[round - 1]}, on ${on[round - 1]} ops/s, ${Math.round((100 * on[round - 1]!) / off[round - 1]!)} %`);
    }
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const made = deliveries.get(backend);
    // With the deliveries left after each load counted in: the debits of the loads with events
    // over the loads' time plus the time those deliveries took to reach the receiver.
    const withDrain = made && made.drainMs > 0 ? Math.round((100 * (sum(on) * seconds)) / (eventsRounds * seconds + made.drainMs / 1000) / (sum(off) / eventsRounds)) : undefined;
    const keptUp =
      made && made.all > 0
        ? `; webhook deliveries made while the loads ran: ${made.during} of ${made.all} (${((100 * made.during) / made.all).toFixed(1)} %: the rest were sent after them, their work not counted in the rate` +
          (withDrain !== undefined ? `; counting the ${(made.drainMs / 1000).toFixed(1)} s they took after the loads as load time, ${withDrain} %)` : ')')
        : '';
    const answeredBy = eventsMode === 'nats' ? '' : ` (the webhook answered by ${receiverKind === 'haproxy' ? 'HAProxy' : "a node:http server in the bench's process"}: BENCH_RECEIVER)`;
    eventsRatios.push(`${backend}: debit-uniform+${eventsMode} / debit-uniform, ${eventsRounds} round${eventsRounds === 1 ? '' : 's'} summed: ${sum(on)} / ${sum(off)} ops/s = ${Math.round((100 * sum(on)) / sum(off))} %${answeredBy}${keptUp}`);
  }
}
for (const line of eventsRatios) log(line);
const postgresVersion = await admin(async (client) => (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version);

const result: BenchResult = {
  date: started.toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${postgresVersion}`,
  command: 'npm run bench',
  seconds,
  connections,
  bulkConnections: BULK_CONNECTIONS,
  pgbenchClients,
  pgbench: { uniform: pgbenchUniform, hot: pgbenchHot, batched: pgbenchBatched, batchedFew: pgbenchBatchedFew, batchedFewClients: BATCHED_FEW_CLIENTS, records: pgbenchRecords },
  rows,
};
if (only) {
  process.stdout.write(renderTable(result));
  process.exit(0);
}
const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${stamp}.json`), JSON.stringify(result, null, 2) + '\n');
const table = renderTable(result);
writeFileSync(join(dir, `${stamp}.md`), table);
writeFileSync(join(dir, `${stamp}.svg`), renderChart(result));
process.stdout.write(table);
log(`wrote bench/results/${stamp}.{json,md,svg}`);

/**
 * Growth mode (`BENCH_GROWTH=1 npm run bench`, after `npm run bench:load`): the scenarios on the
 * loaded database (LOAD_DATABASE, default coffer_load) against an empty one, in one run. Keyed
 * uniform debits at BENCH_CONNECTIONS on both (the target: the loaded figure within 15% of the
 * empty one); then reads at 16 connections on the loaded database, for their p99: get wallet,
 * summary, list wallets (first page, and a page 10,000 wallets deep by cursor, of the first
 * page's size and of 100), holds of a wallet, transactions of a wallet, the whole ledger's
 * transactions 10,000 deep (both sizes again), and a replay
 * of a stored key among the loaded ones. The wallets used are random loaded wallets that are
 * not frozen. Prints a table; writes bench/results/<date>-growth.{json,md}.
 */
async function runGrowth(): Promise<void> {
  const loadDatabase = process.env.LOAD_DATABASE || 'coffer_load';
  const loaded = await admin(async (client) => {
    // Coffer's tables (and the loader's progress) live in its schema (DATABASE_SCHEMA).
    const target = new pg.Client({ connectionString: databaseUrl(loadDatabase), options: `-c search_path=${process.env.DATABASE_SCHEMA || DEFAULT_SCHEMA}` });
    await target.connect();
    try {
      const [row] = (await target.query<{ ledger: string; wallets: string; transactions: string; keys: string }>(
        `SELECT (SELECT ledger FROM bench_load_progress LIMIT 1) AS ledger, (SELECT max(loaded_through) FROM bench_load_progress)::text AS wallets, (SELECT count(*) FROM transactions)::text AS transactions,
           (SELECT count(*) FROM idempotency_keys)::text AS keys`,
      )).rows;
      return { ledger: row!.ledger, wallets: Number(row!.wallets), transactions: Number(row!.transactions), keys: Number(row!.keys) };
    } finally {
      await target.end();
      void client;
    }
  });
  log(`growth: ${loadDatabase} holds ${loaded.wallets} wallets, ${loaded.transactions} transactions, ${loaded.keys} keys`);
  const walletOf = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const picks: string[] = [];
  while (picks.length < WALLETS) {
    const i = 1 + Math.floor(Math.random() * loaded.wallets);
    if (i % 100 !== 7) picks.push(walletOf(i));
  }
  const walletsFile = join(tmpdir(), `coffer-bench-growth-${process.pid}.txt`);
  writeFileSync(walletsFile, [picks[0], ...picks].join('\n') + '\n');
  const started = new Date();
  const rows: (Row & { database: string })[] = [];
  const extra = Object.fromEntries((process.env.SERVER_ENV ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string]));

  // The empty database's figure, in this run.
  const empty = `bench_growth_empty_${process.pid}`;
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${empty}`);
    await client.query(`CREATE DATABASE ${empty}`);
  });
  let server = await startServer({ DATABASE_URL: databaseUrl(empty), LOG_LEVEL: 'warn', ...extra }, 120_000);
  try {
    const funded = await fund(server.url);
    const emptyFile = join(tmpdir(), `coffer-bench-growth-empty-${process.pid}.txt`);
    writeFileSync(emptyFile, [funded.hot, ...funded.uniform].join('\n') + '\n');
    log(`growth: debit-uniform on an empty database`);
    rows.push({ backend: 'postgres', database: 'empty', ...(await load(server, 'postgres', 'debit-uniform', emptyFile)) });
    rmSync(emptyFile, { force: true });
  } finally {
    await server.kill('SIGTERM');
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${empty} WITH (FORCE)`));
  }

  // The server serves the ledger the loader filled.
  server = await startServer({ DATABASE_URL: databaseUrl(loadDatabase), LEDGER_NAME: loaded.ledger, LOG_LEVEL: 'warn', ...extra }, 120_000);
  try {
    log(`growth: debit-uniform on ${loadDatabase}`);
    rows.push({ backend: 'postgres', database: loadDatabase, ...(await load(server, 'postgres', 'debit-uniform', walletsFile)) });
    // A cursor 10,000 items deep, walked with pages of `pageSize`: the deep page it reaches is
    // that size. At the default size (15) it is the first page's twin, 10,000 items further;
    // at 100 (the most a page holds) it is also a bigger answer.
    const deep = async (path: string, pageSize: number) => {
      let cursor = '';
      for (let seen = 0; seen < 10_000; seen += pageSize) {
        const answer = await call(server.url, 'GET', cursor ? `${path}?cursor=${cursor}` : `${path}?pageSize=${pageSize}`);
        const next = (JSON.parse(answer.text) as { cursor: { next?: string } }).cursor.next;
        if (next === undefined) throw new Error(`${path}: fewer than 10,000 items to walk (the growth mode needs the loaded database)`);
        cursor = next;
      }
      return cursor;
    };
    const replayKeys = 1000;
    // Keys of this run only: a second run on the same loaded database stores its own.
    const replayPrefix = `replay-${started.getTime()}-`;
    for (let n = 1; n <= replayKeys; n++) {
      const response = await fetch(`${server.url}/wallets/${picks[n - 1]}/debit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `${replayPrefix}${n}` },
        body: '{"amount":{"asset":"USD/2","amount":1}}',
      });
      if (response.status !== 204) throw new Error(`storing replay key ${n}: ${response.status} ${await response.text()}`);
    }
    const env = {
      DEEP_CURSOR: await deep('/wallets', 15),
      DEEP_CURSOR_100: await deep('/wallets', 100),
      DEEP_TX_CURSOR: await deep('/transactions', 15),
      DEEP_TX_CURSOR_100: await deep('/transactions', 100),
      REPLAY_KEYS: String(replayKeys),
      REPLAY_PREFIX: replayPrefix,
    };
    for (const scenario of ['get-wallet', 'summary', 'list-wallets', 'list-wallets-deep', 'list-wallets-deep-100', 'holds-of-wallet', 'transactions-of-wallet', 'transactions-deep', 'transactions-deep-100', 'replay']) {
      log(`growth: ${scenario} at 16 connections on ${loadDatabase}`);
      rows.push({ backend: 'postgres', database: loadDatabase, ...(await load(server, 'postgres', scenario, walletsFile, 16, env)) });
    }
  } finally {
    await server.kill('SIGTERM');
    rmSync(walletsFile, { force: true });
  }

  const purge = await purgeCost(loadDatabase);
  const emptyRate = rows[0]!.operationsPerSecond;
  const lines = [
    `# Coffer growth benchmark, ${started.toISOString()}`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. Command: \`BENCH_GROWTH=1 npm run bench\`, ${seconds} s per scenario. ` +
      `Loaded database \`${loadDatabase}\`: ${loaded.wallets} wallets, ${loaded.transactions} transactions, ${loaded.keys} stored keys. Debits at ${connections} connections, reads at 16.`,
    '',
    '| database | scenario | connections | ops/s | vs empty | p50 ms | p99 ms | errors | server peak RSS MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((row) =>
      `| ${row.database} | ${row.scenario} | ${row.scenario === 'debit-uniform' ? connections : 16} | ${row.operationsPerSecond} | ` +
      `${row.scenario === 'debit-uniform' ? `${Math.round((100 * row.operationsPerSecond) / emptyRate) / 100}×` : ''} | ${row.latencyP50Ms} | ${row.latencyP99Ms} | ${row.errors} | ${row.peakRssMiB} |`,
    ),
    '',
    `Idempotency retention purge among ${loaded.keys} stored keys: a pass with nothing due ${purge.idleMs} ms; ` +
      `deleting due keys ${purge.batchMs} ms per batch of 1,000 (${purge.keysPerSecond} keys/s, ${purge.batches} batches).`,
    '',
  ];
  const table = lines.join('\n');
  const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stamp}-growth.json`), JSON.stringify({ date: started.toISOString(), loaded, seconds, connections, rows, purge }, null, 2) + '\n');
  writeFileSync(join(dir, `${stamp}-growth.md`), table);
  process.stdout.write(table);
}

/**
 * What the idempotency purge costs among the loaded keys (created from 2026-01-01 on): one
 * pass when no key is due, then 20 batches of 1,000 due keys (cut off at 2026-01-03).
 */
async function purgeCost(database: string): Promise<{ idleMs: number; batchMs: number; keysPerSecond: number; batches: number }> {
  const db = openPostgres({ url: databaseUrl(database), poolSize: 1 } as Parameters<typeof openPostgres>[0]);
  try {
    const at = (iso: string) => BigInt(Date.parse(iso)) * 1000n;
    let started = performance.now();
    await purgeKeys(db, at('2025-12-01T00:00:00Z'), PURGE_BATCH);
    const idleMs = Math.round((performance.now() - started) * 10) / 10;
    const batches = 20;
    started = performance.now();
    let deleted = 0;
    for (let batch = 0; batch < batches; batch++) deleted += await purgeKeys(db, at('2026-01-03T00:00:00Z'), PURGE_BATCH);
    const elapsed = performance.now() - started;
    return { idleMs, batchMs: Math.round((elapsed / batches) * 10) / 10, keysPerSecond: Math.round((deleted / elapsed) * 1000), batches };
  } finally {
    await db.close();
  }
}

/**
 * Soak (`BENCH_SOAK=600 npm run bench`): keyed uniform debits at BENCH_CONNECTIONS on a fresh
 * PostgreSQL database for that many seconds, the server's RSS sampled every 5 s; prints the
 * samples' least-squares slope over the whole run and over its second half (MiB per minute:
 * a server that does not grow shows ~0 once warm). Writes bench/results/<date>-soak.json.
 */
async function runSoak(soakSeconds: number): Promise<void> {
  const database = `bench_soak_${process.pid}`;
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${database}`);
    await client.query(`CREATE DATABASE ${database}`);
  });
  const started = new Date();
  const server = await startServer({ DATABASE_URL: databaseUrl(database), LOG_LEVEL: 'warn' }, 120_000);
  const samples: { seconds: number; rssMiB: number }[] = [];
  try {
    const wallets = await fund(server.url);
    const walletsFile = join(tmpdir(), `coffer-bench-soak-${process.pid}.txt`);
    writeFileSync(walletsFile, [wallets.hot, ...wallets.uniform].join('\n') + '\n');
    const pid = server.child.pid!;
    const origin = performance.now();
    const sampler = setInterval(() => samples.push({ seconds: (performance.now() - origin) / 1000, rssMiB: rssKiB(pid, 'VmRSS') / 1024 }), 5000);
    log(`soak: debit-uniform for ${soakSeconds}s at ${connections} connections`);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', ['-t', '2', '-c', String(connections), '-d', `${soakSeconds}s`, '--timeout', '10s', '-s', join(ROOT, 'bench', 'load.lua'), server.url, '--', walletsFile], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, SCENARIO: 'debit-uniform' },
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}`))));
    });
    clearInterval(sampler);
    rmSync(walletsFile, { force: true });
    const measured = JSON.parse(output.trim().split('\n').at(-1)!) as { requests: number; durationUs: number; errors: number; latencyP99Ms: number };
    const slope = (points: typeof samples) => {
      const n = points.length;
      const mx = points.reduce((a, p) => a + p.seconds, 0) / n;
      const my = points.reduce((a, p) => a + p.rssMiB, 0) / n;
      const sxy = points.reduce((a, p) => a + (p.seconds - mx) * (p.rssMiB - my), 0);
      const sxx = points.reduce((a, p) => a + (p.seconds - mx) ** 2, 0);
      return Math.round((sxy / sxx) * 60 * 100) / 100;
    };
    const result = {
      date: started.toISOString(),
      seconds: soakSeconds,
      connections,
      operationsPerSecond: Math.round(measured.requests / (measured.durationUs / 1e6)),
      errors: measured.errors,
      latencyP99Ms: measured.latencyP99Ms,
      rssMiB: { first: Math.round(samples[0]!.rssMiB), last: Math.round(samples.at(-1)!.rssMiB), max: Math.round(Math.max(...samples.map((p) => p.rssMiB))) },
      slopeMiBPerMinute: { whole: slope(samples), secondHalf: slope(samples.slice(Math.floor(samples.length / 2))) },
      samples: samples.map((p) => [Math.round(p.seconds), Math.round(p.rssMiB * 10) / 10]),
    };
    const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `${stamp}-soak.json`), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`${JSON.stringify({ ...result, samples: undefined })}\n`);
  } finally {
    await server.kill('SIGTERM');
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }
}
