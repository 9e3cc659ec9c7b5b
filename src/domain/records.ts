/**
 * The records Coffer keeps, as plain values: what storage returns and use cases reason on.
 */
import type { Instant } from './time.ts';
import type { Portion, Posting } from './posting.ts';

export type Metadata = Readonly<Record<string, string>>;

/**
 * `active`: everything goes. `frozen`: money may come in (credits, voids, expiry), never leave
 * (debits, pending debits, confirms are WALLET_FROZEN). `closed`: only reads; it cannot be
 * reopened, and closing needs every balance and hold of the wallet at zero (wallets/update-wallet.ts).
 */
export const WALLET_STATUSES = ['active', 'frozen', 'closed'] as const;
export type WalletStatus = (typeof WALLET_STATUSES)[number];

/** A wallet's status change: its new status, when (the committer's clock) and by whom (the caller; null when auth is off). */
export interface StatusChange {
  readonly status: WalletStatus;
  readonly changedAt: Instant;
  readonly changedBy: string | null;
}

export interface Wallet {
  readonly id: string;
  readonly name: string;
  readonly metadata: Metadata;
  readonly createdAt: Instant;
  /** The API client that created it (auth on); absent when auth was off. */
  readonly createdBy?: string;
  readonly status: WalletStatus;
  /** The last status change; null while the wallet has the status it was created with. */
  readonly statusChange: StatusChange | null;
}

/** Who receives or gives money, as the API names it. */
export type Subject =
  | { readonly type: 'ACCOUNT'; readonly identifier: string }
  | { readonly type: 'WALLET'; readonly identifier: string; readonly balance?: string };

/**
 * A hold's stored status: `open` while it can be settled (partially confirmed included),
 * then `confirmed` (nothing left after a confirm), `voided` or `expired` (voided by the
 * sweeper). An `open` hold past its `expiresAt` shows as `expired` (domain/hold.ts `holdStatus`).
 */
export const HOLD_STATUSES = ['open', 'confirmed', 'voided', 'expired'] as const;
export type HoldStatus = (typeof HOLD_STATUSES)[number];

export interface Hold {
  readonly id: string;
  readonly walletId: string;
  readonly asset: string;
  readonly originalAmount: bigint;
  readonly remaining: bigint;
  readonly destination: Subject;
  readonly destinationAddress: string;
  readonly description: string;
  readonly metadata: Metadata;
  readonly sources: readonly Portion[];
  readonly createdAt: Instant;
  /** The API client that created it (auth on); absent when auth was off. */
  readonly createdBy?: string;
  /** When the hold expires (it is voided then, by the sweeper); null = never. */
  readonly expiresAt: Instant | null;
  readonly status: HoldStatus;
}

export interface Transaction {
  readonly id: bigint;
  readonly timestamp: Instant;
  readonly insertedAt: Instant;
  readonly reference?: string;
  readonly metadata: Metadata;
  readonly postings: readonly Posting[];
  /** The API client whose command posted it (auth on); absent when auth was off. */
  readonly createdBy?: string;
}

/** A transaction a command posts, before storage numbers it. */
export interface NewTransaction {
  readonly timestamp: Instant;
  readonly insertedAt: Instant;
  readonly reference?: string;
  readonly metadata: Metadata;
  readonly postings: readonly Posting[];
  readonly createdBy: string | null;
}
