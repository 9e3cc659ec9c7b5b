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
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { buildApp } from '../src/http/app.ts';
import { DEFAULT_LIMITS } from '../src/domain/limits.ts';
import { migrate } from '../src/storage/migrations.ts';
import { parseJson } from '../src/http/json.ts';
import { streamName, subjectOf } from '../src/events/nats.ts';
import { natsPublished } from '../src/metrics.ts';
import type { Database } from '../src/storage/database.ts';
import { backends, json, type ParsedJson } from './support/harness.ts';

const NATS_URL = process.env.TEST_NATS_URL;

/** A test's app, stream, NATS connection and database, each closed even when one before it fails (a failed test must not leave the file hanging). */
async function closeAll(app: { close(): Promise<unknown> } | undefined, jsm: JetStreamManager | undefined, nc: NatsConnection | undefined, db: Database, ledger: string): Promise<void> {
  await app?.close().catch(() => {});
  await jsm?.streams.delete(streamName(ledger)).catch(() => {});
  await nc?.close().catch(() => {});
  await db.close().catch(() => {});
}

describe('nats', () => {
  if (!NATS_URL) {
    it('publishes every event once, in order, across a restart mid-publish', { skip: 'TEST_NATS_URL is not set: NATS not tested' }, () => {});
    return;
  }
  for (const backend of backends()) {
    it(`[${backend.name}] publishes every event once, in order, across a restart mid-publish; the stream is created if missing`, { timeout: 60_000 }, async () => {
      const ledger = `nats-${backend.name}-${Date.now()}`;
      const { db, drop } = await backend.open();
      let nc: NatsConnection | undefined;
      let jsm: JetStreamManager | undefined;
      let app: ReturnType<typeof buildApp> | undefined;
      try {
        nc = await connect({ servers: NATS_URL, timeout: 5_000 });
        jsm = await jetstreamManager(nc);
        await migrate(db);
        const start = () => buildApp({ db, ledger, limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null }, nats: { url: NATS_URL, intervalMs: null } });
        const post = async (app: ReturnType<typeof start>, url: string, body: unknown) => {
          const response = await app.inject({ method: 'POST', url, payload: json(body), headers: { 'content-type': 'application/json' } });
          assert.ok(response.statusCode < 300, response.body);
          return (response.body === '' ? null : parseJson(response.body)) as ParsedJson;
        };
        app = start();
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
        app = undefined;

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
        await closeAll(app, jsm, nc, db, ledger);
        await drop();
      }
    });

    /**
     * A fresh ledger and app with NATS on, a wallet, and the events published so far by how
     * their storing was confirmed (the metric's two labels). No loop unless `intervalMs` is
     * given: `publish` runs turns.
     */
    const withPublisher = async (name: string, body: (t: { app: ReturnType<typeof buildApp>; db: Database; js: JetStreamClient; jsm: JetStreamManager; ledger: string; wallet: string; credit: (times: number, metadata?: Record<string, string>) => Promise<void>; publish: (expected: number) => Promise<{ batch: number; each: number }> }) => Promise<void>, intervalMs: number | null = null) => {
      const ledger = `nats-${name}-${backend.name}-${Date.now()}`;
      const { db, drop } = await backend.open();
      let nc: NatsConnection | undefined;
      let jsm: JetStreamManager | undefined;
      const published = async () => {
        const values = (await natsPublished.get()).values;
        const of = (ack: string) => values.filter((v) => v.labels.ack === ack).reduce((sum, v) => sum + v.value, 0);
        return { batch: of('batch'), each: of('each') };
      };
      let app: ReturnType<typeof buildApp> | undefined;
      try {
        nc = await connect({ servers: NATS_URL, timeout: 5_000 });
        jsm = await jetstreamManager(nc);
        await migrate(db);
        app = buildApp({ db, ledger, limits: DEFAULT_LIMITS, holdSweepIntervalMs: null, feedWatchIntervalMs: null, webhooks: { intervalMs: null }, nats: { url: NATS_URL, intervalMs } });
        await app.ready();
        const started = app;
        const post = async (url: string, payload: unknown) => {
          const response = await started.inject({ method: 'POST', url, payload: json(payload), headers: { 'content-type': 'application/json' } });
          assert.ok(response.statusCode < 300, response.body);
          return (response.body === '' ? null : parseJson(response.body)) as ParsedJson;
        };
        const wallet = (await post('/wallets', {})).data.id as string;
        await body({
          app,
          db,
          js: jetstream(nc),
          jsm,
          ledger,
          wallet,
          async credit(times, metadata) {
            for (let i = 0; i < times; i++) await post(`/wallets/${wallet}/credit`, { amount: { asset: 'USD/2', amount: 1n }, ...(metadata ? { metadata } : {}) });
          },
          async publish(expected) {
            const before = await published();
            assert.equal(await started.nats!.run(), expected);
            const after = await published();
            return { batch: after.batch - before.batch, each: after.each - before.each };
          },
        });
      } finally {
        await closeAll(app, jsm, nc, db, ledger);
        await drop();
      }
    };

    /** The stream's messages, foreign ones left out: each event's position, checked against its subject and message id. */
    const positionsIn = async (js: JetStreamClient, jsm: JetStreamManager, ledger: string): Promise<bigint[]> => {
      await jsm.consumers.add(streamName(ledger), { durable_name: 'check', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
      const consumer = await js.consumers.get(streamName(ledger), 'check');
      const positions: bigint[] = [];
      for await (const message of await consumer.fetch({ max_messages: 200, expires: 2_000 })) {
        if (message.subject === `coffer.${ledger}.foreign`) continue;
        const event = parseJson(message.string()) as ParsedJson;
        assert.equal(message.subject, `coffer.${ledger}.${event.type}`);
        assert.equal(message.headers?.get('Nats-Msg-Id'), event.id);
        positions.push(event.position as bigint);
      }
      return positions;
    };
    const upTo = (last: number) => Array.from({ length: last }, (_, i) => BigInt(i + 1));

    it(`[${backend.name}] a batch is published with one acknowledgement when that proves it whole; a duplicate or another writer's message makes it fall back to one acknowledged message at a time, and each event is still stored once, in order`, { timeout: 60_000 }, async () => {
      await withPublisher('proof', async ({ app, js, jsm, ledger, credit, publish }) => {
        /** A publisher that lost its lease publishes events of the next batch (with their ids, as Coffer does). */
        const zombie = async (after: number, count: number) => {
          const page = (await app.inject({ method: 'GET', url: `/events?after=${after}&pageSize=${count}` })).body;
          for (const event of (parseJson(page) as ParsedJson).cursor.data as ParsedJson[]) {
            await js.publish(subjectOf(ledger, event.type), json(event), { msgID: event.id });
          }
        };
        await credit(9);
        assert.deepEqual(await publish(10), { batch: 0, each: 10 }, "a new publisher does not know the stream's last message: every message acknowledged");
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 }, 'then one acknowledgement proves the batch');
        await credit(1);
        assert.deepEqual(await publish(1), { batch: 1, each: 0 }, 'a batch of one too, with the expectations of the message before it');

        // The zombie published the next batch's first five, in order: JetStream drops ours as
        // duplicates, and each copy sits where ours would have gone, so the proof holds.
        await credit(20);
        await zombie(31, 5);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 });

        // The zombie published the whole next batch: the last acknowledgement is a duplicate's,
        // which proves nothing, and does not tell the stream's last message either.
        await credit(20);
        await zombie(51, 20);
        assert.deepEqual(await publish(20), { batch: 0, each: 20 });
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 0, each: 20 }, 'the last message was a duplicate: the next batch is acknowledged message by message');

        // Another writer's message on the stream: the first message's expectation is not met.
        await js.publish(`coffer.${ledger}.foreign`, 'not an event');
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 0, each: 20 }, 'the proof failed: published again, every message acknowledged');
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 }, 'the last acknowledgement told the last message again');

        assert.deepEqual(await positionsIn(js, jsm, ledger), upTo(131), 'each event once, in feed order');
        assert.equal((await jsm.streams.info(streamName(ledger))).state.messages, 132, 'the 131 events and the foreign message');
      });
    });

    it(`[${backend.name}] a message JetStream drops without a word is never taken as published, even when another writer's message makes the count add up; nothing after it is stored until it is, then all in order`, { timeout: 60_000 }, async () => {
      await withPublisher('dropped', async ({ app, db, js, jsm, ledger, credit, publish }) => {
        await credit(9);
        assert.deepEqual(await publish(10), { batch: 0, each: 10 });
        await credit(20);
        assert.deepEqual(await publish(20), { batch: 20, each: 0 });
        // The next batch's third event is too large for the stream: JetStream drops it (a plain
        // publish gets no answer). Another writer's message makes up the count, so a proof by
        // the count and the last message alone would pass and lose it.
        await jsm.streams.update(streamName(ledger), { max_msg_size: 2_048 });
        await js.publish(`coffer.${ledger}.foreign`, 'not an event');
        await credit(2);
        await credit(1, { note: 'x'.repeat(3_000) });
        await credit(17);
        await assert.rejects(app.nats!.run(), /size/i, 'published again message by message, the large one is refused: the turn fails');
        const stored = async () => (await db.query<{ position: bigint }>('SELECT position FROM event_publishers WHERE name = $1', [`nats:${ledger}`]))[0]!.position;
        assert.equal(BigInt(await stored()), 30n, 'the position is not moved past the refused event');
        assert.equal((await jsm.streams.info(streamName(ledger))).state.messages, 33, 'the 30, the foreign message and the two before the refused one: nothing after it');
        // Once the stream takes it, the next turn publishes it and the rest, in order.
        await jsm.streams.update(streamName(ledger), { max_msg_size: -1 });
        assert.deepEqual(await publish(20), { batch: 0, each: 20 });
        assert.equal(BigInt(await stored()), 50n);
        assert.deepEqual(await positionsIn(js, jsm, ledger), upTo(50), 'each event once, in feed order');
      });
    });

    it(`[${backend.name}] a publisher that lost its lease to another process never writes over that process's position, and publishes nothing more once it has found out`, { timeout: 60_000 }, async () => {
      await withPublisher(
        'takeover',
        async ({ db, jsm, ledger, credit }) => {
          const stored = async () => {
            const [row] = await db.query<{ position: bigint; owner: string }>('SELECT position, owner FROM event_publishers WHERE name = $1', [`nats:${ledger}`]);
            return { position: BigInt(row?.position ?? -1), owner: row?.owner };
          };
          const messages = async () => (await jsm.streams.info(streamName(ledger))).state.messages;
          const until = async (what: string, done: () => Promise<boolean>) => {
            for (const started = Date.now(); !(await done()); ) {
              assert.ok(Date.now() - started < 10_000, `timed out waiting until ${what}`);
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          };

          await credit(40);
          await until('the 41 events are published and their position stored', async () => (await stored()).position === 41n);
          assert.equal(await messages(), 41);

          // Another process takes the publisher over (as it would once this one's lease ran out),
          // a little behind: its position must stay as it set it.
          await db.query(`UPDATE event_publishers SET owner = 'another-process', position = 39, lease_until = now() + interval '1 hour' WHERE name = $1`, [`nats:${ledger}`]);
          await credit(5);
          // The old holder does not know yet (its lease has not run out by its own clock): its next
          // turn publishes what has come in of these five (JetStream would drop them as duplicates
          // of the new holder's), then finds the lease lost as it stores their position, and
          // publishes nothing more.
          await until('the old holder publishes a batch after the takeover', async () => (await messages()) > 41);
          await new Promise((resolve) => setTimeout(resolve, 500));
          const published = await messages();
          assert.ok(published <= 46, `${published} messages`);
          await credit(5);
          await new Promise((resolve) => setTimeout(resolve, 500));
          assert.equal(await messages(), published, 'the old holder, once it found the lease lost, published nothing more');
          assert.deepEqual(await stored(), { position: 39n, owner: 'another-process' }, 'the old holder did not write over the position of the new one');
        },
        100,
      );
    });
  }
});
