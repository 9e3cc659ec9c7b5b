/**
 * NATS JetStream: with NATS_URL set, every event of the ledger is published to
 * `coffer.<ledger>.<type>` on the stream `coffer-<ledger>` (created if missing), from the
 * feed, in position order, with `Nats-Msg-Id` = the event id.
 *
 * One process publishes at a time: it holds the publisher's lease (storage/events.ts
 * `leasePublisher`), publishes the next events after the stored position, waits for
 * JetStream's acks (one for the whole batch when it proves the batch stored:
 * `publishProven`), then stores the new position. A crash between the acks and that store
 * makes the next publisher send those events again: JetStream drops them as duplicates of
 * their message ids (within the stream's duplicate window, set well above a lease), so a
 * consumer sees each event once, in order. A NATS or database outage only delays the loop:
 * it runs outside requests, and nothing in a request waits for it.
 *
 * Under load a commit wakes the waiting loop (on PGlite at most once per the pace's gap,
 * events/pace.ts: a turn then reads the events of several commits in one statement; a
 * commit during a turn is published by the turn the next commit or the interval starts), and
 * a turn writes as little as it can:
 * the lease is taken again only once half of it has run (the position it stores in the
 * meantime renews it), and the stored position is not flushed to disk at its commit
 * (`advancePublisher`). A position lost in a crash is a position from a moment earlier: the
 * next publisher resends those events, which JetStream drops as duplicates, as above.
 */
import { hostname } from 'node:os';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { v7 as uuidv7 } from 'uuid';
import type { Instant } from '../domain/time.ts';
import type { Database } from '../storage/database.ts';
import { advancePublisher, leasePublisher, listEvents, type StoredEvent } from '../storage/events.ts';
import { loopPace } from './pace.ts';

/** Events published per turn; the turn goes on while it finds this many. */
export const NATS_BATCH_MAX = 256;
const LEASE_MICROS = 30_000_000n;
/** JetStream's duplicate window for the stream: well above a lease, so a taken-over batch is deduplicated. */
const DUPLICATE_WINDOW_NANOS = 10 * 60 * 1_000_000_000;

export interface NatsOptions {
  readonly db: Database;
  readonly url: string;
  readonly ledger: string;
  readonly clock: () => Instant;
  readonly intervalMs: number;
  /** Told of every batch published (metrics): how many events, and whether one acknowledgement proved them all stored (`publishProven`). */
  readonly onPublished?: (count: number, proven: boolean) => void;
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface NatsPublisher {
  /** Turns now until nothing is left to publish; resolves to how many events were published. */
  run(): Promise<number>;
  kick(): void;
  stop(): Promise<void>;
}

export function streamName(ledger: string): string {
  return `coffer-${ledger}`;
}

export function subjectOf(ledger: string, type: string): string {
  return `coffer.${ledger}.${type}`;
}

export function startNatsPublisher(options: NatsOptions, loop = true): NatsPublisher {
  const { db, ledger, clock } = options;
  const name = `nats:${ledger}`;
  const owner = `${hostname()}:${process.pid}:${uuidv7()}`;
  let connection: { nc: NatsConnection; js: JetStreamClient } | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let turn: Promise<number> | undefined;
  let failing = false;
  const turnGapMs = loopPace(db.kind).publishGapMs;
  let lastTurnMs = -Infinity;

  async function connected(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    if (connection && !connection.nc.isClosed()) return connection;
    // noAsyncTraces: the client would otherwise make two Error objects, stack traces included,
    // for every publish in case its acknowledgement fails (a CPU profile of the events bench:
    // about 30 µs per event).
    const nc = await connect({ servers: options.url, name: 'coffer', reconnect: true, maxReconnectAttempts: -1, timeout: 5_000, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    const stream = streamName(ledger);
    try {
      await jsm.streams.info(stream);
    } catch {
      await jsm.streams.add({ name: stream, subjects: [`coffer.${ledger}.>`], duplicate_window: DUPLICATE_WINDOW_NANOS });
    }
    connection = { nc, js: jetstream(nc) };
    streamLast = null;
    return connection;
  }

  /** The lease this process holds as it last stored it: its position and its end. */
  let held: { readonly position: bigint; readonly until: Instant } | null = null;

  /**
   * The stream's last message as this publisher last saw it stored (an acknowledgement of a
   * message it published, not a duplicate's), or null when it does not know it: a new
   * publisher or connection, or a batch that was not proven.
   */
  let streamLast: { readonly seq: number; readonly id: string } | null = null;

  /**
   * Publishes a batch with one acknowledgement instead of one per message, when that proves
   * it stored. Every message but the last is published plainly (no reply), and the last with
   * an acknowledgement; each carries JetStream's expectations that the stream's last message
   * is, when it arrives, the one before it in the batch, at the sequence just before its own
   * (the first: the last one this publisher saw stored). JetStream stores a message only if
   * its expectations hold, and one it does not store — refused by a limit, dropped with no
   * leader, or refused because another writer's message came in between — leaves every later
   * one's expectations unmet. So an acknowledgement of the last message that is not a
   * duplicate proves the stream holds the whole batch right after the known message, in
   * order. One gap, which only another writer on the stream's subjects can open: JetStream
   * drops a duplicate of a stored message id before it looks at its expectations, so the link
   * just before a copy stored by a publisher that lost its lease goes unchecked; should that
   * copy sit where ours would have gone only because another writer's message took the place
   * of a refused one, the refused one would be passed over. The stream `coffer-<ledger>` and
   * its subjects are Coffer's own (docs/events.md). Otherwise, or on any error or timeout, it
   * returns false, and the caller publishes the batch again one acknowledged message at a
   * time: JetStream drops by message id those already stored.
   */
  async function publishProven(nc: NatsConnection, js: JetStreamClient, events: readonly StoredEvent[], bodies: readonly string[]): Promise<boolean> {
    const known = streamLast;
    if (known === null) return false;
    streamLast = null;
    const n = events.length;
    const expected = (i: number) => ({ lastSequence: known.seq + i, lastMsgID: i === 0 ? known.id : events[i - 1]!.id });
    const lastEvent = events[n - 1]!;
    try {
      for (let i = 0; i < n - 1; i++) {
        const { lastSequence, lastMsgID } = expected(i);
        const h = headers();
        h.set('Nats-Msg-Id', events[i]!.id);
        h.set('Nats-Expected-Last-Sequence', String(lastSequence));
        h.set('Nats-Expected-Last-Msg-Id', lastMsgID);
        nc.publish(subjectOf(ledger, events[i]!.type), bodies[i], { headers: h });
      }
      const ack = await js.publish(subjectOf(ledger, lastEvent.type), bodies[n - 1], { msgID: lastEvent.id, expect: expected(n - 1) });
      if (ack.duplicate || ack.seq !== known.seq + n) return false;
      streamLast = { seq: ack.seq, id: lastEvent.id };
      return true;
    } catch {
      return false;
    }
  }

  /** One batch: lease (when half of it has run), read, publish in order, wait for the acks, store the position. */
  async function publishOnce(): Promise<number> {
    const now = clock();
    if (held === null || held.until - now < LEASE_MICROS / 2n) {
      const position = await leasePublisher(db, name, ledger, owner, now, now + LEASE_MICROS);
      held = position === null ? null : { position, until: now + LEASE_MICROS };
    }
    if (held === null) return 0; // another process publishes
    const position = held.position;
    const events = await listEvents(db, ledger, position, {}, NATS_BATCH_MAX);
    if (events.length === 0) return 0;
    const { nc, js } = await connected();
    const bodies = events.map(
      (event) =>
        `{"position":${event.position},"id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"occurredAt":${JSON.stringify(event.occurredAt)},"ledger":${JSON.stringify(event.ledger)},"data":${event.data},"cause":${event.cause}}`,
    );
    const proven = await publishProven(nc, js, events, bodies);
    if (!proven) {
      // One message at a time, each acknowledged before the next is sent: a message JetStream
      // refuses ends the turn (the position stays) before any later one is stored, so none is
      // ever stored out of order. The stream's last message is known again from the last ack,
      // unless it was a duplicate's (stored earlier, so not necessarily the stream's last).
      let lastAck: PubAck | undefined;
      for (const [i, event] of events.entries()) lastAck = await js.publish(subjectOf(ledger, event.type), bodies[i], { msgID: event.id });
      streamLast = lastAck === undefined || lastAck.duplicate ? null : { seq: lastAck.seq, id: events[events.length - 1]!.id };
    }
    const last = events[events.length - 1]!.position;
    const until = clock() + LEASE_MICROS;
    // Lost the lease meanwhile (it ran out: another process took it): ask for it again next turn.
    held = (await advancePublisher(db, name, owner, last, until)) ? { position: last, until } : null;
    options.onPublished?.(events.length, proven);
    return events.length;
  }

  async function runOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const published = await publishOnce();
      total += published;
      if (published < NATS_BATCH_MAX) return total;
    }
  }

  const run = (): Promise<number> => {
    const previous = turn ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(runOnce);
    turn = next;
    return next;
  };

  const tick = async () => {
    timer = undefined;
    lastTurnMs = Date.now();
    try {
      await run();
      if (failing) options.onRecovery?.();
      failing = false;
    } catch (error) {
      if (!failing) options.onFailure?.(error);
      failing = true;
    }
    if (!stopped && timer === undefined) schedule(options.intervalMs);
  };

  /** When the waiting timer fires (Date.now()). */
  let dueMs = Infinity;
  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    dueMs = Date.now() + ms;
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };

  if (loop) schedule(0);
  return {
    run,
    kick() {
      // Waiting for the interval: a turn as soon as the gap since the last one allows, if that
      // is sooner. During a turn a kick does nothing: the next commit's kick, or the interval,
      // starts the turn that publishes what committed meanwhile.
      if (!loop || stopped || timer === undefined) return;
      const waitMs = Math.max(0, lastTurnMs + turnGapMs - Date.now());
      if (Date.now() + waitMs < dueMs) schedule(waitMs);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await turn?.catch(() => 0);
      await connection?.nc.close().catch(() => {});
    },
  };
}
