/**
 * Domain records → the Formance Wallets v1 wire shapes (field names, order, optional fields
 * omitted rather than null). Amounts stay bigint; json.ts writes them as integers.
 */
import type { Balance } from '../domain/balance.ts';
import type { Hold, Transaction, Wallet } from '../domain/records.ts';
import type { AssetAmounts, BalanceWithAssets, Summary } from '../domain/summary.ts';
import { formatInstant } from '../domain/time.ts';
import type { Page } from '../storage/sql.ts';

/** `createdBy`, the API client that made a record, when there was one (auth on). */
function createdByView(record: { readonly createdBy?: string }): { createdBy?: string } {
  return record.createdBy !== undefined ? { createdBy: record.createdBy } : {};
}

export function assetsView(amounts: AssetAmounts): Record<string, bigint> {
  return Object.fromEntries([...amounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function walletView(ledger: string, wallet: Wallet, mainAssets: AssetAmounts) {
  return {
    id: wallet.id,
    name: wallet.name,
    metadata: wallet.metadata,
    createdAt: formatInstant(wallet.createdAt),
    ledger,
    balances: { main: { expiresAt: null, priority: 0n, assets: assetsView(mainAssets) } },
    ...createdByView(wallet),
  };
}

export function balanceView(balance: Balance) {
  return {
    name: balance.name,
    expiresAt: balance.expiresAt === null ? null : formatInstant(balance.expiresAt),
    priority: balance.priority,
    ...createdByView(balance),
  };
}

export function balanceWithAssetsView(balance: BalanceWithAssets) {
  return { ...balanceView(balance), assets: assetsView(balance.assets) };
}

export function holdView(hold: Hold) {
  const destination =
    hold.destination.type === 'WALLET' && hold.destination.balance !== undefined
      ? { type: hold.destination.type, identifier: hold.destination.identifier, balance: hold.destination.balance }
      : { type: hold.destination.type, identifier: hold.destination.identifier };
  return {
    id: hold.id,
    walletID: hold.walletId,
    destination,
    asset: hold.asset,
    metadata: hold.metadata,
    description: hold.description,
    ...createdByView(hold),
  };
}

export function expandedHoldView(hold: Hold) {
  return { ...holdView(hold), originalAmount: hold.originalAmount, remaining: hold.remaining };
}

export function summaryView(summary: Summary) {
  return {
    balances: summary.balances.map(balanceWithAssetsView),
    availableFunds: assetsView(summary.availableFunds),
    expiredFunds: assetsView(summary.expiredFunds),
    expirableFunds: assetsView(summary.expirableFunds),
    holdFunds: assetsView(summary.holdFunds),
  };
}

export function transactionView(ledger: string, transaction: Transaction) {
  return {
    id: transaction.id,
    postings: transaction.postings.map((p) => ({ source: p.source, destination: p.destination, amount: p.amount, asset: p.asset })),
    metadata: transaction.metadata,
    timestamp: formatInstant(transaction.timestamp),
    insertedAt: formatInstant(transaction.insertedAt),
    ...(transaction.reference !== undefined ? { reference: transaction.reference } : {}),
    reverted: false,
    ledger,
    ...createdByView(transaction),
  };
}

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
