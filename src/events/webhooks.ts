/**
 * Webhook deliveries, per Standard Webhooks (https://www.standardwebhooks.com): each event
 * is POSTed with `webhook-id` (the event id, the same on every retry), `webhook-timestamp`
 * (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under
 * the endpoint's `whsec_` secret — and, during a rotation's grace period, a second
 * signature under the previous secret, space-separated.
 *
 * A loop in every process (never inside a request). Straight from the feed: the process
 * holding an endpoint's delivery lease (storage/webhooks.ts) reads the events after the
 * endpoint's cursor, sends them in feed order with a per-endpoint concurrency limit and a
 * 10 s timeout, and records the attempts of the settled prefix with the cursor moved past
 * it, in one statement — no row per event but its attempt. An event whose first attempt
 * failed becomes a delivery row as that statement moves the cursor on; those rows (and test
 * deliveries and replays) are claimed with `FOR UPDATE SKIP LOCKED` and a lease, retried
 * with exponential backoff and jitter until the retry window (3 days by default) has passed
 * since the row was made; an endpoint whose deliveries failed for the whole window is
 * disabled, and a `webhook.disabled` event says so. At-least-once: a process killed
 * mid-delivery leaves its leases to lapse and another sends again, from the cursor or the
 * row, with the same `webhook-id`.
 *
 * Outbound safety: redirects are not followed (a 3xx is a failure); a target that resolves
 * to a private, loopback or link-local address is refused — checked on the address each new
 * connection actually uses, so DNS cannot swap it; a kept-alive connection is reused only
 * for the host and port it was opened to — unless `allowPrivate`; response bodies are
 * stored truncated.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { v7 as uuidv7 } from 'uuid';
import { assert } from '../domain/errors.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Instant } from '../domain/time.ts';
import type { Database } from '../storage/database.ts';
import {
  claimDeliveries,
  disableIfFailing,
  leaseStreams,
  readStream,
  recordAttempt,
  recordDelivered,
  recordStream,
  releaseStreams,
  type AttemptRecord,
  type ClaimedDelivery,
  type StreamAttempt,
  type StreamEvent,
  type WebhookEndpoint,
} from '../storage/webhooks.ts';

/** A receiver must answer within this. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Stored response bodies are cut to this many characters. */
export const RESPONSE_BODY_MAX = 1_024;
/** The first retry's delay; each next one doubles, up to BACKOFF_MAX_MICROS, ±20 % jitter. */
const BACKOFF_FIRST_MICROS = 5_000_000n;
const BACKOFF_MAX_MICROS = 6n * 3_600_000_000n;
/** Events of the feed an endpoint's stream looks at per read (it reads again until caught up). */
export const FEED_READ_MAX = 500;
/**
 * Events of a stream read and not yet recorded, at most: sends go on past a slow event up to
 * this many, then wait for it (the cursor cannot pass it before it is settled).
 */
const STREAM_WINDOW_MAX = 1_000;
/** A claimed delivery, and an endpoint's stream, belong to their process this long: longer than a send can take. */
export const LEASE_MICROS = BigInt(DELIVERY_TIMEOUT_MS) * 3_000n;
/** A stream's lease is renewed once less than this is left. */
const LEASE_RENEW_MICROS = LEASE_MICROS / 2n;
/** A stream starts a send only while its lease outlasts the send's timeout by this much. */
const SEND_MICROS = BigInt(DELIVERY_TIMEOUT_MS) * 1_000n;

export interface WebhookSettings {
  /** WEBHOOK_ALLOW_PRIVATE: allow private, loopback and link-local targets. */
  readonly allowPrivate: boolean;
  /** WEBHOOK_RETRY_WINDOW: how long a delivery is retried, from when it was made. */
  readonly retryWindowMicros: bigint;
  /** WEBHOOK_CONCURRENCY: deliveries in flight at once per endpoint, per process. */
  readonly concurrency: number;
  /** WEBHOOK_SECRET_GRACE: how long the previous secret keeps signing after a rotation. */
  readonly secretGraceMicros: bigint;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  allowPrivate: false,
  retryWindowMicros: 72n * 3_600_000_000n,
  concurrency: 4,
  secretGraceMicros: 24n * 3_600_000_000n,
};

/** A new secret in the Standard Webhooks form: `whsec_` and 24 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The signatures for a delivery at `now`: the current secret's, and the previous one's while its grace lasts. */
export function signatures(endpoint: WebhookEndpoint, id: string, timestamp: number, body: string, now: Instant): string {
  const current = sign(endpoint.secret, id, timestamp, body);
  const previous = endpoint.previousSecret !== null && endpoint.previousSecretUntil !== null && endpoint.previousSecretUntil > now ? sign(endpoint.previousSecret, id, timestamp, body) : null;
  return previous === null ? current : `${current} ${previous}`;
}

/**
 * Addresses a webhook may not reach unless WEBHOOK_ALLOW_PRIVATE: everything not on the
 * public internet. IPv4: "this network" 0/8, private 10/8, 172.16/12, 192.168/16, CGNAT
 * 100.64/10, loopback 127/8, link-local 169.254/16, IETF protocol assignments 192.0.0/24,
 * the documentation nets, benchmarking 198.18/15, multicast 224/4, reserved 240/4 (with the
 * broadcast address).
 */
const PRIVATE_IPV4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE_IPV4.addSubnet(network, prefix, 'ipv4');
}

/**
 * IPv6 refused outright: the IPv4-compatible block ::/96 (deprecated, with :: and ::1),
 * the discard block 100::/64, Teredo 2001::/32 (a tunnel whose IPv4 end is obfuscated and
 * reached through a relay: refused rather than decoded), documentation 2001:db8::/32, the
 * local-use NAT64 prefix 64:ff9b:1::/48 (the operator's own translator, its IPv4 at a
 * position only the operator knows), unique-local fc00::/7, link-local fe80::/10, the old
 * site-local fec0::/10 and multicast ff00::/8. Addresses that carry an IPv4 in a known
 * place (mapped, SIIT, NAT64, 6to4) are judged by that IPv4 (`embeddedIpv4`).
 */
const PRIVATE_IPV6 = new BlockList();
for (const [network, prefix] of [
  ['::', 96],
  ['100::', 64],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['64:ff9b:1::', 48],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE_IPV6.addSubnet(network, prefix, 'ipv6');
}

/** The eight 16-bit groups of a valid IPv6 address (a zone index and a dotted IPv4 tail allowed). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(fill).fill('0'), ...tailGroups].map((group) => Number.parseInt(group, 16));
  assert(groups.length === 8 && groups.every((group) => group >= 0 && group <= 0xffff), `not an IPv6 address: ${address}`);
  return groups;
}

/**
 * The IPv4 address an IPv6 address carries, for the forms a connection can reach it
 * through: IPv4-mapped ::ffff:0:0/96, SIIT ::ffff:0:0:0/96, the well-known NAT64 prefix
 * 64:ff9b::/96 (last 32 bits) and 6to4 2002::/16 (bits 16–47). Null for any other.
 */
function embeddedIpv4(groups: readonly number[]): string | null {
  const g = (index: number) => groups[index] ?? 0;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  const ipv4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  if (zeros(0, 5) && g(5) === 0xffff) return ipv4(g(6), g(7));
  if (zeros(0, 4) && g(4) === 0xffff && g(5) === 0) return ipv4(g(6), g(7));
  if (g(0) === 0x64 && g(1) === 0xff9b && zeros(2, 6)) return ipv4(g(6), g(7));
  if (g(0) === 0x2002) return ipv4(g(1), g(2));
  return null;
}

/**
 * Whether an address is private, loopback, link-local or otherwise not on the public
 * internet — an IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) by that IPv4,
 * so `::ffff:127.0.0.1`, `64:ff9b::a00:1` or `2002:c0a8:101::` cannot reach what the IPv4
 * list refuses. Anything that is not an IP address at all counts as private.
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE_IPV4.check(address, 'ipv4');
  if (family !== 6) return true;
  const groups = ipv6Groups(address);
  const ipv4 = embeddedIpv4(groups);
  if (ipv4 !== null) return PRIVATE_IPV4.check(ipv4, 'ipv4');
  return PRIVATE_IPV6.check(groups.map((group) => group.toString(16)).join(':'), 'ipv6');
}

/** Why a URL cannot be a webhook target, or null. A literal private address is refused here; a name, when it resolves. */
export function targetProblem(url: string, allowPrivate: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'url must be an absolute http:// or https:// URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'url must be an absolute http:// or https:// URL';
  if (parsed.username !== '' || parsed.password !== '') return 'url must not carry credentials';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && (isIP(host) !== 0 ? isPrivateAddress(host) : host === 'localhost' || host.endsWith('.localhost'))) {
    return 'url points at a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)';
  }
  return null;
}

export interface SendResult {
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly body: string | null;
  readonly latencyMs: number;
}

/**
 * Kept-alive connections for a worker's sends, one pool per origin (host and port): a
 * connection is reused only for the origin it was opened to, whose address was checked when
 * it connected. No limit on sockets per origin (Node's default): the worker's per-endpoint
 * concurrency is the limit, and endpoints that share an origin share its idle connections.
 */
export interface SendAgents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
}

export function sendAgents(): SendAgents {
  return { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
}

/** A kept-alive connection the receiver closed as it was reused (a race every client of keep-alive has): sent again on another. */
const STALE_CONNECTION_RETRIES = 2;

/**
 * POSTs once; never follows a redirect; refuses a private address at connect time unless
 * allowed — the check is in the `lookup` of every new connection, so it covers the address
 * each socket actually connects to; a reused one was checked when it connected. Without
 * `agents`, a new connection per call.
 */
export async function send(url: string, headers: Record<string, string>, body: string, allowPrivate: boolean, agents?: SendAgents): Promise<SendResult> {
  const started = performance.now();
  const signal = AbortSignal.timeout(DELIVERY_TIMEOUT_MS);
  for (let retries = 0; ; retries++) {
    const result = await sendOnce(url, headers, body, allowPrivate, agents, signal, started);
    if (!result.staleConnection || retries === STALE_CONNECTION_RETRIES) return result.sent;
  }
}

function sendOnce(url: string, headers: Record<string, string>, body: string, allowPrivate: boolean, agents: SendAgents | undefined, signal: AbortSignal, started: number): Promise<{ sent: SendResult; staleConnection: boolean }> {
  const latency = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      resolve({ sent: { statusCode: null, error: 'invalid url', body: null, latencyMs: 0 }, staleConnection: false });
      return;
    }
    const lookup = (hostname: string, options: object, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(hostname, options, (error, address, family) => {
        if (error) return callback(error, address as string, family);
        const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
        if (!allowPrivate && addresses.some(isPrivateAddress)) return callback(new Error(`${hostname} resolves to a private, loopback or link-local address`), address as string, family);
        callback(null, address, family);
      });
    };
    const https = parsed.protocol === 'https:';
    const request = (https ? httpsRequest : httpRequest)(
      parsed,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Coffer-Webhooks' },
        lookup,
        signal,
        agent: agents === undefined ? false : https ? agents.https : agents.http,
      },
      (response) => {
        const kept: Buffer[] = [];
        let size = 0;
        // Read to the end (only the first bytes kept) so that the connection can serve the next send.
        response.on('data', (chunk: Buffer) => {
          if (size < RESPONSE_BODY_MAX) kept.push(chunk.subarray(0, RESPONSE_BODY_MAX - size));
          size += chunk.length;
        });
        response.on('end', () => resolve({ sent: { statusCode: response.statusCode ?? null, error: null, body: storableText(kept), latencyMs: latency() }, staleConnection: false }));
        response.on('error', (error) => resolve({ sent: { statusCode: response.statusCode ?? null, error: error.message, body: storableText(kept), latencyMs: latency() }, staleConnection: false }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError';
      const staleConnection = !timedOut && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      resolve({ sent: { statusCode: null, error: timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : error.message, body: null, latencyMs: latency() }, staleConnection });
    });
    request.end(body);
  });
}

/**
 * A receiver's answer as text a database column takes: its first RESPONSE_BODY_MAX bytes
 * decoded as UTF-8 (bytes that are not become U+FFFD), NUL characters replaced too, since
 * PostgreSQL's text refuses them — a binary answer must not make the attempt unrecordable.
 */
export function storableText(chunks: readonly Buffer[]): string {
  return Buffer.concat(chunks).subarray(0, RESPONSE_BODY_MAX).toString('utf8').replace(/\0/g, '\uFFFD');
}

/** The delay before attempt `attempts + 1`: doubling from 5 s, at most 6 h, ±20 % jitter. */
export function backoff(attempts: number, random: () => number = Math.random): bigint {
  let delay = BACKOFF_FIRST_MICROS;
  for (let i = 1; i < attempts && delay < BACKOFF_MAX_MICROS; i++) delay *= 2n;
  if (delay > BACKOFF_MAX_MICROS) delay = BACKOFF_MAX_MICROS;
  const jitter = BigInt(Math.round((0.8 + 0.4 * random()) * 1000));
  return (delay * jitter) / 1000n;
}

export interface WebhookWorkerOptions {
  readonly db: Database;
  readonly clock: () => Instant;
  readonly settings: WebhookSettings;
  /** Pause between turns. */
  readonly intervalMs: number;
  /** Told of every attempt's outcome (metrics). */
  readonly onAttempt?: (outcome: 'delivered' | 'retry' | 'failed') => void;
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface WebhookWorker {
  /** Turns now, until nothing is due: sends every endpoint's stream up to the feed's end and every due delivery row; resolves when they are all answered and recorded. */
  run(): Promise<number>;
  /** The feed moved on (or a delivery row was made): the streams read it. */
  kick(): void;
  stop(): Promise<void>;
}

/** Deliveries claimed per turn. */
const CLAIM_MAX = 64;

export function disabledEvent(endpoint: WebhookEndpoint, now: Instant): OutboxEvent {
  return {
    id: uuidv7(),
    type: 'webhook.disabled',
    occurredAt: now,
    walletIds: [],
    data: { webhook: { id: endpoint.id, url: endpoint.url, reason: 'every delivery failed for the whole retry window' } },
    transaction: null,
    cause: { requestId: null, idempotencyKey: null, clientId: null },
  };
}

interface Sent {
  readonly ok: boolean;
  readonly attemptedAt: Instant;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly responseBody: string | null;
}

/** One attempt at sending an event to an endpoint: signed at the clock's now, the target checked again (it may have been changed). */
async function attempt(endpoint: WebhookEndpoint, eventId: string, body: string, clock: () => Instant, settings: WebhookSettings, agents: SendAgents): Promise<Sent> {
  const now = clock();
  const timestamp = Number(now / 1_000_000n);
  const headers = {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures(endpoint, eventId, timestamp, body, now),
  };
  const problem = targetProblem(endpoint.url, settings.allowPrivate);
  const result = problem !== null ? { statusCode: null, error: problem, body: null, latencyMs: 0 } : await send(endpoint.url, headers, body, settings.allowPrivate, agents);
  const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  const redirect = result.statusCode !== null && result.statusCode >= 300 && result.statusCode < 400 ? ' (redirects are not followed)' : '';
  return {
    ok,
    attemptedAt: clock(),
    statusCode: result.statusCode,
    latencyMs: result.latencyMs,
    error: ok ? null : (result.error ?? `answered ${result.statusCode}${redirect}`),
    responseBody: result.body,
  };
}

/** An event of a stream read, and its first attempt once answered. */
interface Slot {
  readonly event: StreamEvent;
  attempt: StreamAttempt | null;
}

/**
 * An endpoint whose delivery lease this process holds. `cursor` is where the stored cursor
 * is known to be; `readTo` the last position read (past `slots`, the events read and not
 * yet recorded, in feed order); `next` the first slot not yet sent.
 */
interface Stream {
  readonly endpointId: string;
  endpoint: WebhookEndpoint | null;
  leaseUntil: Instant;
  cursor: bigint;
  readTo: bigint;
  slots: Slot[];
  next: number;
  sending: number;
  recording: Promise<void> | null;
  /** The feed may have more for it: read again. */
  more: boolean;
  /** The lease is lost (or the endpoint disabled or gone), or recording failed: it ends. */
  ended: boolean;
  task: Promise<number> | null;
  wake: (() => void) | null;
}

export function startWebhookWorker(options: WebhookWorkerOptions, loop = true): WebhookWorker {
  const { db, clock, settings } = options;
  /** This worker's name as a lease holder: a new one per start, so a restarted process never mistakes a dead one's lease for its own. */
  const owner = uuidv7();
  const agents = sendAgents();
  /** Sends in flight per endpoint id, streams' and delivery rows' together (the concurrency limit). */
  const inFlight = new Map<string, number>();
  const streams = new Map<string, Stream>();
  const sending = new Set<Promise<void>>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let turn: Promise<number> | undefined;
  let failing = false;
  let answered: { readonly record: AttemptRecord; readonly done: (error?: unknown) => void }[] = [];
  let flushing = false;

  const take = (id: string) => inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
  const give = (id: string) => {
    const left = (inFlight.get(id) ?? 1) - 1;
    if (left === 0) inFlight.delete(id);
    else inFlight.set(id, left);
  };
  const wake = (stream: Stream) => {
    const resume = stream.wake;
    stream.wake = null;
    resume?.();
  };

  /** Successes of delivery rows answered in the same turn of the event loop are recorded together (storage `recordDelivered`). */
  function recordSuccess(record: AttemptRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      answered.push({ record, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (flushing) return;
      flushing = true;
      setImmediate(() => {
        flushing = false;
        const taken = answered;
        answered = [];
        recordDelivered(
          db,
          taken.map((t) => t.record),
        ).then(
          () => taken.forEach((t) => t.done()),
          (error: unknown) => taken.forEach((t) => t.done(error ?? new Error('recording the attempts failed'))),
        );
      });
    });
  }

  /** A delivery row (a retry, a test, a replay): sent, and its attempt and new state recorded. */
  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const sent = await attempt(delivery.endpoint, delivery.eventId, delivery.body, clock, settings, agents);
    const next = sent.attemptedAt + backoff(delivery.attempts);
    const outcome = sent.ok ? 'delivered' : next - delivery.createdAt > settings.retryWindowMicros ? 'failed' : 'retry';
    const record: AttemptRecord = { delivery, ...sent, outcome, nextAttemptAt: outcome === 'retry' ? next : null };
    if (sent.ok) await recordSuccess(record);
    else await recordAttempt(db, record, settings.retryWindowMicros, (disabled) => disabledEvent(disabled, sent.attemptedAt));
    options.onAttempt?.(outcome);
  }

  /** The first attempt at a stream's event; a failure is retried from a delivery row made when it is recorded, its window starting then. */
  async function sendSlot(stream: Stream, endpoint: WebhookEndpoint, slot: Slot): Promise<void> {
    const sent = await attempt(endpoint, slot.event.eventId, slot.event.body, clock, settings, agents);
    const next = sent.attemptedAt + backoff(1);
    const outcome = sent.ok ? 'delivered' : next - sent.attemptedAt > settings.retryWindowMicros ? 'failed' : 'retry';
    slot.attempt = {
      eventSeq: slot.event.seq,
      eventId: slot.event.eventId,
      attemptedAt: sent.attemptedAt,
      statusCode: sent.statusCode,
      latencyMs: sent.latencyMs,
      error: sent.error,
      responseBody: sent.responseBody,
      outcome,
      nextAttemptAt: outcome === 'retry' ? next : null,
    };
  }

  /** Starts the stream's next sends while the endpoint has free slots and the lease outlasts a send. */
  function startSends(stream: Stream): number {
    let started = 0;
    const endpoint = stream.endpoint;
    if (endpoint === null) return 0;
    while (stream.next < stream.slots.length && (inFlight.get(stream.endpointId) ?? 0) < settings.concurrency && clock() + SEND_MICROS < stream.leaseUntil) {
      const slot = stream.slots[stream.next++]!;
      take(stream.endpointId);
      stream.sending++;
      started++;
      const sent = sendSlot(stream, endpoint, slot)
        .catch((error: unknown) => options.onFailure?.(error))
        .finally(() => {
          give(stream.endpointId);
          stream.sending--;
          sending.delete(sent);
          wake(stream);
        });
      sending.add(sent);
    }
    return started;
  }

  /**
   * Records the settled prefix of the stream's slots with the cursor moved past it: past the
   * last position read when every slot read is settled, else up to the first unsettled one.
   * One recording per stream at a time; what settles meanwhile goes in the next.
   */
  function recordPrefix(stream: Stream): void {
    if (stream.recording !== null) return;
    let settled = 0;
    while (settled < stream.next && stream.slots[settled]!.attempt !== null) settled++;
    const first = stream.slots[settled];
    const cursor = first === undefined ? stream.readTo : first.event.position - 1n;
    if (settled === 0 && cursor <= stream.cursor) return;
    const taken = stream.slots.splice(0, settled);
    stream.next -= settled;
    const attempts = taken.map((slot) => slot.attempt!);
    const endpoint = stream.endpoint;
    stream.recording = (async () => {
      try {
        const owned = await recordStream(db, stream.endpointId, owner, cursor, attempts);
        for (const a of attempts) options.onAttempt?.(a.outcome);
        if (!owned) stream.ended = true;
        else if (cursor > stream.cursor) stream.cursor = cursor;
        const givenUp = attempts.filter((a) => a.outcome === 'failed');
        if (owned && endpoint !== null && givenUp.length > 0) {
          const at = givenUp[givenUp.length - 1]!.attemptedAt;
          await db.transaction((tx) => disableIfFailing(tx, endpoint, at, settings.retryWindowMicros, (disabled) => disabledEvent(disabled, at)));
        }
      } catch (error) {
        // Not recorded: the stream ends and starts again from the stored cursor (those events are sent again).
        stream.ended = true;
        options.onFailure?.(error);
      } finally {
        stream.recording = null;
        wake(stream);
      }
    })();
  }

  /**
   * Sends a stream from its cursor: reads the feed when nothing read is left to send, sends in
   * feed order up to the concurrency, records as answers come. In a loop, it then waits for
   * the feed to move on, until its lease is lost or the worker stops; a `run()` ends it once
   * caught up. Answers how many sends it started.
   */
  async function pump(stream: Stream): Promise<number> {
    let started = 0;
    try {
      for (;;) {
        if (stopped || stream.ended) break;
        if (stream.next === stream.slots.length && stream.more && stream.slots.length < STREAM_WINDOW_MAX) {
          stream.more = false;
          const read = await readStream(db, stream.endpointId, owner, stream.readTo, FEED_READ_MAX);
          if (read === null) {
            stream.ended = true;
            break;
          }
          stream.endpoint = read.endpoint;
          for (const event of read.events) stream.slots.push({ event, attempt: null });
          if (read.scannedTo !== null) stream.readTo = read.scannedTo;
          // A full read: more may follow at once.
          if (read.scanned === FEED_READ_MAX) stream.more = true;
        }
        started += startSends(stream);
        recordPrefix(stream);
        // In a `run()`, done when nothing is in flight and nothing more can start: caught up, or
        // (rarely) no lease time left for the sends read, which the next run renews and reads again.
        if (!loop && stream.sending === 0 && stream.recording === null && !stream.more) break;
        if (stream.more && stream.next === stream.slots.length && stream.slots.length < STREAM_WINDOW_MAX) continue;
        await new Promise<void>((resume) => (stream.wake = resume));
      }
    } catch (error) {
      stream.ended = true;
      options.onFailure?.(error);
    }
    // What was sent is answered and recorded before the stream ends or the run returns (when
    // the lease is lost, only the attempts are: storage `recordStream`).
    while (stream.sending > 0 || stream.recording !== null) {
      if (stream.recording === null) await new Promise<void>((resume) => (stream.wake = resume));
      else await stream.recording;
      recordPrefix(stream);
    }
    // Slots read and not sent are read again from the stored cursor next time.
    stream.slots = [];
    stream.next = 0;
    stream.readTo = stream.cursor;
    stream.task = null;
    if (stream.ended || stopped) streams.delete(stream.endpointId);
    return started;
  }

  /** Takes and renews this worker's stream leases, and starts the streams that are not running. */
  async function leaseTurn(): Promise<Promise<number>[]> {
    const now = clock();
    const active = [...streams.values()].filter((stream) => !stream.ended).map((stream) => stream.endpointId);
    const leased = await leaseStreams(db, owner, now, now + LEASE_MICROS, now + LEASE_RENEW_MICROS, active);
    for (const { endpointId, feedPosition } of leased) {
      const known = streams.get(endpointId);
      if (known !== undefined && !known.ended) {
        known.leaseUntil = now + LEASE_MICROS;
        wake(known);
        continue;
      }
      if (known !== undefined) continue; // Ending: taken again at the next turn.
      streams.set(endpointId, {
        endpointId,
        endpoint: null,
        leaseUntil: now + LEASE_MICROS,
        cursor: feedPosition,
        readTo: feedPosition,
        slots: [],
        next: 0,
        sending: 0,
        recording: null,
        more: true,
        ended: false,
        task: null,
        wake: null,
      });
    }
    const tasks: Promise<number>[] = [];
    for (const stream of streams.values()) {
      if (stream.ended) continue;
      if (stream.task === null) {
        stream.more = true;
        stream.task = pump(stream);
      }
      tasks.push(stream.task);
    }
    return tasks;
  }

  /** Claims due delivery rows and sends them; in a `run()`, waits for their answers. */
  async function claimTurn(): Promise<number> {
    const now = clock();
    const claimed = await claimDeliveries(db, now, now + LEASE_MICROS, CLAIM_MAX, settings.concurrency, inFlight);
    const sends = claimed.map((delivery) => {
      const id = delivery.endpoint.id;
      take(id);
      const sent = deliver(delivery)
        .catch((error) => options.onFailure?.(error))
        .finally(() => {
          give(id);
          sending.delete(sent);
          // A slot freed: more of this endpoint's deliveries may be due, and its stream may send.
          const stream = streams.get(id);
          if (stream !== undefined) wake(stream);
          if (loop && !stopped) schedule(0);
        });
      sending.add(sent);
      return sent;
    });
    // The loop does not wait for slow receivers (another turn may claim other endpoints' deliveries); `run()` does.
    if (!loop) await Promise.all(sends);
    return claimed.length;
  }

  const run = (): Promise<number> => {
    const previous = turn ?? Promise.resolve(0);
    // Turn after turn until nothing is left: every stream caught up, no delivery row due.
    const next = previous.catch(() => 0).then(async () => {
      let total = 0;
      for (;;) {
        const streamed = (await Promise.all(await leaseTurn())).reduce((sum, count) => sum + count, 0);
        const claimed = await claimTurn();
        await Promise.all([...sending]);
        total += streamed + claimed;
        if (streamed + claimed === 0) return total;
      }
    });
    turn = next;
    return next;
  };

  // One turn at a time in a process: a turn claims against the sends in flight, which a
  // concurrent turn would not yet see. A wake-up during a turn runs another right after it.
  let ticking = false;
  let again = false;
  const tick = async () => {
    timer = undefined;
    if (ticking) {
      again = true;
      return;
    }
    ticking = true;
    try {
      // The streams run on, each until its lease is lost or the worker stops (they catch their own errors).
      void Promise.allSettled(await leaseTurn());
      await claimTurn();
      if (failing) options.onRecovery?.();
      failing = false;
    } catch (error) {
      if (!failing) options.onFailure?.(error);
      failing = true;
    } finally {
      ticking = false;
    }
    if (again) {
      again = false;
      schedule(0);
    } else if (!stopped && timer === undefined) schedule(options.intervalMs);
  };

  let ticked: Promise<void> = Promise.resolve();
  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      ticked = tick();
    }, ms);
    timer.unref();
  };

  if (loop) schedule(options.intervalMs);
  return {
    run,
    kick() {
      if (!loop || stopped) return;
      for (const stream of streams.values()) {
        stream.more = true;
        wake(stream);
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // A turn under way may still take leases and start streams: they end at once, stopped.
      await ticked;
      for (const stream of streams.values()) wake(stream);
      await turn?.catch(() => 0);
      await Promise.all([...streams.values()].flatMap((stream) => (stream.task === null ? [] : [stream.task])));
      await Promise.all([...sending]);
      agents.http.destroy();
      agents.https.destroy();
      // Handed over at once rather than when they lapse.
      await releaseStreams(db, owner).catch((error: unknown) => options.onFailure?.(error));
    },
  };
}
