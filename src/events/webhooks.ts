/**
 * Webhook deliveries, per Standard Webhooks (https://www.standardwebhooks.com): each event
 * is POSTed with `webhook-id` (the event id, the same on every retry), `webhook-timestamp`
 * (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under
 * the endpoint's `whsec_` secret — and, during a rotation's grace period, a second
 * signature under the previous secret, space-separated.
 *
 * A loop in every process (never inside a request): it fans the feed out into deliveries as
 * far as each endpoint's sending slots allow, leasing them as it makes them (the rest wait in
 * the feed), claims due ones (retries, replays, tests, lapsed leases) with `FOR UPDATE SKIP
 * LOCKED` and a lease (storage/webhooks.ts), sends them with a per-endpoint concurrency limit
 * and a 10 s timeout, and records each attempt.
 * At-least-once: a process killed mid-delivery leaves its lease to lapse and another sends
 * the delivery again, with the same `webhook-id`. Failures are retried with exponential
 * backoff and jitter until the retry window (3 days by default) has passed since the
 * delivery was made (a new event's when it was first leased, so an event waiting in the feed
 * behind a backlog has not started its window; a replay's or a test's when it was queued); an endpoint whose deliveries failed for the whole window is disabled,
 * and a `webhook.disabled` event says so.
 *
 * Outbound safety: redirects are not followed (a 3xx is a failure); a target that resolves
 * to a private, loopback or link-local address is refused — checked on the address the
 * connection actually uses, so DNS cannot swap it — unless `allowPrivate`; response bodies
 * are stored truncated.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { assert } from '../domain/errors.ts';
import type { OutboxEvent } from '../domain/events.ts';
import type { Instant } from '../domain/time.ts';
import type { Database } from '../storage/database.ts';
import { claimDeliveries, claimFresh, recordAttempt, recordDelivered, releaseDeliveries, type AttemptRecord, type ClaimedDelivery, type WebhookEndpoint } from '../storage/webhooks.ts';
import { loopPace } from './pace.ts';

/** A receiver must answer within this. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Stored response bodies are cut to this many bytes (then decoded as UTF-8). */
export const RESPONSE_BODY_MAX = 1_024;
/** An answer is read this far at most (the rest would hold a sending slot for nothing). */
const RESPONSE_READ_MAX = 64 * 1_024;
/** The first retry's delay by default (WEBHOOK_RETRY_FIRST); each next one doubles, up to WEBHOOK_RETRY_MAX_DELAY (6 h by default), ±20 % jitter. */
const BACKOFF_FIRST_MICROS = 5_000_000n;
const BACKOFF_MAX_MICROS = 6n * 3_600_000_000n;
/** Events an endpoint's fan-out looks at per statement (a turn repeats it until caught up). */
export const FAN_OUT_BATCH_MAX = 500;
/** A claimed delivery belongs to its process this long: longer than a send can take. */
const LEASE_MICROS = BigInt(DELIVERY_TIMEOUT_MS) * 3_000n;

export interface WebhookSettings {
  /** WEBHOOK_ALLOW_PRIVATE: allow private, loopback and link-local targets. */
  readonly allowPrivate: boolean;
  /** WEBHOOK_RETRY_WINDOW: how long a delivery is retried, from when it was made. */
  readonly retryWindowMicros: bigint;
  /** WEBHOOK_RETRY_FIRST: the delay before the first retry; each next one doubles. */
  readonly backoffFirstMicros: bigint;
  /** WEBHOOK_RETRY_MAX_DELAY: the longest delay between two attempts. */
  readonly backoffMaxMicros: bigint;
  /** WEBHOOK_CONCURRENCY: deliveries in flight at once per endpoint, per process. */
  readonly concurrency: number;
  /** WEBHOOK_SECRET_GRACE: how long the previous secret keeps signing after a rotation. */
  readonly secretGraceMicros: bigint;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  allowPrivate: false,
  retryWindowMicros: 72n * 3_600_000_000n,
  backoffFirstMicros: BACKOFF_FIRST_MICROS,
  backoffMaxMicros: BACKOFF_MAX_MICROS,
  concurrency: 8,
  secretGraceMicros: 24n * 3_600_000_000n,
};

/** A new secret in the Standard Webhooks form: `whsec_` and 24 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * What is worked out once per endpoint's secret or URL (a few per endpoint at most), kept in
 * `cache`, which is emptied if it ever grows past MEMO_MAX.
 */
const MEMO_MAX = 1_000;
function memo<V>(cache: Map<string, V>, key: string, compute: () => V): V {
  if (cache.has(key)) return cache.get(key)!;
  if (cache.size >= MEMO_MAX) cache.clear();
  const value = compute();
  cache.set(key, value);
  return value;
}

/** Secrets decoded once into keys. */
const keys = new Map<string, KeyObject>();

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = memo(keys, secret, () => createSecretKey(Buffer.from(secret.replace(/^whsec_/, ''), 'base64')));
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

/** A URL's host as an address or name: an IPv6 literal without its brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
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
  // The URL parser takes port 0 (1–65535 are the ports a connection can reach).
  if (parsed.port === '0') return 'url must not name port 0';
  const host = hostOf(parsed);
  if (!allowPrivate && (isIP(host) !== 0 ? isPrivateAddress(host) : host === 'localhost' || host.endsWith('.localhost'))) {
    return 'url points at a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)';
  }
  return null;
}

/** A URL's parts a send needs, parsed once per URL. */
interface Target {
  readonly origin: string;
  readonly path: string;
  /** The host as an address or name: an IPv6 literal without its brackets. */
  readonly host: string;
}
const targets = new Map<string, Target | null>();

function targetOf(url: string): Target | null {
  return memo(targets, url, () => {
    try {
      const parsed = new URL(url);
      return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}`, host: hostOf(parsed) };
    } catch {
      return null;
    }
  });
}

export interface SendResult {
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly body: string | null;
  readonly latencyMs: number;
}

/**
 * The connections deliveries go out on (undici; bench/http-client.ts compares its CPU per
 * request with node:http's), kept alive between sends; one for
 * private targets allowed and one for them refused. The check is in the lookup of each new
 * connection, on the addresses it actually connects to, so DNS cannot swap a private one in.
 */
const dispatchers = new Map<boolean, Agent>();
function dispatcher(allowPrivate: boolean): Agent {
  let agent = dispatchers.get(allowPrivate);
  if (agent === undefined) {
    const lookup = (hostname: string, options: object, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(hostname, options, (error, address, family) => {
        if (error) return callback(error, address as string, family);
        const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
        if (!allowPrivate && addresses.some(isPrivateAddress)) return callback(new Error(`${hostname} resolves to a private, loopback or link-local address`), address as string, family);
        callback(null, address, family);
      });
    };
    agent = new Agent({ connect: { lookup }, headersTimeout: DELIVERY_TIMEOUT_MS, bodyTimeout: DELIVERY_TIMEOUT_MS });
    dispatchers.set(allowPrivate, agent);
  }
  return agent;
}

/**
 * Sends in flight, each with the time (performance.now()) by which it must have finished and
 * what ends it then: one timer, running only while there are any, ends those past it every
 * SWEEP_MS. (A per-request `AbortSignal.timeout`, a timer of its own per send, cost 5–9 µs
 * more CPU a send: `node --import tsx bench/http-client.ts`.)
 */
const inFlight = new Map<() => void, number>();
const SWEEP_MS = 100;
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = performance.now();
  for (const [expire, deadline] of inFlight) {
    if (deadline > now) continue;
    inFlight.delete(expire);
    expire();
  }
  if (inFlight.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** Calls `expire` at `timeoutMs` from now unless it is taken back first (`inFlight.delete`). */
function atDeadline(timeoutMs: number, expire: () => void): void {
  inFlight.set(expire, performance.now() + timeoutMs);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, SWEEP_MS);
    sweeper.unref();
  }
}

/** Why a send failed, as the attempt records it. */
function failureText(error: Error, timeoutMs: number): string {
  const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError' || /timeout/i.test(error.name);
  if (timedOut) return `no answer within ${timeoutMs / 1000} s`;
  // Every address of a name refused: an AggregateError, whose own message is empty.
  return error.message || (error instanceof AggregateError ? error.errors.map((e: Error) => e.message).join('; ') : '') || String((error as { code?: string }).code ?? 'failed');
}

/**
 * POSTs once, within `timeoutMs` (at most and by default DELIVERY_TIMEOUT_MS; the deadline
 * may fire up to SWEEP_MS late); never follows a redirect; refuses a private address unless
 * allowed — a literal one here (no lookup is made for it), one a name resolves to when
 * connecting.
 *
 * It uses undici's `dispatch` with a handler of its own (`Sending`) rather than `request`,
 * which wraps the answer in a stream read through an async iterator: a fifth less CPU per
 * send (`node --import tsx bench/http-client.ts`, 2-core AMD EPYC, 2026-12-02: 150–159 µs
 * against 185–238 µs). The answer is read to its end (so the connection is reused), its
 * first RESPONSE_BODY_MAX bytes kept; one longer than RESPONSE_READ_MAX is cut off there and
 * its connection closed. At the deadline the send is over even if its connection is still
 * being made (a slow lookup): that request is aborted when it starts.
 */
export function send(url: string, headers: Record<string, string>, body: string, allowPrivate: boolean, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<SendResult> {
  const target = targetOf(url);
  if (target === null) return Promise.resolve({ statusCode: null, error: 'not an absolute URL', body: null, latencyMs: 0 });
  if (!allowPrivate && isIP(target.host) !== 0 && isPrivateAddress(target.host)) {
    return Promise.resolve({ statusCode: null, error: `${target.host} is a private, loopback or link-local address`, body: null, latencyMs: 0 });
  }
  // The connections' own header and body timeouts are DELIVERY_TIMEOUT_MS: no longer than that.
  return new Promise<SendResult>((resolve) => {
    const sending = new Sending(Math.min(timeoutMs, DELIVERY_TIMEOUT_MS), resolve);
    try {
      dispatcher(allowPrivate).dispatch(
        { origin: target.origin, path: target.path, method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'Coffer-Webhooks' }, body },
        sending,
      );
    } catch (error) {
      sending.finish(failureText(error as Error, sending.timeoutMs));
    }
  });
}

/**
 * One send: undici's handler of its answer, and the send's deadline (a class: one closure per
 * send, `expire`, which must stay an arrow function since the sweep calls it detached).
 * undici 7 takes a handler for this interface only when it has `onRequestStart`, and needs
 * `onResponseError`: both must stay.
 */
class Sending implements Dispatcher.DispatchHandler {
  private statusCode: number | null = null;
  private readonly kept: Buffer[] = [];
  private size = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private done = false;
  private readonly started = performance.now();
  /** At the deadline the send is over, whatever undici is doing: a request not started yet is aborted when it starts. */
  private readonly expire = (): void => {
    this.finish(failureText(timeoutError(), this.timeoutMs));
    this.controller?.abort(timeoutError());
  };

  constructor(
    readonly timeoutMs: number,
    private readonly resolve: (result: SendResult) => void,
  ) {
    atDeadline(timeoutMs, this.expire);
  }

  finish(error: string | null): void {
    if (this.done) return;
    this.done = true;
    inFlight.delete(this.expire);
    this.resolve({ statusCode: this.statusCode, error, body: this.statusCode === null ? null : storableText(this.kept), latencyMs: Math.round(performance.now() - this.started) });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(timeoutError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    // A 1xx (103 Early Hints, 102) comes before the answer: it is not the answer.
    if (statusCode < 200) return;
    this.statusCode = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.size < RESPONSE_BODY_MAX) this.kept.push(chunk.subarray(0, RESPONSE_BODY_MAX - this.size));
    this.size += chunk.length;
    if (this.size > RESPONSE_READ_MAX) {
      this.finish(null);
      controller.abort(new Error('answer cut off at RESPONSE_READ_MAX'));
    }
  }

  onResponseEnd(): void {
    this.finish(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.finish(failureText(error, this.timeoutMs));
  }
}

function timeoutError(): DOMException {
  return new DOMException('no answer in time', 'TimeoutError');
}

/**
 * A receiver's answer as text a database column takes: its first RESPONSE_BODY_MAX bytes
 * decoded as UTF-8 (bytes that are not become U+FFFD), NUL characters replaced too, since
 * PostgreSQL's text refuses them — a binary answer must not make the attempt unrecordable.
 */
export function storableText(chunks: readonly Buffer[]): string {
  return Buffer.concat(chunks).subarray(0, RESPONSE_BODY_MAX).toString('utf8').replace(/\0/g, '\uFFFD');
}

/** The delay before attempt `attempts + 1`: doubling from `first` (5 s), at most `max` (6 h), ±20 % jitter. */
export function backoff(attempts: number, random: () => number = Math.random, first = BACKOFF_FIRST_MICROS, max = BACKOFF_MAX_MICROS): bigint {
  let delay = first;
  for (let i = 1; i < attempts && delay < max; i++) delay *= 2n;
  if (delay > max) delay = max;
  const jitter = BigInt(Math.round((0.8 + 0.4 * random()) * 1000));
  return (delay * jitter) / 1000n;
}

export interface WebhookWorkerOptions {
  readonly db: Database;
  readonly clock: () => Instant;
  readonly settings: WebhookSettings;
  /** Pause between turns. */
  readonly intervalMs: number;
  /**
   * Told of every attempt's outcome (metrics), and whether its record set the delivery's state
   * (`ended` for a delivered or failed one: false when its lease had lapsed to another process,
   * whose own record counts, or its endpoint was deleted).
   */
  readonly onAttempt?: (outcome: 'delivered' | 'retry' | 'failed', recorded: boolean) => void;
  /** Told of events the loop wrote to the feed (a `webhook.disabled`), once committed: metrics, and the feed's readers woken. */
  readonly onEventsWritten?: (count: number) => void;
  readonly onFailure?: (error: unknown) => void;
  readonly onRecovery?: () => void;
}

export interface WebhookWorker {
  /** Turns now, until nothing is due: fans out, sends every due delivery; resolves when they are all answered. */
  run(): Promise<number>;
  /** Events may have arrived (a commit): a turn soon, unless the loop is idle. */
  kick(): void;
  /** An endpoint or a delivery may have appeared (a webhook route): a turn soon, idle or not. */
  wake(): void;
  stop(): Promise<void>;
}

const FAST_ANSWER_MS = 250;
/** An endpoint's fast answer counts for this long (its entry is then dropped). */
const FAST_FOR_MS = 60_000;
/**
 * What a claim takes ahead of an endpoint is sent within about this long at its answers'
 * latency (at most the pace's queueFactor times its concurrency): well inside the 10 s a
 * claimed delivery may wait for a slot before it is given back (SEND_MARGIN_MICROS).
 */
export const QUEUE_AHEAD_MS = 2_000;
/**
 * A delivery is sent only while its lease has this long left: a send (at most
 * DELIVERY_TIMEOUT_MS) and its record end well within the lease. Otherwise it is given back.
 */
const SEND_MARGIN_MICROS = BigInt(DELIVERY_TIMEOUT_MS) * 1_000n + 10_000_000n;

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

export function startWebhookWorker(options: WebhookWorkerOptions, loop = true): WebhookWorker {
  const { db, clock, settings } = options;
  const { turnGapMs, queueFactor, claimMax } = loopPace(db.kind);
  /** Where the loop's own statements go (fan-out, claim, lazy records): on PostgreSQL, the pool that keeps their plans. */
  const loopDb = db.background ?? db;
  /** Endpoint id → deliveries this process claimed and has not finished (waiting for a slot, sending or recording). */
  const claimed = new Map<string, number>();
  /** Endpoint id → its sends in flight, and the claimed deliveries waiting for one of its slots, in order. */
  const slots = new Map<string, { sending: number; readonly waiting: (() => void)[] }>();
  /** Endpoints whose last answer was a fast 2xx, when (Date.now()), and their answers' latency: a claim may take up to the pace's queueFactor times their concurrency. */
  const fast = new Map<string, { readonly at: number; readonly latencyMs: number }>();
  const sending = new Set<Promise<void>>();
  /** Endpoint URL → why it cannot be a target, or null: worked out once per URL, not per send. */
  const problems = new Map<string, string | null>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let turn: Promise<number> | undefined;
  let failing = false;
  /** Events may wait in the feed for a fan-out: some reached it since the last one (a commit here, or another process's seen by the watcher), or the last one stopped at an endpoint's allowance, found it with none, or passed it by for another session's lock. */
  let fresh = true;
  let fannedOutMs = -Infinity;
  /** Deliveries made before may be due (the last claim of due ones found some, or could not take them all, or a route made one), and when that claim was last made. */
  let due = true;
  let claimedDueMs = -Infinity;
  /**
   * The last fan-out found no enabled endpoint and the turn claimed nothing: until a
   * webhook route wakes the loop, or its interval finds one (an endpoint another process
   * created), commits do not start turns. A server with no webhook spent a fan-out and a
   * claim (0.3 ms of PostgreSQL, `pg_stat_statements`) on every turn's worth of writes.
   */
  let idle = false;
  let answered: { readonly record: AttemptRecord; readonly done: (error: unknown, ended: boolean) => void }[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  /**
   * The record of successes in flight: one at a time. A record waits for its endpoints' rows
   * (`FOR KEY SHARE`), which a delete holds while it deletes the endpoint's backlog; records
   * sent every turn gap meanwhile would each hold a connection of the small background
   * pool, and the turns' fan-outs and claims would find none. Answers that come in meanwhile
   * wait, and the next record takes them all.
   */
  let recording = false;

  /** Successes answered within a turn's gap of each other are recorded together (storage `recordDelivered`); true when this one's record ended its delivery. */
  function recordSuccess(record: AttemptRecord): Promise<boolean> {
    return new Promise((resolve, reject) => {
      answered.push({ record, done: (error, ended) => (error === undefined ? resolve(ended) : reject(error)) });
      if (answered.length >= claimMax) flush();
      else flushTimer ??= setTimeout(flush, turnGapMs);
    });
  }

  function flush(): void {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (recording) return;
    const taken = answered;
    answered = [];
    if (taken.length === 0) return;
    recording = true;
    recordDelivered(
      loopDb,
      taken.map((t) => t.record),
    )
      .then(
        (ended) => taken.forEach((t, index) => t.done(undefined, ended.has(index))),
        (error: unknown) => taken.forEach((t) => t.done(error ?? new Error('recording the attempts failed'), false)),
      )
      .finally(() => {
        recording = false;
        if (answered.length > 0) flush();
      });
  }

  /** Waits for one of the endpoint's `concurrency` sending slots; first come, first served. */
  async function acquire(endpointId: string): Promise<void> {
    let slot = slots.get(endpointId);
    if (slot === undefined) slots.set(endpointId, (slot = { sending: 0, waiting: [] }));
    if (slot.sending < settings.concurrency) {
      slot.sending++;
      return;
    }
    await new Promise<void>((resolve) => slot.waiting.push(resolve));
  }

  /** Hands the slot to the next waiting delivery, or frees it. */
  function releaseSlot(endpointId: string): void {
    const slot = slots.get(endpointId);
    if (slot === undefined) return;
    const next = slot.waiting.shift();
    if (next !== undefined) return next();
    slot.sending--;
    if (slot.sending === 0) slots.delete(endpointId);
  }

  /** What a claim may take of each endpoint this process knows: its limit less what it already holds. */
  function allowances(): Map<string, number> {
    const free = new Map<string, number>();
    const stale = Date.now() - FAST_FOR_MS;
    for (const [id, answer] of fast) if (answer.at < stale) fast.delete(id);
    for (const id of new Set([...claimed.keys(), ...fast.keys()])) {
      const answer = fast.get(id);
      const factor = answer === undefined ? 1 : Math.max(1, Math.min(queueFactor, Math.floor(QUEUE_AHEAD_MS / Math.max(1, answer.latencyMs))));
      const limit = settings.concurrency * factor;
      free.set(id, Math.max(0, limit - (claimed.get(id) ?? 0)));
    }
    return free;
  }

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const endpoint = delivery.endpoint;
    await acquire(endpoint.id);
    let result: SendResult;
    try {
      const now = clock();
      // Stopping, or too late to finish within the lease: another process may take it, so this one must not send it.
      if (stopped || delivery.leaseUntil - now < SEND_MARGIN_MICROS) {
        await releaseDeliveries(loopDb, [delivery]);
        return;
      }
      const timestamp = Number(now / 1_000_000n);
      const headers = {
        'webhook-id': delivery.eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatures(endpoint, delivery.eventId, timestamp, delivery.body, now),
      };
      const problem = memo(problems, endpoint.url, () => targetProblem(endpoint.url, settings.allowPrivate));
      result = problem !== null ? { statusCode: null, error: problem, body: null, latencyMs: 0 } : await send(endpoint.url, headers, delivery.body, settings.allowPrivate);
    } finally {
      releaseSlot(endpoint.id);
    }
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    if (ok && result.latencyMs < FAST_ANSWER_MS) {
      // The latency a claim-ahead is sized by rises with a slower answer at once and falls a
      // quarter of the way to a faster one: one quick answer does not lease a slow receiver more.
      const before = fast.get(endpoint.id)?.latencyMs ?? 0;
      const latencyMs = result.latencyMs >= before ? result.latencyMs : before - (before - result.latencyMs) / 4;
      fast.set(endpoint.id, { at: Date.now(), latencyMs });
    } else fast.delete(endpoint.id);
    const attemptedAt = clock();
    const next = attemptedAt + backoff(delivery.attempts, Math.random, settings.backoffFirstMicros, settings.backoffMaxMicros);
    const outcome = ok ? 'delivered' : next - delivery.createdAt > settings.retryWindowMicros ? 'failed' : 'retry';
    const record: AttemptRecord = {
      delivery,
      attemptedAt,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: ok ? null : (result.error ?? `answered ${result.statusCode}${result.statusCode !== null && result.statusCode >= 300 && result.statusCode < 400 ? ' (redirects are not followed)' : ''}`),
      responseBody: result.body,
      outcome,
      nextAttemptAt: outcome === 'retry' ? next : null,
    };
    let recorded: boolean;
    let disabled = false;
    if (ok) recorded = await recordSuccess(record);
    else ({ recorded, disabled } = await recordAttempt(db, record, settings.retryWindowMicros, (endpoint) => disabledEvent(endpoint, attemptedAt)));
    options.onAttempt?.(outcome, recorded);
    // Its record wrote a `webhook.disabled` event to the feed, committed with it: told after the attempt is counted.
    if (disabled) options.onEventsWritten?.(1);
  }

  async function runOnce(): Promise<number> {
    const now = clock();
    const leaseUntil = now + LEASE_MICROS;
    const free = allowances();
    const taken: ClaimedDelivery[] = [];
    const take = (deliveries: readonly ClaimedDelivery[]) => {
      for (const delivery of deliveries) {
        const id = delivery.endpoint.id;
        free.set(id, (free.get(id) ?? settings.concurrency) - 1);
        taken.push(delivery);
      }
    };
    const sends: Promise<void>[] = [];
    let failed = false;
    let failure: unknown;
    try {
      // First the deliveries made before and due now, oldest first (retries, replays, tests,
      // lapsed leases): when some may be due (the last such claim found some, a route may have
      // made one), and once an interval. Not on every turn: a turn's fan-out leases what it
      // sends, and this claim's walk past the endpoint's leased deliveries cost 10 µs of
      // PostgreSQL's execution a delivery (pg_stat_statements).
      if (due || !loop || Date.now() - claimedDueMs >= options.intervalMs) {
        claimedDueMs = Date.now();
        // Some stay due when an endpoint's allowance was taken (its slots busy): this claim
        // could not take its due ones, and the turn its sends' end starts must claim them.
        const keep = due && [...free.values()].some((left) => left <= 0);
        due = false;
        let dueNow: ClaimedDelivery[];
        try {
          dueNow = await claimDeliveries(loopDb, now, leaseUntil, claimMax, settings.concurrency, free);
        } catch (error) {
          due = true;
          throw error;
        }
        if (dueNow.length > 0 || keep) due = true;
        take(dueNow);
      }
      // Then the feed's new events, as far as each endpoint's allowance goes (what the due
      // claim left of it), made deliveries and leased in one statement (storage `claimFresh`);
      // the rest wait in the feed. Only when events may be there for it: a wake-up from a
      // commit, an endpoint left capped by its allowance (its sends' end starts the next
      // turn), or the interval passed. Until no endpoint's batch was full (but for those it
      // stopped at their allowance): a batch that held no event a filtered endpoint wants made
      // no delivery, yet moved its position, and the events it wants may be next (stopping at a
      // batch that was not full, a turn ends under sustained writes too).
      if (fresh || !loop || Date.now() - fannedOutMs >= options.intervalMs) {
        fresh = false;
        fannedOutMs = Date.now();
        let endpoints = 0;
        try {
          for (;;) {
            const out = await claimFresh(loopDb, now, leaseUntil, FAN_OUT_BATCH_MAX, settings.concurrency, free);
            endpoints = Math.max(endpoints, out.endpoints);
            take(out.leased);
            // Events wait in the feed for an endpoint this fan-out stopped at or passed by: the
            // next turn fans out again (one passed by for a lock: a commit's turn, or the interval).
            if (out.capped > 0 || out.held > 0) fresh = true;
            if (out.fullest !== FAN_OUT_BATCH_MAX) break;
          }
        } catch (error) {
          fresh = true;
          throw error;
        }
        idle = endpoints === 0;
      }
    } catch (error) {
      failed = true;
      failure = error;
    }
    // What this turn leased is sent even when a later statement of the turn failed.
    if (taken.length > 0) idle = false;
    for (const delivery of taken) {
      const id = delivery.endpoint.id;
      claimed.set(id, (claimed.get(id) ?? 0) + 1);
      const sent = deliver(delivery)
        .catch((error) => options.onFailure?.(error))
        .finally(() => {
          const left = (claimed.get(id) ?? 1) - 1;
          if (left === 0) claimed.delete(id);
          else claimed.set(id, left);
          sending.delete(sent);
          // Its queue is running dry: a turn soon, to lease more of this endpoint's deliveries.
          if (loop && !stopped && left < settings.concurrency) soon();
        });
      sending.add(sent);
      sends.push(sent);
    }
    // A full turn may have left other endpoints' deliveries due: another turn soon.
    if (loop && taken.length >= claimMax) soon();
    // The loop does not wait for slow receivers (another turn may claim other endpoints' deliveries); `run()` does.
    if (!loop) await Promise.all(sends);
    if (failed) throw failure;
    return taken.length;
  }

  const run = (): Promise<number> => {
    const previous = turn ?? Promise.resolve(0);
    // Turn after turn until nothing due is left (a turn claims at most the concurrency per endpoint).
    const next = previous.catch(() => 0).then(async () => {
      let total = 0;
      for (;;) {
        const count = await runOnce();
        await Promise.all([...sending]);
        total += count;
        if (count === 0) return total;
      }
    });
    turn = next;
    return next;
  };

  // One turn at a time in a process: a turn claims against the sends in flight, which a
  // concurrent turn would not yet see. A wake-up during a turn runs another right after it.
  let ticking = false;
  let again = false;
  let lastTurnMs = -Infinity;
  /** The loop's turn in progress, for stop() to wait for (it may be claiming). */
  let looping: Promise<number> | undefined;
  const tick = async () => {
    timer = undefined;
    if (ticking) {
      again = true;
      return;
    }
    ticking = true;
    lastTurnMs = Date.now();
    try {
      looping = runOnce();
      await looping;
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
      soon();
    } else if (!stopped && timer === undefined) schedule(options.intervalMs);
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };
  /** A turn as soon as a turn's gap after the last one began. */
  const soon = () => schedule(Math.max(0, lastTurnMs + turnGapMs - Date.now()));

  if (loop) schedule(options.intervalMs);
  return {
    run,
    kick() {
      fresh = true;
      if (loop && !stopped && !idle) soon();
    },
    wake() {
      idle = false;
      fresh = true;
      due = true;
      if (loop && !stopped) soon();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await turn?.catch(() => 0);
      await looping?.catch(() => 0);
      await Promise.all([...sending]);
    },
  };
}
