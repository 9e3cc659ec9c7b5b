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
