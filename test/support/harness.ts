/**
 * Test harness: a real database per test file (PGlite always; PostgreSQL too when
 * TEST_DATABASE_URL is set, in a fresh database of its own that is dropped afterwards), the
 * Coffer app over it, an HTTP client on `inject`, a movable clock, and the ledger invariants.
 * Without TEST_DATABASE_URL each PostgreSQL variant is reported as a skipped test, with the
 * reason, so that a PGlite-only run does not look complete.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/http/app.ts';
import { parseJson } from '../../src/http/json.ts';
import { openPglite, openPostgres, type Database } from '../../src/storage/database.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { findViolations } from '../../src/storage/invariants.ts';
import { DEFAULT_LIMITS } from '../../src/domain/limits.ts';
import { formatInstant, instantFromDate, type Instant } from '../../src/domain/time.ts';
import { after, afterEach, before, describe, it } from 'node:test';

export interface Backend {
  readonly name: 'pglite' | 'postgres';
  open(): Promise<{ db: Database; drop: () => Promise<void> }>;
}

/** A fresh, empty database on the PostgreSQL server of `url`, dropped by `drop`. */
export async function freshPostgresDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `coffer_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Why a PostgreSQL variant did not run. */
export const POSTGRES_SKIPPED = 'TEST_DATABASE_URL is not set: PostgreSQL not tested';

/**
 * Stands in for the PostgreSQL variant `name` when TEST_DATABASE_URL is not set: a skipped
 * test, so the runner lists it with the reason and counts it in its "skipped" total. (A
 * skipped describe would be listed but not counted, and its tests not registered.)
 */
/**
 * Resolves once some session waits on a lock `holder` holds (a loaded machine may take a while
 * to get it there); fails with `what` after `timeoutMs`. Within a transaction pg_stat_activity
 * holds still: its snapshot is cleared before each look.
 */
export async function untilBlockedBy(holder: pg.Client, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((resolve) => setTimeout(resolve, 20))) {
    await holder.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await holder.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]');
    if (rows[0]!.n > 0) return;
    assert.ok(Date.now() < deadline, what);
  }
}

export function postgresSkipped(name: string): void {
  it(name, { skip: POSTGRES_SKIPPED }, () => {});
}

export function backends(): Backend[] {
  const list: Backend[] = [
    {
      name: 'pglite',
      async open() {
        const db = await openPglite(undefined);
        return { db, drop: async () => {} };
      },
    },
  ];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      async open() {
        const fresh = await freshPostgresDatabase(url);
        const db = openPostgres({ url: fresh.url, poolSize: 20, statementTimeoutMs: 30_000 });
        return { db, drop: fresh.drop };
      },
    });
  }
  return list;
}

export interface Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  readonly text: string;
  /** The body parsed losslessly (integers as bigint), or undefined when empty. */
  readonly body: ParsedJson;
  /** The body's bytes, for the answers that are not text (a backup). */
  readonly rawPayload?: Buffer;
}

/** Parsed JSON is free-form; assertions navigate it the way JSON.parse's own result type allows. */
export type ParsedJson = ReturnType<typeof JSON.parse>;

export interface Request {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly body?: unknown;
  readonly raw?: string;
  readonly headers?: Record<string, string>;
}

/** Writes a JSON body with bigints as plain integers. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? `__bigint__${item}` : item)).replace(
    /"__bigint__(-?\d+)"/g,
    '$1',
  );
}

export class Clock {
  private offsetMicros = 0n;
  now = (): Instant => instantFromDate(new Date()) + this.offsetMicros;
  advance(seconds: number): void {
    this.offsetMicros += BigInt(seconds) * 1_000_000n;
  }
}

export interface Harness {
  readonly backend: Backend['name'];
  readonly db: Database;
  readonly app: FastifyInstance;
  readonly clock: Clock;
  /** Size of every batch the committer ran, in order. */
  readonly batchSizes: number[];
  /** Why each failed batch failed (its commands were then retried alone, or answered 503). */
  readonly batchFailures: string[];
  call(request: Request): Promise<Response>;
  get(url: string): Promise<Response>;
  post(url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  patch(url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  checkInvariants(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The app over a fresh database of `backend`. Its hold expiry sweeper and its webhook
 * deliveries run no loop unless `options` asks for one: a test expires holds with
 * `h.app.holdSweeper.sweep()` and delivers with `h.app.webhooks.run()`, at the movable
 * clock's now. The feed watcher's loop runs.
 */
export async function startHarness(backend: Backend, ledger = 'test-ledger', options: Partial<AppOptions> = {}): Promise<Harness> {
  const { db, drop } = await backend.open();
  await migrate(db);
  const clock = new Clock();
  const batchSizes: number[] = [];
  const batchFailures: string[] = [];
  const app = buildApp({
    // Auth off, as the default; the token endpoint's per-address limit raised, since every inject comes from one address.
    auth: { mode: 'off', tokenTtlSeconds: 3600, clientRate: { perSecond: 1_000_000, burst: 1_000_000 }, tokenRate: { perSecond: 1_000_000, burst: 1_000_000 } },
    db,
    ledger,
    limits: DEFAULT_LIMITS,
    clock: clock.now,
    batch: { onBatch: (size) => batchSizes.push(size), onBatchFailed: (reason) => batchFailures.push(reason) },
    holdSweepIntervalMs: null,
    // Webhook deliveries run when a test says (`app.webhooks.run()`), at the movable clock's now.
    webhooks: { intervalMs: null },
    ...options,
  });
  await app.ready();
  const call = async (request: Request): Promise<Response> => {
    const headers: Record<string, string> = { ...request.headers };
    let payload: string | undefined = request.raw;
    if (request.body !== undefined) {
      payload = json(request.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await app.inject({ method: request.method, url: request.url, headers, payload });
    const text = response.body;
    const isJson = String(response.headers['content-type'] ?? '').startsWith('application/json');
    return { status: response.statusCode, headers: response.headers, text, body: text && isJson ? parseJson(text) : undefined, rawPayload: response.rawPayload };
  };
  return {
    backend: backend.name,
    db,
    batchSizes,
    batchFailures,
    app,
    clock,
    call,
    get: (url) => call({ method: 'GET', url }),
    post: (url, body, headers) => call({ method: 'POST', url, body, headers }),
    patch: (url, body, headers) => call({ method: 'PATCH', url, body, headers }),
    async checkInvariants() {
      assert.deepEqual(await findViolations(db), [], 'ledger invariants');
    },
    async close() {
      await app.close();
      await db.close();
      await drop();
    },
  };
}

/** Asserts the status and returns the response, showing the body when it differs. */
export function expectStatus(response: Response, status: number): Response {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${response.text}`);
  return response;
}

export function expectError(response: Response, status: number, errorCode: string, message?: RegExp): void {
  expectStatus(response, status);
  assert.equal(response.body?.errorCode, errorCode, response.text);
  assert.equal(typeof response.body?.errorMessage, 'string');
  if (message) assert.match(response.body.errorMessage, message);
}

/** Small domain helpers over HTTP. */
export async function createWallet(h: Harness, body: unknown = {}, headers?: Record<string, string>): Promise<string> {
  const response = expectStatus(await h.post('/wallets', body, headers), 201);
  return response.body.data.id as string;
}

export async function credit(h: Harness, walletId: string, amount: bigint, extra: Record<string, unknown> = {}, asset = 'USD/2') {
  expectStatus(await h.post(`/wallets/${walletId}/credit`, { amount: { asset, amount }, ...extra }), 204);
}

export async function mainBalance(h: Harness, walletId: string, asset = 'USD/2'): Promise<bigint | undefined> {
  const response = expectStatus(await h.get(`/wallets/${walletId}`), 200);
  return response.body.data.balances.main.assets[asset];
}

export async function balanceOf(h: Harness, walletId: string, name: string, asset = 'USD/2'): Promise<bigint | undefined> {
  const response = expectStatus(await h.get(`/wallets/${walletId}/balances/${name}`), 200);
  return response.body.data.assets[asset];
}

export async function createBalance(h: Harness, walletId: string, body: Record<string, unknown>): Promise<void> {
  expectStatus(await h.post(`/wallets/${walletId}/balances`, body), 201);
}

/** An RFC 3339 instant `seconds` from the harness clock's now. */
export function isoIn(h: Harness, seconds: number): string {
  return formatInstant(h.clock.now() + BigInt(seconds) * 1_000_000n);
}

/**
 * One describe block per backend, each with its own fresh database and app; the ledger
 * invariants are checked after every test. Without TEST_DATABASE_URL, `${name} [postgres]` is
 * reported as skipped.
 */
export function suite(name: string, body: (h: () => Harness) => void, options: Partial<AppOptions> = {}): void {
  for (const backend of backends()) {
    describe(`${name} [${backend.name}]`, () => {
      let harness: Harness | undefined;
      before(async () => {
        harness = await startHarness(backend, 'test-ledger', options);
      });
      after(async () => {
        await harness?.close();
      });
      afterEach(async () => {
        await harness?.checkInvariants();
      });
      body(() => {
        assert.ok(harness, 'harness started');
        return harness;
      });
    });
  }
  if (!process.env.TEST_DATABASE_URL) postgresSkipped(`${name} [postgres]`);
}
