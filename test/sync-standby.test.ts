/**
 * A synchronous standby that stops answering (test/support/pg-replication.ts: a primary whose
 * `synchronous_standby_names` names its one standby, which the test stops). Coffer sets
 * `statement_timeout` on its sessions (STATEMENT_TIMEOUT_MS, here the smallest allowed,
 * 100 ms); PostgreSQL stops a statement's timer before it commits, so the timeout never cuts a
 * COMMIT's wait for the standby short. Were it to, PostgreSQL would answer the COMMIT as a
 * success with only a warning, and Coffer would acknowledge a write that the standby lacks.
 *
 * Proven here: with the standby stopped, a keyed credit is not answered for 2 s — twenty
 * statement timeouts — and its money is not visible; once the standby is back it is answered
 * 204 and applied once. A wait cancelled by hand (`pg_cancel_backend`, the one way left to end
 * it early with the session alive) is answered 503 SERVICE_UNAVAILABLE, never a success: the
 * commit is on the primary only. So are a keyed credit, an unkeyed one, a keyed wallet
 * creation and a webhook endpoint's creation (a single statement outside the committer), with
 * the role set to hide warnings from its sessions (`client_min_messages = error`). Keyed
 * retries while the standby is still away are not answered — a replay waits for the standby
 * like a write, and so does a rolled-back atomic bulk request that replayed one; once it is
 * back they replay, and each credit is applied exactly once. A webhook fan-out whose own wait
 * is cancelled sends nothing it leased.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import pg from 'pg';
import { postgresSkipped } from './support/harness.ts';
import { startReplicatedCluster } from './support/pg-replication.ts';
import { send, startServer } from './support/server-process.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A webhook receiver that answers 200 and keeps what it got. */
async function startReceiver(): Promise<{ url: string; received: string[]; server: Server }> {
  const received: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(body);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received, server };
}

const MISSING = '00000000-0000-4000-8000-000000000000';
const USD = (amount: number) => JSON.stringify({ amount: { asset: 'USD/2', amount } });

if (process.env.TEST_DATABASE_URL) {
  describe('a silent synchronous standby [postgres, a primary and a synchronous standby]', () => {
    it('statement_timeout never releases a COMMIT waiting for the standby (no answer, nothing visible, then 204 once it is back); a cancelled wait is a 503 keyed or not, never a success; each credit applied once', { timeout: 120_000 }, async () => {
      const cluster = await startReplicatedCluster();
      const admin = new pg.Client({ connectionString: cluster.primaryUrl });
      await admin.connect();
      // A role that hides warnings from its sessions must not hide the cancelled wait's from Coffer.
      await admin.query('ALTER ROLE CURRENT_USER SET client_min_messages = error');
      const receiver = await startReceiver();
      const server = await startServer({ DATABASE_URL: cluster.primaryUrl, STATEMENT_TIMEOUT_MS: '100', POOL_SIZE: '8', BATCH_CONCURRENCY: '4', WEBHOOK_ALLOW_PRIVATE: 'true' });
      try {
        /** Coffer's sessions waiting in COMMIT for the standby. */
        const waiting = async (pool = 'coffer') =>
          (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'SyncRep'", [pool])).rows;
        let retriesSettled = 0;
        let watchingRetries = false;
        const untilWaiting = async (sessions = 1) => {
          const deadline = Date.now() + 30_000;
          while ((await waiting()).length < sessions) {
            // Section 3's retries must stay unanswered while others come to wait.
            if (watchingRetries) assert.equal(retriesSettled, 0, 'a keyed replay was answered before the standby held what it replays');
            assert.ok(Date.now() < deadline, 'no Coffer session came to wait for the standby');
            await sleep(25);
          }
        };
        const created = await send(server.url, 'POST', '/wallets', '{"name":"sync-standby"}', { 'idempotency-key': 'sync-wallet' });
        assert.equal(created.status, 201, created.text);
        const id = (JSON.parse(created.text) as { data: { id: string } }).data.id;
        const balance = async () => {
          const answer = await send(server.url, 'GET', `/wallets/${id}/balances/main`);
          assert.equal(answer.status, 200, answer.text);
          return (JSON.parse(answer.text) as { data: { assets: Record<string, number> } }).data.assets['USD/2'] ?? 0;
        };
        assert.equal((await send(server.url, 'POST', `/wallets/${id}/credit`, USD(100), { 'idempotency-key': 'sync-first' })).status, 204);

        // 1. The standby stops: the COMMIT waits, past any statement timeout, and nothing shows.
        await cluster.stopStandby();
        let settled = false;
        const held = send(server.url, 'POST', `/wallets/${id}/credit`, USD(5), { 'idempotency-key': 'sync-held' }).finally(() => {
          settled = true;
        });
        await untilWaiting();
        await sleep(2_000);
        assert.equal(settled, false, 'the credit was answered while its commit waited for the standby');
        assert.equal((await waiting()).length > 0, true, 'the commit stopped waiting for the standby');
        assert.equal(await balance(), 100, 'a commit waiting for the standby is visible');
        await cluster.startStandby();
        const answered = await held;
        assert.equal(answered.status, 204, answered.text);
        assert.equal(await balance(), 105);

        // 2. A wait cancelled by hand: committed on the primary only, so not acknowledged —
        // a ledger write keyed or not, a keyed wallet creation, and a single-statement write
        // outside the committer (a webhook endpoint's creation) and an atomic bulk request.
        await cluster.stopStandby();
        const cancelled: [string, string, string, Record<string, string>][] = [
          ['keyed credit', `/wallets/${id}/credit`, USD(7), { 'idempotency-key': 'sync-cancelled' }],
          ['unkeyed credit', `/wallets/${id}/credit`, USD(11), {}],
          ['keyed wallet', '/wallets', '{"name":"sync-cancelled"}', { 'idempotency-key': 'sync-cancelled-wallet' }],
          ['keyed credit to a missing wallet (a 404 is an outcome too)', `/wallets/${MISSING}/credit`, USD(3), { 'idempotency-key': 'sync-cancelled-missing' }],
          ['webhook endpoint', '/webhooks', '{"url":"https://receiver.example/hooks"}', {}],
          [
            'atomic bulk',
            '/bulk',
            JSON.stringify({ atomic: true, operations: [{ action: 'CREDIT_WALLET', ik: 'sync-bulk-1', data: { walletID: id, amount: { asset: 'USD/2', amount: 13 } } }] }),
            {},
          ],
        ];
        for (const [what, path, body, headers] of cancelled) {
          const pending = send(server.url, 'POST', path, body, headers);
          await untilWaiting();
          for (const { pid } of await waiting()) await admin.query('SELECT pg_cancel_backend($1)', [pid]);
          const answer = await pending;
          assert.equal(answer.status, 503, `${what}: ${answer.text}`);
          const error = JSON.parse(answer.text) as { errorCode: string; errorMessage: string };
          assert.equal(error.errorCode, 'SERVICE_UNAVAILABLE');
          assert.match(error.errorMessage, /synchronous standby/);
        }
        // What a cancelled wait committed is on the primary at once (PostgreSQL's own rule),
        // though it was answered 503.
        assert.equal(await balance(), 100 + 5 + 7 + 11 + 13);

        // 3. Keyed retries while the standby is still away: a replay waits for the standby
        // like a write, or it would acknowledge what only the primary has. Each goes in a
        // batch of its own (BATCH_CONCURRENCY=4), and the first locks no row but its key's (a
        // 404's replay); the wallet's and the credit's also lock the wallet's rows. Among them an
        // atomic bulk request that replays the credit and is rolled back (its debit refused):
        // its transaction commits nothing, so it is answered only once a commit has waited.
        const retry = (path: string, body: string, headers: Record<string, string>) => {
          const sent = send(server.url, 'POST', path, body, headers);
          sent.then(
            () => retriesSettled++,
            () => retriesSettled++,
          );
          return sent;
        };
        watchingRetries = true;
        const missingRetry = retry(`/wallets/${MISSING}/credit`, USD(3), { 'idempotency-key': 'sync-cancelled-missing' });
        await untilWaiting(1);
        const walletRetry = retry('/wallets', '{"name":"sync-cancelled"}', { 'idempotency-key': 'sync-cancelled-wallet' });
        await untilWaiting(2);
        const refusedBulk = retry(
          '/bulk',
          JSON.stringify({
            atomic: true,
            operations: [
              { action: 'CREDIT_WALLET', ik: 'sync-cancelled', data: { walletID: id, amount: { asset: 'USD/2', amount: 7 } } },
              { action: 'DEBIT_WALLET', data: { walletID: id, amount: { asset: 'USD/2', amount: 1_000_000 } } },
            ],
          }),
          {},
        );
        await untilWaiting(3);
        // After the bulk request: a waiting credit keeps its balance rows locked.
        const creditRetry = retry(`/wallets/${id}/credit`, USD(7), { 'idempotency-key': 'sync-cancelled' });
        await untilWaiting(4);
        await sleep(1_000);
        assert.equal(retriesSettled, 0, 'a keyed replay was answered before the standby held what it replays');
        watchingRetries = false;
        await cluster.startStandby();
        const [missing, credit, wallet, bulk] = await Promise.all([missingRetry, creditRetry, walletRetry, refusedBulk]);
        assert.equal(missing!.status, 404, missing!.text);
        assert.equal(missing!.replayed, true);
        assert.equal(credit!.status, 204, credit!.text);
        assert.equal(credit!.replayed, true);
        assert.equal(wallet!.status, 201, wallet!.text);
        assert.equal(wallet!.replayed, true);
        assert.equal(bulk!.status, 200, bulk!.text);
        const items = (JSON.parse(bulk!.text) as { data: { status: number; errorCode?: string }[] }).data;
        assert.deepEqual(
          items.map((item) => [item.status, item.errorCode]),
          [
            [204, undefined],
            [400, 'INSUFFICIENT_FUND'],
          ],
        );
        // Each credit moved money once.
        assert.equal(await balance(), 100 + 5 + 7 + 11 + 13);

        // 4. The webhook loop: a fan-out that leased a delivery of an event only the primary
        // has (its credit's wait cancelled) and whose own wait is cancelled too sends nothing.
        const endpoint = await send(server.url, 'POST', '/webhooks', JSON.stringify({ url: receiver.url }));
        assert.equal(endpoint.status, 201, endpoint.text);
        await cluster.stopStandby();
        const unacknowledged = send(server.url, 'POST', `/wallets/${id}/credit`, USD(17));
        await untilWaiting(1);
        for (const { pid } of await waiting()) await admin.query('SELECT pg_cancel_backend($1)', [pid]);
        assert.equal((await unacknowledged).status, 503);
        const fanOutDeadline = Date.now() + 30_000;
        let fanOut: { pid: number }[] = [];
        while ((fanOut = await waiting('coffer-background')).length === 0) {
          assert.ok(Date.now() < fanOutDeadline, 'no fan-out came to wait for the standby');
          await sleep(25);
        }
        for (const { pid } of fanOut) await admin.query('SELECT pg_cancel_backend($1)', [pid]);
        await sleep(1_500);
        assert.deepEqual(receiver.received, [], 'a delivery was sent of a fan-out whose commit the standby may lack');
        await cluster.startStandby();
      } finally {
        await server.kill('SIGTERM');
        receiver.server.close();
        await admin.end();
        await cluster.destroy();
      }
    });
  });
} else {
  postgresSkipped('a silent synchronous standby [postgres, a primary and a synchronous standby]');
}
