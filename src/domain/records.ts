/**
 * The records Coffer keeps, as plain values: what storage returns and use cases reason on.
 */
import type { Instant } from './time.ts';
import type { Portion, Posting } from './posting.ts';

export type Metadata = Readonly<Record<string, string>>;

export interface Wallet {
  readonly id: string;
  readonly name: string;
  readonly metadata: Metadata;
  readonly createdAt: Instant;
  /** The API client that created it (auth on); absent when auth was off. */
  readonly createdBy?: string;
}

/** Who receives or gives money, as the API names it. */
export type Subject =
  | { readonly type: 'ACCOUNT'; readonly identifier: string }
  | { readonly type: 'WALLET'; readonly identifier: string; readonly balance?: string };

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
