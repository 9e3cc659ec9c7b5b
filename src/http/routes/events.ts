/**
 * The event feed: `GET /events`, a ledger's events oldest first in commit order (positions
 * given after commit, docs/events.md), filtered by type and wallet, with a long poll.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ClientError } from '../../domain/errors.ts';
import { EVENT_TYPES, type EventType } from '../../domain/events.ts';
import { readFeed } from '../../events/feed.ts';
import type { StoredEvent } from '../../storage/events.ts';
import { sendJson } from '../command.ts';
import type { RouteDeps } from '../deps.ts';
import { parseJson } from '../json.ts';
import { encodeCursor, first, optionalId, parsePageQuery, parsePageSize, SEQUENCE_KEY, type QueryString } from '../query.ts';
import { route } from '../operations.ts';

/** The longest long poll, in seconds. */
export const EVENTS_WAIT_MAX_SECONDS = 30;

interface EventFilter {
  readonly types?: EventType[];
  readonly walletId?: string;
}

const eventFilter: z.ZodType<EventFilter> = z.object({
  types: z.array(z.enum(EVENT_TYPES)).optional(),
  walletId: z.string().optional(),
});

/** `type=`: one or more event types, repeated or comma-separated. */
function typesFilter(query: QueryString): EventType[] | undefined {
  const raw = query.type;
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((value) => value.split(',')).filter((value) => value !== '');
  if (values.length === 0) return undefined;
  for (const value of values) {
    if (!(EVENT_TYPES as readonly string[]).includes(value)) {
      throw new ClientError('VALIDATION', `type must be among ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(value.slice(0, 32))}`);
    }
  }
  return [...new Set(values)] as EventType[];
}

const AFTER_PROBLEM = 'after must be an event position (a non-negative integer) or a cursor this server issued (a page\'s `next`)';

/**
 * The query as a page of the feed reads it. `after=` takes a position (an event's `position`,
 * the feed's plain resume point) or a cursor (a page's `next`, as `cursor=` takes it: its
 * filter and page size then apply, and `type=`, `walletID=` and `pageSize=` beside it must
 * match them: `sameAsCursor`). With `cursor=` too, `cursor=` wins and `after=` is not read.
 */
function feedQuery(query: QueryString): { readonly query: QueryString; readonly after?: string; readonly afterCursor: boolean } {
  const value = first(query, 'after');
  const cursor = first(query, 'cursor');
  if (cursor !== undefined && cursor !== '') return { query, afterCursor: false };
  if (value === undefined || value === '') return { query, afterCursor: false };
  if (SEQUENCE_KEY.test(value)) return { query, after: value, afterCursor: false };
  if (/^\d+$/.test(value) || !/^[A-Za-z0-9_-]{1,4096}$/.test(value)) throw new ClientError('VALIDATION', `${AFTER_PROBLEM}, got ${JSON.stringify(value.slice(0, 32))}`);
  return { query: { ...query, cursor: value }, afterCursor: true };
}

/** `wait=`: seconds to wait for a first event when there is none (0–30). */
function waitSeconds(query: QueryString): number {
  const value = first(query, 'wait');
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,9}$/.test(value) || Number(value) > EVENTS_WAIT_MAX_SECONDS) {
    throw new ClientError('VALIDATION', `wait must be a whole number of seconds from 0 to ${EVENTS_WAIT_MAX_SECONDS}, got ${JSON.stringify(value.slice(0, 32))}`);
  }
  return Number(value);
}

function eventView(event: StoredEvent) {
  return {
    position: event.position,
    id: event.id,
    type: event.type,
    occurredAt: event.occurredAt,
    ledger: event.ledger,
    data: parseJson(event.data),
    cause: JSON.parse(event.cause) as unknown,
  };
}

/**
 * A cursor given as `after=` carries its own filter and page size: `type=`, `walletID=` and
 * `pageSize=` beside it must say the same (a client resuming with the query it started
 * with), or be left out; a different one would be silently ignored, so it is refused.
 */
function sameAsCursor(query: QueryString, given: EventFilter, page: { readonly filter: EventFilter; readonly pageSize: number }): void {
  const types = (filter: EventFilter) => [...(filter.types ?? [])].sort().join(',');
  const pageSize = first(query, 'pageSize');
  const differing = [
    given.types !== undefined && types(given) !== types(page.filter) ? `type ${types(given)}, the cursor's ${types(page.filter) || '(every type)'}` : null,
    given.walletId !== undefined && given.walletId !== page.filter.walletId ? `walletID ${given.walletId}, the cursor's ${page.filter.walletId ?? '(every wallet)'}` : null,
    pageSize !== undefined && pageSize !== '' && parsePageSize(pageSize) !== page.pageSize ? `pageSize ${pageSize}, the cursor's ${page.pageSize}` : null,
  ].filter((text) => text !== null);
  if (differing.length > 0) {
    throw new ClientError('VALIDATION', `after is a cursor, which carries its own filter and page size: type, walletID and pageSize beside it must be the same, or left out (${differing.join('; ')})`);
  }
}

export function eventRoutes(app: FastifyInstance, deps: RouteDeps): void {
  route<{ Querystring: QueryString }>(app, 'getEvents', async (request, reply) => {
    const asked = feedQuery(request.query);
    const queryFilter = (): EventFilter => {
      const types = typesFilter(request.query);
      const walletId = optionalId(request.query, 'walletID');
      return { ...(types ? { types } : {}), ...(walletId !== undefined ? { walletId } : {}) };
    };
    let page: ReturnType<typeof parsePageQuery<EventFilter>>;
    try {
      page = parsePageQuery(asked.query, eventFilter, SEQUENCE_KEY, queryFilter);
    } catch (error) {
      if (asked.afterCursor && error instanceof ClientError) throw new ClientError('VALIDATION', `${AFTER_PROBLEM}, got ${JSON.stringify(first(request.query, 'after')!.slice(0, 32))}`);
      throw error;
    }
    if (asked.afterCursor) sameAsCursor(request.query, queryFilter(), page);
    const after = page.after ?? asked.after ?? '0';
    if (page.before !== undefined) throw new ClientError('VALIDATION', 'the feed is read forward only: pass a `next` cursor or `after`');
    const waitMs = waitSeconds(request.query) * 1000;
    const feed = await readFeed(deps.query.db, deps.ledger, { after: BigInt(after), filter: page.filter, limit: page.pageSize + 1, waitMs, pollMs: deps.feedPollMs }, deps.feedWaiter);
    const hasMore = feed.events.length > page.pageSize;
    const items = feed.events.slice(0, page.pageSize);
    // `next` resumes after the last position this read looked at: the last event of a full
    // page, else the feed's high-water mark — past the events the filter left out, so a
    // consumer filtering for a rare type moves on instead of scanning them again (an empty
    // filtered page too). Absent only when nothing at all is past `after` yet.
    const resume = hasMore ? items[items.length - 1]!.position : feed.highWater;
    const next = resume > BigInt(after) ? encodeCursor({ filter: page.filter, pageSize: page.pageSize, after: resume.toString() }) : undefined;
    return sendJson(reply, {
      cursor: { pageSize: page.pageSize, hasMore, ...(next !== undefined ? { next } : {}), data: items.map(eventView) },
    });
  });
}
