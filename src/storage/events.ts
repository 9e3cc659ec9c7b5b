/**
 * The outbox: events written in the transaction of the change they describe, and the feed's
 * order given to them after commit.
 *
 * Why positions are given after commit (docs/events.md): `seq`, an identity, is drawn when
 * a row is inserted, before its transaction commits, so rows become visible out of `seq`
 * order — a reader walking `seq > cursor` would step over a row whose transaction took a
 * smaller number and committed later, and never see it. `position`, the feed's order, is
 * given by `assignPositions` to rows already committed, in one transaction at a time (an
 * advisory lock serializes them, and a transaction releases it only after its commit is
 * visible): each run numbers its rows after the largest position any earlier run gave, so
 * the positioned rows a reader can see are always 1..n, with no hole for a later commit to
 * fill. On PGlite, one connection, transactions run one after another: there the INSERT
 * gives the positions itself (`eventsInsert` with `serial`), and the relay only numbers rows
 * an older release left without one.
 */
import { stringify } from 'lossless-json';
import { assert } from '../domain/errors.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Database, Queryable, Transaction } from './database.ts';
import { instantParam, tsText } from './sql.ts';
import type { Instant } from '../domain/time.ts';

/** An arbitrary constant naming the relay's lock among the server's advisory locks. */
const RELAY_LOCK = 7_140_523_913;

function json(value: unknown): string {
  return stringify(value) ?? 'null';
}

/**
 * The INSERT of a batch's events, as SQL with its seven parameters from `$first` on (ledger
 * is `$1`). With `ids` (the writer's CTE numbering the batch's transactions by `ord`), an
 * event that shows a transaction gets its id put into `data.transaction.id`. In a `serial`
 * transaction (PGlite: no other can commit beside it) the events take their feed positions
 * at once, after the largest one given: commit order is statement order there, and the
 * relay has nothing to do (and no second write and flush per batch to make).
 */
export function eventsInsert(first: number, ids: boolean, serial: boolean): string {
  const [id, type, occurredAt, walletIds, data, cause, transaction] = [0, 1, 2, 3, 4, 5, 6].map((offset) => `$${first + offset}`);
  const withId = ids ? `CASE WHEN x.tx IS NULL THEN x.data ELSE jsonb_set(x.data, '{transaction,id}', to_jsonb(ids.id)) END` : 'x.data';
  const position = serial ? ', (SELECT coalesce(max(position), 0) FROM events) + x.ord' : '';
  return `INSERT INTO events (ledger, id, type, occurred_at, wallet_ids, data, cause${serial ? ', position' : ''})
       SELECT $1, x.id, x.type, x.occurred_at, ARRAY(SELECT jsonb_array_elements_text(x.wallet_ids)), ${withId}, x.cause${position}
       FROM unnest(${id}::text[], ${type}::text[], ${occurredAt}::timestamptz[], ${walletIds}::jsonb[], ${data}::jsonb[], ${cause}::jsonb[], ${transaction}::int[])
         WITH ORDINALITY AS x(id, type, occurred_at, wallet_ids, data, cause, tx, ord)
       ${ids ? 'LEFT JOIN ids ON ids.ord = x.tx' : ''}
       ORDER BY x.ord`;
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

/** Writes events that show no transaction (a batch without a journal); sent with COMMIT. */
export function writeEvents(tx: Transaction, ledger: string, events: readonly OutboxEvent[]): void {
  if (events.length === 0) return;
  tx.defer(eventsInsert(2, false, tx.serial), [ledger, ...eventsParams(events)], events.length);
}

export interface RelayTurn {
  /** Events this turn numbered. */
  readonly numbered: number;
  /** The largest position given so far, as this turn sees it: by this turn or any before, in any process. */
  readonly top: bigint;
}

/**
 * One relay turn: gives the next positions to the committed events without one of the
 * transactions that wrote the first `limit` of them, in `seq` order of each transaction's
 * first event, a transaction's events together and in their order. Returns how many it
 * numbered and the feed's top position after them, or null when another process holds the
 * relay (it numbers them instead). The lock is taken in its own statement, before the
 * UPDATE's snapshot: that snapshot then sees every earlier run's positions.
 */
export async function assignPositions(db: Database, limit: number): Promise<RelayTurn | null> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RELAY_LOCK]);
    if (!lock?.locked) return null;
    const [row] = await tx.query<{ numbered: bigint; top: bigint }>(
      `WITH txs AS MATERIALIZED (
         SELECT DISTINCT tx FROM (SELECT tx FROM events WHERE position IS NULL ORDER BY seq LIMIT $1) AS d
       ), due AS MATERIALIZED (
         SELECT seq, row_number() OVER (ORDER BY first, seq) AS n
         FROM (SELECT seq, min(seq) OVER (PARTITION BY tx) AS first FROM events WHERE position IS NULL AND tx IN (SELECT tx FROM txs)) AS d
       ), base AS (
         SELECT coalesce(max(position), 0) AS p FROM events
       ), numbered AS (
         UPDATE events AS e SET position = base.p + due.n FROM due, base WHERE e.seq = due.seq
         RETURNING e.position
       )
       SELECT (SELECT count(*) FROM numbered) AS numbered, (SELECT p FROM base) + (SELECT count(*) FROM numbered) AS top`,
      [limit],
    );
    assert(row !== undefined, 'a relay turn reports what it numbered');
    return { numbered: Number(row.numbered), top: BigInt(row.top) };
  });
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
  return { position: BigInt(row.position), id: row.id, type: row.type, occurredAt: row.occurred_at, ledger: row.ledger, data: row.data, cause: row.cause };
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

/** The outbox's backlog: events not yet in the feed, and the age in seconds of the oldest. */
export async function outboxLag(q: Queryable): Promise<{ readonly unpositioned: number; readonly oldestSeconds: number }> {
  const [row] = await q.query<{ n: bigint; oldest: string | null }>(
    `SELECT count(*) AS n, extract(epoch FROM now() - min(occurred_at))::text AS oldest FROM events WHERE position IS NULL`,
  );
  return { unpositioned: Number(row?.n ?? 0), oldestSeconds: row?.oldest ? Math.max(0, Number(row.oldest)) : 0 };
}

/**
 * Takes (or renews) the lease of publisher `name` for `owner` until `until`, creating it at
 * position 0; returns its position, or null while another owner's lease runs.
 */
export async function leasePublisher(db: Queryable, name: string, owner: string, now: Instant, until: Instant): Promise<bigint | null> {
  const [row] = await db.query<{ position: bigint }>(
    `INSERT INTO event_publishers AS p (name, position, owner, lease_until) VALUES ($1, 0, $2, $4)
     ON CONFLICT (name) DO UPDATE SET owner = $2, lease_until = $4
       WHERE p.owner = $2 OR p.lease_until IS NULL OR p.lease_until <= $3
     RETURNING p.position`,
    [name, owner, instantParam(now), instantParam(until)],
  );
  return row ? BigInt(row.position) : null;
}

/** Moves publisher `name` to `position`, if `owner` still holds it; false when it lost the lease. */
export async function advancePublisher(db: Queryable, name: string, owner: string, position: bigint): Promise<boolean> {
  const rows = await db.query('UPDATE event_publishers SET position = $3 WHERE name = $1 AND owner = $2 AND position < $3 RETURNING name', [name, owner, position.toString()]);
  return rows.length > 0;
}
