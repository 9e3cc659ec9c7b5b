/**
 * Several processes behind a proxy: HAProxy (Debian's package) runs deploy/haproxy.cfg as
 * written — its ports replaced, TLS left out — in front of two Coffer processes on one
 * PostgreSQL. Clients send keyed money requests and reads through it; mid-run one process is
 * stopped (SIGTERM: it finishes what it has, refuses the rest) and later started again on its
 * port. The proxy's retry policy (retry on a failed connection, no answer, or 503; never an
 * unkeyed mutation) hides the stop: no client sees a 5xx. Afterwards every request is sent
 * again with its key and replays its answer, each moved money once, and the invariants hold.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPostgres } from '../src/storage/database.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { freePort, send, startServer, type HttpAnswer, type ServerProcess } from './support/server-process.ts';

const WORKERS = 12;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** deploy/haproxy.cfg with this test's ports and socket, TLS off (a plain HTTP bind). */
function haproxyConfig(dir: string, front: number, backs: readonly number[]): string {
  const text = readFileSync(new URL('../deploy/haproxy.cfg', import.meta.url), 'utf8')
    .replace('bind :8443 ssl crt /etc/haproxy/coffer.pem', `bind 127.0.0.1:${front}`)
    .replace('/run/haproxy/coffer.sock', join(dir, 'stats.sock'))
    .replace('127.0.0.1:8081', `127.0.0.1:${backs[0]}`)
    .replace('127.0.0.1:8082', `127.0.0.1:${backs[1]}`);
  assert.ok(text.includes(`127.0.0.1:${front}`) && text.includes(`127.0.0.1:${backs[1]}`), 'the documented config has the lines this test replaces');
  return text;
}

/** HAProxy's counters of the backend: retries and redispatches. */
function backendStats(socket: string): Promise<{ retries: number; redispatches: number }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const client = connect(socket, () => client.write('show stat\n'));
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    client.on('error', reject);
    client.on('end', () => {
      const [header, ...rows] = text.trim().split('\n');
      const names = header!.replace(/^# /, '').split(',');
      const row = rows.map((line) => line.split(',')).find((cells) => cells[0] === 'coffer' && cells[1] === 'BACKEND');
      const at = (name: string) => Number(row?.[names.indexOf(name)] ?? NaN);
      resolve({ retries: at('wretr'), redispatches: at('wredis') });
    });
  });
}

interface Sent {
  readonly path: string;
  readonly body: string;
  readonly key: string;
  readonly transfer: boolean;
  readonly first: HttpAnswer;
}

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  describe('two processes behind HAProxy [postgres]', () => {
    it('one process stopped and started again under load → no client sees a 5xx, nothing lost, each request once', { timeout: 120_000 }, async (t) => {
      const fresh = await freshPostgresDatabase(serverUrl);
      const dir = mkdtempSync(join(tmpdir(), 'coffer-haproxy-'));
      const ports = [await freePort(), await freePort()];
      const front = await freePort();
      const servers: ServerProcess[] = [];
      let haproxy: ChildProcess | undefined;
      try {
        for (const port of ports) servers.push(await startServer({ DATABASE_URL: fresh.url, PORT: String(port), POOL_SIZE: '4' }));
        writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(dir, front, ports));
        let haproxyErrors = '';
        haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
        haproxy.stderr!.on('data', (chunk: Buffer) => (haproxyErrors += chunk.toString()));
        const url = `http://127.0.0.1:${front}`;
        const deadline = Date.now() + 10_000;
        while ((await fetch(`${url}/_healthcheck`).then((r) => r.status, () => 0)) !== 200) {
          assert.ok(Date.now() < deadline && haproxy.exitCode === null, `haproxy did not start: ${haproxyErrors}`);
          await sleep(50);
        }

        const wallets: string[] = [];
        for (let i = 0; i < 4; i++) {
          const id = JSON.parse((await send(url, 'POST', '/wallets', `{"name":"proxy-${i}"}`, { 'idempotency-key': `proxy-wallet-${i}` })).text).data.id as string;
          assert.equal((await send(url, 'POST', `/wallets/${id}/credit`, '{"amount":{"asset":"USD/2","amount":1000000}}', { 'idempotency-key': `proxy-funds-${i}` })).status, 204);
          wallets.push(id);
        }
        const sent: Sent[] = [];
        const statuses = new Map<number, number>();
        let reads = 0;
        let running = true;
        let keys = 0;
        const worker = async (w: number) => {
          for (let i = 0; running; i++) {
            if (i % 3 === 2) {
              const read = await send(url, 'GET', `/wallets/${wallets[w % 4]}/summary`);
              statuses.set(read.status, (statuses.get(read.status) ?? 0) + 1);
              reads++;
              continue;
            }
            const key = `proxy-${keys++}`;
            const from = wallets[(w + i) % 4]!;
            const to = wallets[(w + i + 1) % 4]!;
            const transfer = i % 3 === 0;
            const [path, body] = transfer
              ? [`/wallets/${from}/debit`, { amount: { asset: 'USD/2', amount: 2 }, destination: { type: 'WALLET', identifier: to }, metadata: { req: key } }]
              : [`/wallets/${to}/credit`, { amount: { asset: 'USD/2', amount: 1 }, sources: [{ type: 'WALLET', identifier: from }], metadata: { req: key } }];
            const text = JSON.stringify(body);
            const first = await send(url, 'POST', path, text, { 'idempotency-key': key });
            statuses.set(first.status, (statuses.get(first.status) ?? 0) + 1);
            sent.push({ path, body: text, key, transfer, first });
          }
        };
        const ok = () => sent.filter((s) => s.first.status === 204).length;
        const load = Array.from({ length: WORKERS }, (_, w) => worker(w));

        await until('traffic through the proxy', () => ok() >= 150);
        const stoppedAt = ok();
        await servers[1]!.kill('SIGTERM');
        await until('traffic on the one process left', () => ok() >= stoppedAt + 150);
        servers[1] = await startServer({ DATABASE_URL: fresh.url, PORT: String(ports[1]), POOL_SIZE: '4' });
        // Back in rotation after two good checks (500 ms apart).
        await sleep(1_500);
        const restartedAt = ok();
        await until('traffic on both again', () => ok() >= restartedAt + 150);
        running = false;
        await Promise.all(load);
        const stats = await backendStats(join(dir, 'stats.sock'));
        t.diagnostic(`${sent.length} keyed mutations and ${reads} reads through HAProxy; statuses ${JSON.stringify(Object.fromEntries(statuses))}; the proxy retried ${stats.retries} times, redispatched ${stats.redispatches}`);
        assert.deepEqual([...statuses.keys()].filter((status) => status >= 500), [], 'no client saw a 5xx');
        assert.deepEqual([...statuses.keys()].sort(), [200, 204]);

        // Every mutation again, with its key: a replay of the answer given.
        for (const request of sent) {
          const again = await send(url, 'POST', request.path, request.body, { 'idempotency-key': request.key });
          assert.equal(again.status, 204, again.text);
          assert.ok(again.replayed, `${request.key} replays`);
        }
        const db = openPostgres({ url: fresh.url, poolSize: 1, statementTimeoutMs: 10_000 });
        try {
          const byKey = await db.query<{ req: string; count: bigint }>(`SELECT metadata->>'req' AS req, count(*)::int8 AS count FROM transactions WHERE metadata ? 'req' GROUP BY 1`);
          assert.equal(byKey.length, sent.length, 'every acknowledged request is in the database');
          assert.deepEqual(byKey.filter((row) => row.count !== 1n), [], 'none moved money twice');
          assert.deepEqual(await findViolations(db), []);
        } finally {
          await db.close();
        }
      } finally {
        haproxy?.kill('SIGTERM');
        await Promise.all(servers.map((server) => server.kill('SIGTERM')));
        await fresh.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
} else {
  postgresSkipped('two processes behind HAProxy [postgres]');
}

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
