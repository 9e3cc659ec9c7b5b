/**
 * Response schemas: the shapes views.ts writes, field for field. They are the OpenAPI
 * document's response bodies (openapi.ts), and the tests parse real answers with them, so a
 * view that drifts from its documented shape fails a test. Objects are strict: a field the
 * document does not list is a failure too.
 */
import { z } from 'zod';
import { ERROR_CODES } from '../domain/errors.ts';
import { BALANCE_NAME_PATTERN } from '../domain/balance.ts';
import { PAGE_SIZE_MAX } from '../domain/limits.ts';
import { parseInstant } from '../domain/time.ts';
import { HOLD_STATUSES, WALLET_STATUSES } from '../domain/records.ts';
import { asset, INT64_MAX, integer, subject } from './schemas.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const uuid = z.string().refine((text) => UUID.test(text), { error: 'must be a UUID' }).meta({ format: 'uuid' });
const dateTime = z
  .string()
  .refine((text) => parseInstant(text) !== null, { error: 'must be an RFC 3339 date-time' })
  .meta({ format: 'date-time' });
/** Additive: the API client that created the record, present when auth was on. */
const createdBy = z.string().optional().meta({ description: 'The API client that created it; absent when the server ran without auth' });
const metadata = z.record(z.string(), z.string()).meta({ examples: [{ customer: '42' }] });
/** Moved and held amounts are never negative; sums may pass 2^128. */
const amount = integer('amount', 0n, null).meta({ examples: [10000] });
/** A balance goes below zero only as far as its overdraft limit allows (`world` is no wallet's). */
const signedAmount = integer('amount', null, null).meta({ examples: [10000] });
const assets = z.record(z.string(), signedAmount).meta({ description: 'Amount per asset; negative on a balance that uses its overdraft', examples: [{ 'USD/2': 10000 }] });
const overdraft = z
  .record(z.string(), amount)
  .meta({ description: 'Overdraft limit per asset: the balance may go down to minus this; absent when it has none', examples: [{ 'USD/2': 5000 }] });
const priority = integer('priority', -(1n << 63n), INT64_MAX).meta({ examples: [0] });

export const balanceResponse = z.strictObject({
  name: z.string().regex(BALANCE_NAME_PATTERN),
  expiresAt: dateTime.nullable(),
  priority,
  createdBy,
  overdraft: overdraft.optional(),
});

export const balanceWithAssetsResponse = balanceResponse.extend({ assets });

export const walletResponse = z.strictObject({
  id: uuid,
  name: z.string(),
  metadata,
  createdAt: dateTime,
  ledger: z.string(),
  balances: z.strictObject({
    main: z.strictObject({ expiresAt: z.null(), priority, assets }).meta({ description: "The main balance; its assets are filled on reads and with expand=balances" }),
  }),
  createdBy,
  status: z.enum(WALLET_STATUSES).meta({ description: 'active; frozen: money may come in, never leave; closed: read only, for good' }),
  statusChangedAt: dateTime.nullable().meta({ description: 'When the status last changed; null while it never has' }),
  statusChangedBy: z.string().nullable().meta({ description: 'The API client that changed it last; null when auth was off or it never changed' }),
});

export const holdResponse = z.strictObject({
  id: uuid,
  walletID: z.string(),
  destination: subject,
  asset,
  metadata,
  description: z.string(),
  createdBy,
  expiresAt: dateTime.nullable().meta({ description: 'When the hold expires (it is voided then); null = never' }),
  status: z.enum(HOLD_STATUSES).meta({ description: 'open (partially confirmed included), confirmed, voided or expired' }),
});

export const expandedHoldResponse = holdResponse.extend({
  originalAmount: amount.meta({ description: 'What the hold took from the wallet' }),
  remaining: amount.meta({ description: 'What can still be confirmed or voided; 0 once closed' }),
});

export const summaryResponse = z.strictObject({
  balances: z.array(balanceWithAssetsResponse),
  availableFunds: assets,
  expiredFunds: assets,
  expirableFunds: assets,
  holdFunds: assets,
});

export const postingResponse = z.strictObject({
  source: z.string(),
  destination: z.string(),
  amount,
  asset,
});

export const transactionResponse = z.strictObject({
  id: integer('id', 0n, INT64_MAX, 'int64'),
  postings: z.array(postingResponse),
  metadata,
  timestamp: dateTime,
  insertedAt: dateTime,
  reference: z.string().optional(),
  reverted: z.boolean(),
  ledger: z.string(),
  createdBy,
});

export const errorResponse = z.strictObject({
  errorCode: z.enum(ERROR_CODES),
  errorMessage: z.string(),
});

/**
 * One operation's answer in a bulk answer: what its single route would have answered — the
 * HTTP status, and the body's `data` or its `errorCode` and `errorMessage` — or, in an atomic
 * request that was rolled back, ROLLED_BACK (424).
 */
export const bulkItemResponse = z.strictObject({
  action: z.string(),
  status: integer('status', 100n, 599n, 'int64').meta({ description: "The status the operation's single route answers (201, 204, 400, 404, 409, …); 424 ROLLED_BACK" }),
  data: z.unknown().optional().meta({ description: "The single route's `data`: the wallet, balance or hold it created; absent for a 204" }),
  errorCode: z.enum(ERROR_CODES).optional(),
  errorMessage: z.string().optional(),
});

export const serverInfoResponse = z.strictObject({ version: z.string() });

export const healthResponse = z.strictObject({ status: z.literal('ok') });

/** `{data: item}`, the single-object envelope. */
export function dataOf<Item extends z.ZodType>(item: Item) {
  return z.strictObject({ data: item });
}

/** `{cursor: {pageSize, hasMore, previous?, next?, data}}`, the list envelope. */
export function cursorOf<Item extends z.ZodType>(item: Item) {
  return z.strictObject({
    cursor: z.strictObject({
      pageSize: integer('pageSize', 1n, BigInt(PAGE_SIZE_MAX), 'int64'),
      hasMore: z.boolean(),
      previous: z.string().optional().meta({ description: 'Pass as `cursor` for the previous page; absent on the first' }),
      next: z.string().optional().meta({ description: 'Pass as `cursor` for the next page; absent on the last' }),
      data: z.array(item),
    }),
  });
}

/** A wallet in an event: as the API shows it, without `balances` (an event reads no volumes). */
const eventWallet = walletResponse.omit({ balances: true });
const movedAmount = z.strictObject({ asset, amount });
const eventCause = z
  .strictObject({
    requestId: z.string().nullable().meta({ description: 'The X-Request-Id of the request that made the change; null for background work (hold expiry)' }),
    idempotencyKey: z.string().nullable().meta({ description: 'Its Idempotency-Key, as sent' }),
    clientId: z.string().nullable().meta({ description: 'The API client (auth on); null without auth or for background work' }),
  })
  .meta({ description: 'What caused the event' });
const settledHold = z.strictObject({ hold: expandedHoldResponse, transaction: transactionResponse.optional().meta({ description: 'The transaction that settled it; absent when nothing moved' }) });

/** Each event type's `data`. */
export const EVENT_DATA = {
  'wallet.created': z.strictObject({ wallet: eventWallet }),
  'wallet.updated': z.strictObject({ wallet: eventWallet }),
  'wallet.frozen': z.strictObject({ wallet: eventWallet }),
  'wallet.unfrozen': z.strictObject({ wallet: eventWallet }),
  'wallet.closed': z.strictObject({ wallet: eventWallet }),
  'balance.created': z.strictObject({ walletID: z.string(), balance: balanceResponse }),
  'balance.updated': z.strictObject({ walletID: z.string(), balance: balanceResponse.meta({ description: '`overdraft`: the limits this change set' }) }),
  'wallet.credited': z.strictObject({ walletID: z.string(), balance: z.string(), amount: movedAmount, sources: z.array(subject), transaction: transactionResponse }),
  'wallet.debited': z.strictObject({ walletID: z.string(), amount: movedAmount, destination: subject, transaction: transactionResponse }),
  'hold.created': z.strictObject({ hold: expandedHoldResponse, transaction: transactionResponse }),
  'hold.updated': z.strictObject({ hold: expandedHoldResponse }),
  'hold.confirmed': settledHold,
  'hold.voided': settledHold,
  'hold.expired': settledHold,
  'webhook.disabled': z.strictObject({ webhook: z.strictObject({ id: z.string(), url: z.string(), reason: z.string() }) }),
} as const;

export type EventTypeName = keyof typeof EVENT_DATA;

/** One event type's envelope: where it is in the feed, what it is, when, what caused it. */
export function eventOf<Type extends EventTypeName>(type: Type) {
  return z.strictObject({
    position: integer('position', 1n, INT64_MAX, 'int64').meta({ description: 'Its place in the feed: pass it as `after` to resume' }),
    id: uuid.meta({ description: 'UUIDv7; the `webhook-id` of its deliveries' }),
    type: z.literal(type),
    occurredAt: dateTime,
    ledger: z.string(),
    data: EVENT_DATA[type],
    cause: eventCause,
  });
}

export const EVENT_TYPE_NAMES = Object.keys(EVENT_DATA) as EventTypeName[];

/** What `POST /webhooks/{id}/test` sends: an event of its own, in no feed (so with no `position`). */
export const webhookTestEvent = z
  .strictObject({
    id: uuid.meta({ description: 'UUIDv7; the `webhook-id` of the delivery, and the `eventId` the route answered with' }),
    type: z.literal('webhook.test'),
    occurredAt: dateTime,
    ledger: z.string(),
    data: z.strictObject({ webhook: z.strictObject({ id: z.string(), url: z.string() }) }),
    cause: eventCause,
  })
  .meta({ description: 'A test delivery (POST /webhooks/{id}/test): not in the feed, no position' });

type EventSchema<Type extends EventTypeName> = ReturnType<typeof eventOf<Type>>;

/** Every event type's schema, named as the document's components (`Event.wallet.created`, …). */
export const EVENT_SCHEMAS = Object.fromEntries(EVENT_TYPE_NAMES.map((type) => [`Event.${type}`, eventOf(type)])) as {
  [Type in EventTypeName as `Event.${Type}`]: EventSchema<Type>;
};

export const eventResponse = z
  .discriminatedUnion('type', Object.values(EVENT_SCHEMAS) as unknown as [EventSchema<EventTypeName>, ...EventSchema<EventTypeName>[]])
  .meta({ description: 'An event: one of the `Event.<type>` schemas' });
