/**
 * Conversions at the SQL boundary: instants travel as RFC 3339 text with microseconds
 * (exact both ways), amounts as NUMERIC text, keyset pages as a bound and an order.
 */
import { formatInstantFixed, parseInstant, type Instant } from '../domain/time.ts';
import { assert } from '../domain/errors.ts';
import type { Metadata } from '../domain/records.ts';
import type { Queryable } from './database.ts';

/** Selects a timestamptz column as exact UTC text. */
export function tsText(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * A timestamptz column as the API writes instants (`formatInstant`): RFC 3339 in UTC with
 * the fraction's trailing zeros trimmed (`…:53.851Z`, `…:53Z`), for text built in SQL.
 */
export function tsTextTrimmed(column: string): string {
  return `rtrim(rtrim(to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z'`;
}

export function instantParam(instant: Instant): string {
  return formatInstantFixed(instant);
}

export function instantColumn(text: string): Instant {
  const instant = parseInstant(text);
  assert(instant !== null, `stored timestamp ${text} is not RFC 3339`);
  return instant;
}

export function amountColumn(text: string | bigint): bigint {
  return typeof text === 'bigint' ? text : BigInt(text);
}

/** Keyset pagination: items strictly after or before a key, in a list's natural order. */
export interface PageQuery<Filter> {
  readonly filter: Filter;
  readonly pageSize: number;
  readonly after?: string;
  readonly before?: string;
}

export interface Page<Item, Filter> {
  readonly items: Item[];
  readonly hasMore: boolean;
  readonly next?: PageQuery<Filter>;
  readonly previous?: PageQuery<Filter>;
}

export interface KeysetBound {
  /** SQL comparison with the key, e.g. `>`. */
  readonly comparison: '>' | '<';
  readonly key: string;
}

/**
 * Runs one keyset page. `fetch` gets the bound (or none), the SQL order and the row limit;
 * one extra row tells whether more exist in that direction.
 */
export async function keysetPage<Item, Filter>(
  query: PageQuery<Filter>,
  natural: 'ASC' | 'DESC',
  keyOf: (item: Item) => string,
  fetch: (bound: KeysetBound | null, order: 'ASC' | 'DESC', limit: number) => Promise<Item[]>,
): Promise<Page<Item, Filter>> {
  const reverse: 'ASC' | 'DESC' = natural === 'ASC' ? 'DESC' : 'ASC';
  const forwardComparison: KeysetBound['comparison'] = natural === 'ASC' ? '>' : '<';
  const backwardComparison: KeysetBound['comparison'] = natural === 'ASC' ? '<' : '>';
  const base = { filter: query.filter, pageSize: query.pageSize };
  if (query.before !== undefined) {
    const rows = await fetch({ comparison: backwardComparison, key: query.before }, reverse, query.pageSize + 1);
    const morePrevious = rows.length > query.pageSize;
    const items = rows.slice(0, query.pageSize).reverse();
    const first = items[0];
    const last = items[items.length - 1];
    return {
      items,
      hasMore: last !== undefined,
      next: last !== undefined ? { ...base, after: keyOf(last) } : undefined,
      previous: morePrevious && first !== undefined ? { ...base, before: keyOf(first) } : undefined,
    };
  }
  const bound = query.after !== undefined ? { comparison: forwardComparison, key: query.after } : null;
  const rows = await fetch(bound, natural, query.pageSize + 1);
  const hasMore = rows.length > query.pageSize;
  const items = rows.slice(0, query.pageSize);
  const first = items[0];
  const last = items[items.length - 1];
  return {
    items,
    hasMore,
    next: hasMore && last !== undefined ? { ...base, after: keyOf(last) } : undefined,
    previous: query.after !== undefined && first !== undefined ? { ...base, before: keyOf(first) } : undefined,
  };
}

/** An optional filter: a condition with one `$?` placeholder and its value, or nothing. */
export type Condition = readonly [sql: string, value: unknown] | null;

export function metadataCondition(metadata: Metadata | undefined): Condition {
  return metadata !== undefined && Object.keys(metadata).length > 0 ? ['metadata @> $?::jsonb', JSON.stringify(metadata)] : null;
}

/**
 * One page of a ledger's rows of `table` in `seq` (creation) order, under the given
 * conditions, every value bound as a parameter.
 */
export function selectBySeq<Row>(
  q: Queryable,
  select: { readonly table: string; readonly columns: string; readonly ledger: string },
  conditions: readonly Condition[],
  bound: KeysetBound | null,
  order: 'ASC' | 'DESC',
  limit: number,
): Promise<Row[]> {
  const params: unknown[] = [select.ledger, limit];
  const where = ['ledger = $1'];
  const all: Condition[] = [...conditions, bound ? [`seq ${bound.comparison} $?::bigint`, bound.key] : null];
  for (const condition of all) {
    if (condition === null) continue;
    params.push(condition[1]);
    where.push(condition[0].replace('$?', `$${params.length}`));
  }
  return q.query<Row>(`SELECT ${select.columns} FROM ${select.table} WHERE ${where.join(' AND ')} ORDER BY seq ${order} LIMIT $2`, params);
}
