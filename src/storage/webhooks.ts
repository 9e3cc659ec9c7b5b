/**
 * Webhook endpoints, their deliveries and attempts (events/webhooks.ts sends them). A
 * delivery is one event to send to one endpoint; deliveries are fanned out from the feed
 * (positions, so in commit order and never skipping one) after each endpoint's
 * `feed_position`, as far as each endpoint's allowance goes already leased to the process
 * that made them (`claimFresh`; the rest wait in the feed for a later fan-out), and due ones
 * (a retry, a replay, a test, a lapsed lease) claimed with
 * `FOR UPDATE SKIP LOCKED` and a lease, so one process at a time sends a given delivery and a
 * dead process's lease lapses for another to take. Times come from the caller's clock (tests move it), never from the server's `now()`.
 */
import type { Instant } from '../domain/time.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Database, Queryable } from './database.ts';
import { writeEvents } from './events.ts';
import { instantColumn, instantParam, tsText, tsTextTrimmed } from './sql.ts';

/**
 * Part of the delivery loop's bookkeeping (a fan-out that leased nothing, leases given back,
 * successes recorded) commits without waiting for its WAL to reach the disk (or a synchronous standby):
 * `synchronous_commit` off for that one transaction, set by the statement itself (a CTE of
 * this name that the statement reads). A crash or a failover can lose the newest of these
 * commits, and losing one only makes the loop do it again: a position moved again past events no endpoint wants, a
 * lease given back lapsing instead, a delivered event sent again later (with the same
 * `webhook-id`: at least once, as always). A claim stays durable, and so does a fan-out that
 * leased what it made (`claimFresh`): a delivery is sent only once its lease, and everything
 * before it in the WAL (its fan-out, its event), is on disk
 * and on the standby, so a lost lease can never let a second process send it while the
 * first still is. A success is recorded only after its 2xx, and PostgreSQL flushes the WAL
 * in order, so no other commit becomes less durable. (PGlite has no WAL writer: its lazy
 * commits reach the disk with the next durable one, a ledger commit or a claim.) Each of
 * these commits would otherwise wait for a flush of its own (PGlite: a blocking fsync of the
 * process) beside the ledger's.
 */
const LAZY_COMMIT = `lazy AS (SELECT set_config('synchronous_commit', 'off', true) AS off)`;

export interface WebhookEndpoint {
  readonly id: string;
  readonly ledger: string;
  readonly url: string;
  /** Empty = every type. */
  readonly eventTypes: readonly string[];
  readonly description: string;
  readonly secret: string;
  readonly previousSecret: string | null;
  readonly previousSecretUntil: Instant | null;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly createdAt: Instant;
}

const ENDPOINT_COLUMNS = `id, ledger, url, event_types, description, secret, previous_secret, ${tsText('previous_secret_until')} AS previous_secret_until,
  enabled, disabled_reason, ${tsText('created_at')} AS created_at`;

/** An event as the feed shows it, built from the `events` row `e` (JSON text, exact integers): the body of its deliveries. */
const EVENT_BODY = `json_build_object('position', e.position, 'id', e.id, 'type', e.type, 'occurredAt', ${tsTextTrimmed('e.occurred_at')},
  'ledger', e.ledger, 'data', e.data, 'cause', e.cause)::text`;

interface EndpointRow {
  id: string;
  ledger: string;
  url: string;
  event_types: string[];
  description: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: string;
}

function endpointOf(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    ledger: row.ledger,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretUntil: row.previous_secret_until === null ? null : instantColumn(row.previous_secret_until),
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    createdAt: instantColumn(row.created_at),
  };
}

/**
 * A claim's rows carry each endpoint's columns with its first delivery only (the others' are
 * null): a claim of up to 128 deliveries to one endpoint (PGlite: 512) parses its row once,
 * not once per delivery. The reader returns the endpoint of any of the claim's rows, by its endpoint id.
 */
function endpointsOfClaim(): (endpointId: string, row: Partial<EndpointRow>) => WebhookEndpoint {
  const seen = new Map<string, WebhookEndpoint>();
  return (endpointId, row) => {
    let endpoint = seen.get(endpointId);
    if (endpoint === undefined) seen.set(endpointId, (endpoint = endpointOf(row as EndpointRow)));
    return endpoint;
  };
}

/** A new endpoint receives the events committed after it was created. */
export async function insertEndpoint(db: Queryable, endpoint: WebhookEndpoint): Promise<void> {
  await db.query(
    `INSERT INTO webhook_endpoints (id, ledger, url, event_types, description, secret, enabled, created_at, feed_position)
     VALUES ($1, $2, $3, $4, $5, $6, true, $7, (SELECT coalesce(max(position), 0) FROM events))`,
    [endpoint.id, endpoint.ledger, endpoint.url, endpoint.eventTypes, endpoint.description, endpoint.secret, instantParam(endpoint.createdAt)],
  );
}

export async function listEndpoints(db: Queryable, ledger: string): Promise<WebhookEndpoint[]> {
  const rows = await db.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ledger = $1 ORDER BY created_at, id`, [ledger]);
  return rows.map(endpointOf);
}

export async function getEndpoint(db: Queryable, ledger: string, id: string): Promise<WebhookEndpoint | null> {
  const [row] = await db.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ledger = $1 AND id = $2`, [ledger, id]);
  return row ? endpointOf(row) : null;
}

export interface EndpointPatch {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string;
  readonly enabled?: boolean;
}

/**
 * Re-enabling clears the reason it was disabled and restarts the retry window of the
 * endpoint's pending deliveries at `now`: the time it was paused or disabled is not time its
 * receiver was failing, so the first failure after a resume must not give an event up.
 * Null when there is no such endpoint.
 */
export async function updateEndpoint(db: Queryable, ledger: string, id: string, patch: EndpointPatch, now: Instant): Promise<WebhookEndpoint | null> {
  const [row] = await db.query<EndpointRow>(
    `WITH before AS (
       SELECT enabled FROM webhook_endpoints WHERE ledger = $1 AND id = $2 FOR UPDATE
     ), restarted AS (
       UPDATE webhook_deliveries SET created_at = $7, next_attempt_at = least(next_attempt_at, $7)
       WHERE endpoint_id = $2 AND status = 'pending' AND $6 IS TRUE AND EXISTS (SELECT 1 FROM before WHERE NOT enabled)
     )
     UPDATE webhook_endpoints SET url = coalesce($3, url), event_types = coalesce($4, event_types), description = coalesce($5, description),
       enabled = coalesce($6, enabled), disabled_reason = CASE WHEN $6 IS TRUE THEN NULL ELSE disabled_reason END
     WHERE ledger = $1 AND id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
    [ledger, id, patch.url ?? null, patch.eventTypes ?? null, patch.description ?? null, patch.enabled ?? null, instantParam(now)],
  );
  return row ? endpointOf(row) : null;
}

/**
 * Deletes an endpoint with its deliveries and attempts (no foreign key cascades: migration 10).
 * The endpoint first: deleting its row waits for a fan-out or a failure's record that holds
 * it and keeps any later one from seeing it; then its rows, read by the next statement (a
 * later snapshot), so one that committed meanwhile left none behind. Test deliveries and
 * successes are written only for an endpoint that exists; a success recorded by a send in
 * flight at the very moment of the delete can still leave its attempt row, which nothing
 * lists (listings go through the endpoint).
 */
export async function deleteEndpoint(db: Database, ledger: string, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.query('DELETE FROM webhook_endpoints WHERE ledger = $1 AND id = $2 RETURNING id', [ledger, id]);
    if (rows.length === 0) return false;
    await tx.query('WITH a AS (DELETE FROM webhook_attempts WHERE endpoint_id = $1) DELETE FROM webhook_deliveries WHERE endpoint_id = $1', [id]);
    return true;
  });
}

/** A new secret; the current one keeps signing alongside it until `graceUntil`. */
export async function rotateSecret(db: Queryable, ledger: string, id: string, secret: string, graceUntil: Instant): Promise<WebhookEndpoint | null> {
  const [row] = await db.query<EndpointRow>(
    `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $4, secret = $3
     WHERE ledger = $1 AND id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
    [ledger, id, secret, instantParam(graceUntil)],
  );
  return row ? endpointOf(row) : null;
}

export interface FreshClaim {
  /** The deliveries made and leased (until the claim's `leaseUntil`), to send now. */
  readonly leased: ClaimedDelivery[];
  /**
   * Endpoints whose fan-out stopped at their allowance (events they want wait in the feed for
   * a later fan-out), or that had none (not read at all: this process's sends to them are all
   * under way, and their end starts the turn that fans them out).
   */
  readonly capped: number;
  /** Enabled endpoints passed by because another session held their row (another process's fan-out, a PATCH, a rotation). */
  readonly held: number;
  /** The most events looked at for one endpoint not capped: when it is the limit, that endpoint may have more. */
  readonly fullest: number;
  /**
   * Enabled endpoints, every one of them: those another process, a PATCH or a rotation held
   * locked (which this fan-out passed by) too, so that none of them makes the loop idle.
   */
  readonly endpoints: number;
}

/**
 * Fans the feed out into deliveries as far as this process can send them now, and claims
 * them, in one statement. For every enabled endpoint not being fanned out by another process
 * (`SKIP LOCKED`), its allowance is what `free` gives it (endpoint id → deliveries this
 * process may still take; `perEndpoint` for an endpoint `free` does not name). Of the next
 * `limit` events after its `feed_position`: a delivery for each it wants, up to its
 * allowance, written already leased until `leaseUntil` with its first attempt counted (as
 * `claimDeliveries` leases) and returned with its body; and the position moved past every
 * event looked at up to the first wanted one beyond the allowance (those its `eventTypes`
 * leave out too), so a crash leaves both or neither. The events beyond the allowance stay in
 * the feed, in order, for a later fan-out (`capped`; an endpoint that wants every type reads
 * its allowance and one more event, which shows it capped; one with no allowance, nothing; one
 * with `eventTypes`, up to the first wanted event beyond its allowance — `stop`, found among the
 * next `limit` events by their types alone — or `limit` events when there is none): the feed
 * is the backlog's queue, and an event becomes a delivery row only when a process leases it. (Made unleased for a later claim
 * instead, as before, a delivery under a backlog was written, locked and written again, and
 * its event read twice; on PGlite under the events bench, claims of those took 37 ms of each
 * second of the thread and the fan-outs that made them 41: docs/events.md, Cost.) An
 * endpoint is caught up when its batch was not full and it was not capped: the caller repeats
 * while `fullest` is the limit, since a batch with no event the endpoint wants made no
 * delivery but still moved it, and the events it wants may be next. The endpoint rows are
 * locked `FOR NO KEY UPDATE` (only `feed_position` changes): a record of an attempt (`FOR KEY
 * SHARE`) does not make a fan-out pass the endpoint by; a delete does.
 *
 * Made already leased, a delivery is written once and deleted once (`recordDelivered`). It
 * commits durably when it leased any delivery, as a claim does (LAZY_COMMIT: a delivery is
 * sent only once its lease is on disk), and lazily when it only moved positions past events
 * the endpoints do not want.
 */
export async function claimFresh(db: Queryable, now: Instant, leaseUntil: Instant, limit: number, perEndpoint: number, free: ReadonlyMap<string, number>): Promise<FreshClaim> {
  const rows = await db.query<
    { fullest: bigint; endpoints: bigint; capped: bigint; held: bigint; lazy: string } & Partial<EndpointRow> & { delivery_id: bigint | null; event_id: string | null; body: string | null; endpoint_id: string | null }
  >(
    `WITH ep AS MATERIALIZED (
       SELECT w.id, w.ledger, w.event_types, w.feed_position, greatest(coalesce(f.free, $4), 0) AS allow
       FROM webhook_endpoints AS w LEFT JOIN unnest($5::text[], $6::int[]) AS f(endpoint_id, free) ON f.endpoint_id = w.id
       WHERE w.enabled ORDER BY w.id FOR NO KEY UPDATE OF w SKIP LOCKED
     ), ev AS MATERIALIZED (
       SELECT ep.id AS endpoint_id, ep.allow, e.seq, e.position, e.wanted,
         count(*) FILTER (WHERE e.wanted) OVER (PARTITION BY ep.id ORDER BY e.position) AS nth
       FROM ep CROSS JOIN LATERAL (
         SELECT CASE WHEN ep.allow > 0 AND cardinality(ep.event_types) > 0 THEN (
           SELECT s.position FROM (
             SELECT position, type FROM events WHERE ledger = ep.ledger AND position IS NOT NULL AND position > ep.feed_position ORDER BY position LIMIT $3
           ) AS s WHERE s.type = ANY(ep.event_types) ORDER BY s.position OFFSET ep.allow LIMIT 1
         ) END AS stop
       ) AS b CROSS JOIN LATERAL (
         SELECT seq, position, cardinality(ep.event_types) = 0 OR type = ANY(ep.event_types) AS wanted FROM events e
         WHERE e.ledger = ep.ledger AND e.position IS NOT NULL AND e.position > ep.feed_position AND (b.stop IS NULL OR e.position <= b.stop)
         ORDER BY e.position
         LIMIT CASE WHEN ep.allow = 0 THEN 0 WHEN cardinality(ep.event_types) = 0 THEN least($3, ep.allow + 1) ELSE $3 END
       ) AS e
     ), ins AS (
       INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, created_at, next_attempt_at, lease_until, attempts)
       SELECT endpoint_id, seq, 'pending', $1, $1, $2, 1 FROM ev WHERE wanted AND nth <= allow
       ORDER BY endpoint_id, position
       RETURNING id, endpoint_id, event_seq
     ), moved AS (
       UPDATE webhook_endpoints AS w SET feed_position = m.last
       FROM (SELECT endpoint_id, max(position) AS last FROM ev WHERE nth <= allow GROUP BY endpoint_id) AS m WHERE w.id = m.endpoint_id
     ), lazy AS (
       SELECT set_config('synchronous_commit', 'off', true) AS off WHERE NOT EXISTS (SELECT 1 FROM ins)
     ), enabled AS (
       SELECT count(*) AS n FROM webhook_endpoints WHERE enabled
     ), per AS (
       SELECT count(*) AS looked, bool_or(nth > allow) AS capped FROM ev GROUP BY endpoint_id
     ), made AS (
       SELECT i.id AS delivery_id, e.id AS event_id, ${EVENT_BODY} AS body, i.endpoint_id, w.*
       FROM (SELECT *, row_number() OVER (PARTITION BY endpoint_id ORDER BY id) AS nth FROM ins) AS i
       JOIN events e ON e.seq = i.event_seq
       LEFT JOIN LATERAL (SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.id = i.endpoint_id AND i.nth = 1) AS w ON true
     )
     SELECT (SELECT coalesce(max(looked), 0) FROM per WHERE NOT capped) AS fullest,
       (SELECT n FROM enabled) AS endpoints,
       (SELECT count(*) FROM per WHERE capped) + (SELECT count(*) FROM ep WHERE allow = 0) AS capped,
       (SELECT n FROM enabled) - (SELECT count(*) FROM ep) AS held,
       (SELECT off FROM lazy) AS lazy, made.*
     FROM (SELECT 1) AS one LEFT JOIN made ON true
     ORDER BY made.delivery_id`,
    [instantParam(now), instantParam(leaseUntil), limit, perEndpoint, [...free.keys()], [...free.values()]],
  );
  const endpointOfRow = endpointsOfClaim();
  const leased: ClaimedDelivery[] = [];
  for (const row of rows) {
    if (row.delivery_id === null || row.endpoint_id === null) continue;
    const endpoint = endpointOfRow(row.endpoint_id, row);
    leased.push({ id: BigInt(row.delivery_id), attempts: 1, createdAt: now, endpoint, leaseUntil, eventId: row.event_id!, body: row.body! });
  }
  const first = rows[0];
  return { leased, capped: Number(first?.capped ?? 0), held: Number(first?.held ?? 0), fullest: Number(first?.fullest ?? 0), endpoints: Number(first?.endpoints ?? 0) };
}

/** `POST /webhooks/{id}/replay`: the endpoint's events after a position or since an instant, sent again. */
export async function replayDeliveries(db: Queryable, endpoint: WebhookEndpoint, after: bigint | null, since: Instant | null, now: Instant): Promise<number> {
  const rows = await db.query(
    `INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, created_at, next_attempt_at)
     SELECT $1, seq, 'pending', $4, $4 FROM events
     WHERE ledger = $2 AND position IS NOT NULL AND position > coalesce($3::bigint, 0)
       AND ($5::timestamptz IS NULL OR occurred_at >= $5::timestamptz)
       AND (cardinality($6::text[]) = 0 OR type = ANY($6::text[]))
       AND position <= (SELECT feed_position FROM webhook_endpoints WHERE id = $1)
     ORDER BY position
     RETURNING 1`,
    [endpoint.id, endpoint.ledger, after === null ? null : after.toString(), instantParam(now), since === null ? null : instantParam(since), endpoint.eventTypes],
  );
  return rows.length;
}

/** `POST /webhooks/{id}/test`: a delivery of its own event (`webhook.test`), in no feed, sent by the loop like any other. */
export async function insertTestDelivery(db: Queryable, endpointId: string, eventId: string, body: string, now: Instant): Promise<void> {
  await db.query(
    `INSERT INTO webhook_deliveries (endpoint_id, test_event_id, test_body, status, created_at, next_attempt_at)
     SELECT $1, $2, $3, 'pending', $4, $4 WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1)`,
    [endpointId, eventId, body, instantParam(now)],
  );
}

export interface ClaimedDelivery {
  readonly id: bigint;
  readonly attempts: number;
  readonly createdAt: Instant;
  readonly endpoint: WebhookEndpoint;
  /** The lease this claim holds: the delivery's state is recorded only while it still holds it. */
  readonly leaseUntil: Instant;
  readonly eventId: string;
  /** The event as the feed shows it, JSON text with exact integers. */
  readonly body: string;
}

/**
 * Claims due deliveries (`FOR UPDATE SKIP LOCKED`, then a lease until `leaseUntil`), at most
 * `limit` in all and, per endpoint, as many as `free` gives it (endpoint id → deliveries this
 * process may still take of it), `perEndpoint` for an endpoint `free` does not name. An
 * expired lease is due again: its process died.
 *
 * Endpoint by endpoint, each one's due deliveries are read in order from the index of pending
 * deliveries (migration 9) only as far as its allowance: a claim locks and reads what it
 * takes, not the backlog. (It once took up to four times `limit` due deliveries of all
 * endpoints and then kept those with a free slot: an endpoint whose slots were taken had its
 * whole backlog walked on every turn, 8.7 ms a claim with the feed 30,000 events ahead, and
 * delivery fell further behind the more it lagged.) The leased ids are an array the UPDATE
 * looks up by primary key: joined with the picked rows instead, it was planned as a hash join
 * over a scan of every delivery (test/webhooks.test.ts counts the buffers a claim touches).
 */
export async function claimDeliveries(db: Queryable, now: Instant, leaseUntil: Instant, limit: number, perEndpoint: number, free: ReadonlyMap<string, number>): Promise<ClaimedDelivery[]> {
  const rows = await db.query<EndpointRow & { delivery_id: bigint; attempts: number; delivery_created_at: string; event_id: string; body: string; endpoint_id: string }>(
    `WITH picked AS MATERIALIZED (
       SELECT d.id FROM (SELECT * FROM webhook_endpoints WHERE enabled ORDER BY random()) AS w
       LEFT JOIN unnest($5::text[], $6::int[]) AS f(endpoint_id, free) ON f.endpoint_id = w.id
       CROSS JOIN LATERAL (
         SELECT d.id FROM webhook_deliveries d
         WHERE d.endpoint_id = w.id AND d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
         ORDER BY d.next_attempt_at, d.id LIMIT coalesce(f.free, $4)
         FOR UPDATE OF d SKIP LOCKED
       ) AS d
       WHERE coalesce(f.free, $4) > 0
       LIMIT $3
     ), leased AS (
       UPDATE webhook_deliveries AS d SET lease_until = $2, attempts = d.attempts + 1 WHERE d.id = ANY (ARRAY(SELECT id FROM picked))
       RETURNING d.id, d.attempts, d.created_at, d.endpoint_id, d.event_seq, d.test_event_id, d.test_body
     )
     SELECT l.id AS delivery_id, l.attempts, ${tsText('l.created_at')} AS delivery_created_at, coalesce(e.id, l.test_event_id) AS event_id,
       CASE WHEN e.seq IS NULL THEN l.test_body ELSE ${EVENT_BODY} END AS body,
       l.endpoint_id, w.*
     FROM (SELECT *, row_number() OVER (PARTITION BY endpoint_id ORDER BY id) AS nth FROM leased) AS l
     LEFT JOIN events e ON e.seq = l.event_seq
     LEFT JOIN LATERAL (SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.id = l.endpoint_id AND l.nth = 1) AS w ON true
     WHERE EXISTS (SELECT 1 FROM webhook_endpoints x WHERE x.id = l.endpoint_id)
     ORDER BY l.id`,
    [instantParam(now), instantParam(leaseUntil), limit, perEndpoint, [...free.keys()], [...free.values()]],
  );
  const endpointOfRow = endpointsOfClaim();
  return rows.map((row) => ({
    id: BigInt(row.delivery_id), attempts: Number(row.attempts), createdAt: instantColumn(row.delivery_created_at),
    endpoint: endpointOfRow(row.endpoint_id, row), leaseUntil, eventId: row.event_id, body: row.body,
  }));
}

/**
 * Gives claimed deliveries back unsent (a process that could no longer send them within their
 * lease): due again at once for any process, their claim not counted as an attempt. Only
 * those this claim still holds.
 */
export async function releaseDeliveries(db: Queryable, deliveries: readonly ClaimedDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await db.query(
    `WITH ${LAZY_COMMIT}
     UPDATE webhook_deliveries AS d SET lease_until = NULL, attempts = d.attempts - 1
     FROM unnest($1::bigint[], $2::timestamptz[]) AS x(id, lease_until)
     WHERE d.id = x.id AND d.lease_until = x.lease_until AND (SELECT off FROM lazy) IS NOT NULL`,
    [deliveries.map((d) => d.id.toString()), deliveries.map((d) => instantParam(d.leaseUntil))],
  );
}

export interface AttemptRecord {
  readonly delivery: ClaimedDelivery;
  readonly attemptedAt: Instant;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly responseBody: string | null;
  /** The outcome: delivered, retry at `nextAttemptAt`, or given up. */
  readonly outcome: 'delivered' | 'retry' | 'failed';
  readonly nextAttemptAt: Instant | null;
}

/**
 * Records an attempt and its delivery's new state, in one transaction. A delivery given up
 * disables its endpoint when no attempt at it succeeded for `window` (the whole retry
 * window), and says so with a `webhook.disabled` event in the same transaction. `recorded`:
 * the delivery's state was this record's to set (its claim still held the lease, its
 * endpoint still exists); `disabled`: the endpoint was disabled.
 */
export async function recordAttempt(
  db: Database,
  record: AttemptRecord,
  windowMicros: bigint,
  disabledEvent: (endpoint: WebhookEndpoint) => OutboxEvent,
): Promise<{ readonly recorded: boolean; readonly disabled: boolean }> {
  return db.transaction(async (tx) => {
    const { delivery } = record;
    // The endpoint's row first, then the delivery's: the order deleteEndpoint takes them in
    // (the other way round, the two deadlocked). An endpoint deleted meanwhile keeps nothing.
    const [endpoint] = await tx.query('SELECT id FROM webhook_endpoints WHERE id = $1 FOR KEY SHARE', [delivery.endpoint.id]);
    if (endpoint === undefined) return { recorded: false, disabled: false };
    await tx.query(
      `INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, error, response_body, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        delivery.endpoint.id,
        delivery.id.toString(),
        delivery.eventId,
        instantParam(record.attemptedAt),
        record.statusCode,
        record.latencyMs,
        record.error,
        record.responseBody,
        record.nextAttemptAt === null ? null : instantParam(record.nextAttemptAt),
      ],
    );
    // Only while this claim still holds the lease: a send that outlived its lease was taken over
    // by another process, whose own record decides (this attempt stays in the history).
    const updated = await tx.query(
      `UPDATE webhook_deliveries SET status = $2, lease_until = NULL, next_attempt_at = coalesce($3, next_attempt_at)
       WHERE id = $1 AND lease_until = $4 RETURNING id`,
      [delivery.id.toString(), record.outcome === 'retry' ? 'pending' : record.outcome, record.nextAttemptAt === null ? null : instantParam(record.nextAttemptAt), instantParam(delivery.leaseUntil)],
    );
    if (record.outcome !== 'failed' || updated.length === 0) return { recorded: updated.length > 0, disabled: false };
    const disabled = await tx.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3
       WHERE id = $1 AND enabled AND NOT EXISTS (
         SELECT 1 FROM webhook_attempts a WHERE a.endpoint_id = $1 AND a.status_code BETWEEN 200 AND 299 AND a.attempted_at > $2::timestamptz
       ) RETURNING id`,
      [delivery.endpoint.id, instantParam(record.attemptedAt - windowMicros), 'every delivery failed for the whole retry window'],
    );
    if (disabled.length === 0) return { recorded: true, disabled: false };
    writeEvents(tx, delivery.endpoint.ledger, [disabledEvent(delivery.endpoint)]);
    return { recorded: true, disabled: true };
  });
}

/**
 * Records successful attempts, many at once: their attempt rows written and their deliveries
 * deleted, in one statement (the common case costs one commit per batch of answers, not one
 * per event), committed lazily (LAZY_COMMIT: a success lost in a crash is sent again). A
 * delivered delivery is deleted rather than marked: nothing reads it again (the attempt
 * row is its history, what `GET /webhooks/{id}/attempts` lists), and a delete writes no new
 * row version and no index entry, where marking it wrote both (its status is in the partial
 * index's predicate, so that update could never be HOT): 34 → 17 µs of execution a delivery
 * under the events bench (`pg_stat_statements`, 2026-12-01).
 * Their endpoints' rows are locked (`FOR KEY SHARE`) before any delivery's, the order
 * deleteEndpoint takes them in, and a deleted endpoint gets no row.
 * Failures go through `recordAttempt`, which commits durably: it may disable the endpoint
 * and write an event to the feed, which must not be seen before it is on disk. Returns which
 * of `records` (their indexes) ended their delivery: those whose claim still held the lease,
 * of an endpoint that still exists (of two records of one delivery, a stale claim's and a
 * newer one's, only the newer).
 */
export async function recordDelivered(db: Queryable, records: readonly AttemptRecord[]): Promise<ReadonlySet<number>> {
  if (records.length === 0) return new Set();
  const rows = await db.query<{ n: bigint }>(
    `WITH ${LAZY_COMMIT}, ep AS MATERIALIZED (
       SELECT id FROM webhook_endpoints WHERE id = ANY ($1::text[]) ORDER BY id FOR KEY SHARE
     ), a AS (
       INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, response_body)
       SELECT x.endpoint_id, x.delivery_id, x.event_id, x.attempted_at, x.status_code, x.latency_ms, x.response_body
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::int[], $6::int[], $7::text[])
         AS x(endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, response_body)
       WHERE x.endpoint_id IN (SELECT id FROM ep)
     )
     DELETE FROM webhook_deliveries AS d
     USING unnest($2::bigint[], $8::timestamptz[]) WITH ORDINALITY AS x(id, lease_until, n)
     WHERE d.id = x.id AND d.lease_until = x.lease_until AND d.endpoint_id IN (SELECT id FROM ep) AND (SELECT off FROM lazy) IS NOT NULL
     RETURNING x.n`,
    [
      records.map((r) => r.delivery.endpoint.id),
      records.map((r) => r.delivery.id.toString()),
      records.map((r) => r.delivery.eventId),
      records.map((r) => instantParam(r.attemptedAt)),
      records.map((r) => r.statusCode),
      records.map((r) => r.latencyMs),
      records.map((r) => r.responseBody),
      records.map((r) => instantParam(r.delivery.leaseUntil)),
    ],
  );
  return new Set(rows.map((row) => Number(row.n) - 1));
}

export interface Attempt {
  readonly id: bigint;
  readonly eventId: string;
  readonly attemptedAt: Instant;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly responseBody: string | null;
  readonly nextAttemptAt: Instant | null;
}

/** An endpoint's attempts, newest first, at most `limit`, before `before` (an attempt id) when given. */
export async function listAttempts(db: Queryable, endpointId: string, limit: number, before: bigint | null): Promise<Attempt[]> {
  const rows = await db.query<{ id: bigint; event_id: string; attempted_at: string; status_code: number | null; latency_ms: number; error: string | null; response_body: string | null; next_attempt_at: string | null }>(
    `SELECT id, event_id, ${tsText('attempted_at')} AS attempted_at, status_code, latency_ms, error, response_body, ${tsText('next_attempt_at')} AS next_attempt_at
     FROM webhook_attempts WHERE endpoint_id = $1 AND ($3::bigint IS NULL OR id < $3::bigint) ORDER BY id DESC LIMIT $2`,
    [endpointId, limit, before === null ? null : before.toString()],
  );
  return rows.map((row) => ({
    id: BigInt(row.id),
    eventId: row.event_id,
    attemptedAt: instantColumn(row.attempted_at),
    statusCode: row.status_code === null ? null : Number(row.status_code),
    latencyMs: Number(row.latency_ms),
    error: row.error,
    responseBody: row.response_body,
    nextAttemptAt: row.next_attempt_at === null ? null : instantColumn(row.next_attempt_at),
  }));
}

/**
 * What the enabled endpoints still have to receive, and the age in seconds of the oldest of
 * it at `now`: deliveries pending (made, not yet delivered nor given up; their age from when they
 * were made), and the events an enabled endpoint wants after its `feed_position`, which wait
 * in the feed until a fan-out leases them (`claimFresh`; their age from when they occurred).
 * The second part reads every such event: a scrape costs in proportion to the backlog. A
 * paused or disabled endpoint's deliveries wait, unsent, until it is enabled again: they are
 * not counted, or an alert on the oldest age would fire for as long as it stays paused.
 */
export async function deliveryBacklog(db: Queryable, now: Instant): Promise<{ readonly pending: number; readonly oldestSeconds: number }> {
  const [row] = await db.query<{ n: bigint; oldest: string | null }>(
    `WITH made AS (
       SELECT count(*) AS n, min(created_at) AS oldest FROM webhook_deliveries d
       WHERE status = 'pending' AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = d.endpoint_id AND w.enabled)
     ), unmade AS (
       SELECT count(*) AS n, min(e.occurred_at) AS oldest FROM webhook_endpoints w
       JOIN events e ON e.ledger = w.ledger AND e.position > w.feed_position AND (cardinality(w.event_types) = 0 OR e.type = ANY(w.event_types))
       WHERE w.enabled
     )
     SELECT made.n + unmade.n AS n, extract(epoch FROM $1::timestamptz - least(made.oldest, unmade.oldest))::text AS oldest FROM made, unmade`,
    [instantParam(now)],
  );
  return { pending: Number(row?.n ?? 0), oldestSeconds: row?.oldest ? Math.max(0, Number(row.oldest)) : 0 };
}
