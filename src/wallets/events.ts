/**
 * The events the use cases emit (domain/events.ts), with their payloads: the resource as the
 * API shows it (domain/views.ts). Each use case calls one of these from `apply`, after its
 * change is recorded in `Effects`, so an event exists exactly when its change commits.
 */
import type { Balance } from '../domain/balance.ts';
import type { Monetary } from '../domain/money.ts';
import type { Hold, NewTransaction, Subject, Wallet } from '../domain/records.ts';
import { balanceView, expandedHoldView, transactionView, walletView } from '../domain/views.ts';
import type { EventType } from '../domain/events.ts';
import type { Instant } from '../domain/time.ts';
import type { Effects } from '../committer/command.ts';

/** A wallet as the API shows it, without `balances` (an event does not read the volumes). */
function walletData(ledger: string, wallet: Wallet) {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose
  const { balances, ...rest } = walletView(ledger, wallet, new Map());
  return rest;
}

/** The transaction posted last, as the API shows it; the writer fills in its id. */
function lastTransactionData(effects: Effects) {
  const transactions = effects.journal.transactions;
  const posted: NewTransaction = transactions[transactions.length - 1]!;
  const { createdBy, ...rest } = posted;
  return transactionView(effects.ledger, { ...rest, id: 0n, ...(createdBy !== null ? { createdBy } : {}) });
}

function subjectData(subject: Subject) {
  return subject.type === 'WALLET' && subject.balance !== undefined
    ? { type: subject.type, identifier: subject.identifier, balance: subject.balance }
    : { type: subject.type, identifier: subject.identifier };
}

/** Wallets a subject names, besides the one an event is about. */
function subjectWallets(subjects: readonly Subject[]): string[] {
  return subjects.filter((subject) => subject.type === 'WALLET').map((subject) => subject.identifier);
}

export function walletCreated(effects: Effects, wallet: Wallet): void {
  effects.emit({ type: 'wallet.created', walletIds: [wallet.id], data: { wallet: walletData(effects.ledger, wallet) }, transaction: null });
}

/** The wallet after a patch (metadata merged by this batch so far, status as changed). */
export function walletChanged(effects: Effects, type: EventType, wallet: Wallet): void {
  const metadata = { ...wallet.metadata, ...effects.metadataPatches.get(wallet.id) };
  const status = effects.walletStatus(wallet.id) ?? wallet.status;
  const change = [...effects.statusChanges].reverse().find((entry) => entry.walletId === wallet.id)?.change ?? wallet.statusChange;
  effects.emit({ type, walletIds: [wallet.id], data: { wallet: walletData(effects.ledger, { ...wallet, metadata, status, statusChange: change }) }, transaction: null });
}

export function balanceChanged(effects: Effects, type: 'balance.created' | 'balance.updated', walletId: string, balance: Balance): void {
  effects.emit({ type, walletIds: [walletId], data: { walletID: walletId, balance: balanceView(balance) }, transaction: null });
}

export function walletCredited(effects: Effects, walletId: string, balance: string, amount: Monetary, sources: readonly Subject[]): void {
  effects.emit({
    type: 'wallet.credited',
    walletIds: [walletId, ...subjectWallets(sources)],
    data: { walletID: walletId, balance, amount: { asset: amount.asset, amount: amount.amount }, sources: sources.map(subjectData), transaction: lastTransactionData(effects) },
    transaction: effects.lastTransaction(),
  });
}

export function walletDebited(effects: Effects, walletId: string, amount: Monetary, destination: Subject): void {
  effects.emit({
    type: 'wallet.debited',
    walletIds: [walletId, ...subjectWallets([destination])],
    data: { walletID: walletId, amount: { asset: amount.asset, amount: amount.amount }, destination: subjectData(destination), transaction: lastTransactionData(effects) },
    transaction: effects.lastTransaction(),
  });
}

/**
 * A hold's event: created (with the transaction that funded it), updated, or settled —
 * confirmed, voided, expired — with the transaction that settled it when one moved money.
 */
export function holdChanged(effects: Effects, type: EventType, hold: Hold, now: Instant, withTransaction: boolean): void {
  const current = effects.hold(hold);
  const remaining = effects.holdRemaining.get(hold.id) ?? hold.remaining;
  effects.emit({
    type,
    walletIds: [hold.walletId, ...subjectWallets([hold.destination])],
    data: { hold: expandedHoldView({ ...current, remaining }, now), ...(withTransaction ? { transaction: lastTransactionData(effects) } : {}) },
    transaction: withTransaction ? effects.lastTransaction() : null,
  });
}
