/**
 * Events: what a command tells the rest of the system it changed. A command emits them as
 * part of its effects (committer/command.ts `Effects.emit`), so they are written in the
 * transaction that makes the change (the outbox, storage/events.ts) and exist exactly when
 * it committed; a replayed idempotent request runs no command and emits nothing.
 *
 * `data` is the resource as the API shows it (domain/views.ts), amounts as exact integers.
 * A money movement carries its transaction with its postings; storage numbers transactions
 * as it writes them, so the command names its transaction by its place in the batch's
 * journal and the writer puts the id in (`transaction`).
 */
import type { Instant } from './time.ts';

export const EVENT_TYPES = [
  'wallet.created',
  'wallet.updated',
  'wallet.frozen',
  'wallet.unfrozen',
  'wallet.closed',
  'balance.created',
  'balance.updated',
  'wallet.credited',
  'wallet.debited',
  'hold.created',
  'hold.updated',
  'hold.confirmed',
  'hold.voided',
  'hold.expired',
  'webhook.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** What caused an event: the request (absent for background work such as hold expiry). */
export interface EventCause {
  readonly requestId: string | null;
  readonly idempotencyKey: string | null;
  /** The API client (auth on); null when auth is off or for background work. */
  readonly clientId: string | null;
}

/** An event as a command emits it. */
export interface NewEvent {
  readonly type: EventType;
  /** The wallets it concerns, for `GET /events?walletID=`. */
  readonly walletIds: readonly string[];
  /** The payload, bigints for amounts. With `transaction`, `data.transaction.id` is filled in by the writer. */
  readonly data: Readonly<Record<string, unknown>>;
  /** 1-based place in the batch's journal of the transaction `data.transaction` shows, or null. */
  readonly transaction: number | null;
}

/** An event ready for the outbox. */
export interface OutboxEvent extends NewEvent {
  /** UUIDv7. */
  readonly id: string;
  readonly occurredAt: Instant;
  readonly cause: EventCause;
}
