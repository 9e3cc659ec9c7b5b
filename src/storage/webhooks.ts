/**
 * Webhook endpoints, their deliveries and attempts (events/webhooks.ts sends them).
 *
 * The healthy path writes no row per event but its attempt: one process at a time holds an
 * endpoint's delivery lease (`delivery_owner`, `delivery_lease_until`, taken with
 * `FOR UPDATE SKIP LOCKED` and a conditional UPDATE, lapsing when its process dies), reads the
 * feed after the endpoint's cursor (`feed_position`), sends, and records the attempts of a
 * settled prefix together with the cursor moved past it, in one statement. An event whose
 * first attempt failed becomes a delivery row there; delivery rows (those, tests, replays) are
 * claimed with `FOR UPDATE SKIP LOCKED` and a lease of their own, so one process at a time
 * sends a given row and a dead process's lease lapses for another to take.
 * Times come from the caller's clock (tests move it), never from the server's `now()`.
 */
import type { Instant } from '../domain/time.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Database, Queryable, Transaction } from './database.ts';
import { writeEvents } from './events.ts';
import { instantColumn, instantParam, tsText } from './sql.ts';

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

export async function deleteEndpoint(db: Queryable, ledger: string, id: string): Promise<boolean> {
  const rows = await db.query('DELETE FROM webhook_endpoints WHERE ledger = $1 AND id = $2 RETURNING id', [ledger, id]);
  return rows.length > 0;
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

/** The event as the feed shows it (GET /events), as JSON text with exact integers; `e` names an `events` row. */
function eventBody(e: string): string {
  return `json_build_object('position', ${e}.position, 'id', ${e}.id, 'type', ${e}.type, 'occurredAt', ${tsText(`${e}.occurred_at`)},
    'ledger', ${e}.ledger, 'data', ${e}.data, 'cause', ${e}.cause)::text`;
}

/** An endpoint whose delivery lease a `leaseStreams` call took or renewed, with its cursor then. */
export interface LeasedStream {
  readonly endpointId: string;
  readonly feedPosition: bigint;
}

/**
 * Takes the delivery lease, until `leaseUntil`, of every enabled endpoint nobody holds or
 * whose lease lapsed at `now` (its process died or stalled), and renews `owner`'s own leases
 * that end before `renewBefore` or that it has no stream for (`active`: endpoint ids it is
 * delivering). `FOR UPDATE SKIP LOCKED` and the condition re-checked on the locked row make
 * two processes never hold one endpoint at once. Answers the leases taken or renewed.
 */
export async function leaseStreams(db: Queryable, owner: string, now: Instant, leaseUntil: Instant, renewBefore: Instant, active: readonly string[]): Promise<LeasedStream[]> {
  const rows = await db.query<{ id: string; feed_position: bigint }>(
    `WITH free AS (
       SELECT id FROM webhook_endpoints
       WHERE enabled AND (delivery_owner IS NULL OR delivery_lease_until IS NULL OR delivery_lease_until <= $2
         OR (delivery_owner = $1 AND (delivery_lease_until <= $4 OR NOT (id = ANY($5::text[])))))
       ORDER BY id FOR UPDATE SKIP LOCKED
     )
     UPDATE webhook_endpoints AS w SET delivery_owner = $1, delivery_lease_until = $3 FROM free WHERE w.id = free.id
     RETURNING w.id, w.feed_position`,
    [owner, instantParam(now), instantParam(leaseUntil), instantParam(renewBefore), active],
  );
  return rows.map((row) => ({ endpointId: row.id, feedPosition: BigInt(row.feed_position) }));
}

/** Gives `owner`'s delivery leases up (a clean stop): another process takes them at once. */
export async function releaseStreams(db: Queryable, owner: string): Promise<void> {
  await db.query('UPDATE webhook_endpoints SET delivery_owner = NULL, delivery_lease_until = NULL WHERE delivery_owner = $1', [owner]);
}

export interface StreamEvent {
  readonly seq: bigint;
  readonly position: bigint;
  readonly eventId: string;
  /** The event as the feed shows it, JSON text with exact integers. */
  readonly body: string;
}

export interface StreamRead {
  /** The endpoint as it is now (its URL, secrets and filter may have changed). */
  readonly endpoint: WebhookEndpoint;
  /** The events the endpoint wants among those looked at, in feed order. */
  readonly events: StreamEvent[];
  /** Events looked at, those its `eventTypes` leave out too. */
  readonly scanned: number;
  /** The last position looked at: the high-water mark the cursor may move to. Null when nothing was. */
  readonly scannedTo: bigint | null;
}

/**
 * The next `limit` events of the feed after `after` (null: after the endpoint's stored
 * cursor), those the endpoint wants with their bodies. Null when the endpoint is gone,
 * disabled or no longer leased by `owner`: its stream is not this process's to send.
 */
export async function readStream(db: Queryable, endpointId: string, owner: string, after: bigint | null, limit: number): Promise<StreamRead | null> {
  const rows = await db.query<EndpointRow & { scanned: bigint; scanned_to: bigint | null; seq: bigint | null; position: bigint | null; event_id: string | null; body: string | null }>(
    `WITH w AS MATERIALIZED (
       SELECT ${ENDPOINT_COLUMNS}, feed_position FROM webhook_endpoints WHERE id = $1 AND enabled AND delivery_owner = $2
     ), scanned AS MATERIALIZED (
       SELECT e.seq, e.position, e.id, e.type, e.occurred_at, e.ledger, e.data, e.cause
       FROM w CROSS JOIN LATERAL (
         SELECT * FROM events e
         WHERE e.ledger = w.ledger AND e.position IS NOT NULL AND e.position > coalesce($3::bigint, w.feed_position) ORDER BY e.position LIMIT $4
       ) AS e
     )
     SELECT w.id, w.ledger, w.url, w.event_types, w.description, w.secret, w.previous_secret, w.previous_secret_until, w.enabled, w.disabled_reason, w.created_at,
       (SELECT count(*) FROM scanned) AS scanned, (SELECT max(position) FROM scanned) AS scanned_to, s.seq, s.position, s.id AS event_id,
       CASE WHEN s.seq IS NULL THEN NULL ELSE ${eventBody('s')} END AS body
     FROM w LEFT JOIN scanned s ON cardinality(w.event_types) = 0 OR s.type = ANY(w.event_types)
     ORDER BY s.position`,
    [endpointId, owner, after === null ? null : after.toString(), limit],
  );
  const [first] = rows;
  if (first === undefined) return null;
  const events: StreamEvent[] = [];
  for (const row of rows) {
    if (row.seq === null || row.position === null || row.event_id === null || row.body === null) continue;
    events.push({ seq: BigInt(row.seq), position: BigInt(row.position), eventId: row.event_id, body: row.body });
  }
  return { endpoint: endpointOf(first), events, scanned: Number(first.scanned), scannedTo: first.scanned_to === null ? null : BigInt(first.scanned_to) };
}

/** A first attempt at an event from an endpoint's cursor, to record. */
export interface StreamAttempt {
  readonly eventSeq: bigint;
  readonly eventId: string;
  readonly attemptedAt: Instant;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly responseBody: string | null;
  /** delivered: no delivery row; retry: a pending one due at `nextAttemptAt`; failed: one given up. */
  readonly outcome: 'delivered' | 'retry' | 'failed';
  readonly nextAttemptAt: Instant | null;
}

/**
 * Records the attempts at a settled prefix of an endpoint's stream and moves its cursor to
 * `cursor` (never back), in one statement, so a crash leaves both or neither: every attempt
 * row, and for each failed one a delivery row that the retry machinery takes over (created
 * at its attempt, which starts its retry window). The cursor and the delivery rows are
 * written only while `owner` still holds the lease — a process that lost it leaves the
 * stream to the new holder, which sends those events again from the cursor — the attempt
 * rows always (they happened). Answers whether `owner` still held the lease.
 */
export async function recordStream(db: Queryable, endpointId: string, owner: string, cursor: bigint, attempts: readonly StreamAttempt[]): Promise<boolean> {
  const [row] = await db.query<{ owned: bigint }>(
    `WITH moved AS (
       UPDATE webhook_endpoints SET feed_position = greatest(feed_position, $3) WHERE id = $1 AND delivery_owner = $2 RETURNING id
     ), x AS (
       SELECT * FROM unnest($4::bigint[], $5::text[], $6::timestamptz[], $7::int[], $8::int[], $9::text[], $10::text[], $11::timestamptz[], $12::text[])
         WITH ORDINALITY AS x(event_seq, event_id, attempted_at, status_code, latency_ms, error, response_body, next_attempt_at, status, n)
     ), d AS (
       INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, attempts, created_at, next_attempt_at)
       SELECT $1, x.event_seq, x.status, 1, x.attempted_at, coalesce(x.next_attempt_at, x.attempted_at) FROM x
       WHERE x.status IS NOT NULL AND EXISTS (SELECT 1 FROM moved)
       ORDER BY x.n
       RETURNING id, event_seq
     ), a AS (
       INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, error, response_body, next_attempt_at)
       SELECT $1, d.id, x.event_id, x.attempted_at, x.status_code, x.latency_ms, x.error, x.response_body, x.next_attempt_at
       FROM x LEFT JOIN d ON d.event_seq = x.event_seq
       WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1)
       ORDER BY x.n
     )
     SELECT count(*) AS owned FROM moved`,
    [
      endpointId,
      owner,
      cursor.toString(),
      attempts.map((a) => a.eventSeq.toString()),
      attempts.map((a) => a.eventId),
      attempts.map((a) => instantParam(a.attemptedAt)),
      attempts.map((a) => a.statusCode),
      attempts.map((a) => a.latencyMs),
      attempts.map((a) => a.error),
      attempts.map((a) => a.responseBody),
      attempts.map((a) => (a.nextAttemptAt === null ? null : instantParam(a.nextAttemptAt))),
      attempts.map((a) => (a.outcome === 'delivered' ? null : a.outcome === 'retry' ? 'pending' : 'failed')),
    ],
  );
  return Number(row?.owned ?? 0) > 0;
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
    `INSERT INTO webhook_deliveries (endpoint_id, test_event_id, test_body, status, created_at, next_attempt_at) VALUES ($1, $2, $3, 'pending', $4, $4)`,
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
 * `perEndpoint` of each endpoint less those this process already has in flight (`inFlight`,
 * endpoint id → sends not yet answered). An expired lease is due again: its process died.
 */
export async function claimDeliveries(db: Queryable, now: Instant, leaseUntil: Instant, limit: number, perEndpoint: number, inFlight: ReadonlyMap<string, number>): Promise<ClaimedDelivery[]> {
  const busy = [...inFlight].filter(([, count]) => count >= perEndpoint).map(([id]) => id);
  const rows = await db.query<EndpointRow & { delivery_id: bigint; attempts: number; delivery_created_at: string; event_id: string; body: string }>(
    `WITH due AS MATERIALIZED (
       SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
       WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
         AND w.enabled AND NOT (d.endpoint_id = ANY($5::text[]))
       ORDER BY d.next_attempt_at, d.id LIMIT $3 * 4
       FOR UPDATE OF d SKIP LOCKED
     ), picked AS (
       SELECT id FROM (
         SELECT d.id, d.endpoint_id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS n
         FROM webhook_deliveries d JOIN due ON due.id = d.id
       ) AS x LEFT JOIN unnest($6::text[], $7::int[]) AS f(endpoint_id, sending) ON f.endpoint_id = x.endpoint_id
       WHERE n <= $4 - coalesce(f.sending, 0) LIMIT $3
     ), leased AS (
       UPDATE webhook_deliveries AS d SET lease_until = $2, attempts = d.attempts + 1 FROM picked WHERE d.id = picked.id
       RETURNING d.id, d.attempts, d.created_at, d.endpoint_id, d.event_seq, d.test_event_id, d.test_body
     )
     SELECT l.id AS delivery_id, l.attempts, ${tsText('l.created_at')} AS delivery_created_at, coalesce(e.id, l.test_event_id) AS event_id,
       CASE WHEN e.seq IS NULL THEN l.test_body ELSE ${eventBody('e')} END AS body,
       w.id, w.ledger, w.url, w.event_types, w.description, w.secret, w.previous_secret, ${tsText('w.previous_secret_until')} AS previous_secret_until,
       w.enabled, w.disabled_reason, ${tsText('w.created_at')} AS created_at
     FROM leased l LEFT JOIN events e ON e.seq = l.event_seq JOIN webhook_endpoints w ON w.id = l.endpoint_id
     ORDER BY l.id`,
    [instantParam(now), instantParam(leaseUntil), limit, perEndpoint, busy, [...inFlight.keys()], [...inFlight.values()]],
  );
  return rows.map((row) => ({
    id: BigInt(row.delivery_id),
    attempts: Number(row.attempts),
    createdAt: instantColumn(row.delivery_created_at),
    endpoint: endpointOf(row),
    leaseUntil,
    eventId: row.event_id,
    body: row.body,
  }));
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
 * window), and says so with a `webhook.disabled` event in the same transaction.
 */
export async function recordAttempt(db: Database, record: AttemptRecord, windowMicros: bigint, disabledEvent: (endpoint: WebhookEndpoint) => OutboxEvent): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { delivery } = record;
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
    if (record.outcome !== 'failed' || updated.length === 0) return false;
    return disableIfFailing(tx, delivery.endpoint, record.attemptedAt, windowMicros, disabledEvent);
  });
}

/**
 * A delivery was given up at `at`: disables its endpoint when no attempt at it succeeded
 * during the whole retry window before, with a `webhook.disabled` event in the same
 * transaction. Answers whether it did.
 */
export async function disableIfFailing(tx: Transaction, endpoint: WebhookEndpoint, at: Instant, windowMicros: bigint, disabledEvent: (endpoint: WebhookEndpoint) => OutboxEvent): Promise<boolean> {
  const disabled = await tx.query(
    `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3
     WHERE id = $1 AND enabled AND NOT EXISTS (
       SELECT 1 FROM webhook_attempts a WHERE a.endpoint_id = $1 AND a.status_code BETWEEN 200 AND 299 AND a.attempted_at > $2::timestamptz
     ) RETURNING id`,
    [endpoint.id, instantParam(at - windowMicros), 'every delivery failed for the whole retry window'],
  );
  if (disabled.length === 0) return false;
  writeEvents(tx, endpoint.ledger, [disabledEvent(endpoint)]);
  return true;
}

/**
 * Records successful attempts, many at once: their attempt rows and their deliveries marked
 * delivered, in one statement (the common case costs one commit per batch of answers, not
 * one per event). Failures go through `recordAttempt`.
 */
export async function recordDelivered(db: Queryable, records: readonly AttemptRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.query(
    `WITH a AS (
       INSERT INTO webhook_attempts (endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, response_body)
       SELECT x.endpoint_id, x.delivery_id, x.event_id, x.attempted_at, x.status_code, x.latency_ms, x.response_body
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::int[], $6::int[], $7::text[])
         AS x(endpoint_id, delivery_id, event_id, attempted_at, status_code, latency_ms, response_body)
     )
     UPDATE webhook_deliveries AS d SET status = 'delivered', lease_until = NULL
     FROM unnest($2::bigint[], $8::timestamptz[]) AS x(id, lease_until) WHERE d.id = x.id AND d.lease_until = x.lease_until`,
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

/** Events looked at after each enabled endpoint's cursor when the backlog is measured: a scrape stays cheap however far behind. */
export const BACKLOG_SCAN_MAX = 10_000;

/**
 * Deliveries not yet made nor given up, and the age in seconds at `now` of the oldest: the
 * pending delivery rows (by when each was made), and the events after each enabled
 * endpoint's cursor that it wants (by when each occurred) — of those, among the next
 * BACKLOG_SCAN_MAX events of its feed, so a backlog larger than that counts as that many.
 */
export async function deliveryBacklog(db: Queryable, now: Instant): Promise<{ readonly pending: number; readonly oldestSeconds: number }> {
  const [row] = await db.query<{ n: bigint; oldest: string | null }>(
    `WITH rows AS (
       SELECT count(*) AS n, min(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'
     ), streams AS (
       SELECT coalesce(sum(s.n), 0) AS n, min(s.oldest) AS oldest
       FROM webhook_endpoints w CROSS JOIN LATERAL (
         SELECT count(*) AS n, min(x.occurred_at) AS oldest FROM (
           SELECT e.type, e.occurred_at FROM events e
           WHERE e.ledger = w.ledger AND e.position IS NOT NULL AND e.position > w.feed_position ORDER BY e.position LIMIT $2
         ) AS x WHERE cardinality(w.event_types) = 0 OR x.type = ANY(w.event_types)
       ) AS s
       WHERE w.enabled
     )
     SELECT rows.n + streams.n AS n, extract(epoch FROM $1::timestamptz - least(rows.oldest, streams.oldest))::text AS oldest FROM rows, streams`,
    [instantParam(now), BACKLOG_SCAN_MAX],
  );
  return { pending: Number(row?.n ?? 0), oldestSeconds: row?.oldest ? Math.max(0, Number(row.oldest)) : 0 };
}
