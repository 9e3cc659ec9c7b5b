/**
 * Idempotency fingerprints (src/http/canonical.ts): per mutation, groups of bodies that ask
 * for the same thing. The first body of a group executes; every other body of the group,
 * sent with the same key, replays the first outcome byte for byte and moves nothing; and
 * bodies that ask for something else, sent with that key, are 409 CONFLICT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { canonicalConfirmHold, canonicalCreateBalance, canonicalCreateWallet, canonicalCredit, canonicalDebit, canonicalUpdateWallet } from '../src/http/canonical.ts';
import { parseJson } from '../src/http/json.ts';
import { buildSchemas } from '../src/http/schemas.ts';
import { fingerprint } from '../src/idempotency/fingerprint.ts';
import { createBalance, createWallet, credit, expectError, expectStatus, suite, type Harness, type Request } from './support/harness.ts';

/** What a group's bodies can name: a funded wallet (with a `promo` balance), another (with `tips`), an open hold of 100. */
interface Context {
  readonly wallet: string;
  readonly other: string;
  readonly hold: string;
}

/** A raw JSON body, or null for no body at all. */
type Body = string | null;

interface Group {
  readonly name: string;
  readonly method: Request['method'];
  readonly url: (c: Context) => string;
  readonly status: number;
  /** Equivalent bodies; the first executes. */
  readonly same: readonly ((c: Context) => Body)[];
  /** Different requests with the group's key: 409. A different route is given by its url. */
  readonly different: readonly { readonly url?: (c: Context) => string; readonly body: (c: Context) => Body }[];
}

const USD = '"amount":{"asset":"USD/2","amount":10}';
const body = (text: string) => () => text;
const differ = (text: string) => ({ body: body(text) });

const GROUPS: readonly Group[] = [
  {
    name: 'create wallet: defaults',
    method: 'POST',
    url: () => '/wallets',
    status: 201,
    same: [body('{}'), () => null, body('{"name":""}'), body('{"metadata":null}'), body('{"metadata":{},"name":""}')],
    different: [differ('{"name":"x"}'), differ('{"metadata":{"a":"1"}}')],
  },
  {
    name: 'create wallet: key order',
    method: 'POST',
    url: () => '/wallets',
    status: 201,
    same: [body('{"name":"a","metadata":{"x":"1","y":"2"}}'), body('{"metadata":{"y":"2","x":"1"},"name":"a"}')],
    different: [differ('{"name":"b","metadata":{"x":"1","y":"2"}}'), differ('{"name":"a","metadata":{"x":"1"}}')],
  },
  {
    name: 'update wallet',
    method: 'PATCH',
    url: (c) => `/wallets/${c.wallet}`,
    status: 204,
    same: [body('{"metadata":{"a":"1","b":"2"}}'), body('{"metadata":{"b":"2","a":"1"}}')],
    different: [differ('{"metadata":{"a":"1"}}'), { url: (c) => `/wallets/${c.other}`, body: body('{"metadata":{"a":"1","b":"2"}}') }],
  },
  {
    name: 'update wallet: a status, metadata absent or empty',
    method: 'PATCH',
    url: (c) => `/wallets/${c.other}`,
    status: 204,
    same: [body('{"status":"frozen"}'), body('{"status":"frozen","metadata":{}}'), body('{"metadata":{},"status":"frozen"}')],
    different: [differ('{"status":"active"}'), differ('{"metadata":{}}'), differ('{"status":"frozen","metadata":{"a":"1"}}')],
  },
  {
    name: 'create balance: an overdraft of 0 is none',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/balances`,
    status: 201,
    same: [body('{"name":"b1"}'), body('{"name":"b1","overdraft":{}}'), body('{"name":"b1","overdraft":{"USD/2":0}}'), body('{"name":"b1","overdraft":null}')],
    different: [differ('{"name":"b1","overdraft":{"USD/2":1}}')],
  },
  {
    name: 'create balance: defaults',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/balances`,
    status: 201,
    same: [body('{"name":"b1"}'), body('{"name":"b1","priority":0}'), body('{"name":"b1","expiresAt":null}'), body('{"priority":0,"expiresAt":null,"name":"b1"}')],
    different: [differ('{"name":"b1","priority":1}'), differ('{"name":"b2"}'), differ('{"name":"b1","expiresAt":"2030-01-01T00:00:00Z"}')],
  },
  {
    name: 'create balance: one instant, four spellings',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/balances`,
    status: 201,
    same: [
      body('{"name":"b1","expiresAt":"2030-01-01T00:00:00Z"}'),
      body('{"name":"b1","expiresAt":"2030-01-01T01:00:00+01:00"}'),
      body('{"name":"b1","expiresAt":"2029-12-31T23:30:00.000000-00:30"}'),
      body('{"name":"b1","expiresAt":"2030-01-01t00:00:00.0000001z"}'),
    ],
    different: [differ('{"name":"b1","expiresAt":"2030-01-01T00:00:00.000001Z"}'), differ('{"name":"b1"}')],
  },
  {
    name: 'debit: defaults written out',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/debit`,
    status: 204,
    same: [
      body(`{${USD}}`),
      body(`{${USD},"pending":false}`),
      body(`{${USD},"balances":["main"]}`),
      body(`{${USD},"balances":[]}`),
      body(`{${USD},"balances":null}`),
      body(`{${USD},"destination":{"type":"ACCOUNT","identifier":"world"}}`),
      body(`{${USD},"metadata":{}}`),
      body(`{${USD},"metadata":null}`),
      body(`{${USD},"description":""}`),
      body('{"description":"","balances":["main"],"destination":{"identifier":"world","type":"ACCOUNT"},"metadata":{},"pending":false,"amount":{"amount":10,"asset":"USD/2"}}'),
    ],
    different: [
      differ('{"amount":{"asset":"USD/2","amount":11}}'),
      differ('{"amount":{"asset":"EUR/2","amount":10}}'),
      differ(`{${USD},"balances":["*"]}`),
      differ(`{${USD},"balances":["promo"]}`),
      differ(`{${USD},"balances":["main","promo"]}`),
      differ(`{${USD},"destination":{"type":"ACCOUNT","identifier":"bank"}}`),
      differ(`{${USD},"pending":true}`),
      differ(`{${USD},"description":"x"}`),
      differ(`{${USD},"metadata":{"a":"1"}}`),
      differ(`{${USD},"reference":"r1"}`),
      differ(`{${USD},"timestamp":"2020-01-01T00:00:00Z"}`),
      { url: (c) => `/wallets/${c.other}/debit`, body: body(`{${USD}}`) },
      { url: (c) => `/wallets/${c.wallet}/credit`, body: body(`{${USD}}`) },
    ],
  },
  {
    name: 'debit: WALLET destination, balance main left out or written',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/debit`,
    status: 204,
    same: [
      (c) => `{${USD},"destination":{"type":"WALLET","identifier":"${c.other}"}}`,
      (c) => `{${USD},"destination":{"type":"WALLET","identifier":"${c.other}","balance":"main"}}`,
      (c) => `{${USD},"balances":["main"],"destination":{"balance":"main","identifier":"${c.other}","type":"WALLET"}}`,
    ],
    different: [
      { body: (c) => `{${USD},"destination":{"type":"WALLET","identifier":"${c.other}","balance":"tips"}}` },
      { body: (c) => `{${USD},"destination":{"type":"WALLET","identifier":"${c.wallet}"}}` },
      differ(`{${USD}}`),
    ],
  },
  {
    name: 'debit: pending, defaults written out',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/debit`,
    status: 201,
    same: [
      body(`{${USD},"pending":true}`),
      body(`{${USD},"pending":true,"balances":["main"],"destination":{"type":"ACCOUNT","identifier":"world"},"metadata":{},"description":""}`),
    ],
    different: [differ(`{${USD}}`), differ(`{${USD},"pending":true,"balances":["*"]}`)],
  },
  {
    name: 'debit: one timestamp, three spellings, and a reference',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/debit`,
    status: 204,
    same: [
      body(`{${USD},"reference":"r1","timestamp":"2020-01-01T00:00:00Z"}`),
      body(`{${USD},"reference":"r1","timestamp":"2020-01-01T02:00:00+02:00"}`),
      body(`{${USD},"reference":"r1","timestamp":"2019-12-31T23:00:00.000-01:00"}`),
    ],
    different: [
      differ(`{${USD},"reference":"r1","timestamp":"2020-01-01T00:00:00.000001Z"}`),
      differ(`{${USD},"reference":"r1"}`),
      differ(`{${USD},"reference":"r2","timestamp":"2020-01-01T00:00:00Z"}`),
    ],
  },
  {
    name: 'credit: defaults written out',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/credit`,
    status: 204,
    same: [
      body(`{${USD}}`),
      body(`{${USD},"balance":"main"}`),
      body(`{${USD},"sources":[]}`),
      body(`{${USD},"sources":null}`),
      body(`{${USD},"sources":[{"type":"ACCOUNT","identifier":"world"}]}`),
      body(`{${USD},"metadata":{}}`),
      body('{"sources":[{"identifier":"world","type":"ACCOUNT"}],"metadata":null,"balance":"main","amount":{"amount":10,"asset":"USD/2"}}'),
    ],
    different: [
      differ(`{${USD},"balance":"promo"}`),
      differ('{"amount":{"asset":"USD/2","amount":11}}'),
      differ(`{${USD},"sources":[{"type":"ACCOUNT","identifier":"bank"}]}`),
      differ(`{${USD},"sources":[{"type":"ACCOUNT","identifier":"world"},{"type":"ACCOUNT","identifier":"bank"}]}`),
      { body: (c) => `{${USD},"sources":[{"type":"WALLET","identifier":"${c.other}"}]}` },
    ],
  },
  {
    name: 'credit: WALLET source, balance main left out or written',
    method: 'POST',
    url: (c) => `/wallets/${c.wallet}/credit`,
    status: 204,
    same: [
      (c) => `{${USD},"sources":[{"type":"WALLET","identifier":"${c.other}"}]}`,
      (c) => `{${USD},"sources":[{"type":"WALLET","identifier":"${c.other}","balance":"main"}]}`,
    ],
    different: [
      { body: (c) => `{${USD},"sources":[{"type":"WALLET","identifier":"${c.other}","balance":"tips"}]}` },
      { body: (c) => `{${USD},"sources":[{"type":"WALLET","identifier":"${c.other}"},{"type":"ACCOUNT","identifier":"world"}]}` },
      differ(`{${USD}}`),
    ],
  },
  {
    name: 'confirm: all that remains (no body, {}, amount 0)',
    method: 'POST',
    url: (c) => `/holds/${c.hold}/confirm`,
    status: 204,
    same: [() => null, body('{}'), body('{"final":false}'), body('{"amount":0}'), body('{"final":false,"amount":0}')],
    // 100 is all that remains today, but an explicit amount is not "all that remains".
    different: [differ('{"amount":100}'), differ('{"final":true}'), differ('{"amount":40}'), { url: (c) => `/holds/${c.hold}/void`, body: () => null }],
  },
  {
    name: 'confirm: an amount',
    method: 'POST',
    url: (c) => `/holds/${c.hold}/confirm`,
    status: 204,
    same: [body('{"amount":40}'), body('{"amount":40,"final":false}'), body('{"final":false,"amount":40}')],
    different: [differ('{"amount":40,"final":true}'), differ('{"amount":41}'), differ('{}')],
  },
  {
    name: 'void: any body is ignored',
    method: 'POST',
    url: (c) => `/holds/${c.hold}/void`,
    status: 204,
    same: [() => null, body('{}'), body('{"amount":5}')],
    different: [{ url: (c) => `/holds/${c.hold}/confirm`, body: () => null }],
  },
];

let counter = 0;
function newKey(): string {
  counter += 1;
  return `fingerprint-${process.pid}-${counter}-${Date.now()}`;
}

function request(method: Request['method'], url: string, raw: Body, key: string): Request {
  const headers: Record<string, string> = { 'idempotency-key': key };
  if (raw === null) return { method, url, headers };
  return { method, url, raw, headers: { ...headers, 'content-type': 'application/json' } };
}

async function freshContext(h: Harness): Promise<Context> {
  const wallet = await createWallet(h);
  const other = await createWallet(h);
  await createBalance(h, wallet, { name: 'promo' });
  await createBalance(h, other, { name: 'tips' });
  await credit(h, wallet, 1000n);
  await credit(h, wallet, 1000n, {}, 'EUR/2');
  await credit(h, other, 1000n);
  await credit(h, other, 1000n, { balance: 'tips' });
  const hold = expectStatus(await h.post(`/wallets/${wallet}/debit`, { amount: { asset: 'USD/2', amount: 100n }, pending: true }), 201).body.data.id;
  return { wallet, other, hold };
}

/** Everything a request could change: rows, money, metadata. */
async function ledgerState(h: Harness): Promise<unknown> {
  const [row] = await h.db.query(
    `SELECT (SELECT count(*) FROM wallets)::text AS wallets, (SELECT count(*) FROM balances)::text AS balances,
            (SELECT count(*) FROM transactions)::text AS transactions, (SELECT count(*) FROM holds)::text AS holds,
            (SELECT coalesce(sum(remaining), 0) FROM holds)::text AS held,
            (SELECT string_agg(address || asset || input::text || output::text, ',' ORDER BY address, asset) FROM volumes) AS volumes,
            (SELECT string_agg(metadata::text, ',' ORDER BY seq) FROM wallets) AS metadata`,
  );
  return row;
}

suite('fingerprints: equivalent bodies replay, different ones conflict', (h) => {
  for (const group of GROUPS) {
    it(`${group.name}: ${group.same.length} bodies → one execution and replays; ${group.different.length} others → 409`, async () => {
      const c = await freshContext(h());
      const key = newKey();
      const url = group.url(c);
      const [firstBody, ...others] = group.same.map((spelling) => spelling(c));
      const first = await h().call(request(group.method, url, firstBody!, key));
      expectStatus(first, group.status);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      const state = await ledgerState(h());
      for (const other of others) {
        const replay = await h().call(request(group.method, url, other, key));
        assert.equal(replay.status, first.status, `${other} → ${replay.text}`);
        assert.equal(replay.text, first.text, `${other}: the same body`);
        assert.equal(replay.headers['idempotent-replayed'], 'true', `${other}: replayed`);
      }
      for (const different of group.different) {
        const target = different.url?.(c) ?? url;
        const raw = different.body(c);
        expectError(await h().call(request(group.method, target, raw, key)), 409, 'CONFLICT', /different request/);
      }
      assert.deepEqual(await ledgerState(h()), state, 'nothing moved after the first request');
    });
  }

  it('amounts are integers: 10.0 and 1e1 are refused (400), not read as 10, and do not use the key', async () => {
    const c = await freshContext(h());
    const key = newKey();
    for (const amount of ['10.0', '1e1']) {
      const raw = `{"amount":{"asset":"USD/2","amount":${amount}}}`;
      expectError(await h().call(request('POST', `/wallets/${c.wallet}/debit`, raw, key)), 400, 'VALIDATION', /must be an integer/);
    }
    expectStatus(await h().call(request('POST', `/wallets/${c.wallet}/debit`, `{${USD}}`, key)), 204);
  });
});

describe('fingerprints of requests spelled with their defaults left out', () => {
  it('are what they were when the parsed body was hashed: keys stored before still replay', () => {
    const schemas = buildSchemas(DEFAULT_LIMITS);
    const params = { id: 'w' };
    /** [operation, raw body, its parsed body and its canonical form] */
    const cases: [string, string, (raw: string) => [unknown, unknown]][] = [
      ['createWallet', '{}', (raw) => { const b = schemas.createWallet.parse(parseJson(raw)); return [b, canonicalCreateWallet(b)]; }],
      ['createBalance', '{"name":"b1"}', (raw) => { const b = schemas.createBalance.parse(parseJson(raw)); return [b, canonicalCreateBalance(b)]; }],
      ['updateWallet', '{"metadata":{"a":"1"}}', (raw) => { const b = schemas.updateWallet.parse(parseJson(raw)); return [b, canonicalUpdateWallet(b)]; }],
      ['debitWallet', `{${USD}}`, (raw) => { const b = schemas.debit.parse(parseJson(raw)); return [b, canonicalDebit(b)]; }],
      ['debitWallet', `{${USD},"pending":true,"destination":{"type":"WALLET","identifier":"o"}}`, (raw) => { const b = schemas.debit.parse(parseJson(raw)); return [b, canonicalDebit(b)]; }],
      ['creditWallet', `{${USD}}`, (raw) => { const b = schemas.credit.parse(parseJson(raw)); return [b, canonicalCredit(b)]; }],
      ['confirmHold', '{}', (raw) => { const b = schemas.confirmHold.parse(parseJson(raw)); return [b, canonicalConfirmHold(b)]; }],
      ['confirmHold', '{"amount":40}', (raw) => { const b = schemas.confirmHold.parse(parseJson(raw)); return [b, canonicalConfirmHold(b)]; }],
    ];
    for (const [operation, raw, parse] of cases) {
      const [parsed, canonical] = parse(raw);
      assert.equal(fingerprint(operation, params, canonical), fingerprint(operation, params, parsed), `${operation} ${raw}`);
    }
  });
});
