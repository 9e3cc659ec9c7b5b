/**
 * Webhooks: endpoints (admin routes), deliveries per Standard Webhooks verified by the
 * `standardwebhooks` package as a real receiver over HTTP, secret rotation with a grace
 * period, retries with backoff on a movable clock (a receiver down for hours, then back;
 * down for the whole window: the endpoint is disabled and an event says so), no redirects,
 * no private targets unless allowed, per-endpoint concurrency, test and replay, and — on
 * PostgreSQL — two processes' loops sharing the work through leases, a dead one's lease
 * lapsing for the other: every event delivered at least once, duplicates with one webhook-id.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { after, before, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { openPostgres, type Database, type Transaction } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { instantParam } from '../src/storage/sql.ts';
import { claimDeliveries, claimFresh, deleteEndpoint, deliveryBacklog, recordAttempt, recordDelivered, releaseDeliveries } from '../src/storage/webhooks.ts';
import { backoff, disabledEvent, FAN_OUT_BATCH_MAX, isPrivateAddress, QUEUE_AHEAD_MS, send, sign, targetProblem } from '../src/events/webhooks.ts';
import { loopPace } from '../src/events/pace.ts';
import { webhookTestEvent } from '../src/http/response-schemas.ts';
import { parseJson as parseLossless } from '../src/http/json.ts';
import { startServer, type ServerProcess } from './support/server-process.ts';
import { backends, Clock, createWallet, credit, expectError, expectStatus, freshPostgresDatabase, json, postgresSkipped, startHarness, suite, type Harness, type ParsedJson } from './support/harness.ts';

/** node-postgres's own conversion of a parameter to the text it sends. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/** A real HTTP receiver: records what it gets, answers what `answer` says. */
class Receiver {
  readonly received: Received[] = [];
  /** Requests received and not yet answered. */
  answering = 0;
  answer: (received: Received) => { status: number; delayMs?: number; headers?: Record<string, string>; body?: Buffer } = () => ({ status: 204 });
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        const received = { path: request.url ?? '', headers: request.headers, body, at: Date.now() };
        this.received.push(received);
        this.answering++;
        const { status, delayMs, headers, body: answer } = this.answer(received);
        setTimeout(() => {
          this.answering--;
          response.writeHead(status, headers).end(answer ?? (status >= 400 ? 'x'.repeat(5000) : 'ok'));
        }, delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    assert.ok(address && typeof address === 'object');
    this.url = `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  clear(): void {
    this.received.length = 0;
  }

  ids(): string[] {
    return this.received.map((r) => String(r.headers['webhook-id']));
  }
}

const receiver = new Receiver();
before(() => receiver.start());
after(() => receiver.stop());

function parseJson(text: string): ParsedJson {
  return parseLossless(text);
}

/** The package's own signature for a delivery, at the delivery's timestamp (the test clock may be hours ahead of the wall clock). */
function signedBy(secret: string, received: Received): boolean {
  const ts = Number(received.headers['webhook-timestamp']);
  const expected = new Webhook(secret).sign(String(received.headers['webhook-id']), new Date(ts * 1000), received.body);
  return String(received.headers['webhook-signature']).split(' ').includes(expected);
}

function headersOf(received: Received): Record<string, string> {
  return { 'webhook-id': String(received.headers['webhook-id']), 'webhook-timestamp': String(received.headers['webhook-timestamp']), 'webhook-signature': String(received.headers['webhook-signature']) };
}

async function addEndpoint(h: Harness, body: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  return expectStatus(await h.post('/webhooks', { url: `${receiver.url}/hook`, ...body }), 201).body.data;
}

/** The delivery loop runs one turn (sends and records). */
async function deliver(h: Harness): Promise<void> {
  await h.app.webhooks.run();
}

/** Every event of the feed after `after`, page by page (a test before may have written many). */
async function feedEvents(h: Harness, after = 0n): Promise<ParsedJson[]> {
  const events: ParsedJson[] = [];
  let query = `pageSize=100&after=${after}`;
  for (;;) {
    const cursor = expectStatus(await h.get(`/events?${query}`), 200).body.cursor;
    events.push(...cursor.data);
    if (!cursor.hasMore) return events;
    query = `cursor=${cursor.next}`;
  }
}

async function removeAll(h: Harness): Promise<void> {
  for (const endpoint of expectStatus(await h.get('/webhooks'), 200).body.data) expectStatus(await h.call({ method: 'DELETE', url: `/webhooks/${endpoint.id}` }), 204);
  receiver.clear();
  receiver.answer = () => ({ status: 204 });
}

/**
 * A receiver slower than a fast answer (250 ms: the endpoint's allowance is its concurrency),
 * `commits` wallets created, then `meanwhile` every 20 ms until the receiver has had as many
 * deliveries (or 30 s): the wallets, what it received, and how many it had 700 ms later.
 */
async function behindSlowReceiver(h: Harness, commits: number, meanwhile: () => void): Promise<{ wallets: Set<string>; received: Received[]; settled: number }> {
  receiver.clear();
  receiver.answer = () => ({ status: 204, delayMs: 300 });
  try {
    await addEndpoint(h);
    const wallets = new Set<string>();
    for (let i = 0; i < commits; i++) wallets.add(await createWallet(h));
    const stopped = Date.now();
    while (receiver.received.length < commits && Date.now() - stopped < 30_000) {
      meanwhile();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const received = [...receiver.received];
    await new Promise((resolve) => setTimeout(resolve, 700));
    return { wallets, received, settled: receiver.received.length };
  } finally {
    receiver.answer = () => ({ status: 204 });
    await removeAll(h);
  }
}

/** Addresses and whether a webhook may reach them with WEBHOOK_ALLOW_PRIVATE off (true = refused). */
const ADDRESS_TABLE: readonly (readonly [string, boolean])[] = [
  // IPv4 outside the public internet.
  ['0.0.0.0', true],
  ['0.1.2.3', true],
  ['10.1.2.3', true],
  ['100.64.0.1', true],
  ['100.127.255.254', true],
  ['127.0.0.1', true],
  ['127.255.255.255', true],
  ['169.254.169.254', true],
  ['172.16.0.1', true],
  ['172.31.255.255', true],
  ['192.0.0.8', true],
  ['192.0.2.1', true],
  ['192.168.1.1', true],
  ['198.18.0.1', true],
  ['198.19.255.255', true],
  ['224.0.0.1', true],
  ['240.0.0.1', true],
  ['255.255.255.255', true],
  // IPv4 on it, including the neighbours of the refused ranges.
  ['8.8.8.8', false],
  ['1.1.1.1', false],
  ['100.63.255.255', false],
  ['100.128.0.0', false],
  ['172.32.0.1', false],
  ['192.0.1.1', false],
  ['198.20.0.1', false],
  ['223.255.255.255', false],
  // IPv6 outside it.
  ['::', true],
  ['::1', true],
  ['fe80::1', true],
  ['fe80::1%eth0', true],
  ['febf::1', true],
  ['fc00::1', true],
  ['fd12:3456::1', true],
  ['ff02::1', true],
  ['2001:db8::1', true],
  // IPv4-mapped (dotted and hexadecimal, as WHATWG URL writes it) and SIIT: by the IPv4.
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['::FFFF:10.0.0.1', true],
  ['::ffff:a9fe:a9fe', true],
  ['::ffff:0:127.0.0.1', true],
  ['::ffff:8.8.8.8', false],
  ['::ffff:808:808', false],
  // IPv4-compatible (deprecated): refused whatever it embeds.
  ['::127.0.0.1', true],
  ['::8.8.8.8', true],
  // NAT64, well-known prefix: by the IPv4; the local-use prefix: refused.
  ['64:ff9b::127.0.0.1', true],
  ['64:ff9b::7f00:1', true],
  ['64:ff9b::a00:1', true],
  ['64:ff9b::c0a8:101', true],
  ['64:ff9b::6440:1', true],
  ['64:ff9b::808:808', false],
  ['64:ff9b:1::a00:1', true],
  ['64:ff9b:1:ffff::808:808', true],
  // 6to4: by the IPv4 in bits 16–47.
  ['2002:7f00:1::', true],
  ['2002:a00:1::1', true],
  ['2002:c0a8:101::1', true],
  ['2002:a9fe:a9fe::', true],
  ['2002:808:808::1', false],
  // Teredo: refused outright.
  ['2001::1', true],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
  ['2001:0:ffff::', true],
  // Public IPv6.
  ['2606:4700:4700::1111', false],
  ['2001:4860:4860::8888', false],
  ['2a00:1450:4001:81c::200e', false],
  // Not an address.
  ['example.com', true],
  ['', true],
];

it('outbound safety, unit: the address checker refuses every non-public IPv4 and IPv6 range, an IPv6 carrying a private IPv4 (mapped, NAT64, 6to4), and Teredo', () => {
  for (const [address, refused] of ADDRESS_TABLE) assert.equal(isPrivateAddress(address), refused, address);
  for (const [address, refused] of ADDRESS_TABLE) {
    if (isIP(address) !== 6) continue;
    const problem = targetProblem(`http://[${address.replace(/%.*$/, '')}]:8080/hook`, false);
    if (refused) assert.match(problem ?? '', /private/, `[${address}] in a URL`);
    else assert.equal(problem, null, `[${address}] in a URL`);
  }
});

it('outbound safety, unit: private, loopback and link-local targets refused unless allowed; backoff doubles with jitter up to 6 h', async () => {
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) {
    assert.equal(isPrivateAddress(address), true, address);
  }
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) assert.equal(isPrivateAddress(address), false, address);
  assert.match(targetProblem('http://127.0.0.1:9/x', false)!, /private/);
  assert.match(targetProblem('http://[::1]/x', false)!, /private/);
  assert.match(targetProblem('http://localhost/x', false)!, /private/);
  assert.match(targetProblem('ftp://example.com/x', false)!, /http/);
  assert.match(targetProblem('http://user:pw@example.com/x', false)!, /credentials/);
  assert.equal(targetProblem('https://example.com/x', false), null);
  assert.equal(targetProblem('http://127.0.0.1:9/x', true), null);
  // A name that resolves to loopback is refused when connecting (DNS cannot swap the address in).
  const refused = await send(`${receiver.url.replace('127.0.0.1', 'localhost')}/x`, {}, '{}', false);
  assert.equal(refused.statusCode, null);
  assert.match(refused.error!, /private/);
  // A literal one is refused by send itself (no lookup is made for a literal address).
  for (const literal of ['http://127.0.0.1:9/x', 'http://[::1]:9/x', 'http://[::ffff:127.0.0.1]:9/x', 'http://0x7f.1:9/x']) {
    const answer = await send(literal, {}, '{}', false);
    assert.equal(answer.statusCode, null, literal);
    assert.match(answer.error!, /private/, literal);
  }
  assert.equal(backoff(1, () => 0.5), 5_000_000n);
  assert.equal(backoff(2, () => 0.5), 10_000_000n);
  assert.equal(backoff(3, () => 0), 16_000_000n, '-20 %');
  assert.equal(backoff(50, () => 1), 6n * 3_600_000_000n * 12n / 10n, 'capped at 6 h, +20 %');
  // WEBHOOK_RETRY_FIRST and WEBHOOK_RETRY_MAX_DELAY set the schedule.
  assert.equal(backoff(1, () => 0.5, 60_000_000n, 300_000_000n), 60_000_000n);
  assert.equal(backoff(3, () => 0.5, 60_000_000n, 300_000_000n), 240_000_000n);
  assert.equal(backoff(4, () => 0.5, 60_000_000n, 300_000_000n), 300_000_000n, 'capped at the longest delay');
});

it('a send is bounded as a whole: a receiver that never answers, or sends its headers and then stalls its body, is cut off at the deadline and the connection let go', async () => {
  const stalled = new Set<import('node:net').Socket>();
  const server = createServer((request, response) => {
    stalled.add(request.socket);
    // /silent never answers; /trickle answers 200 at once, then sends a byte of its body and no more.
    if (request.url === '/trickle') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('x');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    for (const path of ['/silent', '/trickle']) {
      const started = performance.now();
      const answer = await send(`${base}${path}`, {}, '{}', true, 300);
      const took = performance.now() - started;
      assert.equal(answer.error, 'no answer within 0.3 s', path);
      assert.equal(answer.statusCode, path === '/trickle' ? 200 : null, path);
      assert.ok(took >= 290 && took < 2_000, `${path}: cut off after ${Math.round(took)} ms`);
    }
    // Both sends' connections were closed by the sender, not left hanging.
    await Promise.all([...stalled].map((socket) => new Promise((resolve) => (socket.closed ? resolve(null) : socket.once('close', resolve)))));
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it('a send reads an answer to its end and keeps its first 1,024 bytes; one past 64 KiB is cut off there, its connection closed, and counts by its status; a 1xx is not the answer', async () => {
  const served = new Map<string, import('node:net').Socket>();
  const answer = (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => {
    served.set(request.url!, request.socket);
    request.resume();
    if (request.url === '/hints') {
      // A 103 before the answer, which is 204.
      response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      setTimeout(() => response.writeHead(204).end(), 20);
    } else if (request.url === '/hints-only') {
      // A 103 and then the connection closed: no answer.
      response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      setTimeout(() => request.socket.destroy(), 20);
    } else if (request.url === '/endless') {
      // 200, then 16 KiB chunks for as long as the connection lasts.
      response.writeHead(200, { 'content-type': 'text/plain' });
      const more = () => {
        while (!response.destroyed && response.write('y'.repeat(16 * 1024)));
        if (!response.destroyed) response.once('drain', more);
      };
      more();
    } else {
      // A 3 KiB answer in three writes.
      response.writeHead(202, { 'content-type': 'text/plain' });
      response.write('a'.repeat(1024));
      setTimeout(() => response.end('b'.repeat(2048)), 20);
    }
  };
  // Two servers, so that the two answers cannot share a connection.
  const servers = [createServer(answer), createServer(answer)];
  const [short, endless] = await Promise.all(
    servers.map((server) => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)))),
  );
  try {
    const whole = await send(`${short}/short`, {}, '{}', true, 5_000);
    assert.deepEqual([whole.statusCode, whole.error, whole.body], [202, null, 'a'.repeat(1024)]);
    // A 1xx is not the answer: the status recorded is the final one, or none.
    const hinted = await send(`${endless}/hints`, {}, '{}', true, 5_000);
    assert.deepEqual([hinted.statusCode, hinted.error, hinted.body], [204, null, '']);
    const hintsOnly = await send(`${endless}/hints-only`, {}, '{}', true, 5_000);
    assert.deepEqual([hintsOnly.statusCode, hintsOnly.body], [null, null]);
    assert.ok(hintsOnly.error !== null, 'a failure');
    const started = performance.now();
    const cutOff = await send(`${endless}/endless`, {}, '{}', true, 5_000);
    assert.deepEqual([cutOff.statusCode, cutOff.error, cutOff.body], [200, null, 'y'.repeat(1024)]);
    assert.ok(performance.now() - started < 2_000, 'cut off, not read until the deadline');
    // The endless answer's connection was closed; the short one's kept alive.
    const cut = served.get('/endless')!;
    await new Promise((resolve) => (cut.closed ? resolve(null) : cut.once('close', resolve)));
    assert.equal(served.get('/short')!.destroyed, false, 'the connection of an answer read to its end is kept');
  } finally {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
});

suite(
  'webhooks',
  (h) => {
    it('POST/GET/PATCH/DELETE /webhooks: the secret once, whsec_ form; validation → 400, unknown id → 404', async () => {
      const created = await addEndpoint(h(), { eventTypes: ['wallet.credited'], description: 'shop' });
      assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
      assert.deepEqual(Object.keys(created).sort(), ['createdAt', 'description', 'disabledReason', 'enabled', 'eventTypes', 'id', 'secret', 'url']);
      const shown = expectStatus(await h().get(`/webhooks/${created.id}`), 200).body.data;
      assert.equal(shown.secret, undefined, 'the secret is shown only when created or rotated');
      assert.deepEqual(shown.eventTypes, ['wallet.credited']);
      assert.equal(expectStatus(await h().get('/webhooks'), 200).body.data.length, 1);
      const patched = expectStatus(await h().patch(`/webhooks/${created.id}`, { enabled: false, eventTypes: [] }), 200).body.data;
      assert.equal(patched.enabled, false);
      assert.deepEqual(patched.eventTypes, []);
      expectError(await h().post('/webhooks', { url: 'not a url' }), 400, 'VALIDATION', /url/);
      expectError(await h().post('/webhooks', { url: `${receiver.url}/x`, eventTypes: ['wallet.exploded'] }), 400, 'VALIDATION');
      expectError(await h().post('/webhooks', { url: `${receiver.url}/x`, extra: 1 }), 400, 'VALIDATION');
      expectError(await h().post('/webhooks', {}), 400, 'VALIDATION');
      expectError(await h().patch(`/webhooks/${created.id}`, { url: 'gopher://x' }), 400, 'VALIDATION');
      expectError(await h().get('/webhooks/missing'), 404, 'NOT_FOUND');
      expectError(await h().patch('/webhooks/missing', {}), 404, 'NOT_FOUND');
      expectError(await h().post('/webhooks/missing/rotate-secret'), 404, 'NOT_FOUND');
      expectError(await h().post('/webhooks/missing/test'), 404, 'NOT_FOUND');
      expectError(await h().get('/webhooks/missing/attempts'), 404, 'NOT_FOUND');
      expectError(await h().post('/webhooks/missing/replay', {}), 404, 'NOT_FOUND');
      expectError(await h().post(`/webhooks/${created.id}/replay`, { since: 'yesterday' }), 400, 'VALIDATION');
      expectStatus(await h().call({ method: 'DELETE', url: `/webhooks/${created.id}` }), 204);
      expectError(await h().call({ method: 'DELETE', url: `/webhooks/${created.id}` }), 404, 'NOT_FOUND');
      await removeAll(h());
    });

    it('a claim reads only what it takes: a busy endpoint with a backlog of 5,000 is passed over without reading it, another endpoint gets its deliveries', async () => {
      const busy = await addEndpoint(h());
      const free = await addEndpoint(h());
      const now = h().clock.now();
      const pending = (endpoint: string, count: number) =>
        h().db.query(
          `INSERT INTO webhook_deliveries (endpoint_id, test_event_id, test_body, status, created_at, next_attempt_at)
           SELECT $1, 'test-' || n, '{}', 'pending', $2::timestamptz, $2::timestamptz FROM generate_series(1, $3::int) AS n`,
          [endpoint, instantParam(now), count],
        );
      await pending(busy.id, 5_000);
      await pending(free.id, 3);
      let sent: { sql: string; params: readonly unknown[] } | undefined;
      const recording = { query: <Row>(sql: string, params?: readonly unknown[]) => ((sent = { sql, params: params ?? [] }), h().db.query<Row>(sql, params)) };
      // The busy endpoint has all its slots in flight in this process: none free.
      const claimed = await claimDeliveries(recording as never, now, now + 30_000_000n, 64, 4, new Map([[busy.id, 0]]));
      assert.deepEqual(claimed.map((delivery) => delivery.endpoint.id), [free.id, free.id, free.id]);
      // The same claim again, explained (its leases rolled back): the buffers it touched.
      const rollback = new Error('rollback');
      let touched = -1;
      await assert.rejects(
        h().db.transaction(async (tx) => {
          await tx.query("UPDATE webhook_deliveries SET lease_until = NULL WHERE endpoint_id = $1", [free.id]);
          const [plan] = await tx.query<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sent!.sql}`, sent!.params);
          const top = plan!["QUERY PLAN"][0].Plan;
          touched = (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0);
          throw rollback;
        }),
        (error) => error === rollback,
      );
      assert.ok(touched >= 0 && touched < 100, `the claim touched ${touched} buffers`);
      // On PostgreSQL the loop sends it through the background pool, which runs one kept plan made
      // without the values (storage/database.ts): that plan must read no more.
      const background = h().db.background;
      if (background !== undefined) {
        const unlease = () => h().db.query('UPDATE webhook_deliveries SET lease_until = NULL WHERE endpoint_id = $1', [free.id]);
        await unlease();
        // Sequential calls reuse the pool's last idle connection: the claim is prepared on the one that explains it.
        assert.equal((await claimDeliveries(background, now, now + 30_000_000n, 64, 4, new Map([[busy.id, 0]]))).length, 3);
        await unlease();
        const [prepared] = await background.query<{ name: string; generic_plans: bigint }>('SELECT name, generic_plans FROM pg_prepared_statements WHERE statement = $1', [sent!.sql]);
        assert.ok(Number(prepared!.generic_plans) >= 1, 'the claim ran its kept generic plan');
        const literals = sent!.params.map((value) => `'${String(prepareValue(value)).replace(/'/g, "''")}'`);
        const [kept] = await background.query<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE ${prepared!.name}(${literals.join(', ')})`);
        const top = kept!['QUERY PLAN'][0].Plan;
        const keptTouched = (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0);
        assert.ok(keptTouched >= 0 && keptTouched < 100, `the claim's kept plan touched ${keptTouched} buffers`);
      }
      await removeAll(h());
    });

    it("the loop's bookkeeping commits lazily (synchronous_commit off for its own transaction): giving back, recording a success; a claim, of new events or of due deliveries, commits durably", async () => {
      const endpoint = await addEndpoint(h());
      await createWallet(h());
      await createWallet(h());
      const now = h().clock.now();
      const committing = async <T>(expected: 'on' | 'off', work: (tx: Transaction) => Promise<T>): Promise<T> =>
        h().db.transaction(async (tx) => {
          await tx.query("SELECT set_config('synchronous_commit', 'on', true)");
          const result = await work(tx);
          const [setting] = await tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
          assert.equal(setting!.synchronous_commit, expected);
          return result;
        });
      const lazily = <T>(work: (tx: Transaction) => Promise<T>) => committing('off', work);
      // A claim is durable, of new events or of due deliveries: sent only once its lease is on disk, a delivery cannot be made or claimed again while it is being sent.
      const fresh = await committing('on', (tx) => claimFresh(tx, now, now + 30_000_000n, 500, 4, new Map()));
      assert.deepEqual([fresh.leased.length, fresh.capped], [2, 0]);
      const [first, second] = fresh.leased;
      await lazily((tx) => releaseDeliveries(tx, [first!]));
      const again = await committing('on', (tx) => claimDeliveries(tx, now, now + 30_000_000n, 64, 4, new Map()));
      assert.deepEqual(again.map((delivery) => delivery.id), [first!.id]);
      await lazily((tx) => releaseDeliveries(tx, again));
      const success = { delivery: second!, attemptedAt: now, statusCode: 204, latencyMs: 1, error: null, responseBody: '', outcome: 'delivered', nextAttemptAt: null } as const;
      assert.deepEqual([...(await lazily((tx) => recordDelivered(tx, [success])))], [0], 'the record ended the delivery it held');
      // The delivered one is gone (its attempt row is its history); the one given back is due again, unleased, its claim not counted.
      const states = await h().db.query<{ id: bigint; status: string; leased: boolean; attempts: number }>('SELECT id, status, lease_until IS NOT NULL AS leased, attempts FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id', [endpoint.id]);
      assert.deepEqual(
        states.map((row) => [BigInt(row.id), row.status, row.leased, Number(row.attempts)]),
        [[first!.id, 'pending', false, 0]],
      );
      const recorded = await h().db.query<{ event_id: string; status_code: number }>('SELECT event_id, status_code FROM webhook_attempts WHERE endpoint_id = $1', [endpoint.id]);
      assert.deepEqual(recorded.map((row) => [row.event_id, Number(row.status_code)]), [[second!.eventId, 204]]);
      // The same success recorded again, its delivery gone (as after another process's record of it): it ends nothing (the metric counts a delivery once).
      assert.equal((await recordDelivered(h().db, [success])).size, 0);
      // A fan-out that leases nothing (the endpoint's allowance is taken) makes nothing, and commits lazily: the event waits in the feed.
      await createWallet(h());
      const unleased = await lazily((tx) => claimFresh(tx, now, now + 30_000_000n, 500, 4, new Map([[endpoint.id, 0]])));
      assert.deepEqual([unleased.leased.length, unleased.capped], [0, 1]);
      const later = await committing('on', (tx) => claimFresh(tx, now, now + 30_000_000n, 500, 4, new Map()));
      assert.deepEqual([later.leased.length, later.capped], [1, 0]);
      await removeAll(h());
    });

    it('a fan-out stops at each endpoint\'s allowance: the events beyond it wait in the feed, in order, for the next fan-out (no delivery row for them); a filtered endpoint moves past what it does not want up to the next it does; one with no allowance is not read; the backlog metric counts them', async () => {
      const top = BigInt((await h().db.query<{ position: bigint }>('SELECT position FROM event_feed_top'))[0]!.position);
      const every = await addEndpoint(h());
      const credits = await addEndpoint(h(), { eventTypes: ['wallet.credited'] });
      const w = await createWallet(h());
      await credit(h(), w, 1n);
      await createWallet(h());
      await credit(h(), w, 1n);
      await credit(h(), w, 1n);
      const feed = (await feedEvents(h(), top)).map((event) => ({ id: String(event.id), type: String(event.type), position: BigInt(event.position) }));
      const credited = feed.filter((event) => event.type === 'wallet.credited');
      assert.equal(credited.length, 3);
      const secondCredit = feed.indexOf(credited[1]!);
      assert.ok(feed[0]!.type !== 'wallet.credited' && feed[secondCredit - 1]!.type !== 'wallet.credited', 'a wallet\'s events before the first credit and before the second');
      h().clock.advance(60);
      const now = h().clock.now();
      const backlog = async () => {
        const { pending, oldestSeconds } = await deliveryBacklog(h().db, now);
        return [pending, Math.round(oldestSeconds)];
      };
      assert.deepEqual(await backlog(), [feed.length + 3, 60], 'every event each endpoint wants, none made a delivery yet, the oldest a minute old');
      const leasedTo = (claim: { leased: readonly { endpoint: { id: string }; eventId: string }[] }, endpoint: { id: string }) =>
        claim.leased.filter((delivery) => delivery.endpoint.id === endpoint.id).map((delivery) => delivery.eventId);
      const positions = async () =>
        new Map((await h().db.query<{ id: string; feed_position: bigint }>('SELECT id, feed_position FROM webhook_endpoints')).map((row) => [row.id, BigInt(row.feed_position)]));
      const rows = async () => Number((await h().db.query<{ n: bigint }>('SELECT count(*) AS n FROM webhook_deliveries'))[0]!.n);

      const first = await claimFresh(h().db, now, now + 30_000_000n, 500, 2, new Map([[credits.id, 1]]));
      assert.deepEqual(leasedTo(first, every), [feed[0]!.id, feed[1]!.id], 'its allowance, the oldest first');
      assert.deepEqual(leasedTo(first, credits), [credited[0]!.id], 'past the events it does not want, its allowance of those it does');
      assert.deepEqual([first.capped, first.held], [2, 0]);
      assert.equal(await rows(), 3, 'a delivery row only for what was leased');
      let at = await positions();
      assert.deepEqual(
        [at.get(every.id), at.get(credits.id)],
        [feed[1]!.position, feed[secondCredit - 1]!.position],
        'the filtered one moved past the events after its last delivery, up to the next one it wants',
      );
      assert.deepEqual(await backlog(), [feed.length + 3, 60], 'the leased and the waiting, still all there');

      // The first endpoint's slots are all taken: it is not read, and counts as capped; the other one catches up.
      const second = await claimFresh(h().db, now, now + 30_000_000n, 500, 2, new Map([[every.id, 0]]));
      assert.deepEqual([leasedTo(second, every), leasedTo(second, credits)], [[], [credited[1]!.id, credited[2]!.id]]);
      assert.equal(second.capped, 1);
      at = await positions();
      assert.deepEqual([at.get(every.id), at.get(credits.id)], [feed[1]!.position, credited[2]!.position]);

      const third = await claimFresh(h().db, now, now + 30_000_000n, 500, 64, new Map());
      assert.deepEqual([leasedTo(third, every), leasedTo(third, credits)], [feed.slice(2).map((event) => event.id), []]);
      assert.deepEqual([third.capped, third.fullest], [0, feed.length - 2]);
      assert.equal(await rows(), feed.length + 3);
      await removeAll(h());
    });

    it('an endpoint deleted while its deliveries were out: their answers, success or failure, leave no rows behind', async () => {
      const endpoint = await addEndpoint(h());
      await createWallet(h());
      await createWallet(h());
      const now = h().clock.now();
      const [first, second] = (await claimFresh(h().db, now, now + 30_000_000n, 500, 64, new Map())).leased;
      expectStatus(await h().call({ method: 'DELETE', url: `/webhooks/${endpoint.id}` }), 204);
      const answered = { attemptedAt: now, latencyMs: 1, responseBody: '', nextAttemptAt: null };
      const ended = await recordDelivered(h().db, [{ ...answered, delivery: first!, statusCode: 204, error: null, outcome: 'delivered' }]);
      assert.equal(ended.size, 0, 'no delivery ended by the success: its endpoint is gone');
      const kept = await recordAttempt(h().db, { ...answered, delivery: second!, statusCode: 500, error: 'answered 500', outcome: 'failed' }, 1n, (e) => disabledEvent(e, now));
      assert.deepEqual(kept, { recorded: false, disabled: false });
      const left = await h().db.query<{ n: bigint }>(
        'SELECT (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1) + (SELECT count(*) FROM webhook_attempts WHERE endpoint_id = $1) AS n',
        [endpoint.id],
      );
      assert.equal(Number(left[0]!.n), 0);
      await removeAll(h());
    });

    it("a success recorded by a claim whose lease lapsed ends nothing: in one batch with the newer claim's record of the same delivery, only the newer one ends it; both attempts are kept", async () => {
      const endpoint = await addEndpoint(h());
      await createWallet(h());
      const now = h().clock.now();
      const [stale] = (await claimFresh(h().db, now, now + 30_000_000n, 500, 64, new Map())).leased;
      // Its lease lapses (its process stalled); another claim takes the delivery over.
      const later = now + 31_000_000n;
      const [taken] = await claimDeliveries(h().db, later, later + 30_000_000n, 64, 64, new Map());
      assert.equal(taken!.id, stale!.id);
      const answer = { attemptedAt: later, statusCode: 204, latencyMs: 1, error: null, responseBody: '', outcome: 'delivered', nextAttemptAt: null } as const;
      const ended = await recordDelivered(h().db, [{ ...answer, delivery: stale! }, { ...answer, delivery: taken! }]);
      assert.deepEqual([...ended], [1], 'only the record of the claim that holds the lease');
      const [kept] = await h().db.query<{ attempts: bigint; left: bigint }>(
        'SELECT (SELECT count(*) FROM webhook_attempts WHERE endpoint_id = $1) AS attempts, (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1) AS left',
        [endpoint.id],
      );
      assert.deepEqual([Number(kept!.attempts), Number(kept!.left)], [2, 0]);
      await removeAll(h());
    });

    it('deliveries follow Standard Webhooks: the standardwebhooks package verifies them; a tampered body or a stale timestamp fails', async () => {
      const endpoint = await addEndpoint(h());
      const w = await createWallet(h());
      await credit(h(), w, (1n << 100n) + 1n);
      await deliver(h());
      const events = (await feedEvents(h())).filter((e: ParsedJson) => e.data.wallet?.id === w || e.data.walletID === w);
      assert.equal(receiver.received.length, 2);
      const verifier = new Webhook(endpoint.secret);
      for (const [index, received] of receiver.received.entries()) {
        const payload = verifier.verify(received.body, headersOf(received)) as { id: string };
        assert.equal(received.headers['webhook-id'], events[index].id, 'webhook-id is the event id');
        assert.equal(payload.id, events[index].id);
        assert.deepEqual(parseJson(received.body), events[index], 'the body is the event as the feed shows it');
        assert.equal(received.headers['content-type'], 'application/json');
      }
      assert.equal(parseJson(receiver.received[1]!.body).data.amount.amount, (1n << 100n) + 1n, 'exact amounts');
      const first = receiver.received[0]!;
      assert.throws(() => verifier.verify(first.body.replace('wallet.created', 'wallet.updated'), headersOf(first)), /signature/i, 'a tampered body fails');
      const stale = Math.floor(Date.now() / 1000) - 600;
      const staleHeaders = { ...headersOf(first), 'webhook-timestamp': String(stale), 'webhook-signature': sign(endpoint.secret, String(first.headers['webhook-id']), stale, first.body) };
      assert.throws(() => verifier.verify(first.body, staleHeaders), /too old/i, 'a stale timestamp fails, even correctly signed');
      assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(first.body, headersOf(first)), /signature/i, 'another secret fails');
      const attempts = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts`), 200).body.data;
      assert.equal(attempts.length, 2);
      assert.equal(attempts[0].statusCode, 204n);
      assert.equal(attempts[0].nextAttemptAt, null);
      await removeAll(h());
    });

    it('eventTypes filters; rotate-secret: both signatures during the grace period, only the new one after it', async () => {
      const endpoint = await addEndpoint(h(), { eventTypes: ['wallet.credited'] });
      const w = await createWallet(h());
      await credit(h(), w, 5n);
      await deliver(h());
      assert.equal(receiver.received.length, 1, 'wallet.created is not sent to an endpoint for wallet.credited');
      assert.equal(parseJson(receiver.received[0]!.body).type, 'wallet.credited');
      const rotated = expectStatus(await h().post(`/webhooks/${endpoint.id}/rotate-secret`), 200).body.data;
      assert.notEqual(rotated.secret, endpoint.secret);
      receiver.clear();
      await credit(h(), w, 6n);
      await deliver(h());
      const during = receiver.received[0]!;
      assert.equal(String(during.headers['webhook-signature']).split(' ').length, 2, 'two signatures, space-separated');
      new Webhook(rotated.secret).verify(during.body, headersOf(during));
      new Webhook(endpoint.secret).verify(during.body, headersOf(during));
      h().clock.advance(25 * 3600);
      receiver.clear();
      await credit(h(), w, 7n);
      await deliver(h());
      const later = receiver.received[0]!;
      const ts = Number(later.headers['webhook-timestamp']);
      assert.equal(later.headers['webhook-signature'], new Webhook(rotated.secret).sign(String(later.headers['webhook-id']), new Date(ts * 1000), later.body), 'only the new secret signs');
      assert.ok(!signedBy(endpoint.secret, later));
      await removeAll(h());
    });

    it('eventTypes: more than a fan-out batch of events the endpoint does not want, then one it wants — one turn moves past them all and delivers it, and each wanted event once', async () => {
      await addEndpoint(h(), { eventTypes: ['hold.created'] });
      const w = await createWallet(h());
      const credits = FAN_OUT_BATCH_MAX + 150;
      for (let sent = 0; sent < credits; sent += 500) {
        const operations = Array.from({ length: Math.min(500, credits - sent) }, () => ({ action: 'CREDIT_WALLET', data: { walletID: w, amount: { asset: 'USD/2', amount: 1n } } }));
        const items = expectStatus(await h().post('/bulk', { operations }), 200).body.data;
        assert.ok(items.every((item: { status: bigint }) => item.status === 204n));
      }
      const hold = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 3n }, pending: true }), 201).body.data;
      await deliver(h());
      assert.deepEqual(receiver.received.map((r) => parseJson(r.body).type), ['hold.created'], 'delivered in the first turn, behind more than a batch of others');
      assert.equal(parseJson(receiver.received[0]!.body).data.hold.id, hold.id);
      // Caught up: the next events it does not want make no delivery, and the one it wants after them does.
      await credit(h(), w, 1n);
      await deliver(h());
      assert.equal(receiver.received.length, 1);
      const second = expectStatus(await h().post(`/wallets/${w}/debit`, { amount: { asset: 'USD/2', amount: 4n }, pending: true }), 201).body.data;
      await deliver(h());
      assert.deepEqual(receiver.received.map((r) => parseJson(r.body).data.hold.id), [hold.id, second.id], 'each hold once');
      await removeAll(h());
    });

    it('a receiver down for hours, then back: retried with backoff on the clock, every attempt recorded, then the backlog arrives with the same webhook-ids; the metrics count attempts and ended deliveries by outcome, and the endpoint\'s outbox lag', async () => {
      const endpoint = await addEndpoint(h());
      /** A series' value; a counter not yet incremented has no series (0), a gauge must have one. */
      const sample = async (name: string, labels: string, present = false) => {
        const text = expectStatus(await h().get('/metrics'), 200).text;
        const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
        assert.ok(line !== undefined || !present, `${name}${labels} is exposed`);
        return line === undefined ? 0 : Number(line.split(' ')[1]);
      };
      const counters = async () => ({
        attemptsRetry: await sample('coffer_webhook_attempts_total', '{outcome="retry"}'),
        attemptsDelivered: await sample('coffer_webhook_attempts_total', '{outcome="delivered"}'),
        delivered: await sample('coffer_webhook_deliveries_total', '{outcome="delivered"}'),
        failed: await sample('coffer_webhook_deliveries_total', '{outcome="failed"}'),
      });
      const before = await counters();
      receiver.answer = () => ({ status: 503 });
      const w = await createWallet(h());
      for (let i = 0; i < 3; i++) await credit(h(), w, 1n);
      assert.equal(await sample('coffer_events_publisher_lag', `{publisher="webhook:${endpoint.id}"}`, true), 4, 'four events not yet made into deliveries');
      await deliver(h());
      assert.equal(await sample('coffer_events_publisher_lag', `{publisher="webhook:${endpoint.id}"}`, true), 0);
      const firstIds = receiver.ids();
      assert.equal(firstIds.length, 4);
      // Five hours down: every run after the clock moves retries what is due, nothing more.
      for (let hour = 0; hour < 5; hour++) {
        h().clock.advance(3600);
        await h().app.webhooks.run();
      }
      const attempts = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts?pageSize=100`), 200).body.data;
      assert.ok(attempts.length >= 4 * 5, `retried: ${attempts.length} attempts`);
      assert.ok(attempts.every((a: ParsedJson) => a.statusCode === 503n && /503/.test(a.error) && a.nextAttemptAt !== null));
      assert.ok(attempts.every((a: ParsedJson) => a.responseBody.length === 1024), 'stored response bodies are truncated');
      const down = await counters();
      assert.equal(down.attemptsRetry - before.attemptsRetry, attempts.length, 'every failed attempt counted as a retry');
      assert.deepEqual([down.delivered, down.failed, down.attemptsDelivered], [before.delivered, before.failed, before.attemptsDelivered], 'no delivery ended yet');
      receiver.answer = () => ({ status: 200 });
      receiver.clear();
      h().clock.advance(7 * 3600);
      await h().app.webhooks.run();
      assert.deepEqual(receiver.ids().sort(), [...firstIds].sort(), 'the backlog, each with its own webhook-id again');
      const back = await counters();
      assert.equal(back.delivered - before.delivered, 4, 'four deliveries ended delivered');
      assert.equal(back.attemptsDelivered - before.attemptsDelivered, 4);
      assert.equal(back.failed, before.failed);
      receiver.clear();
      h().clock.advance(24 * 3600);
      await h().app.webhooks.run();
      assert.equal(receiver.received.length, 0, 'delivered once: not sent again');
      assert.equal(expectStatus(await h().get(`/webhooks/${endpoint.id}`), 200).body.data.enabled, true);
      await removeAll(h());
    });

    it('failing for the whole retry window: the endpoint is disabled and a webhook.disabled event says so (the delivery counted as failed, the event as positioned); a disabled endpoint\'s waiting deliveries are not in the backlog metrics; re-enabling resumes', async () => {
      const endpoint = await addEndpoint(h());
      const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(expectStatus(await h().get('/metrics'), 200).text)?.[1] ?? 0);
      const failedDeliveries = () => metric('coffer_webhook_deliveries_total\\{outcome="failed"\\}');
      const failedBefore = await failedDeliveries();
      const positionedBefore = await metric('coffer_events_positioned_total');
      receiver.answer = () => ({ status: 500 });
      const start = (await feedEvents(h())).length;
      await createWallet(h());
      await deliver(h());
      for (let i = 0; i < 20 && expectStatus(await h().get(`/webhooks/${endpoint.id}`), 200).body.data.enabled; i++) {
        h().clock.advance(6 * 3600);
        await h().app.webhooks.run();
      }
      const shown = expectStatus(await h().get(`/webhooks/${endpoint.id}`), 200).body.data;
      assert.equal(shown.enabled, false);
      assert.match(shown.disabledReason, /retry window/);
      const attempts = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts?pageSize=100`), 200).body.data;
      assert.equal(attempts[0].nextAttemptAt, null, 'the last attempt: given up');
      assert.equal(await failedDeliveries(), failedBefore + 1, 'the one delivery ended as failed');
      const disabled = (await feedEvents(h())).slice(start).filter((e: ParsedJson) => e.type === 'webhook.disabled');
      assert.equal(disabled.length, 1);
      assert.equal(disabled[0].data.webhook.id, endpoint.id);
      assert.equal(await metric('coffer_events_positioned_total'), positionedBefore + 2, 'the wallet.created and the webhook.disabled the loop wrote');
      // A test delivery queued to the disabled endpoint waits unsent, and is not counted as a
      // backlog (what the two backlog gauges report; a scrape reuses a read for a second, so the
      // test reads it directly).
      expectStatus(await h().post(`/webhooks/${endpoint.id}/test`, {}), 202);
      h().clock.advance(60);
      assert.deepEqual(await deliveryBacklog(h().db, h().clock.now()), { pending: 0, oldestSeconds: 0 });
      receiver.answer = () => ({ status: 200 });
      receiver.clear();
      expectStatus(await h().patch(`/webhooks/${endpoint.id}`, { enabled: true }), 200);
      const waiting = await deliveryBacklog(h().db, h().clock.now());
      assert.equal(waiting.pending, 2, 'enabled again: the test delivery and the webhook.disabled event wait for it');
      assert.ok(waiting.oldestSeconds >= 60 && waiting.oldestSeconds < 70, `the oldest waited the minute the clock moved: ${waiting.oldestSeconds}`);
      await deliver(h());
      assert.deepEqual(receiver.received.map((r) => parseJson(r.body).type).sort(), ['webhook.disabled', 'webhook.test'], 'events after it are sent again, and the queued test');
      await removeAll(h());
    });

    it('a 2xx answer with binary bytes (NUL among them) is recorded as delivered and not sent again', async () => {
      const endpoint = await addEndpoint(h());
      receiver.answer = () => ({ status: 200, body: Buffer.from([0x6f, 0x6b, 0x00, 0x1f, 0x8b, 0xff]) });
      receiver.clear();
      await createWallet(h());
      await deliver(h());
      assert.equal(receiver.received.length, 1);
      const attempts = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts`), 200).body.data;
      assert.equal(attempts.length, 1, 'the attempt is recorded');
      assert.equal(attempts[0].statusCode, 200n);
      assert.equal(attempts[0].responseBody, 'ok\uFFFD\u001f\uFFFD\uFFFD', 'NUL and bytes that are not UTF-8 stored as U+FFFD');
      h().clock.advance(3600);
      await h().app.webhooks.run();
      assert.equal(receiver.received.length, 1, 'delivered: not sent again when its lease would have lapsed');
      receiver.answer = () => ({ status: 204 });
      await removeAll(h());
    });

    it('an endpoint paused longer than the retry window, then resumed: its window restarts, so one failure is retried, not given up', async () => {
      const endpoint = await addEndpoint(h());
      expectStatus(await h().patch(`/webhooks/${endpoint.id}`, { enabled: false }), 200);
      await createWallet(h());
      await deliver(h());
      h().clock.advance(5 * 24 * 3600);
      receiver.answer = () => ({ status: 502 });
      receiver.clear();
      expectStatus(await h().patch(`/webhooks/${endpoint.id}`, { enabled: true }), 200);
      await deliver(h());
      assert.ok(receiver.received.length >= 1, 'sent after the resume');
      const attempts = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts`), 200).body.data;
      assert.ok(attempts.length >= 1 && attempts.every((a: ParsedJson) => a.nextAttemptAt !== null), 'a failure after the resume is retried');
      assert.equal(expectStatus(await h().get(`/webhooks/${endpoint.id}`), 200).body.data.enabled, true, 'not disabled again');
      receiver.answer = () => ({ status: 200 });
      receiver.clear();
      h().clock.advance(3600);
      await h().app.webhooks.run();
      assert.ok(receiver.received.length >= 1, 'the backlog arrives once the receiver is back');
      receiver.answer = () => ({ status: 204 });
      await removeAll(h());
    });

    it('redirects are not followed; test and replay send again with the same webhook-id', async () => {
      const endpoint = await addEndpoint(h());
      receiver.answer = (received) => (received.body.includes('"webhook.test"') ? { status: 200 } : { status: 302, headers: { location: `${receiver.url}/elsewhere` } });
      const w = await createWallet(h());
      await deliver(h());
      assert.equal(receiver.received.length, 1, 'the redirect target is not called');
      const attempt = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts`), 200).body.data[0];
      assert.equal(attempt.statusCode, 302n);
      assert.match(attempt.error, /redirects are not followed/);
      receiver.answer = () => ({ status: 200 });
      receiver.clear();
      const test = expectStatus(await h().post(`/webhooks/${endpoint.id}/test`), 202).body.data;
      await h().app.webhooks.run();
      const tested = receiver.received.find((r) => r.headers['webhook-id'] === test.eventId);
      assert.ok(tested, 'the test event arrived');
      assert.ok(signedBy(endpoint.secret, tested));
      assert.equal(parseJson(tested.body).type, 'webhook.test');
      assert.doesNotThrow(() => webhookTestEvent.parse(JSON.parse(tested.body)), 'the body is what the OpenAPI document\'s webhooks section says a test delivery is');
      const created = (await feedEvents(h())).find((e: ParsedJson) => e.data.wallet?.id === w);
      receiver.clear();
      const replayed = expectStatus(await h().post(`/webhooks/${endpoint.id}/replay`, { after: created.position - 1n }), 202).body.data;
      assert.equal(replayed.deliveries, 1n);
      await h().app.webhooks.run();
      assert.deepEqual(receiver.ids(), [created.id], 'replayed with the event id as webhook-id');
      receiver.clear();
      const since = expectStatus(await h().post(`/webhooks/${endpoint.id}/replay`, { since: created.occurredAt }), 202).body.data;
      assert.equal(since.deliveries, 1n);
      await removeAll(h());
    });

    it('a slow receiver does not hold back another endpoint', async () => {
      await addEndpoint(h(), { url: `${receiver.url}/slow` });
      await addEndpoint(h(), { url: `${receiver.url}/fast` });
      receiver.answer = (received) => (received.path === '/slow' ? { status: 200, delayMs: 1500 } : { status: 200 });
      for (let i = 0; i < 3; i++) await createWallet(h());
      const started = Date.now();
      await deliver(h());
      const fast = receiver.received.filter((r) => r.path === '/fast');
      const slow = receiver.received.filter((r) => r.path === '/slow');
      assert.equal(fast.length, 3);
      assert.equal(slow.length, 3);
      // Measured against the slow receiver's own first answer, not a fixed time: the fan-out,
      // the claims and the sends take longer on a slow machine, but not the slow one's 1.5 s.
      const slowFirstAnswered = Math.min(...slow.map((r) => r.at)) + 1500;
      assert.ok(fast.every((r) => r.at < slowFirstAnswered), 'the fast endpoint got its events while the slow one was still answering');
      assert.ok(Date.now() - started >= 1400);
      await removeAll(h());
    });

    it('a fast receiver: a claim leases several sending rounds ahead, never more than WEBHOOK_CONCURRENCY (4 here) in flight; a claimed delivery that could not finish within its lease is given back unsent', async () => {
      const endpoint = await addEndpoint(h());
      let open = 0;
      let most = 0;
      const answerAfter = (delayMs: number) => () => {
        open++;
        most = Math.max(most, open);
        setTimeout(() => open--, delayMs);
        return { status: 204, delayMs };
      };
      receiver.answer = answerAfter(60);
      await createWallet(h());
      await deliver(h()); // a first fast answer (within 250 ms): the endpoint may be claimed ahead
      assert.equal(receiver.received.length, 1);
      receiver.clear();
      receiver.answer = answerAfter(100);
      // More than a claim may lease ahead, so the bound is reached: 4 × the backend's
      // queueFactor, and no more than this endpoint answers in about 2 s at its first answer's
      // latency, 60 ms or more (33 per slot; PGlite's factor, 64, would lease them all).
      const ahead = 4 * Math.min(loopPace(h().db.kind).queueFactor, Math.floor(QUEUE_AHEAD_MS / 60));
      const count = ahead + 8;
      for (let i = 0; i < count; i++) await createWallet(h());
      const leasedNow = async () => Number((await h().db.query<{ n: bigint }>("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending' AND lease_until IS NOT NULL"))[0]!.n);
      let running = deliver(h());
      while (receiver.ids().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const leased = await leasedNow();
      await running;
      assert.equal(receiver.received.length, count);
      assert.equal(new Set(receiver.ids()).size, count, 'each delivery sent once');
      assert.ok(leased > 4 && leased <= ahead, `leased ahead while the first were in flight: ${leased}`);
      assert.ok(most <= 4, `at most 4 in flight, saw ${most}`);

      // Twelve more; while the first four are at the receiver the clock moves 20 s: the lease
      // (30 s) has 10 s left, less than a send and its record may take (10 s and a margin), so
      // the eight still waiting for a slot are given back unsent, claimed again with a new
      // lease, then sent (and answered 500, so their rows stay to show their attempt count).
      receiver.clear();
      for (let i = 0; i < 12; i++) await createWallet(h());
      const before = Number(h().clock.now() / 1_000_000n);
      const [{ last }] = (await h().db.query<{ last: bigint }>('SELECT coalesce(max(id), 0) AS last FROM webhook_attempts')) as [{ last: bigint }];
      const fastAnswer = answerAfter(100);
      receiver.answer = (received) => (Number(received.headers['webhook-timestamp']) >= before + 20 ? { status: 500 } : fastAnswer());
      // Given back by the loop, through the background pool on PostgreSQL.
      const loopDb = (h().db.background ?? h().db) as { query: Database['query'] };
      const query = loopDb.query;
      let givenBack = 0;
      loopDb.query = ((sql: string, params?: readonly unknown[]) => {
        if (/attempts = d\.attempts - 1/.test(sql)) givenBack += (params?.[0] as unknown[]).length;
        return query.call(loopDb, sql, params);
      }) as Database['query'];
      try {
        running = deliver(h());
        while (receiver.ids().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        h().clock.advance(20);
        await running;
      } finally {
        loopDb.query = query;
      }
      assert.equal(givenBack, 8, 'the eight waiting were given back');
      const stamps = receiver.received.map((r) => Number(r.headers['webhook-timestamp']));
      assert.equal(new Set(receiver.ids()).size, 12, 'each sent once');
      assert.equal(stamps.filter((t) => t < before + 20).length, 4, 'four sent under the first lease');
      assert.equal(stamps.filter((t) => t >= before + 20).length, 8, 'eight sent after being given back and claimed again');
      // The four delivered are deleted; the eight answered 500 wait for their retry, each at one attempt.
      const attempts = await h().db.query<{ attempts: number; status: string }>('SELECT attempts, status FROM webhook_deliveries WHERE endpoint_id = $1', [endpoint.id]);
      assert.deepEqual(attempts.map((a) => `${a.status}:${Number(a.attempts)}`), Array(8).fill('pending:1'), 'a delivery given back unsent does not count as an attempt');
      const history = await h().db.query<{ event_id: string; status_code: number }>('SELECT event_id, status_code FROM webhook_attempts WHERE endpoint_id = $1 AND id > $2', [endpoint.id, String(last)]);
      assert.equal(history.length, 12, 'one attempt row for each of the twelve');
      assert.equal(new Set(history.map((a) => a.event_id)).size, 12);
      assert.equal(history.filter((a) => Number(a.status_code) === 500).length, 8);
      assert.ok(most <= 4);
      // Deleting the endpoint deletes its deliveries and attempts with it.
      await removeAll(h());
      const left = await h().db.query<{ n: bigint }>(
        'SELECT (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1) + (SELECT count(*) FROM webhook_attempts WHERE endpoint_id = $1) AS n',
        [endpoint.id],
      );
      assert.equal(Number(left[0]!.n), 0);
    });
  },
  // WEBHOOK_CONCURRENCY 4 (the default is 8): the slot tests count with it.
  { webhooks: { allowPrivate: true, intervalMs: null, concurrency: 4 }, feedWatchIntervalMs: null },
);

suite(
  'webhook loop with no endpoint',
  (h) => {
    it('with no endpoint the loop goes idle: commits start no turns; creating an endpoint wakes it, and the next event is delivered without waiting for the interval', async () => {
      // The loop's statements go to the background pool on PostgreSQL, to the database itself on PGlite.
      const loopDb = (h().db.background ?? h().db) as { query: Database['query'] };
      const query = loopDb.query;
      let fanOuts = 0;
      let claims = 0;
      let running = 0;
      loopDb.query = ((sql: string, params?: readonly unknown[]) => {
        if (sql.includes('FOR NO KEY UPDATE OF w SKIP LOCKED')) fanOuts++;
        if (sql.includes('WITH picked AS MATERIALIZED')) claims++;
        running++;
        return query.call(loopDb, sql, params).finally(() => running--);
      }) as Database['query'];
      try {
        await createWallet(h());
        // The first commit's turn finds no endpoint; the next ten commits start none. That turn
        // is over once its fan-out and its claim were made and neither still runs (a loaded
        // machine may take a while); then a moment for any further turn to show.
        for (const deadline = Date.now() + 10_000; !(claims >= 1 && running === 0) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const [fanOutsBefore, claimsBefore] = [fanOuts, claims];
        assert.equal(fanOutsBefore, 1, 'one turn after the first commit');
        for (let i = 0; i < 10; i++) await createWallet(h());
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.deepEqual([fanOuts, claims], [fanOutsBefore, claimsBefore], 'no turn for commits while idle');
        // An endpoint created here wakes the loop (the interval is a minute): the next event arrives at once.
        receiver.clear();
        await addEndpoint(h());
        const started = Date.now();
        const wallet = await createWallet(h());
        while (receiver.received.length === 0 && Date.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(receiver.received.length, 1, 'delivered without waiting for the interval');
        assert.equal(parseJson(receiver.received[0]!.body).data.wallet.id, wallet);
        assert.ok(fanOuts > fanOutsBefore);
      } finally {
        loopDb.query = query;
        await removeAll(h());
      }
    });
  },
  { webhooks: { allowPrivate: true, intervalMs: 60_000 }, feedWatchIntervalMs: null },
);

suite(
  'webhook retry schedule',
  (h) => {
    it('WEBHOOK_RETRY_FIRST and WEBHOOK_RETRY_MAX_DELAY set the schedule: the first retry about a minute later, the next ones doubling up to four minutes', async () => {
      const endpoint = await addEndpoint(h());
      receiver.clear();
      receiver.answer = () => ({ status: 500 });
      await createWallet(h());
      await deliver(h());
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        const [last] = expectStatus(await h().get(`/webhooks/${endpoint.id}/attempts?pageSize=1`), 200).body.data;
        delays.push((Date.parse(last.nextAttemptAt) - Date.parse(last.attemptedAt)) / 1000);
        h().clock.advance(Math.ceil(delays[i]! * 0.5));
        await deliver(h());
        assert.equal(receiver.received.length, i + 1, 'not sent again before its time');
        h().clock.advance(Math.ceil(delays[i]! * 0.5) + 1);
        await deliver(h());
        assert.equal(receiver.received.length, i + 2, 'sent again once due');
      }
      const [first, second, third, fourth] = delays;
      assert.ok(first! >= 48 && first! <= 72, `first retry after ${first} s: 60 s ± 20 %`);
      assert.ok(second! >= 96 && second! <= 144, `second after ${second} s: 120 s ± 20 %`);
      assert.ok(third! >= 192 && third! <= 288, `third after ${third} s: 240 s ± 20 %`);
      assert.ok(fourth! >= 192 && fourth! <= 288, `then capped at 240 s ± 20 %, not 480: ${fourth}`);
      await removeAll(h());
    });
  },
  { webhooks: { allowPrivate: true, intervalMs: null, backoffFirstMicros: 60_000_000n, backoffMaxMicros: 240_000_000n }, feedWatchIntervalMs: null },
);

suite(
  'webhook loop with a backlog',
  (h) => {
    it('what a fan-out could not lease (beyond a slow endpoint\'s allowance) goes out after the commits stop, without waiting for the interval', async () => {
      // 20 commits, each waking the loop: the fan-outs lease two and leave the rest in the feed.
      // Wake-ups with no new event meanwhile (a commit another turn already fanned out, the
      // watcher): a turn that finds the endpoint's slots all busy leases nothing, and the
      // events it could not take must still go out as the slots free.
      const { wallets, received } = await behindSlowReceiver(h(), 20, () => h().app.webhooks.kick());
      assert.deepEqual(new Set(received.map((r) => parseJson(r.body).data.wallet.id)), wallets, 'every event sent, and the interval (a minute) never passed');
    });

    it('the events a fan-out left in the feed (beyond a slow endpoint\'s allowance) go out as its sends end, with no commit nor wake-up after the last commit, without waiting for the interval', async () => {
      const { wallets, received, settled } = await behindSlowReceiver(h(), 12, () => {});
      assert.deepEqual(new Set(received.map((r) => parseJson(r.body).data.wallet.id)), wallets, 'every event sent, and the interval (a minute) never passed');
      assert.equal(settled, 12, 'each once');
    });
  },
  { webhooks: { allowPrivate: true, intervalMs: 60_000, concurrency: 2 }, feedWatchIntervalMs: null },
);

suite(
  'webhook loop under sustained commits',
  (h) => {
    it('a delivery whose lease lapsed (its process died) is taken over within about an interval while every turn has new events to fan out', async () => {
      receiver.clear();
      try {
        // An event from before the endpoint, and its delivery (a replay's, say) leased by a process that died before sending it.
        await createWallet(h());
        const [event] = await h().db.query<{ seq: bigint; id: string }>('SELECT seq, id FROM events ORDER BY position DESC LIMIT 1');
        const endpoint = await addEndpoint(h());
        // The loop's turns after that wake-up are over once a later event was delivered.
        const later = await createWallet(h());
        for (const until = Date.now() + 10_000; !receiver.received.some((r) => parseJson(r.body).data.wallet.id === later) && Date.now() < until; ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await h().db.query(
          `INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, created_at, next_attempt_at, lease_until, attempts)
           VALUES ($1, $2, 'pending', $3::timestamptz, $3::timestamptz, $3::timestamptz + interval '30 seconds', 1)`,
          [endpoint.id, event!.seq, instantParam(h().clock.now())],
        );
        const stranded = { eventId: event!.id };
        h().clock.advance(31);
        // Commits keep waking the loop, a few at a time, so its fan-outs lease all they make
        // and leave none due: the claim of due deliveries, which takes the lapsed lease over,
        // runs once an interval (1 s) at least.
        const started = Date.now();
        while (!receiver.ids().includes(stranded.eventId) && Date.now() - started < 15_000) {
          await createWallet(h());
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(receiver.ids().includes(stranded.eventId), 'the lapsed lease was taken over');
        assert.ok(Date.now() - started < 5_000, `taken over ${Date.now() - started} ms after its lease lapsed, the interval being 1 s`);
        assert.equal(receiver.ids().filter((id) => id === stranded.eventId).length, 1);
      } finally {
        await removeAll(h());
      }
    });
  },
  { webhooks: { allowPrivate: true, intervalMs: 1_000 }, feedWatchIntervalMs: null },
);

if (process.env.TEST_DATABASE_URL) {
  it('postgres: two processes share deliveries through leases; a dead one\'s lease lapses and the other delivers: every event at least once, duplicates with one webhook-id', { timeout: 60_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const dbs = [openPostgres({ url: fresh.url, poolSize: 8, statementTimeoutMs: 30_000 }), openPostgres({ url: fresh.url, poolSize: 8, statementTimeoutMs: 30_000 })];
    const clock = new Clock();
    await migrate(dbs[0]!);
    const apps = dbs.map((db) =>
      buildApp({ db, ledger: 'l', limits: DEFAULT_LIMITS, clock: clock.now, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { allowPrivate: true, intervalMs: null } }),
    );
    try {
      await Promise.all(apps.map((app) => app.ready()));
      receiver.clear();
      receiver.answer = () => ({ status: 200 });
      const inject = async (app: (typeof apps)[0], url: string, body: unknown) =>
        parseJson((await app.inject({ method: 'POST', url, payload: json(body), headers: { 'content-type': 'application/json' } })).body).data;
      const endpoint = await inject(apps[0]!, '/webhooks', { url: `${receiver.url}/hook` });
      const wallets = new Set<string>();
      for (let i = 0; i < 24; i++) wallets.add((await inject(apps[i % 2]!, '/wallets', {})).id);
      // A third process claims four deliveries and is killed: two before sending, two after
      // sending but before recording the answer (their receiver got them once already).
      const stranded = (await claimFresh(dbs[0]!, clock.now(), clock.now() + 30_000_000n, 500, 4, new Map())).leased;
      assert.equal(stranded.length, 4);
      for (const delivery of stranded.slice(2)) {
        const ts = Number(clock.now() / 1_000_000n);
        await send(endpoint.url, { 'webhook-id': delivery.eventId, 'webhook-timestamp': String(ts), 'webhook-signature': sign(endpoint.secret, delivery.eventId, ts, delivery.body) }, delivery.body, true);
      }
      // The two live processes' loops at once: each delivery still leased is left alone, every other one is sent by one of them.
      await Promise.all(apps.map((app) => app.webhooks.run()));
      assert.equal(receiver.received.length, 24 - 4 + 2);
      assert.equal(new Set(receiver.ids()).size, receiver.received.length, 'no delivery was sent by both processes');
      // The dead process's leases lapse; the other process takes its deliveries over.
      clock.advance(31);
      await apps[1]!.webhooks.run();
      const ids = receiver.ids();
      const bodies = receiver.received.map((r) => parseJson(r.body));
      assert.deepEqual(new Set(bodies.map((b: ParsedJson) => b.data.wallet.id)), wallets, 'every event reached the receiver at least once');
      assert.equal(ids.length, 24 + 2, 'the two sent before the kill arrived twice');
      const twice = ids.filter((id, index) => ids.indexOf(id) !== index);
      assert.deepEqual(twice.sort(), stranded.slice(2).map((d) => d.eventId).sort(), 'a duplicate carries the same webhook-id');
      for (const received of receiver.received) assert.ok(signedBy(endpoint.secret, received));
    } finally {
      for (const app of apps) await app.close();
      for (const db of dbs) await db.close();
      await fresh.drop();
      receiver.clear();
    }
  });

  it('postgres: kill -9 of a Coffer process in the middle of deliveries, another process started: every event reaches the receiver at least once, a duplicate with the same webhook-id and body', { timeout: 120_000 }, async () => {
    const fresh = await freshPostgresDatabase(process.env.TEST_DATABASE_URL!);
    const env = { DATABASE_URL: fresh.url, WEBHOOK_ALLOW_PRIVATE: 'true', LEDGER_NAME: 'crash' };
    let first: ServerProcess | undefined;
    let second: ServerProcess | undefined;
    try {
      receiver.clear();
      // Slow answers: deliveries are in flight when the process dies.
      receiver.answer = () => ({ status: 200, delayMs: 400 });
      first = await startServer(env);
      const created = await fetch(`${first.url}/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${receiver.url}/hook` }) });
      assert.equal(created.status, 201);
      const { secret } = ((await created.json()) as { data: { secret: string } }).data;
      for (let i = 0; i < 40; i++) await fetch(`${first.url}/wallets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      // Killed while the receiver holds some of its requests unanswered: those are never recorded.
      for (let i = 0; i < 200 && (receiver.received.length < 6 || receiver.answering === 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(receiver.received.length >= 6 && receiver.answering > 0, 'deliveries were under way');
      await first.kill('SIGKILL');
      first = undefined;
      const atKill = receiver.received.length;
      second = await startServer(env);
      const events = (await (await fetch(`${second.url}/events?pageSize=100`)).text()).match(/"id":"[0-9a-f-]{36}","type":"wallet\.created"/g) ?? [];
      const expected = new Set(events.map((match) => match.slice(6, 42)));
      assert.equal(expected.size, 40);
      // The dead process's leases lapse (30 s), then the new one sends what it left.
      for (let i = 0; i < 900 && ![...expected].every((id) => receiver.ids().includes(id)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const ids = receiver.ids();
      for (const id of expected) assert.ok(ids.includes(id), `event ${id} delivered`);
      assert.equal(ids.filter((id) => !expected.has(id)).length, 0, 'nothing else was sent');
      assert.ok(atKill < 40, `the kill came before every delivery had been answered (${atKill} received)`);
      // The deliveries in flight at the kill reached the receiver but were never recorded: once
      // their leases lapse, the new process sends them again. Wait until none is pending.
      const pending = async () => Number(/^coffer_webhook_deliveries_pending (\d+)/m.exec(await (await fetch(`${second!.url}/metrics`)).text())?.[1] ?? -1);
      for (let i = 0; i < 600 && (await pending()) !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await pending(), 0, 'every delivery recorded as delivered');
      const again = receiver.ids().filter((id, index, all) => all.indexOf(id) !== index);
      assert.ok(again.length >= 1, 'the deliveries in flight at the kill were sent again');
      const bodies = new Map<string, string>();
      for (const received of receiver.received) {
        const id = String(received.headers['webhook-id']);
        if (bodies.has(id)) assert.equal(received.body, bodies.get(id), 'a duplicate is the same event, with the same webhook-id');
        bodies.set(id, received.body);
        assert.ok(signedBy(secret, received));
      }
    } finally {
      await first?.kill('SIGKILL');
      await second?.kill('SIGTERM');
      receiver.answer = () => ({ status: 204 });
      receiver.clear();
      await fresh.drop();
    }
  });
  it('postgres: an endpoint whose row another session holds locked during a fan-out (a PATCH, another process fanning out) does not make the loop idle', { timeout: 60_000 }, async () => {
    const postgres = backends().find((backend) => backend.name === 'postgres')!;
    // The interval is a minute: only commits start turns here.
    const h = await startHarness(postgres, 'test-ledger', { webhooks: { allowPrivate: true, intervalMs: 60_000 }, feedWatchIntervalMs: null });
    try {
      receiver.clear();
      const endpoint = await addEndpoint(h);
      await createWallet(h);
      for (let i = 0; i < 250 && receiver.received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(receiver.received.length, 1, 'the first event delivered');
      // Another session holds the endpoint's row across a commit: that commit's fan-out passes the endpoint by.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const held = h.db.transaction(async (tx) => {
        await tx.query('SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE', [endpoint.id]);
        locked();
        await gate;
      });
      await isLocked;
      await createWallet(h);
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await held;
      // The next commit still starts a turn: both events not yet delivered arrive at once.
      await createWallet(h);
      for (let i = 0; i < 250 && receiver.received.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(receiver.received.length, 3, 'delivered after the lock, without waiting for the interval');
    } finally {
      await removeAll(h);
      await h.close();
    }
  });
  it('postgres: an endpoint deleted while a failed attempt that disables it is being recorded: the delete waits for the record, neither deadlocks, and nothing of the endpoint is left', { timeout: 60_000 }, async () => {
    const postgres = backends().find((backend) => backend.name === 'postgres')!;
    const h = await startHarness(postgres, 'test-ledger', { webhooks: { allowPrivate: true, intervalMs: null }, feedWatchIntervalMs: null });
    try {
      const endpoint = await addEndpoint(h);
      await createWallet(h);
      const now = h.clock.now();
      const [delivery] = (await claimFresh(h.db, now, now + 30_000_000n, 500, 64, new Map())).leased;
      assert.ok(delivery !== undefined);
      // The record pauses right after its first statement, which locks the endpoint's row (FOR KEY SHARE).
      let paused!: () => void;
      const isPaused = new Promise<void>((resolve) => (paused = resolve));
      let resume!: () => void;
      const gate = new Promise<void>((resolve) => (resume = resolve));
      const pausing: Database = {
        ...h.db,
        transaction: (body) =>
          h.db.transaction((tx) =>
            body({
              async query<Row>(sql: string, params?: readonly unknown[]) {
                const rows = await tx.query<Row>(sql, params);
                if (/FOR KEY SHARE/.test(sql)) {
                  paused();
                  await gate;
                }
                return rows;
              },
              exec: (sql) => tx.exec(sql),
              defer: (sql, params, expectedRows) => tx.defer(sql, params, expectedRows),
            }),
          ),
      };
      // A failure past the whole retry window (1 µs): the record also disables the endpoint and writes an event, the statement most likely to meet the delete.
      const recording = recordAttempt(
        pausing,
        { delivery, attemptedAt: now, statusCode: 500, latencyMs: 1, error: 'answered 500', responseBody: '', outcome: 'failed', nextAttemptAt: null },
        1n,
        (e) => disabledEvent(e, now),
      );
      await isPaused;
      const deleting = deleteEndpoint(h.db, 'test-ledger', endpoint.id);
      // The delete waits on the endpoint's row, which the paused record holds.
      let waiting = 0;
      for (let i = 0; i < 250 && waiting === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const [row] = await h.db.query<{ n: bigint }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM webhook_endpoints%'");
        waiting = Number(row!.n);
      }
      assert.equal(waiting, 1, 'the delete waits for the record');
      resume();
      // Either would fail with 40P01 after deadlock_timeout (1 s) if the two took the rows in opposite orders.
      const [record, deleted] = await Promise.all([recording, deleting]);
      assert.deepEqual(record, { recorded: true, disabled: true }, 'the record disabled the endpoint before the delete went on');
      assert.equal(deleted, true, 'the delete then deleted it');
      const [left] = await h.db.query<{ endpoints: bigint; rows: bigint }>(
        'SELECT (SELECT count(*) FROM webhook_endpoints WHERE id = $1) AS endpoints, (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1) + (SELECT count(*) FROM webhook_attempts WHERE endpoint_id = $1) AS rows',
        [endpoint.id],
      );
      assert.deepEqual([Number(left!.endpoints), Number(left!.rows)], [0, 0]);
      const events = await h.db.query<{ n: bigint }>("SELECT count(*) AS n FROM events WHERE type = 'webhook.disabled' AND data -> 'webhook' ->> 'id' = $1", [endpoint.id]);
      assert.equal(Number(events[0]!.n), 1, 'the disabling event committed with the record');
    } finally {
      await removeAll(h);
      await h.close();
    }
  });
} else {
  postgresSkipped('postgres: an endpoint deleted while a failed attempt that disables it is being recorded: the delete waits for the record, neither deadlocks, and nothing of the endpoint is left');
  postgresSkipped('postgres: an endpoint whose row another session holds locked during a fan-out (a PATCH, another process fanning out) does not make the loop idle');
  postgresSkipped("postgres: two processes share deliveries through leases; a dead one's lease lapses and the other delivers: every event at least once, duplicates with one webhook-id");
  postgresSkipped('postgres: kill -9 of a Coffer process in the middle of deliveries, another process started: every event reaches the receiver at least once, a duplicate with the same webhook-id and body');
}
