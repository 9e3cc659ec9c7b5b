/**
 * Two Coffer processes sharing one PostgreSQL: same-key requests spread over both execute
 * once, and concurrent money movement through both keeps every invariant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPostgres } from '../src/storage/database.ts';
import { findViolations } from '../src/storage/invariants.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { send, startServer, type ServerProcess } from './support/server-process.ts';

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  describe('two processes, one PostgreSQL', () => {
    let fresh: Awaited<ReturnType<typeof freshPostgresDatabase>>;
    let servers: ServerProcess[] = [];

    before(async () => {
      fresh = await freshPostgresDatabase(serverUrl);
      // Both start at once: migrations must apply exactly once under the advisory lock.
      servers = await Promise.all([startServer({ DATABASE_URL: fresh.url }), startServer({ DATABASE_URL: fresh.url })]);
    });

    after(async () => {
      await Promise.all(servers.map((server) => server.kill('SIGTERM')));
      await fresh.drop();
    });

    it('40 same-key pending debits spread over both processes → one hold, identical answers', async () => {
      const created = await send(servers[0]!.url, 'POST', '/wallets', '{}');
      const walletId = JSON.parse(created.text).data.id;
      assert.equal((await send(servers[1]!.url, 'POST', `/wallets/${walletId}/credit`, '{"amount":{"asset":"EUR/2","amount":100}}')).status, 204);
      const body = '{"amount":{"asset":"EUR/2","amount":30},"pending":true}';
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => send(servers[i % 2]!.url, 'POST', `/wallets/${walletId}/debit`, body, { 'idempotency-key': 'two-processes' })),
      );
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([201]));
      assert.equal(new Set(answers.map((a) => a.text)).size, 1);
      assert.equal(answers.filter((a) => !a.replayed).length, 1);
      const holds = JSON.parse((await send(servers[0]!.url, 'GET', `/holds?walletID=${walletId}`)).text).cursor.data;
      assert.equal(holds.length, 1);
    });

    it('concurrent transfers, holds, confirms and voids through both processes keep the invariants', { timeout: 120_000 }, async () => {
      const wallets: string[] = [];
      for (let i = 0; i < 4; i++) {
        const id = JSON.parse((await send(servers[0]!.url, 'POST', '/wallets', '{}')).text).data.id;
        assert.equal((await send(servers[0]!.url, 'POST', `/wallets/${id}/credit`, '{"amount":{"asset":"USD/2","amount":1000}}')).status, 204);
        wallets.push(id);
      }
      const statuses: number[] = [];
      const worker = async (w: number) => {
        const url = servers[w % 2]!.url;
        for (let i = 0; i < 40; i++) {
          const from = wallets[(w + i) % wallets.length]!;
          const to = wallets[(w + i + 1) % wallets.length]!;
          const amount = 1 + ((w * 7 + i) % 50);
          const pending = i % 3 === 0;
          const debit = await send(
            url,
            'POST',
            `/wallets/${from}/debit`,
            JSON.stringify({ amount: { asset: 'USD/2', amount }, pending, destination: { type: 'WALLET', identifier: to } }),
          );
          statuses.push(debit.status);
          if (debit.status === 201) {
            const holdId = JSON.parse(debit.text).data.id;
            const settle = i % 2 === 0 ? 'confirm' : 'void';
            // Race a confirm and a void on the same hold through both processes.
            const [a, b] = await Promise.all([
              send(servers[0]!.url, 'POST', `/holds/${holdId}/${settle}`),
              send(servers[1]!.url, 'POST', `/holds/${holdId}/${settle === 'confirm' ? 'void' : 'confirm'}`),
            ]);
            statuses.push(a.status, b.status);
            const settled = [a, b].filter((r) => r.status === 204).length;
            assert.equal(settled, 1, `exactly one settlement wins: ${a.text} / ${b.text}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      assert.ok(statuses.every((status) => status < 500), `no 5xx: ${statuses.filter((s) => s >= 500)}`);
      let total = 0n;
      for (const id of wallets) {
        const summary = JSON.parse((await send(servers[1]!.url, 'GET', `/wallets/${id}/summary`)).text).data;
        total += BigInt(summary.availableFunds['USD/2'] ?? 0) + BigInt(summary.holdFunds['USD/2'] ?? 0);
      }
      // Debits go wallet to wallet, and confirms go to the destination wallet: money is conserved.
      assert.equal(total, 4000n);
      const db = openPostgres({ url: fresh.url, poolSize: 1, statementTimeoutMs: 30_000 });
      try {
        assert.deepEqual(await findViolations(db), []);
      } finally {
        await db.close();
      }
    });
  });
} else {
  postgresSkipped('two processes, one PostgreSQL');
}
