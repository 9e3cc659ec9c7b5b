/**
 * Money is a bigint of minor units of an asset such as `USD/2` (two decimals). Amounts on
 * the wire are u128, as in TigerBeetle: 0 ≤ amount ≤ 2^128 − 1. Volumes are NUMERIC in
 * SQL and may grow past that.
 */
export const AMOUNT_MAX = (1n << 128n) - 1n;

/** The Formance ledger's asset grammar: `USD`, `USD/2`, `EUR_CENT/2`, `COIN`. */
export const ASSET_PATTERN = /^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(\/\d{1,6})?$/;

export interface Monetary {
  readonly asset: string;
  readonly amount: bigint;
}

export function minBigInt(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
