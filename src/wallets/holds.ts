/** Hold queries: one hold, or holds in creation order (closed ones included, or filtered by status as seen now). */
import type { Hold } from '../domain/records.ts';
import { findHold, listHolds as listHoldRows, type HoldFilter } from '../storage/holds.ts';
import type { Page, PageQuery } from '../storage/sql.ts';
import type { QueryContext } from './query-context.ts';

export function getHold(context: QueryContext, holdId: string): Promise<Hold | null> {
  return findHold(context.db, context.ledger, holdId);
}

export function listHolds(context: QueryContext, query: PageQuery<HoldFilter>): Promise<Page<Hold, HoldFilter>> {
  return listHoldRows(context.db, context.ledger, query, context.clock());
}
