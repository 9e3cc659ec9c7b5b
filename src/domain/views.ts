/**
 * Domain records → the Formance Wallets v1 wire shapes (field names, order, optional fields
 * omitted rather than null). Amounts stay bigint; http/json.ts writes them as integers.
 * They live in the domain because two layers show records: the HTTP answers, and the events
 * a command emits (domain/events.ts), which carry the resource as the API shows it.
 */
import type { Balance } from './balance.ts';
import { holdStatus } from './hold.ts';
import type { Hold, Transaction, Wallet } from './records.ts';
import type { AssetAmounts, BalanceWithAssets, Summary } from './summary.ts';
import { formatInstant, type Instant } from './time.ts';

/** `createdBy`, the API client that made a record, when there was one (auth on). */
function createdByView(record: { readonly createdBy?: string }): { createdBy?: string } {
  return record.createdBy !== undefined ? { createdBy: record.createdBy } : {};
}

export function assetsView(amounts: ReadonlyMap<string, bigint>): Record<string, bigint> {
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
    // Coffer's own fields, after the reference's: the status and its last change (null until one).
    status: wallet.status,
    statusChangedAt: wallet.statusChange === null ? null : formatInstant(wallet.statusChange.changedAt),
    statusChangedBy: wallet.statusChange?.changedBy ?? null,
  };
}

/** A balance; `overdraft` (limits per asset) only when it has one, as optional fields are left out. */
export function balanceView(balance: Balance) {
  return {
    name: balance.name,
    expiresAt: balance.expiresAt === null ? null : formatInstant(balance.expiresAt),
    priority: balance.priority,
    ...createdByView(balance),
    ...(balance.overdraft !== undefined && balance.overdraft.size > 0 ? { overdraft: assetsView(balance.overdraft) } : {}),
  };
}

export function balanceWithAssetsView(balance: BalanceWithAssets) {
  return { ...balanceView(balance), assets: assetsView(balance.assets) };
}

/** A hold; its `status` as seen at `now` (an open hold past its expiry shows `expired`). */
export function holdView(hold: Hold, now: Instant) {
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
    expiresAt: hold.expiresAt === null ? null : formatInstant(hold.expiresAt),
    status: holdStatus(hold, now),
  };
}

export function expandedHoldView(hold: Hold, now: Instant) {
  return { ...holdView(hold, now), originalAmount: hold.originalAmount, remaining: hold.remaining };
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

