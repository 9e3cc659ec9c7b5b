/**
 * One call to the API, with retries: on no answer (connection refused or reset, timeout) and
 * on 429, 502, 503 and 504, with backoff and Retry-After honoured. A mutation carries an
 * Idempotency-Key (the caller's, or a new UUIDv7) that every retry of the call reuses, so a
 * retry after a lost answer replays the first outcome instead of moving money twice.
 * Bodies are read and written losslessly: JSON integers are bigint.
 */
import { parse, stringify } from 'lossless-json';
import { v7 as uuidv7 } from 'uuid';
import { credentialsFromEnvironment, TokenSource, type ClientCredentials } from './credentials.ts';
import { CofferConnectionError, CofferError } from './errors.ts';
import type { AccessToken, ErrorCode, Scope } from './types.ts';

export interface TransportOptions {
  /** Base URL of the server; default http://127.0.0.1:8080. */
  readonly url?: string;
  /** Retries after the first attempt; default 3. */
  readonly retries?: number;
  /** First backoff, doubled on each retry (with jitter); default 100 ms. */
  readonly retryDelayMs?: number;
  /** Per attempt; default 30 000 ms, the server's own request timeout. */
  readonly timeoutMs?: number;
  /** Sent with every request, e.g. an Authorization header in front of a gateway. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Default: the global fetch (undici). */
  readonly fetch?: typeof fetch;
  /**
   * An API client's credentials, for a server with auth on: the client fetches access tokens
   * with them (OAuth 2.0 client credentials) and renews them by itself. Default:
   * COFFER_CLIENT_ID and COFFER_CLIENT_SECRET from the environment, when both are set.
   */
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Ask for fewer scopes than the client has; default: all of them. */
  readonly scopes?: readonly Scope[];
  /** The token endpoint; default `<url>/oauth/token`. */
  readonly tokenUrl?: string;
}

function credentialsOf(options: TransportOptions): ClientCredentials | undefined {
  if (options.clientId !== undefined || options.clientSecret !== undefined) {
    if (!options.clientId || !options.clientSecret) throw new TypeError('clientId and clientSecret go together');
    return { clientId: options.clientId, clientSecret: options.clientSecret, ...(options.scopes ? { scopes: options.scopes } : {}) };
  }
  const fromEnvironment = credentialsFromEnvironment();
  return fromEnvironment && options.scopes ? { ...fromEnvironment, scopes: options.scopes } : fromEnvironment;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** A Retry-After longer than this is not waited for: the call fails and the caller decides. */
const RETRY_AFTER_MS_MAX = 30_000;

export interface CallRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly body?: unknown;
  /** Set for a mutation: the caller's key, or null to have one generated. */
  readonly idempotencyKey?: string | null;
  readonly signal?: AbortSignal;
}

export function parseJson(text: string): unknown {
  return parse(text, null, (number) => (/^-?\d+$/.test(number) ? BigInt(number) : Number(number)));
}

export function writeJson(value: unknown): string {
  return stringify(value) ?? 'null';
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null || !/^\d{1,6}$/.test(header)) return undefined;
  return Number(header) * 1000;
}

export class Transport {
  readonly url: string;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly fetch: typeof fetch;
  private readonly tokens: TokenSource | null;

  constructor(options: TransportOptions = {}) {
    this.url = (options.url ?? DEFAULT_URL).replace(/\/+$/, '');
    this.retries = options.retries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.headers = options.headers ?? {};
    // Called through a wrapper, not stored bare: a browser's fetch called as a method of this
    // object throws "Illegal invocation" (Node's does not care).
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const credentials = credentialsOf(options);
    this.tokens = credentials === undefined ? null : new TokenSource(credentials, options.tokenUrl ?? `${this.url}/oauth/token`, this.fetch, this.timeoutMs);
  }

  /** The access token calls carry now (fetched if need be); null without credentials. */
  async accessToken(): Promise<AccessToken | null> {
    return this.tokens === null ? null : this.tokens.token();
  }

  /** Sends the request (retrying as described above) and returns the parsed body, or undefined when there is none. */
  async call(request: CallRequest): Promise<unknown> {
    return this.read(await this.send(request));
  }

  /** A GET whose answer is bytes (a backup), retried as a read; an error answer throws as `call` does. */
  async bytes(request: CallRequest): Promise<Uint8Array> {
    const response = await this.send(request);
    if (!response.ok) return (await this.read(response)) as never;
    return new Uint8Array(await response.arrayBuffer());
  }

  private async send(request: CallRequest): Promise<Response> {
    const query = request.query?.toString();
    const url = `${this.url}${request.path}${query ? `?${query}` : ''}`;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'coffer-client',
      // One id for the call and all its retries: the server's log lines of every attempt share it.
      'x-request-id': uuidv7(),
      ...this.headers,
    };
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey ?? uuidv7();
    const body = request.body === undefined ? undefined : writeJson(request.body);
    if (body !== undefined) headers['content-type'] = 'application/json';

    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const retryable = attempt <= this.retries;
      let response: Response;
      const token = this.tokens === null ? null : (await this.tokens.token()).token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      try {
        const signals = [AbortSignal.timeout(this.timeoutMs), ...(request.signal ? [request.signal] : [])];
        response = await this.fetch(url, { method: request.method, headers, body, signal: AbortSignal.any(signals) });
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason;
        if (!retryable) throw new CofferConnectionError(url, attempt, { cause: error });
        await delay(this.backoffMs(attempt), request.signal);
        continue;
      }
      // A token the server no longer takes (a rotated key or secret, a clock ahead of ours): fetch another, once.
      if (response.status === 401 && token !== null && !renewed) {
        renewed = true;
        this.tokens!.discard(token);
        await response.arrayBuffer();
        attempt--;
        continue;
      }
      if (RETRY_STATUSES.has(response.status) && retryable) {
        const wait = retryAfterMs(response) ?? this.backoffMs(attempt);
        if (wait <= RETRY_AFTER_MS_MAX) {
          await response.arrayBuffer(); // frees the connection for the next attempt
          await delay(wait, request.signal);
          continue;
        }
      }
      return response;
    }
  }

  private backoffMs(attempt: number): number {
    const base = this.retryDelayMs * 2 ** (attempt - 1);
    return base / 2 + Math.random() * (base / 2);
  }

  private async read(response: Response): Promise<unknown> {
    const text = await response.text();
    const json = text !== '' && (response.headers.get('content-type') ?? '').startsWith('application/json');
    let body: unknown;
    try {
      body = json ? parseJson(text) : undefined;
    } catch {
      body = undefined;
    }
    if (response.ok) return body;
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const error = body as { errorCode?: unknown; errorMessage?: unknown } | undefined;
    if (typeof error?.errorCode === 'string' && typeof error.errorMessage === 'string') {
      throw new CofferError(response.status, error.errorCode as ErrorCode, error.errorMessage, requestId);
    }
    // Not Coffer's error body (a proxy's page, say): keep the status and the start of what it said.
    throw new CofferError(response.status, 'UNEXPECTED_RESPONSE', `HTTP ${response.status}: ${text.slice(0, 200)}`, requestId);
  }
}
