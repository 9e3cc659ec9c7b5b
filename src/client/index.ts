/**
 * The typed Coffer client: `import { Coffer } from 'coffer/client'`. Every route of the API,
 * amounts as bigint both ways, errors as CofferError with the server's errorCode, and
 * retries that are safe for mutations (see transport.ts). It needs only fetch, so it runs in
 * any Node 20 process; it imports nothing of the server but the error catalog's type.
 *
 *   const coffer = new Coffer({ url: 'http://127.0.0.1:8080' });
 *   const wallet = await coffer.createWallet({ name: 'alice' });
 *   await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 10_000n } });
 */
import { Transport, type CallRequest, type TransportOptions } from './transport.ts';
import type {
  AccessToken,
  ApiClient,
  ApiClientWithSecret,
  Scope,
  SigningKey,
  Balance,
  BalanceWithAssets,
  CofferEvent,
  EventType,
  ListEventsQuery,
  Webhook,
  WebhookAttempt,
  WebhookWithSecret,
  BulkItem,
  BulkOperation,
  BulkOptions,
  CallOptions,
  ConfirmHoldRequest,
  CreateBalanceRequest,
  CreateWalletRequest,
  CreditRequest,
  DebitRequest,
  ExpandedHold,
  Hold,
  ListHoldsQuery,
  ListTransactionsQuery,
  ListWalletsQuery,
  Metadata,
  MutationOptions,
  Page,
  PageQuery,
  ServerInfo,
  Summary,
  Transaction,
  UpdateBalanceRequest,
  Wallet,
  WalletStatus,
} from './types.ts';

export { CofferConnectionError, CofferError, type CofferErrorCode } from './errors.ts';
export { DEFAULT_URL, type TransportOptions as CofferOptions } from './transport.ts';
export type { ClientCredentials } from './credentials.ts';
export type * from './types.ts';

type Query = Record<string, string | number | Metadata | undefined>;

function searchParams(query: Query): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) params.append(`${name}[${key}]`, item);
    } else {
      params.append(name, String(value));
    }
  }
  return params;
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function instant(value: string | Date | null | undefined): string | null | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

/** The list envelope, with pageSize as the small number it is. */
function page<Item>(body: unknown): Page<Item> {
  const cursor = (body as { cursor: Omit<Page<Item>, 'pageSize'> & { pageSize: bigint } }).cursor;
  return { ...cursor, pageSize: Number(cursor.pageSize) };
}

function data<Item>(body: unknown): Item {
  return (body as { data: Item }).data;
}

export class Coffer {
  private readonly transport: Transport;

  constructor(options: TransportOptions = {}) {
    this.transport = new Transport(options);
  }

  /** The server's base URL. */
  get url(): string {
    return this.transport.url;
  }

  private get(path: string, query: Query = {}, options: CallOptions = {}): Promise<unknown> {
    return this.transport.call({ method: 'GET', path, query: searchParams(query), ...(options.signal ? { signal: options.signal } : {}) });
  }

  private mutate(method: CallRequest['method'], path: string, body: unknown, options: MutationOptions): Promise<unknown> {
    return this.transport.call({
      method,
      path,
      body,
      idempotencyKey: options.idempotencyKey ?? null,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async listWallets(query: ListWalletsQuery = {}, options?: CallOptions): Promise<Page<Wallet>> {
    return page(await this.get('/wallets', { ...query }, options));
  }

  async createWallet(request: CreateWalletRequest = {}, options: MutationOptions = {}): Promise<Wallet> {
    return data(await this.mutate('POST', '/wallets', request, options));
  }

  async getWallet(id: string, options?: CallOptions): Promise<Wallet> {
    return data(await this.get(`/wallets/${segment(id)}`, {}, options));
  }

  /** Merges `metadata` into the wallet's (keys are added or replaced, never removed). */
  async updateWallet(id: string, metadata: Metadata, options: MutationOptions = {}): Promise<void> {
    await this.mutate('PATCH', `/wallets/${segment(id)}`, { metadata }, options);
  }

  /** `frozen`: money may come in, never leave; `closed`: read only, for good (every balance and hold must be at zero); `active` again after frozen. */
  async setWalletStatus(id: string, status: WalletStatus, options: MutationOptions = {}): Promise<void> {
    await this.mutate('PATCH', `/wallets/${segment(id)}`, { status }, options);
  }

  async walletSummary(id: string, options?: CallOptions): Promise<Summary> {
    return data(await this.get(`/wallets/${segment(id)}/summary`, {}, options));
  }

  async listBalances(walletId: string, query: PageQuery = {}, options?: CallOptions): Promise<Page<Balance>> {
    return page(await this.get(`/wallets/${segment(walletId)}/balances`, { ...query }, options));
  }

  async createBalance(walletId: string, request: CreateBalanceRequest, options: MutationOptions = {}): Promise<Balance> {
    const body = { ...request, ...(request.expiresAt !== undefined ? { expiresAt: instant(request.expiresAt) } : {}) };
    return data(await this.mutate('POST', `/wallets/${segment(walletId)}/balances`, body, options));
  }

  async getBalance(walletId: string, name: string, options?: CallOptions): Promise<BalanceWithAssets> {
    return data(await this.get(`/wallets/${segment(walletId)}/balances/${segment(name)}`, {}, options));
  }

  /** Changes a balance's overdraft limits, priority or expiry (`main`: overdraft only). */
  async updateBalance(walletId: string, name: string, request: UpdateBalanceRequest, options: MutationOptions = {}): Promise<void> {
    const body = { ...request, ...(request.expiresAt !== undefined ? { expiresAt: instant(request.expiresAt) } : {}) };
    await this.mutate('PATCH', `/wallets/${segment(walletId)}/balances/${segment(name)}`, body, options);
  }

  /** Debits at once (resolves to undefined) or, with `pending: true`, puts the amount on hold (resolves to the hold). */
  debit(walletId: string, request: DebitRequest & { pending: true }, options?: MutationOptions): Promise<Hold>;
  debit(walletId: string, request: DebitRequest, options?: MutationOptions): Promise<Hold | undefined>;
  async debit(walletId: string, request: DebitRequest, options: MutationOptions = {}): Promise<Hold | undefined> {
    const body = {
      ...request,
      ...(request.timestamp !== undefined ? { timestamp: instant(request.timestamp) } : {}),
      ...(request.expiresAt !== undefined ? { expiresAt: instant(request.expiresAt) } : {}),
    };
    const answer = await this.mutate('POST', `/wallets/${segment(walletId)}/debit`, body, options);
    return answer === undefined ? undefined : data<Hold>(answer);
  }

  async credit(walletId: string, request: CreditRequest, options: MutationOptions = {}): Promise<void> {
    const body = { ...request, ...(request.timestamp !== undefined ? { timestamp: instant(request.timestamp) } : {}) };
    await this.mutate('POST', `/wallets/${segment(walletId)}/credit`, body, options);
  }

  async listHolds(query: ListHoldsQuery = {}, options?: CallOptions): Promise<Page<Hold>> {
    return page(await this.get('/holds', { ...query }, options));
  }

  async getHold(id: string, options?: CallOptions): Promise<ExpandedHold> {
    return data(await this.get(`/holds/${segment(id)}`, {}, options));
  }

  /** Moves an open hold's expiry; null removes it. */
  async updateHold(id: string, request: { expiresAt: string | Date | null }, options: MutationOptions = {}): Promise<void> {
    await this.mutate('PATCH', `/holds/${segment(id)}`, { expiresAt: instant(request.expiresAt) }, options);
  }

  /** Sends `amount` (default: all that remains) to the hold's destination; `final` returns the rest to main. */
  async confirmHold(id: string, request: ConfirmHoldRequest = {}, options: MutationOptions = {}): Promise<void> {
    await this.mutate('POST', `/holds/${segment(id)}/confirm`, request, options);
  }

  /** Cancels the hold: what remains goes back to the balances it came from. */
  async voidHold(id: string, options: MutationOptions = {}): Promise<void> {
    await this.mutate('POST', `/holds/${segment(id)}/void`, undefined, options);
  }

  /**
   * Up to 1,000 operations in one request (the server's POST /bulk); resolves to one item per
   * operation, in order. An item's error is a value here, not a throw: only the request itself
   * failing (a 4xx/5xx for the whole) throws CofferError.
   */
  async bulk(operations: BulkOperation[], options: BulkOptions = {}): Promise<BulkItem[]> {
    const { atomic = false, ...mutation } = options;
    const items = data<(Omit<BulkItem, 'status'> & { status: bigint })[]>(await this.mutate('POST', '/bulk', { atomic, operations }, mutation));
    return items.map((item) => ({ ...item, status: Number(item.status) }));
  }

  async listTransactions(query: ListTransactionsQuery = {}, options?: CallOptions): Promise<Page<Transaction>> {
    return page(await this.get('/transactions', { ...query }, options));
  }

  /** One page of the event feed, oldest first. */
  async listEvents(query: ListEventsQuery = {}, options?: CallOptions): Promise<Page<CofferEvent>> {
    const { after, type, ...rest } = query;
    return page(
      await this.get(
        '/events',
        { ...rest, ...(after !== undefined ? { after: String(after) } : {}), ...(type !== undefined ? { type: Array.isArray(type) ? type.join(',') : type } : {}) },
        options,
      ),
    );
  }

  /**
   * Follows the feed: every event after `after` (default: from the first), then each new one
   * as it commits (long polls of `wait` seconds, default 20), until `options.signal` aborts.
   * Resume a consumer by passing the last `position` it handled as `after`. Each next page
   * is asked for with the previous page's `next` cursor, which with a filter resumes after
   * every event the server looked at, not only the last that matched.
   */
  async *events(query: Omit<ListEventsQuery, 'cursor'> = {}, options?: CallOptions): AsyncGenerator<CofferEvent> {
    const wait = query.wait ?? 20;
    let cursor: string | undefined;
    while (options?.signal?.aborted !== true) {
      const current = await this.listEvents(cursor === undefined ? { ...query, wait } : { cursor, wait }, options);
      for (const event of current.data) yield event;
      if (current.next !== undefined) cursor = current.next;
    }
  }

  /** Admin: adds a webhook endpoint; its secret is in this answer only. */
  async createWebhook(request: { url: string; eventTypes?: EventType[]; description?: string }, options: CallOptions = {}): Promise<WebhookWithSecret> {
    return data(await this.admin('POST', '/webhooks', request, options));
  }

  async listWebhooks(options: CallOptions = {}): Promise<Webhook[]> {
    return data(await this.get('/webhooks', {}, options));
  }

  async getWebhook(id: string, options: CallOptions = {}): Promise<Webhook> {
    return data(await this.get(`/webhooks/${segment(id)}`, {}, options));
  }

  async updateWebhook(id: string, request: { url?: string; eventTypes?: EventType[]; description?: string; enabled?: boolean }, options: CallOptions = {}): Promise<Webhook> {
    return data(await this.admin('PATCH', `/webhooks/${segment(id)}`, request, options));
  }

  async deleteWebhook(id: string, options: CallOptions = {}): Promise<void> {
    await this.admin('DELETE', `/webhooks/${segment(id)}`, undefined, options);
  }

  /** A new secret; the old one keeps signing alongside it for the server's grace period. */
  async rotateWebhookSecret(id: string, options: CallOptions = {}): Promise<WebhookWithSecret> {
    return data(await this.admin('POST', `/webhooks/${segment(id)}/rotate-secret`, undefined, options));
  }

  /** Queues a `webhook.test` event for the endpoint; returns its event id. */
  async testWebhook(id: string, options: CallOptions = {}): Promise<{ eventId: string }> {
    return data(await this.admin('POST', `/webhooks/${segment(id)}/test`, undefined, options));
  }

  async listWebhookAttempts(id: string, query: { pageSize?: number } = {}, options: CallOptions = {}): Promise<WebhookAttempt[]> {
    return data(await this.get(`/webhooks/${segment(id)}/attempts`, { ...query }, options));
  }

  /** Sends the endpoint its events again: after a feed position and/or since an instant. */
  async replayWebhook(id: string, request: { after?: bigint; since?: string | Date } = {}, options: CallOptions = {}): Promise<{ deliveries: bigint }> {
    const body = { ...(request.after !== undefined ? { after: request.after } : {}), ...(request.since !== undefined ? { since: instant(request.since) } : {}) };
    return data(await this.admin('POST', `/webhooks/${segment(id)}/replay`, body, options));
  }

  private admin(method: 'POST' | 'PATCH' | 'DELETE', path: string, body: unknown, options: CallOptions): Promise<unknown> {
    return this.transport.call({ method, path, ...(body !== undefined ? { body } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  }

  async info(options?: CallOptions): Promise<ServerInfo> {
    return (await this.get('/_info', {}, options)) as ServerInfo;
  }

  /** Resolves when the server and its database answer; rejects with SERVICE_UNAVAILABLE when the database does not. */
  async health(options?: CallOptions): Promise<void> {
    await this.get('/_healthcheck', {}, options);
  }

  /**
   * The access token the client's calls carry (fetched now if it holds none that is fresh),
   * with its granted scopes: a sign-in check. Null when the client has no credentials.
   * Throws CofferError UNAUTHORIZED for wrong credentials.
   */
  accessToken(): Promise<AccessToken | null> {
    return this.transport.accessToken();
  }

  /** Admin (scope `admin`): every API client, revoked ones included. */
  async listClients(options?: CallOptions): Promise<ApiClient[]> {
    return data(await this.get('/auth/clients', {}, options));
  }

  /** Admin: a new API client; the answer holds its secret, which is shown nowhere else. */
  async createClient(request: { name: string; scopes: Scope[] }, options: CallOptions = {}): Promise<ApiClientWithSecret> {
    return data(await this.transport.call({ method: 'POST', path: '/auth/clients', body: request, ...(options.signal ? { signal: options.signal } : {}) }));
  }

  /** Admin: revokes a client; its tokens stop working within a second. */
  async revokeClient(clientId: string, options: CallOptions = {}): Promise<ApiClient> {
    return data(await this.transport.call({ method: 'POST', path: `/auth/clients/${segment(clientId)}/revoke`, ...(options.signal ? { signal: options.signal } : {}) }));
  }

  /** Admin: a new secret for a client; the old one, and tokens minted with it, stop working. */
  async rotateClientSecret(clientId: string, options: CallOptions = {}): Promise<ApiClientWithSecret> {
    return data(await this.transport.call({ method: 'POST', path: `/auth/clients/${segment(clientId)}/rotate-secret`, ...(options.signal ? { signal: options.signal } : {}) }));
  }

  /** Admin: the token signing keys, newest first. */
  async listSigningKeys(options?: CallOptions): Promise<SigningKey[]> {
    return data(await this.get('/auth/keys', {}, options));
  }

  /**
   * Admin: a consistent backup of a server on the embedded database (a gzipped tar of its data
   * folder; `coffer restore` unpacks it). A server on PostgreSQL answers NOT_FOUND: use pg_dump.
   */
  async backup(options: CallOptions = {}): Promise<Uint8Array> {
    return this.transport.bytes({ method: 'GET', path: '/_backup', ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** Admin: a new signing key; tokens signed by the old ones keep working until they expire. */
  async rotateSigningKey(options: CallOptions = {}): Promise<SigningKey> {
    return data(await this.transport.call({ method: 'POST', path: '/auth/keys/rotate', ...(options.signal ? { signal: options.signal } : {}) }));
  }
}

/** Every item of a list, page after page: `for await (const w of all((q) => coffer.listWallets(q), {}))`. */
export async function* all<Item, Q extends PageQuery>(list: (query: Q) => Promise<Page<Item>>, query: Q): AsyncGenerator<Item> {
  let current = await list(query);
  for (;;) {
    yield* current.data;
    if (!current.hasMore || current.next === undefined) return;
    current = await list({ ...query, cursor: current.next });
  }
}
