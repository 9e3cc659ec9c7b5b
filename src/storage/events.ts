/**
 * The outbox: events written in the transaction of the change they describe, each with its
 * place in the feed.
 *
 * Why positions are not the outbox's identity (docs/events.md): `seq` is drawn when a row is
 * inserted, before its transaction commits, so rows become visible out of `seq` order — a
 * reader walking `seq > cursor` would step over a row whose transaction took a smaller
 * number and committed later, and never see it. `position`, the feed's order, is taken from
 * the one row of `event_feed_top` by the statement that inserts the events: it updates that
 * row, and the row's lock is held until the transaction ends, after its commit is visible.
 * So a transaction that writes events takes its positions only after every earlier one has
 * committed (or rolled back, giving its positions back): positions follow commit order, and
 * the positions a reader can see are always a gapless prefix 1..n — no hole for a later
 * commit to fill. The lock is taken by the last statement a batch sends before COMMIT that
 * can wait for a row (storage/effects.ts): a batch waits for it only to commit.
 */
import { stringify } from 'lossless-json';
import { assert } from '../domain/errors.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Queryable, Transaction } from './database.ts';
import { instantColumn, instantParam, tsText } from './sql.ts';
import { formatInstant, type Instant } from '../domain/time.ts';

function json(value: unknown): string {
  return stringify(value) ?? 'null';
}

/**
 * Where a batch's events go: `feed`, into `events` with their positions (the usual), or
 * `staged`, into this session's `coffer_staged_events` to take their positions at the end of
 * the transaction (`moveStagedEvents`) — for a transaction that runs several batches.
 */
export type EventsTarget = 'feed' | 'staged';

/**
 * The statement parts that write a batch's events, with their seven parameters from `$first`
 * on (ledger is `$1`): `top`, a CTE named `top` taking the next positions from
 * `event_feed_top` (see above) — the UPDATE waits for a concurrent writer's commit and then
 * reads the row as that commit left it, so two writers never take the same positions — and
 * `insert`, the INSERT that reads it. PostgreSQL runs data-modifying CTEs only at the top
 * level, so the caller puts `top` in its own WITH. The position is a scalar subquery: were
 * the row missing, it is NULL and the INSERT fails (NOT NULL) rather than write nothing.
 * Staged events take no position (`top` is null). With `ids` (the writer's CTE numbering the
 * batch's transactions by `ord`), an event that shows a transaction gets its id put into
 * `data.transaction.id`.
 */
export function eventsInsert(first: number, ids: boolean, target: EventsTarget = 'feed'): { readonly top: string | null; readonly insert: string } {
  const [id, type, occurredAt, walletIds, data, cause, transaction] = [0, 1, 2, 3, 4, 5, 6].map((offset) => `$${first + offset}`);
  const withId = ids ? `CASE WHEN x.tx IS NULL THEN x.data ELSE jsonb_set(x.data, '{transaction,id}', to_jsonb(ids.id)) END` : 'x.data';
  const staged = target === 'staged';
  return {
    top: staged ? null : `top AS (UPDATE event_feed_top SET position = position + cardinality(${id}::text[]) WHERE singleton RETURNING position - cardinality(${id}::text[]) AS base)`,
    insert: `INSERT INTO ${staged ? `pg_temp.${STAGED}` : 'events'} (ledger, id, type, occurred_at, wallet_ids, data, cause${staged ? '' : ', position'})
       SELECT $1, x.id, x.type, x.occurred_at, ARRAY(SELECT jsonb_array_elements_text(x.wallet_ids)), ${withId}, x.cause${staged ? '' : ', (SELECT base FROM top) + x.ord'}
       FROM unnest(${id}::text[], ${type}::text[], ${occurredAt}::timestamptz[], ${walletIds}::jsonb[], ${data}::jsonb[], ${cause}::jsonb[], ${transaction}::int[])
         WITH ORDINALITY AS x(id, type, occurred_at, wallet_ids, data, cause, tx, ord)
       ${ids ? 'LEFT JOIN ids ON ids.ord = x.tx' : ''}
       ORDER BY x.ord`,
  };
}

/** The session's table of staged events (see `EventsTarget`). */
const STAGED = 'coffer_staged_events';

/**
 * Makes this session's table of staged events, if it has none yet: a temporary table, seen
 * by this connection only, its rows gone with a rollback. Called at the start of a
 * transaction that stages.
 */
export async function prepareStaging(tx: Queryable): Promise<void> {
  await tx.query(
    `CREATE TEMPORARY TABLE IF NOT EXISTS ${STAGED} (
       ord bigint GENERATED ALWAYS AS IDENTITY, ledger text NOT NULL, id text NOT NULL, type text NOT NULL,
       occurred_at timestamptz NOT NULL, wallet_ids text[] NOT NULL, data jsonb NOT NULL, cause jsonb NOT NULL)`,
  );
}

/**
 * Moves the `count` events this transaction staged into the feed, in the order they were
 * staged, with their positions: sent last before COMMIT, so the transaction holds the feed's
 * top only from there to its commit, as a single batch does. See `EventsTarget`.
 */
export function moveStagedEvents(tx: Transaction, count: number): void {
  if (count === 0) return;
  tx.defer(
    `WITH staged AS (
       DELETE FROM pg_temp.${STAGED} RETURNING *
     ), top AS (
       UPDATE event_feed_top SET position = position + $1::bigint WHERE singleton RETURNING position - $1::bigint AS base
     )
     INSERT INTO events (ledger, id, type, occurred_at, wallet_ids, data, cause, position)
     SELECT s.ledger, s.id, s.type, s.occurred_at, s.wallet_ids, s.data, s.cause, (SELECT base FROM top) + row_number() OVER (ORDER BY s.ord)
     FROM staged AS s ORDER BY s.ord`,
    [count],
    count,
  );
}

export function eventsParams(events: readonly OutboxEvent[]): unknown[] {
  return [
    events.map((e) => e.id),
    events.map((e) => e.type),
    events.map((e) => instantParam(e.occurredAt)),
    events.map((e) => JSON.stringify(e.walletIds)),
    events.map((e) => json(e.data)),
    events.map((e) => JSON.stringify(e.cause)),
    events.map((e) => e.transaction),
  ];
}

/** The statement that writes events showing no transaction (a batch without a journal), with its parameters. */
export function eventsStatement(ledger: string, events: readonly OutboxEvent[], target: EventsTarget = 'feed'): { readonly sql: string; readonly params: unknown[] } {
  const { top, insert } = eventsInsert(2, false, target);
  return { sql: top === null ? insert : `WITH ${top} ${insert}`, params: [ledger, ...eventsParams(events)] };
}

/** Writes events that show no transaction (a batch without a journal); sent with COMMIT. */
export function writeEvents(tx: Transaction, ledger: string, events: readonly OutboxEvent[], target: EventsTarget = 'feed'): void {
  if (events.length === 0) return;
  const { sql, params } = eventsStatement(ledger, events, target);
  tx.defer(sql, params, events.length);
}

/** The largest position given so far, committed (0 before the first event): where the feed ends. */
export async function feedTop(q: Queryable): Promise<bigint> {
  const [row] = await q.query<{ position: bigint }>('SELECT position FROM event_feed_top');
  return BigInt(row?.position ?? 0);
}

export interface StoredEvent {
  readonly position: bigint;
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly ledger: string;
  /** JSON text, integers exact (parse it losslessly). */
  readonly data: string;
  readonly cause: string;
}

export interface EventFilter {
  readonly types?: readonly string[];
  readonly walletId?: string;
}

type EventRow = { position: bigint; id: string; type: string; occurred_at: string; ledger: string; data: string; cause: string };

const EVENT_COLUMNS = `position, id, type, ${tsText('occurred_at')} AS occurred_at, ledger, data::text AS data, cause::text AS cause`;

function storedEvent(row: EventRow): StoredEvent {
  return { position: BigInt(row.position), id: row.id, type: row.type, occurredAt: formatInstant(instantColumn(row.occurred_at)), ledger: row.ledger, data: row.data, cause: row.cause };
}

/** The WHERE clause of a feed read (`$1` ledger, `$2` after), its filter's parameters appended to `params`. */
function feedWhere(params: unknown[], filter: EventFilter): string {
  const where = ['ledger = $1', 'position IS NOT NULL', 'position > $2::bigint'];
  if (filter.types !== undefined && filter.types.length > 0) {
    params.push(filter.types);
    where.push(`type = ANY($${params.length}::text[])`);
  }
  if (filter.walletId !== undefined) {
    params.push(filter.walletId);
    where.push(`wallet_ids @> ARRAY[$${params.length}::text]`);
  }
  return where.join(' AND ');
}

/** Events of a ledger after `after` in feed order, at most `limit`. */
export async function listEvents(q: Queryable, ledger: string, after: bigint, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
  const params: unknown[] = [ledger, after.toString(), limit];
  const rows = await q.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE ${feedWhere(params, filter)} ORDER BY position LIMIT $3`, params);
  return rows.map(storedEvent);
}

export interface FeedPage {
  /** The events after `after` that pass the filter, in feed order, at most `limit`. */
  readonly events: StoredEvent[];
  /**
   * The ledger's largest position visible to the same snapshot (0 when it has none). When
   * fewer than `limit` events passed the filter, every event up to it was looked at, and any
   * event not yet visible will take a larger position (the visible positions are always a
   * gapless prefix): a filtered reader resumes after it without missing one and without
   * scanning the same non-matching events again.
   */
  readonly highWater: bigint;
}

/** A page of the feed and its high-water mark, read in one statement (one snapshot). */
export async function readFeedPage(q: Queryable, ledger: string, after: bigint, filter: EventFilter, limit: number): Promise<FeedPage> {
  const params: unknown[] = [ledger, after.toString(), limit];
  const rows = await q.query<{ high_water: bigint | null } & { [K in keyof EventRow]: EventRow[K] | null }>(
    `WITH page AS (SELECT ${EVENT_COLUMNS} FROM events WHERE ${feedWhere(params, filter)} ORDER BY position LIMIT $3)
     SELECT (SELECT max(position) FROM events WHERE ledger = $1 AND position IS NOT NULL) AS high_water, page.*
     FROM (SELECT 1) AS one LEFT JOIN page ON true ORDER BY page.position`,
    params,
  );
  const highWater = BigInt(rows[0]?.high_water ?? 0);
  const events = rows.filter((row): row is typeof row & EventRow => row.position !== null).map(storedEvent);
  assert(events.every((event) => event.position <= highWater), 'a feed page lies below its high-water mark');
  return { events, highWater };
}

/**
 * How far each publisher trails its ledger's newest event, in feed positions: its events not
 * yet published, plus any other ledger's events between them. The publishers are NATS's
 * (event_publishers, `nats:<ledger>`) and every enabled webhook endpoint (`webhook:<id>`,
 * from its `feed_position`: the events not yet made into deliveries, those its `eventTypes`
 * leave out counted too until a fan-out passes them).
 */
export async function publisherLag(q: Queryable): Promise<{ readonly name: string; readonly events: number }[]> {
  const rows = await q.query<{ name: string; events: bigint }>(
    `SELECT p.name, greatest(coalesce((SELECT max(e.position) FROM events e WHERE e.ledger = p.ledger AND e.position IS NOT NULL), 0) - p.position, 0) AS events
     FROM (
       SELECT name, ledger, position FROM event_publishers
       UNION ALL SELECT 'webhook:' || id, ledger, feed_position FROM webhook_endpoints WHERE enabled
     ) AS p ORDER BY p.name`,
  );
  return rows.map((row) => ({ name: row.name, events: Number(row.events) }));
}

/**
 * Takes (or renews) the lease of publisher `name` of `ledger` for `owner` until `until`,
 * creating it at position 0; returns its position, or null while another owner's lease runs.
 */
export async function leasePublisher(db: Queryable, name: string, ledger: string, owner: string, now: Instant, until: Instant): Promise<bigint | null> {
  const [row] = await db.query<{ position: bigint }>(
    `INSERT INTO event_publishers AS p (name, ledger, position, owner, lease_until) VALUES ($1, $5, 0, $2, $4)
     ON CONFLICT (name) DO UPDATE SET owner = $2, lease_until = $4, ledger = $5
       WHERE p.owner = $2 OR p.lease_until IS NULL OR p.lease_until <= $3
     RETURNING p.position`,
    [name, owner, instantParam(now), instantParam(until), ledger],
  );
  return row ? BigInt(row.position) : null;
}

/**
 * Moves publisher `name` to `position` and renews its lease until `until`, if `owner` still
 * holds it; false when it lost the lease. The commit is not waited on to reach the disk
 * (`synchronous_commit` off for this one transaction, set by the statement itself): a crash
 * may lose the newest position, and the publisher then sends those events again, which it
 * must tolerate anyway (NATS drops them by message id). It never makes another commit less
 * durable: PostgreSQL flushes the WAL in order.
 */
export async function advancePublisher(db: Queryable, name: string, owner: string, position: bigint, until: Instant): Promise<boolean> {
  const rows = await db.query(
    `WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true))
     UPDATE event_publishers SET position = $3, lease_until = $4
     WHERE name = $1 AND owner = $2 AND position < $3 AND (SELECT count(*) FROM lazy) = 1 RETURNING name`,
    [name, owner, position.toString(), instantParam(until)],
  );
  return rows.length > 0;
}
