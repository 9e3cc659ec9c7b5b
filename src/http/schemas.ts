/**
 * Request schemas: what every route accepts, with the defaults the reference applies, and
 * messages that say what was wrong. Parsed output is what use cases and fingerprints see.
 * Integers arrive as bigint (see json.ts), so amounts are never floats.
 *
 * These same schemas are the OpenAPI document's request bodies (openapi.ts): `integer()`
 * records its bounds (see `integerRange`) so the document can say `{type: integer, format:
 * bigint, minimum, maximum}` for a check that zod itself cannot express in JSON Schema.
 */
import { z } from 'zod';
import { ASSET_PATTERN, AMOUNT_MAX } from '../domain/money.ts';
import { ADDRESS_LENGTH_MAX, ADDRESS_PATTERN, MAIN } from '../domain/chart.ts';
import { BALANCE_NAME_PATTERN, WILDCARD } from '../domain/balance.ts';
import { BULK_OPERATIONS_MAX, DESCRIPTION_LENGTH_MAX, ID_LENGTH_MAX, OVERDRAFT_ASSETS_MAX, REFERENCE_LENGTH_MAX, SOURCES_MAX, type Limits } from '../domain/limits.ts';
import { WALLET_STATUSES } from '../domain/records.ts';
import { parseInstant } from '../domain/time.ts';
import type { Subject } from '../domain/records.ts';
import { NonIntegerNumber } from './json.ts';

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

/** How an integer check looks in JSON Schema; `min` or `max` null = unbounded. */
export interface IntegerRange {
  readonly min: bigint | null;
  readonly max: bigint | null;
  readonly format: 'bigint' | 'int64';
}

/**
 * Keyed by the schema's definition, which `.meta()` and `.optional()`-free clones share, so a
 * described copy of an integer schema keeps its range.
 */
const integerRanges = new WeakMap<object, IntegerRange>();

/** The range of a schema made by `integer()`, or undefined for any other schema. */
export function integerRange(schema: z.core.$ZodType): IntegerRange | undefined {
  return integerRanges.get(schema._zod.def);
}

/** An exact integer (a bigint after lossless parsing) from `min` to `max` (null = no bound). */
export function integer(what: string, min: bigint | null, max: bigint | null, format: IntegerRange['format'] = 'bigint') {
  const schema = z.custom<bigint>((value) => typeof value === 'bigint' && (min === null || value >= min) && (max === null || value <= max), {
    error: (issue) =>
      issue.input instanceof NonIntegerNumber
        ? `${what} must be an integer, got ${issue.input.text}`
        : typeof issue.input === 'bigint'
          ? max === null
            ? `${what} must be at least ${min}, got ${issue.input}`
            : `${what} must be between ${min} and ${max}, got ${issue.input}`
          : `${what} must be an integer`,
  });
  integerRanges.set(schema._zod.def, { min, max, format });
  return schema;
}

export const amountSchema = integer('amount', 0n, AMOUNT_MAX);

export const asset = z
  .string({ error: 'asset must be a string' })
  .regex(ASSET_PATTERN, { error: 'asset must look like USD or USD/2 (upper case, optional /decimals)' })
  .meta({ description: 'Upper-case code with an optional /decimals suffix: USD/2 counts cents', examples: ['USD/2'] });

export const monetary = z.object(
  { asset, amount: amountSchema.meta({ description: 'An integer of minor units (10000 of USD/2 is 100.00 USD), exact up to 2^128 - 1', examples: [10000] }) },
  { error: 'amount must be an object {asset, amount}' },
);

export const balanceName = z
  .string({ error: 'balance name must be a string' })
  .regex(BALANCE_NAME_PATTERN, { error: 'balance name must match ^[A-Za-z0-9_-]{1,64}$' })
  .meta({ examples: ['promo'] });

const timestamp = z
  .string({ error: 'must be an RFC 3339 date-time string' })
  .meta({ format: 'date-time' })
  .transform((text, context) => {
    const instant = text.length <= 64 ? parseInstant(text) : null;
    if (instant === null) {
      context.addIssue({ code: 'custom', message: `must be an RFC 3339 date-time, got ${JSON.stringify(text.slice(0, 64))}` });
      return z.NEVER;
    }
    return instant;
  });

/** Overdraft limits: `{asset: limit}`, each limit 0 (none) … 2^128 − 1. */
const overdraft = z
  .record(z.string().regex(ASSET_PATTERN, { error: 'overdraft keys must be assets like USD or USD/2' }), amountSchema, {
    error: (issue) => (issue.code === 'invalid_type' ? 'overdraft must be an object {asset: limit}' : undefined),
  })
  .refine((limits) => Object.keys(limits).length <= OVERDRAFT_ASSETS_MAX, { error: `overdraft may name at most ${OVERDRAFT_ASSETS_MAX} assets` })
  .meta({ description: 'Overdraft limit per asset: the balance may go down to minus this (0 = none)', examples: [{ 'USD/2': 5000 }] });

const identifier = z.string({ error: 'identifier must be a string' }).min(1, { error: 'identifier must not be empty' });

export const accountSubject = z.object({
  type: z.literal('ACCOUNT'),
  identifier: identifier
    .max(ADDRESS_LENGTH_MAX, { error: `account address must be at most ${ADDRESS_LENGTH_MAX} characters` })
    .regex(ADDRESS_PATTERN, { error: 'account address must be segments of [A-Za-z0-9_-] joined by ":"' })
    .meta({ description: 'A ledger address outside wallets:, e.g. world', examples: ['world'] }),
});

export const walletSubject = z.object({
  type: z.literal('WALLET'),
  identifier: identifier
    .max(ID_LENGTH_MAX, { error: `wallet id must be at most ${ID_LENGTH_MAX} characters` })
    .meta({ description: 'A wallet id', examples: ['0192f1c4-7a3e-7c1d-9b2a-5e8f0d3c4b21'] }),
  balance: balanceName.optional().meta({ description: "One of the wallet's balances; default main", examples: ['main'] }),
});

export const subject = z.discriminatedUnion(
  'type',
  [accountSubject, walletSubject],
  { error: 'subject must be {type: "ACCOUNT", identifier} or {type: "WALLET", identifier, balance?}' },
) satisfies z.ZodType<Subject>;

const reference = z
  .string({ error: 'reference must be a string' })
  .min(1, { error: 'reference must not be empty' })
  .max(REFERENCE_LENGTH_MAX, { error: `reference must be at most ${REFERENCE_LENGTH_MAX} characters` })
  .meta({ description: "Unique per ledger: a second transaction with it is a 409", examples: ['order-1234'] });

export function metadataSchema(limits: Limits) {
  return z
    .record(
      z.string(),
      z
        .string({ error: 'metadata values must be strings' })
        .max(limits.metadataValueLengthMax, { error: `metadata values must be at most ${limits.metadataValueLengthMax} characters` }),
      { error: (issue) => (issue.code === 'invalid_type' ? 'metadata must be an object of strings' : undefined) },
    )
    .superRefine((map, context) => {
      const keys = Object.keys(map);
      if (keys.length > limits.metadataKeysMax) {
        context.addIssue({ code: 'custom', message: `metadata may have at most ${limits.metadataKeysMax} keys` });
      }
      if (keys.some((key) => key.length > limits.metadataKeyLengthMax)) {
        context.addIssue({ code: 'custom', message: `metadata keys must be at most ${limits.metadataKeyLengthMax} characters` });
      }
    })
    .meta({ examples: [{ customer: '42' }] });
}

/** A wallet's or hold's id where a bulk operation names it instead of the path. */
const id = z
  .string({ error: 'walletID and holdID must be strings' })
  .min(1, { error: 'walletID and holdID must not be empty' })
  .max(ID_LENGTH_MAX, { error: `walletID and holdID must be at most ${ID_LENGTH_MAX} characters` });

/** The actions of `POST /bulk`, in Formance's spelling. */
export const BULK_ACTIONS = ['CREATE_WALLET', 'UPDATE_WALLET', 'CREATE_BALANCE', 'CREDIT_WALLET', 'DEBIT_WALLET', 'CONFIRM_HOLD', 'VOID_HOLD'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

export function buildSchemas(limits: Limits) {
  const metadata = metadataSchema(limits);
  const optionalMetadata = metadata.nullish().transform((map) => map ?? {});

  const createWallet = z.object({
    name: z
      .string({ error: 'name must be a string' })
      .max(limits.walletNameLengthMax, { error: `name must be at most ${limits.walletNameLengthMax} characters` })
      .meta({ examples: ['alice'] })
      .default(''),
    metadata: optionalMetadata,
  });

  const updateWallet = z
    .object({
      metadata: metadata.optional(),
      status: z
        .enum(WALLET_STATUSES, { error: 'status must be active, frozen or closed' })
        .optional()
        .meta({ description: 'frozen: money may come in, never leave; closed: read only, for good (every balance and hold must be at zero)' }),
    })
    .refine((body) => body.metadata !== undefined || body.status !== undefined, { error: 'give metadata, status or both' });

  const createBalance = z.object({
    name: balanceName.refine((name) => name !== MAIN, { error: 'balance name main is reserved' }),
    expiresAt: timestamp.nullish().transform((instant) => instant ?? null),
    priority: integer('priority', INT64_MIN, INT64_MAX).default(0n),
    // Absent stays absent (not `{}`): the parsed body of a request without limits is what it
    // always was, so its Idempotency-Key fingerprint is too (canonical.ts).
    overdraft: overdraft.nullish().transform((limits) => limits ?? undefined),
  });

  const updateBalance = z
    .object({
      overdraft: overdraft.optional(),
      priority: integer('priority', INT64_MIN, INT64_MAX).optional(),
      expiresAt: timestamp.nullable().optional().meta({ description: 'A new expiry; null removes it' }),
    })
    .refine((body) => body.overdraft !== undefined || body.priority !== undefined || body.expiresAt !== undefined, {
      error: 'give overdraft, priority or expiresAt',
    });

  const updateHold = z.object({
    expiresAt: timestamp.nullable().meta({ description: 'The new expiry, after now; null = never' }),
  });

  const debit = z
    .object({
      amount: monetary,
      pending: z.boolean({ error: 'pending must be a boolean' }).default(false),
      metadata: optionalMetadata,
      description: z
        .string({ error: 'description must be a string' })
        .max(DESCRIPTION_LENGTH_MAX, { error: `description must be at most ${DESCRIPTION_LENGTH_MAX} characters` })
        .default(''),
      reference: reference.optional(),
      destination: subject.optional(),
      balances: z
        .array(z.union([z.literal(WILDCARD), balanceName], { error: 'balances must be balance names or "*"' }), {
          error: 'balances must be an array of balance names',
        })
        .max(SOURCES_MAX, { error: `balances may name at most ${SOURCES_MAX} balances` })
        .meta({ description: 'Source balances in spending order; ["*"] = all, expiring ones first; default ["main"]', examples: [['main']] })
        .nullish()
        .transform((names) => names ?? []),
      timestamp: timestamp.optional(),
      expiresAt: timestamp.optional().meta({ description: 'A pending debit only: when the hold expires and is voided (after now)' }),
    })
    .superRefine((body, context) => {
      if (body.pending && body.timestamp !== undefined) {
        context.addIssue({ code: 'custom', path: ['timestamp'], message: 'a pending debit cannot carry a timestamp' });
      }
      if (!body.pending && body.expiresAt !== undefined) {
        context.addIssue({ code: 'custom', path: ['expiresAt'], message: 'only a pending debit (a hold) can expire' });
      }
      if (body.balances.includes(WILDCARD) && body.balances.length > 1) {
        context.addIssue({ code: 'custom', path: ['balances'], message: '"*" cannot be combined with other balance names' });
      }
      if (new Set(body.balances).size !== body.balances.length) {
        context.addIssue({ code: 'custom', path: ['balances'], message: 'balances must not repeat a name' });
      }
    });

  const credit = z.object({
    amount: monetary,
    metadata: optionalMetadata,
    sources: z
      .array(subject, { error: 'sources must be an array of subjects' })
      .max(SOURCES_MAX, { error: `sources may list at most ${SOURCES_MAX} subjects` })
      .nullish()
      .transform((sources) => sources ?? []),
    reference: reference.optional(),
    balance: balanceName.default(MAIN),
    timestamp: timestamp.optional(),
  });

  const confirmHold = z.object({
    amount: amountSchema.optional(),
    final: z.boolean({ error: 'final must be a boolean' }).default(false),
  });

  const bulk = z.object({
    atomic: z
      .boolean({ error: 'atomic must be a boolean' })
      .default(false)
      .meta({ description: 'true: all operations in one transaction, none applied if one is refused; false: each on its own' }),
    operations: z
      .array(
        z.object({
          action: z.enum(BULK_ACTIONS, { error: `action must be one of ${BULK_ACTIONS.join(', ')}` }),
          ik: z
            .string({ error: 'ik must be a string' })
            .regex(/^[\x20-\x7e]{1,255}$/, { error: 'ik must be 1 to 255 printable ASCII characters' })
            .optional()
            .meta({ description: "This operation's Idempotency-Key" }),
          data: z
            .looseObject({ walletID: id.optional(), holdID: id.optional() })
            .optional()
            .meta({ description: "The single route's body, plus its path parameter: walletID (wallet routes) or holdID (hold routes)" }),
        }),
        { error: 'operations must be an array' },
      )
      .min(1, { error: 'operations must not be empty' })
      .max(BULK_OPERATIONS_MAX, { error: `operations may hold at most ${BULK_OPERATIONS_MAX} operations` }),
  });

  // Whole-body examples for the reference page (/docs): valid requests, as a client sends them.
  return {
    bulk: bulk.meta({
      examples: [
        {
          atomic: true,
          operations: [
            { action: 'DEBIT_WALLET', ik: 'payroll-7-1', data: { walletID: '01890a5d-ac96-774b-bcce-b302099a8057', amount: { asset: 'USD/2', amount: 2500 } } },
            { action: 'CREDIT_WALLET', ik: 'payroll-7-2', data: { walletID: '01890a5d-ac96-774b-bcce-b302099a8058', amount: { asset: 'USD/2', amount: 2500 } } },
          ],
        },
      ],
    }),
    metadata,
    createWallet: createWallet.meta({ examples: [{ name: 'alice', metadata: { customer: '42' } }] }),
    updateWallet: updateWallet.meta({ examples: [{ metadata: { tier: 'gold' } }, { status: 'frozen' }] }),
    createBalance: createBalance.meta({ examples: [{ name: 'promo', expiresAt: '2030-01-01T00:00:00Z', priority: 1 }, { name: 'credit-line', overdraft: { 'USD/2': 5000 } }] }),
    updateBalance: updateBalance.meta({ examples: [{ overdraft: { 'USD/2': 5000 } }, { priority: 2, expiresAt: null }] }),
    updateHold: updateHold.meta({ examples: [{ expiresAt: '2030-01-01T00:00:00Z' }, { expiresAt: null }] }),
    debit: debit.meta({ examples: [{ amount: { asset: 'USD/2', amount: 2500 }, pending: true, description: 'ride 7', metadata: { ride: '7' } }] }),
    credit: credit.meta({ examples: [{ amount: { asset: 'USD/2', amount: 10000 }, metadata: { topup: '1' } }] }),
    confirmHold: confirmHold.meta({ examples: [{ amount: 2000, final: true }] }),
  };
}

export type Schemas = ReturnType<typeof buildSchemas>;
