/**
 * What the Coffer API sends and takes, as the client sees it: amounts, priorities and
 * transaction ids are bigint (exact at any size), dates are the server's RFC 3339 strings
 * (microsecond precision, which a Date would cut to milliseconds). A test holds these types
 * equal to the server's response schemas (src/http/response-schemas.ts).
 */
import type { ErrorCode } from '../domain/errors.ts';

export type { ErrorCode };

export type Metadata = Record<string, string>;
/** An amount per asset, e.g. `{ 'USD/2': 10000n }`. */
export type AssetAmounts = Record<string, bigint>;

export interface Monetary {
  /** `USD/2`: US dollars counted in cents. */
  asset: string;
  /** Minor units: 10000n of USD/2 is 100.00 USD. */
  amount: bigint;
}

export type Subject = { type: 'ACCOUNT'; identifier: string } | { type: 'WALLET'; identifier: string; balance?: string };

/** `frozen`: money may come in, never leave; `closed`: read only, for good. */
export type WalletStatus = 'active' | 'frozen' | 'closed';

export interface Wallet {
  id: string;
  name: string;
  metadata: Metadata;
  createdAt: string;
  ledger: string;
  balances: { main: { expiresAt: null; priority: bigint; assets: AssetAmounts } };
  /** The API client that created it; absent when the server ran without auth. */
  createdBy?: string;
  status: WalletStatus;
  /** When the status last changed; null while it never has. */
  statusChangedAt: string | null;
  /** The API client that changed it last; null when auth was off or it never changed. */
  statusChangedBy: string | null;
}

export interface Balance {
  name: string;
  expiresAt: string | null;
  priority: bigint;
  /** The API client that created it; absent when the server ran without auth. */
  createdBy?: string;
  /** Overdraft limit per asset (the balance may go down to minus it); absent when none. */
  overdraft?: AssetAmounts;
}

export interface BalanceWithAssets extends Balance {
  assets: AssetAmounts;
}

/** `open` includes partially confirmed holds; an open hold past its `expiresAt` is `expired`. */
export type HoldStatus = 'open' | 'confirmed' | 'voided' | 'expired';

export interface Hold {
  id: string;
  walletID: string;
  destination: Subject;
  asset: string;
  metadata: Metadata;
  description: string;
  /** The API client that created it; absent when the server ran without auth. */
  createdBy?: string;
  /** When the hold expires and is voided; null = never. */
  expiresAt: string | null;
  status: HoldStatus;
}

export interface ExpandedHold extends Hold {
  originalAmount: bigint;
  remaining: bigint;
}

export interface Summary {
  balances: BalanceWithAssets[];
  availableFunds: AssetAmounts;
  expiredFunds: AssetAmounts;
  expirableFunds: AssetAmounts;
  holdFunds: AssetAmounts;
}

export interface Posting {
  source: string;
  destination: string;
  amount: bigint;
  asset: string;
}

export interface Transaction {
  id: bigint;
  postings: Posting[];
  metadata: Metadata;
  timestamp: string;
  insertedAt: string;
  reference?: string;
  reverted: boolean;
  ledger: string;
  /** The API client whose request posted it; absent when the server ran without auth. */
  createdBy?: string;
}

/** One page of a list; pass `next` (or `previous`) back as `cursor` for the adjacent page. */
export interface Page<Item> {
  pageSize: number;
  hasMore: boolean;
  previous?: string;
  next?: string;
  data: Item[];
}

export interface ServerInfo {
  version: string;
}

export interface CreateWalletRequest {
  name?: string;
  metadata?: Metadata;
}

export interface CreateBalanceRequest {
  name: string;
  expiresAt?: string | Date | null;
  priority?: bigint;
  /** Overdraft limit per asset, e.g. `{ 'USD/2': 5000n }`. */
  overdraft?: AssetAmounts;
}

export interface UpdateBalanceRequest {
  /** Limits per asset to set (0n removes one); assets not named keep theirs. */
  overdraft?: AssetAmounts;
  priority?: bigint;
  /** A new expiry; null removes it. Not for `main`. */
  expiresAt?: string | Date | null;
}


export interface DebitRequest {
  amount: Monetary;
  /** true: put the amount on hold (confirm or void it later) instead of debiting at once. */
  pending?: boolean;
  /** Source balances in spending order; `['*']` = all, expiring ones first. Default `['main']`. */
  balances?: string[];
  /** Default: the account `world` (the money leaves the ledger). */
  destination?: Subject;
  metadata?: Metadata;
  description?: string;
  reference?: string;
  timestamp?: string | Date;
  /** A pending debit only: when the hold expires (and is voided); default: the server's HOLD_DEFAULT_TTL, or never. */
  expiresAt?: string | Date;
}

export interface CreditRequest {
  amount: Monetary;
  /** The balance credited; default `main`. */
  balance?: string;
  /** Drained in order; default: the account `world`. */
  sources?: Subject[];
  metadata?: Metadata;
  reference?: string;
  timestamp?: string | Date;
}

export interface ConfirmHoldRequest {
  /** Default: all that remains. */
  amount?: bigint;
  /** true: return what is left after this confirmation to the wallet's main balance. */
  final?: boolean;
}

/**
 * One operation of `coffer.bulk`: the action, its own Idempotency-Key (`ik`), and `data`, the
 * body its single route takes plus that route's path parameter (`walletID` or `holdID`).
 */
export type BulkOperation = { ik?: string } & (
  | { action: 'CREATE_WALLET'; data?: CreateWalletRequest }
  | { action: 'UPDATE_WALLET'; data: { walletID: string; metadata?: Metadata; status?: WalletStatus } }
  | { action: 'CREATE_BALANCE'; data: CreateBalanceRequest & { walletID: string } }
  | { action: 'CREDIT_WALLET'; data: CreditRequest & { walletID: string } }
  | { action: 'DEBIT_WALLET'; data: DebitRequest & { walletID: string } }
  | { action: 'CONFIRM_HOLD'; data: ConfirmHoldRequest & { holdID: string } }
  | { action: 'VOID_HOLD'; data: { holdID: string } }
);

/**
 * One operation's answer, in request order: the HTTP status its single route would have
 * answered, with that route's `data` (201) or its error; 424 ROLLED_BACK for an operation of
 * an atomic request that another operation's refusal undid.
 */
export interface BulkItem {
  action: BulkOperation['action'];
  status: number;
  data?: Wallet | Balance | Hold;
  errorCode?: ErrorCode;
  errorMessage?: string;
}

export interface BulkOptions extends MutationOptions {
  /** true: all operations in one transaction, none applied if one is refused. Default false. */
  atomic?: boolean;
}

export interface PageQuery {
  pageSize?: number;
  cursor?: string;
}

export interface ListWalletsQuery extends PageQuery {
  name?: string;
  metadata?: Metadata;
  /** `balances`: fill each wallet's main balance amounts. */
  expand?: 'balances';
}

export interface ListHoldsQuery extends PageQuery {
  walletID?: string;
  metadata?: Metadata;
  /** Only holds with this status now. */
  status?: HoldStatus;
}

export interface ListTransactionsQuery extends PageQuery {
  walletID?: string;
}

export type EventType =
  | 'wallet.created'
  | 'wallet.updated'
  | 'wallet.frozen'
  | 'wallet.unfrozen'
  | 'wallet.closed'
  | 'balance.created'
  | 'balance.updated'
  | 'wallet.credited'
  | 'wallet.debited'
  | 'hold.created'
  | 'hold.updated'
  | 'hold.confirmed'
  | 'hold.voided'
  | 'hold.expired'
  | 'webhook.disabled';

/** An event of the feed (`GET /events`); `data` per type is in the OpenAPI document's `webhooks`. */
export interface CofferEvent {
  /** Its place in the feed: resume `after` it. */
  position: bigint;
  /** UUIDv7, the same on every delivery. */
  id: string;
  type: EventType;
  occurredAt: string;
  ledger: string;
  data: Record<string, unknown>;
  cause: { requestId: string | null; idempotencyKey: string | null; clientId: string | null };
}

export interface ListEventsQuery extends PageQuery {
  /** Events after this position (0 = from the first), or after a page's `next` cursor (as `cursor` takes it). Ignored with `cursor`. */
  after?: bigint | number | string;
  type?: EventType | EventType[];
  walletID?: string;
  /** Long poll: seconds (up to 30) to wait for a first event when there is none yet. */
  wait?: number;
}

/** A webhook endpoint (`admin`); `secret` only when created or rotated. */
export interface Webhook {
  id: string;
  url: string;
  eventTypes: EventType[];
  description: string;
  enabled: boolean;
  /** Why Coffer disabled it; null while enabled or paused by you. */
  disabledReason: string | null;
  createdAt: string;
}

export interface WebhookWithSecret extends Webhook {
  /** `whsec_<base64>`: verify deliveries with it (Standard Webhooks). */
  secret: string;
}

export interface WebhookAttempt {
  id: bigint;
  eventId: string;
  attemptedAt: string;
  statusCode: bigint | null;
  latencyMs: bigint;
  error: string | null;
  responseBody: string | null;
  nextAttemptAt: string | null;
}

export interface CallOptions {
  /** Aborts the call, retries included. */
  signal?: AbortSignal;
}

export interface MutationOptions extends CallOptions {
  /**
   * Makes a retry of this call replay the first one's answer instead of running again.
   * Default: a new UUIDv7 per call, reused by the client's own retries of that call.
   */
  idempotencyKey?: string;
}

/** A scope an API client can be granted (see the server's docs/api.md, Authentication). */
export type Scope = 'wallets:read' | 'wallets:write' | 'admin' | 'metrics:read';

/** An API client, as the admin routes show it (never its secret, but once). */
export interface ApiClient {
  clientId: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  secretRotatedAt: string | null;
  revokedAt: string | null;
}

/** A client just created or with a rotated secret: the only time its secret is seen. */
export interface ApiClientWithSecret extends ApiClient {
  clientSecret: string;
}

export interface SigningKey {
  kid: string;
  algorithm: 'ES256';
  createdAt: string;
  /** When a newer key took over signing; it still verifies until its tokens expire. */
  retiredAt: string | null;
}

/** The access token the client holds now. */
export interface AccessToken {
  token: string;
  scopes: Scope[];
  /** When the server stops accepting it. */
  expiresAt: Date;
}
