/**
 * The typed client (`coffer/client`; its sources here, test/package.test.ts imports the built package by name): every
 * route over a real socket on both backends, amounts as exact bigint both ways, typed
 * errors, and retries that reuse one Idempotency-Key so a lost answer never moves money
 * twice — proven through a proxy that drops answers and fails on purpose.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { z } from 'zod';
import { all, Coffer, CofferConnectionError, CofferError, type BalanceWithAssets, type ErrorCode, type ExpandedHold, type Hold, type Summary, type Transaction, type Wallet } from '../src/client/index.ts';
import type { ErrorCode as CatalogCode } from '../src/domain/errors.ts';
import type { OPERATIONS, OperationId } from '../src/http/operations.ts';
import type { balanceWithAssetsResponse, expandedHoldResponse, holdResponse, summaryResponse, transactionResponse, walletResponse } from '../src/http/response-schemas.ts';
import { backends, startHarness, suite, type Harness } from './support/harness.ts';
import { freePort } from './support/server-process.ts';

// The client's types are the server's response schemas, field for field (a typecheck failure otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const typesMatch: [
  Same<Wallet, z.output<typeof walletResponse>>,
  Same<BalanceWithAssets, z.output<typeof balanceWithAssetsResponse>>,
  Same<Hold, z.output<typeof holdResponse>>,
  Same<ExpandedHold, z.output<typeof expandedHoldResponse>>,
  Same<Summary, z.output<typeof summaryResponse>>,
  Same<Transaction, z.output<typeof transactionResponse>>,
  Same<ErrorCode, CatalogCode>,
] = [true, true, true, true, true, true, true];

/** Every API operation has its client method; a new route without one fails the typecheck. */
type ApiOperation = { [Id in OperationId]: (typeof OPERATIONS)[Id]['mount'] extends 'api' ? Id : never }[OperationId];
const CLIENT_METHODS: Record<ApiOperation, keyof Coffer> = {
  getServerInfo: 'info',
  getHealth: 'health',
  listWallets: 'listWallets',
  createWallet: 'createWallet',
  getWallet: 'getWallet',
  updateWallet: 'updateWallet',
  getWalletSummary: 'walletSummary',
  listBalances: 'listBalances',
  createBalance: 'createBalance',
  getBalance: 'getBalance',
  updateBalance: 'updateBalance',
  debitWallet: 'debit',
  creditWallet: 'credit',
  bulk: 'bulk',
  getHolds: 'listHolds',
  getHold: 'getHold',
  updateHold: 'updateHold',
  confirmHold: 'confirmHold',
  voidHold: 'voidHold',
  getTransactions: 'listTransactions',
  getEvents: 'listEvents',
  createWebhook: 'createWebhook',
  listWebhooks: 'listWebhooks',
  getWebhook: 'getWebhook',
  updateWebhook: 'updateWebhook',
  deleteWebhook: 'deleteWebhook',
  rotateWebhookSecret: 'rotateWebhookSecret',
  testWebhook: 'testWebhook',
  listWebhookAttempts: 'listWebhookAttempts',
  replayWebhook: 'replayWebhook',
};

const U128_MAX = (1n << 128n) - 1n;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function listen(h: Harness): Promise<string> {
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const address = h.app.server.address();
  assert.ok(address && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

async function rejectsWith(promise: Promise<unknown>, status: number, errorCode: string): Promise<CofferError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CofferError, `expected a CofferError, got ${String(caught)}`);
  assert.equal(caught.errorCode, errorCode, caught.message);
  assert.equal(caught.status, status);
  return caught;
}

suite('client', (h) => {
  let coffer: Coffer;
  before(async () => {
    coffer = new Coffer({ url: await listen(h()) });
  });

  it('every route: wallets, balances, credit, debit, holds, summary, transactions, info, health — amounts exact beyond 2^53', async () => {
    assert.ok(typesMatch.every(Boolean));
    for (const method of Object.values(CLIENT_METHODS)) assert.equal(typeof coffer[method], 'function', method);
    const wallet = await coffer.createWallet({ name: 'client', metadata: { team: 'a' } });
    assert.equal(wallet.name, 'client');
    assert.deepEqual(wallet.balances.main, { expiresAt: null, priority: 0n, assets: {} });
    await coffer.updateWallet(wallet.id, { tier: 'gold' });
    assert.deepEqual((await coffer.getWallet(wallet.id)).metadata, { team: 'a', tier: 'gold' });
    assert.deepEqual((await coffer.listWallets({ metadata: { tier: 'gold' } })).data.map((w) => w.id), [wallet.id]);
    assert.deepEqual((await coffer.listWallets({ name: 'client', expand: 'balances' })).data.map((w) => w.id), [wallet.id]);

    const promo = await coffer.createBalance(wallet.id, { name: 'promo', expiresAt: new Date('2999-01-01T00:00:00Z'), priority: 1n });
    assert.deepEqual(promo, { name: 'promo', expiresAt: '2999-01-01T00:00:00Z', priority: 1n });
    assert.deepEqual((await coffer.listBalances(wallet.id)).data.map((b) => b.name), ['main', 'promo']);

    await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: U128_MAX } });
    await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 500n }, balance: 'promo', metadata: { why: 'welcome' } });
    assert.equal((await coffer.getWallet(wallet.id)).balances.main.assets['USD/2'], U128_MAX);
    assert.equal((await coffer.getBalance(wallet.id, 'promo')).assets['USD/2'], 500n);

    assert.equal(await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 2n ** 100n } }), undefined);
    const hold = await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 600n }, pending: true, balances: ['*'], description: 'ride' });
    assert.equal(hold.walletID, wallet.id);
    assert.deepEqual(hold.destination, { type: 'ACCOUNT', identifier: 'world' });
    const held = await coffer.getHold(hold.id);
    assert.equal(held.originalAmount, 600n);
    assert.equal(held.remaining, 600n);
    await coffer.confirmHold(hold.id, { amount: 100n });
    assert.equal((await coffer.getHold(hold.id)).remaining, 500n);
    await coffer.voidHold(hold.id);
    assert.equal((await coffer.getHold(hold.id)).remaining, 0n);
    assert.deepEqual((await coffer.listHolds({ walletID: wallet.id })).data.map((x) => x.id), [hold.id]);

    const summary = await coffer.walletSummary(wallet.id);
    assert.equal(summary.availableFunds['USD/2'], U128_MAX + 500n - 2n ** 100n - 100n);
    assert.deepEqual(summary.holdFunds, { 'USD/2': 0n });

    const transactions = await coffer.listTransactions({ walletID: wallet.id, pageSize: 2 });
    assert.equal(transactions.pageSize, 2);
    assert.equal(transactions.hasMore, true);
    assert.equal(typeof transactions.data[0]!.id, 'bigint');
    assert.ok(transactions.next);
    const everything: bigint[] = [];
    for await (const transaction of all((query) => coffer.listTransactions(query), { walletID: wallet.id, pageSize: 2 })) everything.push(transaction.id);
    assert.equal(everything.length, 6, 'credit, credit, debit, hold, confirm, void');
    assert.deepEqual([...everything].sort((a, b) => (a < b ? 1 : -1)), everything, 'newest first');
    assert.equal(everything.reduce((sum) => sum + 1, 0), new Set(everything).size);
    const [credit] = (await coffer.listTransactions({ walletID: wallet.id, pageSize: 100 })).data.slice(-1);
    assert.equal(credit!.postings[0]!.amount, U128_MAX);

    assert.match((await coffer.info()).version, /^\d+\.\d+\.\d+/);
    await coffer.health();
  });

  it('errors are CofferError with the errorCode, status and request id of the answer', async () => {
    const wallet = await coffer.createWallet();
    const missing = await rejectsWith(coffer.getWallet('missing'), 404, 'NOT_FOUND');
    assert.ok(missing.requestId);
    await rejectsWith(coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 1n } }), 400, 'INSUFFICIENT_FUND');
    await rejectsWith(coffer.credit(wallet.id, { amount: { asset: 'usd', amount: 1n } }), 400, 'VALIDATION');
    await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 5n } });
    const hold = await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 5n }, pending: true });
    await coffer.voidHold(hold.id);
    await rejectsWith(coffer.confirmHold(hold.id), 400, 'HOLD_CLOSED');
    await coffer.createWallet({ name: 'one' }, { idempotencyKey: 'client-conflict' });
    await rejectsWith(coffer.createWallet({ name: 'two' }, { idempotencyKey: 'client-conflict' }), 409, 'CONFLICT');
  });

  it('an explicit idempotencyKey replays: the same wallet, one wallet', async () => {
    const first = await coffer.createWallet({ name: 'keyed' }, { idempotencyKey: 'client-keyed' });
    const second = await coffer.createWallet({ name: 'keyed' }, { idempotencyKey: 'client-keyed' });
    assert.deepEqual(second, first);
    assert.equal((await coffer.listWallets({ name: 'keyed' })).data.length, 1);
  });

  it('events(): a filtered follower asks for each next page with the previous page\'s cursor, so it moves past the events its filter leaves out', async () => {
    const wallet = await coffer.createWallet({});
    let start = 0n;
    for await (const event of all((query) => coffer.listEvents(query), { pageSize: 100 })) start = event.position;
    for (let i = 0; i < 5; i++) await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 1n } });
    const asked: Parameters<Coffer['listEvents']>[0][] = [];
    const follower = new Coffer({ url: coffer.url });
    const listEvents = follower.listEvents.bind(follower);
    let hold: Hold | undefined;
    follower.listEvents = async (query, options) => {
      asked.push(query);
      const page = await listEvents(query, options);
      // After the first (empty) page, the one event the follower wants commits.
      if (asked.length === 1) {
        hold = await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 1n }, pending: true });
      }
      return page;
    };
    const stop = new AbortController();
    const events = follower.events({ type: 'hold.created', after: start, wait: 1 }, { signal: stop.signal });
    const first = await events.next();
    stop.abort();
    await events.return(undefined);
    assert.equal(first.done, false);
    assert.equal(first.value?.type, 'hold.created');
    assert.equal((first.value?.data as { hold: { id: string } }).hold.id, hold?.id);
    assert.equal(asked.length, 2);
    assert.deepEqual(asked[0], { type: 'hold.created', after: start, wait: 1 });
    assert.equal(typeof asked[1]?.cursor, 'string', 'the second page is asked for with the first page\'s next');
    assert.equal(asked[1]?.after, undefined);
  });
});

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * A proxy in front of Coffer that misbehaves on purpose: `plan(seen)` decides, per request,
 * to forward it, to forward it and then drop the answer (a lost response), or to answer a
 * status itself without forwarding.
 */
async function flakyProxy(upstream: string, plan: (seen: Seen, count: number) => 'forward' | 'lose-answer' | number): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const target = new URL(upstream);
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const entry = { method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers };
      seen.push(entry);
      const action = plan(entry, seen.length);
      if (typeof action === 'number') {
        outgoing.writeHead(action, { 'content-type': 'application/json', 'retry-after': '0' });
        outgoing.end(JSON.stringify({ errorCode: action === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR', errorMessage: `proxy says ${action}` }));
        return;
      }
      const forward = httpRequest(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            if (action === 'lose-answer') {
              incoming.socket.destroy();
              return;
            }
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            outgoing.end(Buffer.concat(body));
          });
        },
      );
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('client: retries', () => {
  let h: Harness;
  let upstream: string;
  before(async () => {
    h = await startHarness(backends()[0]!);
    upstream = await listen(h);
  });
  after(async () => {
    await h.checkInvariants();
    await h.close();
  });

  it('a lost answer: the retry carries the same generated UUIDv7 key, is replayed, and the money moves once', async () => {
    const direct = new Coffer({ url: upstream });
    const wallet = await direct.createWallet();
    const proxy = await flakyProxy(upstream, (_seen, count) => (count === 1 ? 'lose-answer' : 'forward'));
    try {
      const client = new Coffer({ url: proxy.url, retryDelayMs: 1 });
      await client.credit(wallet.id, { amount: { asset: 'USD/2', amount: 700n } });
      assert.equal(proxy.seen.length, 2);
      const [first, second] = proxy.seen.map((seen) => seen.headers['idempotency-key']);
      assert.match(String(first), UUID_V7);
      assert.equal(second, first);
      assert.equal(proxy.seen[0]!.headers['x-request-id'], proxy.seen[1]!.headers['x-request-id'], 'one request id for a call and its retries');
      assert.equal((await direct.getWallet(wallet.id)).balances.main.assets['USD/2'], 700n, 'credited once');
      // A second call is a new operation with a new key.
      await client.credit(wallet.id, { amount: { asset: 'USD/2', amount: 1n } });
      assert.notEqual(proxy.seen[2]!.headers['idempotency-key'], first);
    } finally {
      await proxy.close();
    }
  });

  it('a lost pending debit: retried with the caller\'s key, the one hold comes back', async () => {
    const direct = new Coffer({ url: upstream });
    const wallet = await direct.createWallet();
    await direct.credit(wallet.id, { amount: { asset: 'USD/2', amount: 100n } });
    const proxy = await flakyProxy(upstream, (_seen, count) => (count === 1 ? 'lose-answer' : 'forward'));
    try {
      const hold = await new Coffer({ url: proxy.url, retryDelayMs: 1 }).debit(wallet.id, { amount: { asset: 'USD/2', amount: 60n }, pending: true }, { idempotencyKey: 'ride-42' });
      assert.deepEqual(proxy.seen.map((seen) => seen.headers['idempotency-key']), ['ride-42', 'ride-42']);
      assert.deepEqual((await direct.listHolds({ walletID: wallet.id })).data.map((x) => x.id), [hold.id]);
      assert.equal((await direct.getWallet(wallet.id)).balances.main.assets['USD/2'], 40n);
    } finally {
      await proxy.close();
    }
  });

  it('429, 502, 503 and 504 are retried with the same key; 500 is not; retries are bounded', async () => {
    const direct = new Coffer({ url: upstream });
    const wallet = await direct.createWallet();
    const failing = [429, 502, 503, 504];
    const proxy = await flakyProxy(upstream, (_seen, count) => failing[count - 1] ?? 'forward');
    try {
      await new Coffer({ url: proxy.url, retries: 4, retryDelayMs: 1 }).credit(wallet.id, { amount: { asset: 'USD/2', amount: 9n } });
      assert.equal(proxy.seen.length, 5);
      assert.equal(new Set(proxy.seen.map((seen) => seen.headers['idempotency-key'])).size, 1);
      assert.equal((await direct.getWallet(wallet.id)).balances.main.assets['USD/2'], 9n);
    } finally {
      await proxy.close();
    }

    const broken = await flakyProxy(upstream, () => 500);
    try {
      await rejectsWith(new Coffer({ url: broken.url, retryDelayMs: 1 }).getWallet(wallet.id), 500, 'INTERNAL_ERROR');
      assert.equal(broken.seen.length, 1, 'a 500 is not retried');
    } finally {
      await broken.close();
    }

    const down = await flakyProxy(upstream, () => 503);
    try {
      await rejectsWith(new Coffer({ url: down.url, retries: 2, retryDelayMs: 1 }).getWallet(wallet.id), 503, 'SERVICE_UNAVAILABLE');
      assert.equal(down.seen.length, 3, 'first attempt and two retries');
    } finally {
      await down.close();
    }
  });

  it('no server: CofferConnectionError after the retries, naming the cause', async () => {
    const port = await freePort();
    const client = new Coffer({ url: `http://127.0.0.1:${port}`, retries: 2, retryDelayMs: 1 });
    await assert.rejects(client.listWallets(), (error: unknown) => {
      assert.ok(error instanceof CofferConnectionError);
      assert.equal(error.attempts, 3);
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  });

  it('an answer slower than timeoutMs is abandoned and retried, then reported', async () => {
    const slow = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const address = slow.address();
    assert.ok(address && typeof address === 'object');
    try {
      const client = new Coffer({ url: `http://127.0.0.1:${address.port}`, retries: 1, retryDelayMs: 1, timeoutMs: 100 });
      await assert.rejects(client.info(), (error: unknown) => error instanceof CofferConnectionError && error.attempts === 2 && /timed out|aborted/i.test(error.message));
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
