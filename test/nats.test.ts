/**
 * NATS JetStream: every event published to `coffer.<ledger>.<type>` with Nats-Msg-Id = the
 * event id, on a stream Coffer creates; a JetStream consumer sees each event exactly once
 * and in feed order across a Coffer restart in the middle of publishing (the crash window:
 * published, position not yet stored). Needs a NATS server with JetStream: TEST_NATS_URL
 * (CI starts one); without it the test is reported as skipped, and with it set but the
 * server unreachable the test fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { migrate } from '../src/storage/migrations.ts';
import { parseJson } from '../src/http/json.ts';
import { streamName, subjectOf } from '../src/events/nats.ts';
import { natsPublished } from '../src/metrics.ts';
import { backends, json, type ParsedJson } from './support/harness.ts';

const NATS_URL = process.env.TEST_NATS_URL;

describe('nats', () => {
  if (!NATS_URL) {
    it('publishes every event once, in order, across a restart mid-publish', { skip: 'TEST_NATS_URL is not set: NATS not tested' }, () => {});
    return;
  }
  for (const backend of backends()) {
    it(`[${backend.name}] publishes every event once, in order, across a restart mid-publish; the stream is created if missing`, { timeout: 60_000 }, async () => {
      const ledger = `nats-${backend.name}-${Date.now()}`;
      const { db, drop } = await backend.open();
      const nc = await connect({ servers: NATS_URL, timeout: 5_000 });
      const jsm = await jetstreamManager(nc);
      try {
        await migrate(db);
        const start = () => buildApp({ db, ledger, limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null }, nats: { url: NATS_URL, intervalMs: null } });
        const post = async (app: ReturnType<typeof start>, url: string, body: unknown) => {
          const response = await app.inject({ method: 'POST', url, payload: json(body), headers: { 'content-type': 'application/json' } });
          assert.ok(response.statusCode < 300, response.body);
          return (response.body === '' ? null : parseJson(response.body)) as ParsedJson;
        };
        let app = start();
        await app.ready();
        const wallet = (await post(app, '/wallets', {})).data.id as string;
        for (let i = 0; i < 300; i++) await post(app, `/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: BigInt(i + 1) } });
        assert.equal(await app.nats!.run(), 301);
        // The crash window: the last 100 were acknowledged by JetStream but their position
        // was not stored when the process died. The next process publishes them again.
        await db.query('UPDATE event_publishers SET position = position - 100, owner = NULL, lease_until = NULL');
        await app.close();
        app = start();
        await app.ready();
        for (let i = 0; i < 20; i++) await post(app, `/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: 1n } });
        assert.equal(await app.nats!.run(), 120, 'the 100 again, then the 20 new ones');
        await app.close();

        const js = jetstream(nc);
        const info = await jsm.streams.info(streamName(ledger));
        assert.deepEqual(info.config.subjects, [`coffer.${ledger}.>`]);
        assert.equal(info.state.messages, 321, 'JetStream dropped the 100 duplicates by their Nats-Msg-Id');
        await jsm.consumers.add(streamName(ledger), { durable_name: 'check', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
        const consumer = await js.consumers.get(streamName(ledger), 'check');
        const seen: ParsedJson[] = [];
        const messages = await consumer.fetch({ max_messages: 400, expires: 2_000 });
        for await (const message of messages) {
          const event = parseJson(message.string()) as ParsedJson;
          assert.equal(message.subject, `coffer.${ledger}.${event.type}`);
          assert.equal(message.headers?.get('Nats-Msg-Id'), event.id);
          seen.push(event);
        }
        assert.equal(seen.length, 321);
        assert.deepEqual(seen.map((e) => e.position), seen.map((_, i) => BigInt(i + 1)), 'each event once, in feed order');
        assert.equal(seen[300].data.amount.amount, 300n);
        assert.equal(seen[0].type, 'wallet.created');
      } finally {
        await jsm.streams.delete(streamName(ledger)).catch(() => {});
        await nc.close();
        await db.close();
        await drop();
      }
    });

    it(`[${backend.name}] a batch is published with one acknowledgement when that proves it whole; a message of another writer makes it fall back to every acknowledgement, and each event is still stored once, in order`, { timeout: 60_000 }, async () => {
      const ledger = `nats-proof-${backend.name}-${Date.now()}`;
      const { db, drop } = await backend.open();
      const nc = await connect({ servers: NATS_URL, timeout: 5_000 });
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      /** Events published so far, by how their storing was confirmed (the metric's two labels). */
      const published = async () => {
        const values = (await natsPublished.get()).values;
        const of = (ack: string) => values.filter((v) => v.labels.ack === ack).reduce((sum, v) => sum + v.value, 0);
        return { batch: of('batch'), each: of('each') };
      };
      let app: ReturnType<typeof buildApp> | undefined;
      try {
        await migrate(db);
        app = buildApp({ db, ledger, limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null }, nats: { url: NATS_URL, intervalMs: null } });
        await app.ready();
        const post = async (url: string, body: unknown) => {
          const response = await app!.inject({ method: 'POST', url, payload: json(body), headers: { 'content-type': 'application/json' } });
          assert.ok(response.statusCode < 300, response.body);
          return (response.body === '' ? null : parseJson(response.body)) as ParsedJson;
        };
        const wallet = (await post('/wallets', {})).data.id as string;
        const credit = async (times: number) => {
          for (let i = 0; i < times; i++) await post(`/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: 1n } });
        };
        /** Runs the publisher; what it published, by label. */
        const publish = async (expected: number) => {
          const before = await published();
          assert.equal(await app!.nats!.run(), expected);
          const after = await published();
          return { batch: after.batch - before.batch, each: after.each - before.each };
        };

        await credit(9);
        assert.deepEqual(await publish(10), { batch: 0, each: 10 }, "a new publisher does not know the stream's last sequence: every message acknowledged");
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 }, 'then one acknowledgement proves the batch');

        // A publisher that lost its lease had already published the next batch's first five
        // (the crash window, in order): JetStream drops ours as duplicates, the count of stored
        // messages still adds up, and the proof holds — they are all there once.
        await credit(20);
        const page = (await app.inject({ method: 'GET', url: '/events?after=30&pageSize=5' })).body;
        for (const event of (parseJson(page) as ParsedJson).cursor.data as ParsedJson[]) {
          await js.publish(subjectOf(ledger, event.type), json(event), { msgID: event.id });
        }
        assert.deepEqual(await publish(20), { batch: 20, each: 0 });

        // Another writer's message on the stream: the stream's last sequence is not the one the
        // proof expects, so the batch is published again with every message acknowledged.
        await js.publish(`coffer.${ledger}.foreign`, 'not an event');
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 0, each: 20 }, 'the proof failed: published again, every message acknowledged');
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 }, 'the last acknowledgement told the sequence again');
        await app.close();
        app = undefined;

        await jsm.consumers.add(streamName(ledger), { durable_name: 'check', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
        const consumer = await js.consumers.get(streamName(ledger), 'check');
        const positions: bigint[] = [];
        const messages = await consumer.fetch({ max_messages: 200, expires: 2_000 });
        for await (const message of messages) {
          if (message.subject === `coffer.${ledger}.foreign`) continue;
          const event = parseJson(message.string()) as ParsedJson;
          assert.equal(message.headers?.get('Nats-Msg-Id'), event.id);
          positions.push(event.position as bigint);
        }
        assert.deepEqual(positions, Array.from({ length: 90 }, (_, i) => BigInt(i + 1)), 'each event once, in feed order');
        assert.equal((await jsm.streams.info(streamName(ledger))).state.messages, 91, 'the 90 events and the foreign message');
      } finally {
        await app?.close();
        await jsm.streams.delete(streamName(ledger)).catch(() => {});
        await nc.close();
        await db.close();
        await drop();
      }
    });
  }
});
