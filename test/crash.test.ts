/**
 * Crash safety of keyed commands: a Coffer process is killed with SIGKILL in the middle of a
 * burst of keyed debits (immediate and pending), restarted on the same data, and every
 * request is retried with its key. Each must be applied exactly once, and every answer given
 * before the crash must equal the answer after it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPglite, openPostgres, type Database } from '../src/storage/database.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { send, startServer, type HttpAnswer } from './support/server-process.ts';

const BURST = 300;
const KILL_AFTER = 120;
const CONCURRENCY = 16;
const FUNDS = 1_000_000n;

interface Target {
  readonly name: string;
  setUp(): Promise<{ env: Record<string, string>; open: () => Promise<Database>; cleanUp: () => Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'pglite on disk',
    async setUp() {
      const dir = mkdtempSync(join(tmpdir(), 'coffer-crash-'));
      return {
        env: { DATA_DIR: dir },
        open: () => openPglite(dir),
        cleanUp: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];
if (process.env.TEST_DATABASE_URL) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  targets.push({
    name: 'postgres',
    async setUp() {
      const fresh = await freshPostgresDatabase(serverUrl);
      return {
        env: { DATABASE_URL: fresh.url },
        open: async () => openPostgres({ url: fresh.url, poolSize: 2, statementTimeoutMs: 30_000 }),
        cleanUp: fresh.drop,
      };
    },
  });
} else {
  postgresSkipped('crash safety [postgres]');
}

for (const target of targets) {
  describe(`crash safety [${target.name}]`, () => {
    it(`SIGKILL mid-burst of ${BURST} keyed debits, restart, retry all → each applied exactly once, answers unchanged`, { timeout: 180_000 }, async () => {
      const { env, open, cleanUp } = await target.setUp();
      try {
        let server = await startServer(env);
        const created = await send(server.url, 'POST', '/wallets', '{"name":"crash"}', { 'idempotency-key': 'crash-wallet' });
        assert.equal(created.status, 201, created.text);
        const walletId = JSON.parse(created.text).data.id as string;
        const funded = await send(server.url, 'POST', `/wallets/${walletId}/credit`, `{"amount":{"asset":"USD/2","amount":${FUNDS}}}`, {
          'idempotency-key': 'crash-funds',
        });
        assert.equal(funded.status, 204, funded.text);

        const requests = Array.from({ length: BURST }, (_, i) => ({
          key: `crash-debit-${i}`,
          body: `{"amount":{"asset":"USD/2","amount":1},"pending":${i % 2 === 0}}`,
        }));
        const before = new Map<number, HttpAnswer>();
        let next = 0;
        let killed = false;
        const victim = server;
        const worker = async () => {
          while (next < BURST) {
            const index = next++;
            const request = requests[index]!;
            try {
              const answer = await send(victim.url, 'POST', `/wallets/${walletId}/debit`, request.body, { 'idempotency-key': request.key });
              before.set(index, answer);
              if (before.size === KILL_AFTER && !killed) {
                killed = true;
                await victim.kill('SIGKILL');
              }
            } catch {
              // The server died under this request: its outcome is unknown to the client.
            }
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        assert.ok(killed, 'the server was killed mid-burst');
        assert.ok(before.size >= KILL_AFTER && before.size < BURST, `answered before the crash: ${before.size}`);

        server = await startServer(env);
        let replayed = 0;
        for (const [index, request] of requests.entries()) {
          const answer = await send(server.url, 'POST', `/wallets/${walletId}/debit`, request.body, { 'idempotency-key': request.key });
          assert.ok(answer.status === 201 || answer.status === 204, answer.text);
          const earlier = before.get(index);
          if (earlier) {
            assert.equal(answer.status, earlier.status);
            assert.equal(answer.text, earlier.text, `request ${index} answered differently after the crash`);
            assert.ok(answer.replayed, `request ${index} was answered before the crash, so it must replay`);
            replayed++;
          }
        }
        assert.equal(replayed, before.size);

        const wallet = JSON.parse((await send(server.url, 'GET', `/wallets/${walletId}`)).text).data;
        assert.equal(BigInt(wallet.balances.main.assets['USD/2']), FUNDS - BigInt(BURST));
        const holds = JSON.parse((await send(server.url, 'GET', `/holds?walletID=${walletId}&pageSize=100`)).text).cursor;
        let holdCount = holds.data.length;
        let cursor = holds.next as string | undefined;
        while (cursor) {
          const page = JSON.parse((await send(server.url, 'GET', `/holds?cursor=${cursor}`)).text).cursor;
          holdCount += page.data.length;
          cursor = page.next;
        }
        assert.equal(holdCount, BURST / 2);
        await server.kill('SIGTERM');

        const db = await open();
        try {
          assert.deepEqual(await findViolations(db), []);
          const [row] = await db.query<{ count: bigint }>('SELECT count(*)::int8 AS count FROM transactions');
          assert.equal(row!.count, BigInt(BURST + 1), 'one credit and one transaction per debit');
        } finally {
          await db.close();
        }
      } finally {
        await cleanUp();
      }
    });
  });
}
