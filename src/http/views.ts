/**
 * The wire shapes of records (domain/views.ts, shared with the events) and the list envelope.
 */
import type { Page } from '../storage/sql.ts';

export { assetsView, balanceView, balanceWithAssetsView, expandedHoldView, holdView, summaryView, transactionView, walletView } from '../domain/views.ts';

/** The list envelope; `previous`/`next` are omitted, never null. */
export function cursorView<Item, Filter, View>(
  page: Page<Item, Filter>,
  pageSize: number,
  view: (item: Item) => View,
  encode: (query: NonNullable<Page<Item, Filter>['next']>) => string,
) {
  return {
    cursor: {
      pageSize,
      hasMore: page.hasMore,
      ...(page.previous ? { previous: encode(page.previous) } : {}),
      ...(page.next ? { next: encode(page.next) } : {}),
      data: page.items.map(view),
    },
  };
}
