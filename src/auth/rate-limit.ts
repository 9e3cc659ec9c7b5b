/**
 * Token buckets: each key (a client, or an address asking for tokens) has a bucket of
 * `burst` tokens that refills at `perSecond`; a request takes one, and is refused while the
 * bucket is empty, told how long until the next token. In process memory by default; with
 * REDIS_URL, in Redis, so that every process of a deployment draws from one bucket per key
 * (one script call per request, atomic, timed by Redis's own clock so process clocks do not
 * matter).
 *
 * @fastify/rate-limit was the obvious plugin, but it counts requests per fixed window (a
 * client may spend twice its budget across a window's edge) and runs before the route knows
 * who is calling; a bucket is a dozen lines in either store, so Coffer keeps its own.
 *
 * If Redis does not answer, the request is let through and the failure reported: losing
 * the limit for a moment beats refusing every payment.
 */
import { Redis } from 'ioredis';

export interface BucketRate {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Most tokens a bucket holds: the burst a quiet client may send at once. */
  readonly burst: number;
}

export type Taken = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  take(key: string, rate: BucketRate): Promise<Taken>;
  close(): Promise<void>;
}

const ALLOWED: Taken = { allowed: true };

/** Whole seconds to wait for one token (Retry-After has no fractions): at least 1. */
function retryAfter(missing: number, rate: BucketRate): Taken {
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / rate.perSecond)) };
}

/** Buckets kept in memory before full (idle) ones are dropped: a full bucket is the same as none. */
const MEMORY_BUCKETS_MAX = 100_000;

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly nowMs: () => number = Date.now) {}

  async take(key: string, rate: BucketRate): Promise<Taken> {
    const now = this.nowMs();
    const bucket = this.buckets.get(key) ?? { tokens: rate.burst, atMs: now };
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.atMs) / 1000) * rate.perSecond);
    bucket.atMs = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      return retryAfter(1 - bucket.tokens, rate);
    }
    bucket.tokens -= 1;
    if (!this.buckets.has(key) && this.buckets.size >= MEMORY_BUCKETS_MAX) this.dropFullBuckets(now);
    this.buckets.set(key, bucket);
    return ALLOWED;
  }

  private dropFullBuckets(now: number): void {
    for (const [key, bucket] of this.buckets) {
      // A bucket idle for a minute is full at any rate worth setting.
      if (now - bucket.atMs > 60_000) this.buckets.delete(key);
    }
  }

  async close(): Promise<void> {}
}

/**
 * KEYS[1] the bucket; ARGV: perSecond, burst. Returns {1, 0} when a token was taken, else
 * {0, tokens missing × 1e6}. The bucket expires once it would be full again.
 */
const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
if allowed == 1 then return {1, 0} end
return {0, math.ceil((1 - tokens) * 1000000)}
`;

/** Most time a Redis call may take before the request goes on without it. */
const REDIS_TIMEOUT_MS = 500;

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      commandTimeout: REDIS_TIMEOUT_MS,
      // Reconnects go on in the background; meanwhile calls fail fast (and are let through).
      enableOfflineQueue: false,
    });
    this.redis.defineCommand('cofferTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    // A lost connection is reported per call; without a listener ioredis would print it.
    this.redis.on('error', () => {});
  }

  async take(key: string, rate: BucketRate): Promise<Taken> {
    try {
      const take = (this.redis as unknown as { cofferTake(key: string, perSecond: string, burst: string): Promise<[number, number]> }).cofferTake;
      const [allowed, missingMicros] = await take.call(this.redis, `${this.prefix}${key}`, String(rate.perSecond), String(rate.burst));
      return allowed === 1 ? ALLOWED : retryAfter(missingMicros / 1_000_000, rate);
    } catch (error) {
      this.onError(error);
      return ALLOWED;
    }
  }

  /** Resolves once connected, so a server with REDIS_URL set knows at start-up that Redis answers. */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis did not answer within 5 s (status ${this.redis.status})`)), 5_000);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
