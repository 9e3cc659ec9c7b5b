/**
 * Every bound Coffer enforces on client input, each with its reason, in one place. The
 * metadata and name limits can be changed through the environment (see src/config.ts).
 */
export interface Limits {
  /** Metadata is indexed and returned on every read: bound its size. */
  readonly metadataKeysMax: number;
  readonly metadataKeyLengthMax: number;
  readonly metadataValueLengthMax: number;
  /** Wallet names are free text shown to people, not identifiers. */
  readonly walletNameLengthMax: number;
}

export const DEFAULT_LIMITS: Limits = {
  metadataKeysMax: 128,
  metadataKeyLengthMax: 128,
  metadataValueLengthMax: 4096,
  walletNameLengthMax: 256,
};

/** Bodies are read up to 1 MiB, as the reference does; more is a 413. */
export const BODY_BYTES_MAX = 1024 * 1024;
/**
 * `POST /bulk` alone reads up to 8 MiB: 1,000 operations of about 8 KiB each. Its answer
 * grows with what the operations echo back (a wallet's or hold's metadata), so it stays
 * within a small multiple of this.
 */
export const BULK_BODY_BYTES_MAX = 8 * 1024 * 1024;
/** Operations in one bulk request: enough for a payroll or settlement file per call, few enough that one atomic transaction stays short. */
export const BULK_OPERATIONS_MAX = 1000;
/** Page sizes: default 15; larger requests are clamped to 100, as the reference does. */
export const PAGE_SIZE_DEFAULT = 15;
export const PAGE_SIZE_MAX = 100;
/** Free text on holds and references on transactions. */
export const DESCRIPTION_LENGTH_MAX = 4096;
export const REFERENCE_LENGTH_MAX = 256;
/** A debit may name at most this many source balances; a credit at most this many sources. */
export const SOURCES_MAX = 64;
/** Assets one request may set an overdraft limit for: each is a volume row locked by the command. */
export const OVERDRAFT_ASSETS_MAX = 64;
/** Ids in paths and filters: Coffer's ids are UUIDs; anything longer cannot exist. */
export const ID_LENGTH_MAX = 255;
