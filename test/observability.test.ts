/**
 * Logs, metrics and server timeouts: structured JSON log lines that all carry the request
 * id (the caller's X-Request-Id when it is sane, echoed back) and no bodies or keys; the
 * Prometheus metrics per route and status, database pool, idempotency replays and conflicts,
 * and the commit batch histogram; and the timeouts actually set on the HTTP server.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.ts';
import { commitBatchSize } from '../src/metrics.ts';
import { migrate } from '../src/storage/migrations.ts';
import type { Database } from '../src/storage/database.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { backends, createWallet, credit, expectStatus, suite } from './support/harness.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly msg: string;
  readonly requestId?: string;
  readonly [key: string]: unknown;
}

/** A log destination that parses each line into `into`. */
function collect(into: LogLine[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) into.push(JSON.parse(line) as LogLine);
      done();
    },
  });
}

describe('logs', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const lines: LogLine[] = [];
  const text: string[] = [];

  before(async () => {
    ({ db, drop } = await backends()[0]!.open());
    await migrate(db);
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          text.push(line);
          lines.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    app = buildApp({ db, ledger: 'logs', limits: DEFAULT_LIMITS, logger: { level: 'info', stream } });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await db.close();
    await drop();
  });

  function linesOf(requestId: string): LogLine[] {
    return lines.filter((line) => line.requestId === requestId);
  }

  it('an X-Request-Id is echoed and is on every line of its request; a bad one is replaced by a UUIDv7', async () => {
    const given = await app.inject({ method: 'GET', url: '/wallets', headers: { 'x-request-id': 'edge-7f3a:retry-2' } });
    assert.equal(given.headers['x-request-id'], 'edge-7f3a:retry-2');
    const mine = linesOf('edge-7f3a:retry-2');
    assert.deepEqual(mine.map((line) => line.msg), ['incoming request', 'request completed']);

    for (const bad of ['x'.repeat(129), 'two words', '']) {
      const answer = await app.inject({ method: 'GET', url: '/wallets', headers: { 'x-request-id': bad } });
      const id = String(answer.headers['x-request-id']);
      assert.match(id, UUID_V7, `replaces ${JSON.stringify(bad)}`);
      assert.equal(linesOf(id).length, 2);
      assert.ok(!text.some((line) => bad.length > 0 && line.includes(bad)), 'the bad id is never logged');
    }
    const none = await app.inject({ method: 'GET', url: '/nowhere' });
    assert.match(String(none.headers['x-request-id']), UUID_V7);
    assert.equal(none.statusCode, 404);
  });

  it('info level: every line is JSON with a level, a time and a request id; no body, metadata, name or Idempotency-Key', async () => {
    const secret = `s3cret-${Date.now()}`;
    const created = await app.inject({
      method: 'POST',
      url: '/wallets',
      headers: { 'content-type': 'application/json', 'idempotency-key': `key-${secret}`, authorization: `Bearer ${secret}` },
      payload: JSON.stringify({ name: `name-${secret}`, metadata: { card: secret } }),
    });
    assert.equal(created.statusCode, 201);
    const id = (JSON.parse(created.body) as { data: { id: string } }).data.id;
    await app.inject({
      method: 'POST',
      url: `/wallets/${id}/credit`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ amount: { asset: 'USD/2', amount: 5 }, metadata: { note: secret } }),
    });
    assert.ok(lines.length >= 4);
    for (const line of lines) {
      assert.equal(typeof line.level, 'number');
      assert.equal(typeof line.time, 'number');
      assert.equal(typeof line.requestId, 'string', `request id on ${JSON.stringify(line)}`);
    }
    assert.deepEqual(text.filter((line) => line.includes(secret)), [], 'no secret in any line');
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.ok(completed.every((line) => typeof line.responseTime === 'number'));
  });

  it('probes (/_healthcheck, /_info, /metrics, also under /api/wallets) log nothing at info; at debug they log their request lines', async () => {
    const probes = ['/_healthcheck', '/_info', '/metrics', '/api/wallets/_healthcheck', '/api/wallets/_info'];
    for (const [index, url] of probes.entries()) {
      const answer = await app.inject({ method: 'GET', url, headers: { 'x-request-id': `probe-${index}` } });
      assert.equal(answer.statusCode, 200, url);
      assert.deepEqual(linesOf(`probe-${index}`), [], `${url} is not logged at info`);
    }
    // The same app at debug: each probe has its two request lines, at debug (20).
    const debugLines: LogLine[] = [];
    const debug = buildApp({ db, ledger: 'logs', limits: DEFAULT_LIMITS, logger: { level: 'debug', stream: collect(debugLines) } });
    try {
      for (const url of probes) await debug.inject({ method: 'GET', url, headers: { 'x-request-id': `debug${url}` } });
      for (const url of probes) {
        const mine = debugLines.filter((line) => line.requestId === `debug${url}`);
        assert.deepEqual(mine.map((line) => [line.level, line.msg]), [[20, 'incoming request'], [20, 'request completed']], url);
      }
    } finally {
      await debug.close();
    }
  });

  it('a failed health check (the database does not answer) is still logged at info', async () => {
    const gone = await backends()[0]!.open();
    const logged: LogLine[] = [];
    const failing = buildApp({ db: gone.db, ledger: 'logs', limits: DEFAULT_LIMITS, logger: { level: 'info', stream: collect(logged) } });
    try {
      await gone.db.close();
      const answer = await failing.inject({ method: 'GET', url: '/_healthcheck', headers: { 'x-request-id': 'health-down' } });
      assert.equal(answer.statusCode, 503);
      const completed = logged.filter((line) => line.requestId === 'health-down' && line.msg === 'request completed');
      assert.equal(completed.length, 1);
      assert.equal(completed[0]!.level, 30);
      assert.deepEqual(completed[0]!.res, { statusCode: 503 });
    } finally {
      await failing.close();
      await gone.drop();
    }
  });

  it('a server failure is logged at error level with its request id; the client gets a generic message', async () => {
    const gone = await backends()[0]!.open();
    const errors: LogLine[] = [];
    const failing = buildApp({
      db: gone.db,
      ledger: 'logs',
      limits: DEFAULT_LIMITS,
      logger: {
        level: 'info',
        stream: new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString().split('\n').filter(Boolean)) errors.push(JSON.parse(line) as LogLine);
            done();
          },
        }),
      },
    });
    try {
      await gone.db.close();
      const answer = await failing.inject({ method: 'GET', url: '/wallets', headers: { 'x-request-id': 'db-down-1' } });
      assert.equal(answer.statusCode, 503);
      const logged = errors.filter((line) => line.requestId === 'db-down-1' && line.level === 50);
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.msg, 'request failed');
      assert.ok(logged[0]!.err, 'the error is in the log');
    } finally {
      await failing.close();
      await gone.drop();
    }
  });
});

/** The samples of one metric in the Prometheus text format: labels → value. */
function samples(exposition: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) found.set(match[2] ?? '', Number(match[3]));
  }
  return found;
}

suite('metrics', (h) => {
  async function scrape(): Promise<string> {
    const response = expectStatus(await h().get('/metrics'), 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    for (const line of response.text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      // Prometheus parses values with Go's ParseFloat: NaN in any case, ±Inf.
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.e+-]+|nan|[+-]inf)$/i, `a valid sample: ${line}`);
    }
    return response.text;
  }

  it('requests are counted and timed per method, route template and status; unmatched routes share one label', async () => {
    const before = samples(await scrape(), 'coffer_http_requests_total');
    const id = await createWallet(h());
    await credit(h(), id, 10n);
    expectStatus(await h().get(`/wallets/${id}`), 200);
    expectStatus(await h().get('/wallets/missing'), 404);
    expectStatus(await h().get(`/no/such/${id}`), 404);
    const exposition = await scrape();
    const after = samples(exposition, 'coffer_http_requests_total');
    const delta = (labels: string) => (after.get(labels) ?? 0) - (before.get(labels) ?? 0);
    assert.equal(delta('{method="POST",route="/wallets",status="201"}'), 1);
    assert.equal(delta('{method="POST",route="/wallets/:id/credit",status="204"}'), 1);
    assert.equal(delta('{method="GET",route="/wallets/:id",status="200"}'), 1);
    assert.equal(delta('{method="GET",route="/wallets/:id",status="404"}'), 1);
    assert.equal(delta('{method="GET",route="unmatched",status="404"}'), 1);
    assert.ok(!exposition.includes(id), 'no id in any label');
    const histogram = samples(exposition, 'coffer_http_request_duration_seconds_count');
    assert.ok((histogram.get('{method="POST",route="/wallets/:id/credit",status="204"}') ?? 0) >= 1);
    assert.ok(samples(exposition, 'coffer_http_request_duration_seconds_bucket').has('{le="0.005",method="GET",route="/wallets/:id",status="200"}'));
  });

  it('idempotency replays and conflicts are counted per route', async () => {
    const read = async () => {
      const exposition = await scrape();
      return {
        replays: samples(exposition, 'coffer_idempotency_replays_total').get('{route="/wallets"}') ?? 0,
        conflicts: samples(exposition, 'coffer_idempotency_conflicts_total').get('{route="/wallets"}') ?? 0,
      };
    };
    const start = await read();
    const key = { 'idempotency-key': `metrics-${h().backend}-${Date.now()}` };
    expectStatus(await h().post('/wallets', { name: 'a' }, key), 201);
    expectStatus(await h().post('/wallets', { name: 'a' }, key), 201);
    expectStatus(await h().post('/wallets', { name: 'a' }, key), 201);
    expectStatus(await h().post('/wallets', { name: 'b' }, key), 409);
    const end = await read();
    assert.equal(end.replays - start.replays, 2);
    assert.equal(end.conflicts - start.conflicts, 1);
  });

  it('the database pool is reported; the commit batch histogram is there for the group committer', async () => {
    const exposition = await scrape();
    const max = samples(exposition, 'coffer_db_pool_max').get('');
    // PostgreSQL: the harness's POOL_SIZE (20) and the background pool's 3.
    assert.equal(max, h().backend === 'postgres' ? 23 : 1);
    assert.ok((samples(exposition, 'coffer_db_pool_open').get('') ?? -1) >= 0);
    assert.ok((samples(exposition, 'coffer_db_pool_idle').get('') ?? -1) >= 0);
    assert.equal(samples(exposition, 'coffer_db_pool_waiting').get(''), 0);
    const count = () => samples(exposition, 'coffer_commit_batch_size_count').get('') ?? 0;
    const before = count();
    commitBatchSize.observe(12);
    const afterObserve = samples(await scrape(), 'coffer_commit_batch_size_count').get('') ?? 0;
    assert.equal(afterObserve - before, 1);
    assert.ok(samples(exposition, 'coffer_process_resident_memory_bytes').get('')! > 0, 'process metrics too');
  });
});

describe('server timeouts', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let port: number;
  const timeouts = { requestMs: 2_000, headersMs: 500, keepAliveMs: 1_200, connectionMs: 5_000, shutdownMs: 1_000 };

  before(async () => {
    ({ db, drop } = await backends()[0]!.open());
    await migrate(db);
    app = buildApp({ db, ledger: 'timeouts', limits: DEFAULT_LIMITS, timeouts });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });

  after(async () => {
    await app.close();
    await db.close();
    await drop();
  });

  it('the configured timeouts are set on the HTTP server, and the defaults are set too', async () => {
    assert.equal(app.server.requestTimeout, 2_000);
    assert.equal(app.server.headersTimeout, 500);
    assert.equal(app.server.keepAliveTimeout, 1_200);
    assert.equal(app.server.timeout, 5_000);
    const defaults = buildApp({ db, ledger: 'defaults', limits: DEFAULT_LIMITS });
    assert.equal(defaults.server.requestTimeout, 30_000);
    assert.equal(defaults.server.headersTimeout, 10_000);
    assert.equal(defaults.server.keepAliveTimeout, 72_000);
    assert.equal(defaults.server.timeout, 60_000);
    await defaults.close();
  });

  it('headers that do not arrive within HEADERS_TIMEOUT_MS get 408 and the connection closed', async () => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const started = Date.now();
    socket.write('GET /wallets HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const waited = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(waited >= 400 && waited < 2_500, `closed after ${waited} ms`);
  });

  it('an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS', async () => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write('GET /_info HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = Date.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const waited = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /Keep-Alive: timeout=1/i);
    // Node closes an idle socket a buffer (1 s) past the timeout it announces, so a client that
    // honours `Keep-Alive: timeout=` never races the close; Node 24.6 and later name it
    // keepAliveTimeoutBuffer, earlier versions fix it at 1 s.
    const buffer = (app.server as { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer ?? 1_000;
    assert.ok(waited >= 1_000 && waited < app.server.keepAliveTimeout + buffer + 1_800, `closed after ${waited} ms (buffer ${buffer} ms)`);
  });
});
