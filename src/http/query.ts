/**
 * Query strings of the list routes: `pageSize` (default 15, clamped to 100, a non-positive
 * or non-integer value is a 400), opaque `cursor` tokens that carry the original query
 * (other filters are ignored when one is given), and deepObject `metadata[k]=v` filters.
 */
import { z } from 'zod';
import { ClientError } from '../domain/errors.ts';
import { ID_LENGTH_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, type Limits } from '../domain/limits.ts';
import type { Metadata } from '../domain/records.ts';
import type { PageQuery } from '../storage/sql.ts';
import { metadataSchema } from './schemas.ts';
import { unstorableText } from './json.ts';

export type QueryString = Record<string, string | string[] | undefined>;

/** Only the first value of a repeated parameter counts, as in the reference. */
export function first(query: QueryString, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[0] : value;
}

export function parsePageSize(text: string | undefined): number {
  if (text === undefined || text === '') return PAGE_SIZE_DEFAULT;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) {
    throw new ClientError('VALIDATION', `pageSize must be a positive integer, got ${JSON.stringify(text.slice(0, 32))}`);
  }
  return Math.min(Number(text), PAGE_SIZE_MAX);
}

/** Collects `metadata[key]=value` parameters into one filter. */
export function parseMetadataFilter(query: QueryString, limits: Limits): Metadata | undefined {
  const filter: Record<string, string> = {};
  for (const name of Object.keys(query)) {
    const match = /^metadata\[(.*)\]$/s.exec(name);
    if (!match) continue;
    const value = first(query, name);
    if (value !== undefined) filter[match[1]!] = value;
  }
  if (Object.keys(filter).length === 0) return undefined;
  const parsed = metadataSchema(limits).safeParse(filter);
  if (!parsed.success) throw new ClientError('VALIDATION', `metadata filter: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function optionalId(query: QueryString, name: string): string | undefined {
  const value = first(query, name);
  if (value === undefined || value === '') return undefined;
  if (value.length > ID_LENGTH_MAX) throw new ClientError('VALIDATION', `${name} must be at most ${ID_LENGTH_MAX} characters`);
  return value;
}

const cursorPayload = z.object({
  s: z.number().int().min(1).max(PAGE_SIZE_MAX),
  f: z.record(z.string(), z.unknown()),
  a: z.string().max(ID_LENGTH_MAX).optional(),
  b: z.string().max(ID_LENGTH_MAX).optional(),
});

/** Keys of lists ordered by a sequence or id: decimal digits that fit a bigint column. */
export const SEQUENCE_KEY = /^\d{1,18}$/;

export function encodeCursor<Filter>(page: PageQuery<Filter>): string {
  const payload = { s: page.pageSize, f: page.filter, a: page.after, b: page.before };
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

/**
 * Reads a list route's page: from the cursor when one is given (its filter validated again
 * by `filterSchema`), else from the query string through `readFilter`.
 */
export function parsePageQuery<Filter>(
  query: QueryString,
  filterSchema: z.ZodType<Filter>,
  keyPattern: RegExp,
  readFilter: () => Filter,
): PageQuery<Filter> {
  const cursor = first(query, 'cursor');
  if (cursor === undefined || cursor === '') return { filter: readFilter(), pageSize: parsePageSize(first(query, 'pageSize')) };
  let decoded: unknown;
  try {
    const bytes = Buffer.from(cursor, 'base64url');
    // Node's decoder skips what is not base64url and ignores a stray last character: only the
    // exact text this server encodes is a cursor (a corrupted one is refused, not read as another).
    if (bytes.toString('base64url') !== cursor) throw new Error('not canonical base64url');
    decoded = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ClientError('VALIDATION', 'cursor is not a token this server issued');
  }
  // A forged cursor's filter reaches SQL: refuse text PostgreSQL cannot store, as in bodies.
  if (unstorableText(decoded) !== null) throw new ClientError('VALIDATION', 'cursor is not a token this server issued');
  const payload = cursorPayload.safeParse(decoded);
  const filter = payload.success ? filterSchema.safeParse(payload.data.f) : undefined;
  const keys = payload.success ? [payload.data.a, payload.data.b].filter((key) => key !== undefined) : [];
  if (!payload.success || !filter?.success || keys.length > 1 || keys.some((key) => !keyPattern.test(key))) {
    throw new ClientError('VALIDATION', 'cursor is not a token this server issued');
  }
  return {
    filter: filter.data,
    pageSize: payload.data.s,
    ...(payload.data.a !== undefined ? { after: payload.data.a } : {}),
    ...(payload.data.b !== undefined ? { before: payload.data.b } : {}),
  };
}
