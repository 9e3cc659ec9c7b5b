/**
 * POST /bulk: every operation answers exactly what its single route answers.
 *
 * The parity property runs one random sequence of operations twice, on two fresh apps with
 * the same fixed clock (so ids derived from the same keys and every timestamp are equal):
 * on A one single-route request at a time, on B as one bulk request. Atomic: if every answer
 * on A is a success, B's items are A's answers byte for byte and the wallets end up equal;
 * if some is a refusal, B's refused items are A's refusals, every other item is 424
 * ROLLED_BACK, and B's database is exactly as before. Not atomic (wallets funded beyond
 * what the run can spend, so no outcome depends on the order of money moves): B's items are
 * A's answers and the wallets end equal. Then the keys, limits and shapes around it.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { applyContext } from '../src/committer/ids.ts';
import type { Instant } from '../src/domain/time.ts';
import { bulkItemResponse } from '../src/http/response-schemas.ts';
import { backends, expectError, expectStatus, json, postgresSkipped, startHarness, type Harness, type Response } from './support/harness.ts';

/** 2027-01-15T08:00:00Z: both apps' clock, so two runs of one sequence write the same timestamps. */
const NOW: Instant = 1_800_000_000_000_000n;
const RUNS = Number(process.env.FC_RUNS ?? 20);
const usd = (amount: bigint) => ({ asset: 'USD/2', amount });

interface Op {
  readonly action: string;
  readonly ik?: string;
  readonly data: Record<string, unknown>;
}

/** The single request an operation stands for: method, path and body. */
function singleRequest(op: Op): { method: 'POST' | 'PATCH'; url: string; body: Record<string, unknown> } {
  const { walletID, holdID, ...body } = op.data;
  switch (op.action) {
    case 'CREATE_WALLET':
      return { method: 'POST', url: '/wallets', body };
    case 'UPDATE_WALLET':
      return { method: 'PATCH', url: `/wallets/${walletID}`, body };
    case 'CREATE_BALANCE':
      return { method: 'POST', url: `/wallets/${walletID}/balances`, body };
    case 'CREDIT_WALLET':
      return { method: 'POST', url: `/wallets/${walletID}/credit`, body };
    case 'DEBIT_WALLET':
      return { method: 'POST', url: `/wallets/${walletID}/debit`, body };
    case 'CONFIRM_HOLD':
      return { method: 'POST', url: `/holds/${holdID}/confirm`, body };
    case 'VOID_HOLD':
      return { method: 'POST', url: `/holds/${holdID}/void`, body };
  }
  throw new Error(`unknown action ${op.action}`);
}

/** A single route's answer as a bulk item's JSON text: action, status, then the body's fields. */
function asItem(action: string, response: Response): string {
  const head = `{"action":${JSON.stringify(action)},"status":${response.status}`;
  return response.text === '' ? `${head}}` : `${head},${response.text.slice(1)}`;
}

/** The bulk answer's items, each as its JSON text (split on the top level of the array). */
function itemTexts(response: Response): string[] {
  expectStatus(response, 200);
  return (response.body.data as unknown[]).map((item) => json(item));
}

function holdOf(key: string): string {
  return applyContext(key, NOW).newId('hold');
}

function walletOf(key: string): string {
  return applyContext(key, NOW).newId('wallet');
}

/** Random operations over three wallets of the run and the holds its pending debits make. */
function operations(run: string, moneyRich: boolean, lengthMax: number): fc.Arbitrary<Op[]> {
  const wallet = fc.integer({ min: 0, max: 2 }).map((i) => walletOf(`${run}-w${i}`));
  const amount = fc.bigInt({ min: 0n, max: moneyRich ? 50n : 120n });
  const hold = fc.integer({ min: 0, max: lengthMax - 1 }).map((i) => holdOf(`${run}-op${i}`));
  const op = fc.oneof(
    { weight: 1, arbitrary: fc.record({ action: fc.constant('CREATE_WALLET'), data: fc.record({ name: fc.constantFrom('a', 'b') }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        action: fc.constant('UPDATE_WALLET'),
        data: fc.oneof(
          fc.record({ walletID: wallet, status: fc.constantFrom('frozen', 'active', 'active', 'closed') }),
          fc.record({ walletID: wallet, metadata: fc.constant({ tier: 'gold' }) }),
        ),
      }),
    },
    { weight: 1, arbitrary: fc.record({ action: fc.constant('CREATE_BALANCE'), data: fc.record({ walletID: wallet, name: fc.constantFrom('promo', 'gift'), priority: fc.bigInt({ min: 0n, max: 3n }) }) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        action: fc.constant('CREDIT_WALLET'),
        data: fc.oneof(
          fc.record({ walletID: wallet, amount: amount.map(usd) }),
          fc.record({ walletID: wallet, amount: amount.map(usd), balance: fc.constantFrom('promo', 'gift') }),
          fc.record({ walletID: wallet, amount: amount.map(usd), sources: wallet.map((identifier) => [{ type: 'WALLET', identifier }]) }),
        ),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        action: fc.constant('DEBIT_WALLET'),
        data: fc.record({
          walletID: wallet,
          amount: amount.map(usd),
          pending: fc.boolean(),
          balances: fc.constantFrom(['main'], ['*'], ['promo', 'main']),
        }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ action: fc.constant('CONFIRM_HOLD'), data: fc.oneof(fc.record({ holdID: hold }), fc.record({ holdID: hold, amount: fc.bigInt({ min: 1n, max: 30n }), final: fc.boolean() })) }) },
    { weight: 1, arbitrary: fc.record({ action: fc.constant('VOID_HOLD'), data: fc.record({ holdID: hold }) }) },
  );
  // Every operation has its own key, so the holds it makes have ids the later ones can name.
  return fc.array(op, { minLength: 1, maxLength: lengthMax }).map((ops) => ops.map((o, i) => ({ ...o, ik: `${run}-op${i}` })));
}

/** The run's three wallets on one app, each funded with `funds` (keys derived from the run, so both apps name the same ids). */
async function setUp(h: Harness, run: string, funds: bigint): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = expectStatus(await h.post('/wallets', { name: `w${i}` }, { 'idempotency-key': `${run}-w${i}` }), 201).body.data.id as string;
    if (funds > 0n) expectStatus(await h.post(`/wallets/${id}/credit`, { amount: usd(funds) }, { 'idempotency-key': `${run}-f${i}` }), 204);
    ids.push(id);
  }
  return ids;
}

async function summaries(h: Harness, ids: readonly string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await h.get(`/wallets/${id}/summary`)).text));
}

/** Everything a bulk request could change, counted and summed. */
async function databaseState(h: Harness): Promise<string> {
  const rows = await h.db.query(`SELECT
      (SELECT count(*) FROM wallets) AS wallets, (SELECT count(*) FROM balances) AS balances, (SELECT count(*) FROM holds) AS holds,
      (SELECT count(*) FROM transactions) AS transactions, (SELECT count(*) FROM idempotency_keys) AS keys,
      (SELECT coalesce(sum(input), 0)::text || '/' || coalesce(sum(output), 0)::text FROM volumes) AS volumes,
      (SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM wallets) AS statuses`);
  return json(rows[0]);
}

/** A request on a fresh socket that sent its headers (announcing `length` bytes of body) and `body`, and waits. */
function openRequest(port: number, path: string, length: number, body: string): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${length}\r\n\r\n${body}`);
  return socket;
}

/** The answer a socket of `openRequest` receives, once the server closed it. */
function answerOf(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

/**
 * Requests of `openRequest` that hold slots: resolves once the server has received each of
 * them (with auth off, a request's onRequest hooks, and so its slot, run within the turn it
 * arrives in). Nothing may probe the slots meanwhile: a probe is a bulk request too, and one in
 * flight when a holder arrives takes the slot meant for it. The holder is then refused and
 * closed, and the probes, a slot short, never see the cap (seen on Node 24 under load).
 */
async function openHolders(h: Harness, port: number, specs: readonly (readonly [path: string, length: number, body: string])[]): Promise<Socket[]> {
  const server = h.app.server;
  let seen = 0;
  let arrived!: () => void;
  const all = new Promise<void>((resolve) => (arrived = resolve));
  const onRequest = () => {
    seen += 1;
    if (seen === specs.length) arrived();
  };
  server.on('request', onRequest);
  let timer: NodeJS.Timeout | undefined;
  try {
    const sockets = specs.map(([path, length, body]) => openRequest(port, path, length, body));
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${seen} of ${specs.length} holders reached the server`)), 30_000)));
    await Promise.race([all, late]);
    await new Promise((resolve) => setImmediate(resolve));
    return sockets;
  } finally {
    clearTimeout(timer);
    server.off('request', onRequest);
  }
}

/** Polls with a bulk request that fails validation (and so changes nothing) until it is `status`: the slots' state is reached. */
async function untilBulk(h: Harness, status: number, what: string): Promise<void> {
  const deadline = Date.now() + 30_000; // only how soon a real failure is reported: a slow machine may take seconds
  for (;;) {
    const response = await h.post('/bulk', { operations: [] });
    if (response.status === status) return;
    assert.ok(Date.now() < deadline, `${what}: still ${response.status} ${response.text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every slot taken: a bulk request is refused. */
const untilRefused = (h: Harness) => untilBulk(h, 429, 'the slots were never all taken');
/** A slot free: a bulk request is served (its 400 VALIDATION). */
const untilServed = (h: Harness) => untilBulk(h, 400, 'a slot was never given back');

for (const backend of backends()) {
  describe(`bulk [${backend.name}]`, () => {
    let a: Harness;
    let b: Harness;
    let runs = 0;
    before(async () => {
      a = await startHarness(backend, 'test-ledger', { clock: () => NOW });
      b = await startHarness(backend, 'test-ledger', { clock: () => NOW });
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it('atomic: the items are the single routes\' answers; one refusal rolls everything back (424 ROLLED_BACK), the database unchanged', async () => {
      let committed = 0;
      let rolledBack = 0;
      const property = fc.asyncProperty(fc.nat(), fc.bigInt({ min: 0n, max: 400n }), async (seed, funds) => {
        const run = `atomic-${runs++}`;
        const ops = fc.sample(operations(run, false, 6), { seed, numRuns: 1 })[0]!;
        const ids = await setUp(a, run, funds);
        await setUp(b, run, funds);
        const single: Response[] = [];
        for (const op of ops) {
          const request = singleRequest(op);
          single.push(await a.call({ method: request.method, url: request.url, body: request.body, headers: { 'idempotency-key': op.ik! } }));
        }
        const before = await databaseState(b);
        const items = itemTexts(await b.post('/bulk', { atomic: true, operations: ops }));
        const expected = single.map((response, i) => asItem(ops[i]!.action, response));
        const refused = single.findIndex((response) => response.status >= 400);
        if (refused < 0) {
          committed++;
          assert.deepEqual(items, expected);
          assert.deepEqual(await summaries(b, ids), await summaries(a, ids));
        } else {
          rolledBack++;
          items.forEach((item, i) => {
            if (single[i]!.status >= 400) assert.equal(item, expected[i], `operation ${i}`);
            else assert.equal(item, `{"action":"${ops[i]!.action}","status":424,"errorCode":"ROLLED_BACK","errorMessage":"not applied: the request is atomic and operation ${refused} was refused"}`);
          });
          assert.equal(await databaseState(b), before, 'nothing of a rolled-back request remains');
        }
      });
      await fc.assert(property, { numRuns: RUNS });
      // Most random requests of six operations hold a refusal, so RUNS runs can all roll back
      // (seen once in CI): more rounds of runs, up to five, until both outcomes were checked.
      for (let round = 0; round < 5 && (committed === 0 || rolledBack === 0); round++) await fc.assert(property, { numRuns: RUNS });
      assert.ok(committed > 0 && rolledBack > 0, `both outcomes seen (committed ${committed}, rolled back ${rolledBack})`);
      await a.checkInvariants();
      await b.checkInvariants();
    });

    it('not atomic: each item is the single route\'s answer, and the wallets end as the single routes left them', async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat(), async (seed) => {
          const run = `each-${runs++}`;
          const ops = fc.sample(operations(run, true, 20), { seed, numRuns: 1 })[0]!;
          const ids = await setUp(a, run, 1_000_000n);
          await setUp(b, run, 1_000_000n);
          const single: Response[] = [];
          for (const op of ops) {
            const request = singleRequest(op);
            single.push(await a.call({ method: request.method, url: request.url, body: request.body, headers: { 'idempotency-key': op.ik! } }));
          }
          const items = itemTexts(await b.post('/bulk', { atomic: false, operations: ops }));
          assert.deepEqual(items, single.map((response, i) => asItem(ops[i]!.action, response)));
          assert.deepEqual(await summaries(b, ids), await summaries(a, ids));
        }),
        { numRuns: RUNS },
      );
      await a.checkInvariants();
      await b.checkInvariants();
    });

    it('an operation sees what an earlier one of the request created: create, credit, pending debit, confirm — both modes', async () => {
      for (const atomic of [true, false]) {
        const run = `chain-${atomic}`;
        const wallet = walletOf(`${run}-create`);
        const hold = holdOf(`${run}-hold`);
        const items = expectStatus(
          await b.post('/bulk', {
            atomic,
            operations: [
              { action: 'CREATE_WALLET', ik: `${run}-create`, data: { name: 'payroll' } },
              { action: 'CREATE_BALANCE', data: { walletID: wallet, name: 'promo' } },
              { action: 'CREDIT_WALLET', data: { walletID: wallet, amount: usd(100n), balance: 'promo' } },
              { action: 'DEBIT_WALLET', ik: `${run}-hold`, data: { walletID: wallet, amount: usd(60n), pending: true, balances: ['promo'] } },
              { action: 'CONFIRM_HOLD', data: { holdID: hold, amount: 10n } },
              { action: 'VOID_HOLD', data: { holdID: hold } },
              { action: 'UPDATE_WALLET', data: { walletID: wallet, status: 'frozen' } },
              { action: 'DEBIT_WALLET', data: { walletID: wallet, amount: usd(1n), balances: ['promo'] } },
            ],
          }),
          200,
        ).body.data as { status: number; errorCode?: string; data?: { id: string } }[];
        assert.deepEqual(items.map((item) => Number(item.status)), atomic ? [424, 424, 424, 424, 424, 424, 424, 400] : [201, 201, 204, 201, 204, 204, 204, 400]);
        if (!atomic) {
          assert.equal(items[0]!.data!.id, wallet);
          assert.equal(items[3]!.data!.id, hold);
          assert.equal(items[7]!.errorCode, 'WALLET_FROZEN');
          const promo = expectStatus(await b.get(`/wallets/${wallet}/balances/promo`), 200).body.data;
          assert.equal(promo.assets['USD/2'], 90n);
        } else {
          assert.equal(items[7]!.errorCode, 'WALLET_FROZEN');
          expectError(await b.get(`/wallets/${wallet}`), 404, 'NOT_FOUND');
        }
      }
    });

    it('ik: replays the stored answer, also one a single route stored; a different request under it is 409 in its item', async () => {
      const wallet = await setUp(b, 'ik', 100n);
      const w = wallet[0]!;
      const hold = expectStatus(await b.post(`/wallets/${w}/debit`, { amount: usd(10n), pending: true }, { 'idempotency-key': 'ik-single' }), 201).text;
      const ops = [
        { action: 'DEBIT_WALLET', ik: 'ik-single', data: { walletID: w, amount: usd(10n), pending: true } },
        { action: 'DEBIT_WALLET', ik: 'ik-bulk', data: { walletID: w, amount: usd(5n) } },
      ];
      const first = itemTexts(await b.post('/bulk', { operations: ops }));
      assert.equal(first[0], `{"action":"DEBIT_WALLET","status":201,${hold.slice(1)}`, 'the single route\'s stored answer');
      assert.equal(first[1], '{"action":"DEBIT_WALLET","status":204}');
      assert.deepEqual(itemTexts(await b.post('/bulk', { atomic: true, operations: ops })), first, 'replayed, atomic or not');
      const changed = itemTexts(await b.post('/bulk', { operations: [{ ...ops[1]!, data: { walletID: w, amount: usd(6n) } }] }));
      assert.match(changed[0]!, /^\{"action":"DEBIT_WALLET","status":409,"errorCode":"CONFLICT","errorMessage":"Idempotency-Key \\"ik-bulk\\" was already used/);
      expectError(await b.post(`/wallets/${w}/debit`, { amount: usd(7n) }, { 'idempotency-key': 'ik-bulk' }), 409, 'CONFLICT');
      assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 85n, 'each debit applied once');
    });

    it('atomic, rolled back: an item its ik replays was applied before, so it answers its stored answer, not ROLLED_BACK', async () => {
      const [w] = await setUp(b, 'replay-rollback', 100n);
      const hold = expectStatus(await b.post(`/wallets/${w}/debit`, { amount: usd(10n), pending: true }, { 'idempotency-key': 'replay-rollback-single' }), 201).text;
      const ops = [
        { action: 'DEBIT_WALLET', ik: 'replay-rollback-single', data: { walletID: w, amount: usd(10n), pending: true } },
        { action: 'DEBIT_WALLET', ik: 'replay-rollback-new', data: { walletID: w, amount: usd(1n) } },
        { action: 'DEBIT_WALLET', ik: 'replay-rollback-too-much', data: { walletID: w, amount: usd(1000n) } },
      ];
      const items = itemTexts(await b.post('/bulk', { atomic: true, operations: ops }));
      assert.equal(items[0], `{"action":"DEBIT_WALLET","status":201,${hold.slice(1)}`, 'the replay: it was applied, by the single route');
      assert.equal(items[1], '{"action":"DEBIT_WALLET","status":424,"errorCode":"ROLLED_BACK","errorMessage":"not applied: the request is atomic and operation 2 was refused"}');
      assert.match(items[2]!, /^\{"action":"DEBIT_WALLET","status":400,"errorCode":"INSUFFICIENT_FUND"/);
      assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 90n, 'only the single debit applied');
    });

    it("the request's Idempotency-Key replays the whole answer (header set); another request under it is 409; both modes", async () => {
      for (const atomic of [true, false]) {
        const [w] = await setUp(b, `rk-${atomic}`, 100n);
        const request = {
          atomic,
          operations: [
            { action: 'CREATE_WALLET', data: { name: 'x' } },
            { action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(30n), pending: true } },
            { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(1n) } },
          ],
        };
        const key = { 'idempotency-key': `rk-${atomic}` };
        const first = expectStatus(await b.post('/bulk', request, key), 200);
        assert.equal(first.headers['idempotent-replayed'], undefined);
        const again = expectStatus(await b.post('/bulk', request, key), 200);
        assert.equal(again.text, first.text, 'the same bytes: the same wallet and hold, not new ones');
        assert.equal(again.headers['idempotent-replayed'], 'true');
        assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 71n, 'applied once');
        expectError(await b.post('/bulk', { ...request, operations: request.operations.slice(1) }, key), 409, 'CONFLICT');
        expectError(await b.post('/bulk', request, { 'idempotency-key': 'bad\u0001' }), 400, 'VALIDATION');
      }
    });

    it('request key reused with a different body is 409 and changes nothing, whatever its items (an invalid one included); both modes', async () => {
      for (const atomic of [true, false]) {
        const [w] = await setUp(b, `rk-reuse-${atomic}`, 100n);
        const key = { 'idempotency-key': `rk-reuse-${atomic}` };
        const valid = { action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(10n) } };
        const invalid = { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(-1n) } };
        const first = expectStatus(await b.post('/bulk', { atomic, operations: [valid] }, key), 200);
        const before = await databaseState(b);
        for (const operations of [[valid, invalid], [invalid], [{ action: 'VOID_HOLD', data: {} }], [{ ...valid, data: { walletID: w, amount: usd(11n) } }]]) {
          expectError(await b.post('/bulk', { atomic, operations }, key), 409, 'CONFLICT', /was already used for a different request/);
          expectError(await b.post('/bulk', { atomic: !atomic, operations }, key), 409, 'CONFLICT');
        }
        assert.equal(await databaseState(b), before, 'nothing applied or stored by the refused requests');
        const again = expectStatus(await b.post('/bulk', { atomic, operations: [valid] }, key), 200);
        assert.equal(again.text, first.text);
        assert.equal(again.headers['idempotent-replayed'], 'true');
        assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 90n, 'applied once');
      }
    });

    it('request key first used by a request with an invalid item: the same body replays its answer, another body is 409; both modes', async () => {
      for (const atomic of [true, false]) {
        const [w] = await setUp(b, `rk-invalid-${atomic}`, 100n);
        const key = { 'idempotency-key': `rk-invalid-${atomic}` };
        const request = {
          atomic,
          operations: [
            { action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(10n) } },
            { action: 'CREDIT_WALLET', ik: `rk-invalid-${atomic}-op`, data: { walletID: w, amount: usd(-1n) } },
          ],
        };
        const first = expectStatus(await b.post('/bulk', request, key), 200);
        assert.equal(first.headers['idempotent-replayed'], undefined);
        assert.match(first.text, atomic ? /"status":424,"errorCode":"ROLLED_BACK".*"status":400,"errorCode":"VALIDATION"/ : /"status":204\}.*"status":400,"errorCode":"VALIDATION"/);
        const before = await databaseState(b);
        const again = expectStatus(await b.post('/bulk', request, key), 200);
        assert.equal(again.text, first.text);
        assert.equal(again.headers['idempotent-replayed'], 'true');
        // Only the ik of the invalid item differs: still another request.
        const otherIk = { ...request, operations: [request.operations[0]!, { ...request.operations[1]!, ik: 'another' }] };
        for (const other of [otherIk, { ...request, operations: request.operations.slice(0, 1) }]) {
          expectError(await b.post('/bulk', other, key), 409, 'CONFLICT', /was already used for a different request/);
        }
        assert.equal(await databaseState(b), before, 'the replay and the refused requests changed nothing');
        assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], atomic ? 100n : 90n);
      }
    });

    it('atomic, rolled back by a refusal: the request key keeps that answer — the same body replays it (not run again), another body is 409', async () => {
      const [w] = await setUp(b, 'rk-refused', 100n);
      const key = { 'idempotency-key': 'rk-refused' };
      const request = {
        atomic: true,
        operations: [
          { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(5n) } },
          { action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(150n) } },
        ],
      };
      const first = expectStatus(await b.post('/bulk', request, key), 200);
      assert.match(first.text, /"status":424,"errorCode":"ROLLED_BACK".*"status":400,"errorCode":"INSUFFICIENT_FUND"/);
      // Now the debit would pass: a retry must still answer what the key answered, and apply nothing.
      expectStatus(await b.post(`/wallets/${w}/credit`, { amount: usd(100n) }), 204);
      const before = await databaseState(b);
      const again = expectStatus(await b.post('/bulk', request, key), 200);
      assert.equal(again.text, first.text);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      expectError(await b.post('/bulk', { ...request, operations: request.operations.slice(0, 1) }, key), 409, 'CONFLICT');
      expectError(await b.post('/bulk', { ...request, atomic: false }, key), 409, 'CONFLICT');
      assert.equal(await databaseState(b), before);
      assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 200n);
    });

    it('atomic: a failure after COMMIT (waking the webhooks) never turns a committed request into an error; applied once', async () => {
      const c = await startHarness(backend, 'test-ledger', { clock: () => NOW });
      try {
        const fail = () => {
          throw new Error('woken after commit: failed');
        };
        // What a commit of this process wakes: the feed's readers, the webhooks and NATS.
        Object.assign(c.app.webhooks, { kick: fail });
        const wallet = walletOf('after-commit-w');
        const request = {
          atomic: true,
          operations: [
            { action: 'CREATE_WALLET', ik: 'after-commit-w', data: { name: 'after commit' } },
            { action: 'CREDIT_WALLET', data: { walletID: wallet, amount: usd(7n) } },
          ],
        };
        const items = expectStatus(await c.post('/bulk', request), 200).body.data as { status: number }[];
        assert.deepEqual(items.map((item) => Number(item.status)), [201, 204]);
        assert.equal((await c.get(`/wallets/${wallet}`)).body.data.balances.main.assets['USD/2'], 7n, 'applied once');
        // The single routes, through the committer, are as deaf to it.
        expectStatus(await c.post(`/wallets/${wallet}/credit`, { amount: usd(1n) }), 204);
      } finally {
        await c.close();
      }
    });

    it('BULK_CONCURRENCY: one bulk request over the cap is 429 TOO_MANY_REQUESTS, Retry-After: 1, before its body is read; other routes still served', async () => {
      const c = await startHarness(backend, 'test-ledger', { bulkConcurrency: 2 });
      try {
        const port = Number(new URL(await c.app.listen({ host: '127.0.0.1', port: 0 })).port);
        // Two requests that sent their headers and the start of their body hold both slots (at / and under /api/wallets: one count).
        const holders = await openHolders(c, port, [['/bulk', 1000, '{"operations":'], ['/api/wallets/bulk', 1000, '{"operations":']]);
        await untilRefused(c);
        // Headers only, announcing 8 MiB: the answer comes without a byte of the body sent.
        const refused = await answerOf(openRequest(port, '/bulk', 8 * 1024 * 1024, ''));
        assert.equal(refused.status, 429);
        assert.equal(refused.headers['retry-after'], '1');
        assert.match(refused.headers['content-type'] ?? '', /^application\/json/);
        assert.equal(JSON.parse(refused.body).errorCode, 'TOO_MANY_REQUESTS');
        assert.match(JSON.parse(refused.body).errorMessage, /at most 2 at once/);
        const injected = await c.post('/api/wallets/bulk', { operations: [{ action: 'CREATE_WALLET', data: {} }] });
        expectError(injected, 429, 'TOO_MANY_REQUESTS');
        assert.equal(injected.headers['retry-after'], '1');
        // Every other route is served meanwhile.
        expectStatus(await c.post('/wallets', { name: 'served' }), 201);
        // A holder that finishes its body is answered, and its slot is free again.
        const finishing = holders[0]!;
        const finished = answerOf(finishing);
        finishing.write(`[{"action":"CREATE_WALLET","data":{}}]}`.padEnd(1000 - '{"operations":'.length, ' '));
        assert.equal((await finished).status, 200);
        await untilServed(c);
        holders[1]!.destroy();
        // Both slots free: two new holders fill them, and a third is refused again.
        const again = await openHolders(c, port, [['/bulk', 1000, '{'], ['/bulk', 1000, '{']]);
        await untilRefused(c);
        for (const socket of again) socket.destroy();
        await untilServed(c);
      } finally {
        await c.close();
      }
    });

    it('BULK_CONCURRENCY: aborted and failed bulk requests give their slot back (cap 1, one after another)', async () => {
      const c = await startHarness(backend, 'test-ledger', { bulkConcurrency: 1 });
      try {
        const port = Number(new URL(await c.app.listen({ host: '127.0.0.1', port: 0 })).port);
        const [w] = await setUp(c, 'cap-fail', 10n);
        const failing: [unknown, number][] = [
          [{ operations: [] }, 400],
          [{ operations: [{ action: 'NOPE', data: {} }] }, 400],
          [{ atomic: true, operations: [{ action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(-1n) } }] }, 200],
          [{ atomic: true, operations: [{ action: 'DEBIT_WALLET', data: { walletID: w, amount: usd(100n) } }] }, 200],
          [{ operations: [{ action: 'UPDATE_WALLET', data: { walletID: w, metadata: { x: 'y'.repeat(9 * 1024 * 1024) } } }] }, 413],
        ];
        for (const [body, status] of failing) expectStatus(await c.post('/bulk', body), status);
        expectStatus(await c.call({ method: 'POST', url: '/bulk', raw: '{not json', headers: { 'content-type': 'application/json' } }), 400);
        expectStatus(await c.call({ method: 'POST', url: '/bulk', raw: '{}', headers: { 'content-type': 'text/plain' } }), 415);
        expectStatus(await c.post('/bulk', { operations: [{ action: 'CREATE_WALLET', data: {} }] }, { 'idempotency-key': 'bad\u0001' }), 400);
        await untilServed(c);
        // Aborted while its body arrives, and aborted before any of it: each slot comes back.
        for (const sent of ['{"operations":[', '']) {
          const socket = (await openHolders(c, port, [['/bulk', 1000, sent]]))[0]!;
          await untilRefused(c);
          socket.destroy();
          await untilServed(c);
        }
        // Aborted once its whole body is sent (the handler runs, its answer has nowhere to go).
        const ops = JSON.stringify({ operations: Array.from({ length: 200 }, (_, i) => ({ action: 'CREDIT_WALLET', ik: `cap-abort-${i}`, data: { walletID: w, amount: { asset: 'USD/2', amount: 1 } } })) });
        const whole = (await openHolders(c, port, [['/bulk', Buffer.byteLength(ops), '']]))[0]!;
        whole.end(ops);
        whole.destroy();
        await untilServed(c);
        // Pipelined: several whole requests in one write, the connection closed at once (a
        // queued response that never gets the socket has no 'close' of its own).
        const one = '{"operations":[]}';
        const request = `POST /bulk HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${one.length}\r\n\r\n${one}`;
        for (let round = 0; round < 5; round++) {
          const pipelined = connect(port, '127.0.0.1', () => pipelined.end(request.repeat(3)));
          pipelined.on('data', () => pipelined.destroy());
          pipelined.on('error', () => {});
          await new Promise((resolve) => pipelined.once('close', resolve));
          await untilServed(c);
        }
        expectStatus(await c.post('/bulk', { operations: [{ action: 'CREATE_WALLET', data: {} }] }), 200);
      } finally {
        await c.close();
      }
    });

    it('limits: 1,000 operations pass and 1,001 are a 400; the body may reach 8 MiB here only; bad shapes are 400s, bad data a 400 item', async () => {
      const [w] = await setUp(b, 'limits', 10_000n);
      const thousand = Array.from({ length: 1000 }, (_, i) => ({ action: 'DEBIT_WALLET', ik: `limits-${i}`, data: { walletID: w, amount: usd(1n) } }));
      const items = expectStatus(await b.post('/bulk', { atomic: false, operations: thousand }), 200).body.data as { status: number }[];
      assert.equal(items.length, 1000);
      assert.ok(items.every((item) => Number(item.status) === 204));
      assert.equal((await b.get(`/wallets/${w}`)).body.data.balances.main.assets['USD/2'], 9000n);
      expectError(await b.post('/bulk', { operations: [...thousand, thousand[0]] }), 400, 'VALIDATION', /at most 1000/);
      // 2 MiB of metadata: over the 1 MiB of every other route, within this one's 8 MiB.
      const big = 'x'.repeat(4000);
      const metadata = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, big]));
      const heavy = Array.from({ length: 5 }, () => ({ action: 'UPDATE_WALLET', data: { walletID: w, metadata } }));
      const heavyItems = expectStatus(await b.post('/bulk', { operations: heavy }), 200).body.data as { status: number }[];
      assert.deepEqual(heavyItems.map((item) => Number(item.status)), [204, 204, 204, 204, 204]);
      expectError(await b.patch(`/wallets/${w}`, { metadata, padding: 'y'.repeat(1024 * 1024) }), 413, 'REQUEST_TOO_LARGE');
      expectError(await b.post('/bulk', { operations: heavy.concat(Array.from({ length: 20 }, () => heavy[0]!)) }), 413, 'REQUEST_TOO_LARGE');
      expectError(await b.post('/bulk', { operations: [] }), 400, 'VALIDATION');
      expectError(await b.post('/bulk', { operations: [{ action: 'DELETE_WALLET', data: {} }] }), 400, 'VALIDATION', /action must be one of/);
      expectError(await b.post('/bulk', { atomic: 'yes', operations: thousand.slice(0, 1) }), 400, 'VALIDATION');
      expectError(await b.post('/bulk', { operations: [{ action: 'CREDIT_WALLET', ik: '', data: { walletID: w } }] }), 400, 'VALIDATION');
      expectError(await b.post('/bulk', { operations: [{ action: 'CREDIT_WALLET', data: { walletID: 7 } }] }), 400, 'VALIDATION');
      expectError(await b.post('/bulk'), 400, 'VALIDATION');
      const invalid = itemTexts(
        await b.post('/bulk', {
          operations: [
            { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(-1n) } },
            { action: 'DEBIT_WALLET', data: { amount: usd(1n) } },
            { action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(1n) } },
          ],
        }),
      );
      const creditSingle = await b.post(`/wallets/${w}/credit`, { amount: usd(-1n) });
      assert.equal(invalid[0], asItem('CREDIT_WALLET', creditSingle));
      assert.match(invalid[1]!, /"status":400,"errorCode":"VALIDATION","errorMessage":"data.walletID is required for DEBIT_WALLET"/);
      assert.equal(invalid[2], '{"action":"CREDIT_WALLET","status":204}');
      const before = await databaseState(b);
      const atomicInvalid = itemTexts(
        await b.post('/bulk', { atomic: true, operations: [{ action: 'CREDIT_WALLET', data: { walletID: w, amount: usd(1n) } }, { action: 'VOID_HOLD', data: {} }] }),
      );
      assert.match(atomicInvalid[0]!, /"status":424,"errorCode":"ROLLED_BACK"/);
      assert.match(atomicInvalid[1]!, /"status":400,"errorCode":"VALIDATION"/);
      assert.equal(await databaseState(b), before);
      for (const item of (await b.post('/bulk', { operations: thousand.slice(0, 3) })).body.data) bulkItemResponse.parse(item);
    });
  });
}
if (!process.env.TEST_DATABASE_URL) postgresSkipped('bulk [postgres]');
