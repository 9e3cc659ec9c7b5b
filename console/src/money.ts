/**
 * Major and minor units, exactly. An asset's precision is the number after its slash
 * (`USD/2`: cents, so 10000 minor units are 100.00); an asset without one counts whole
 * units. Amounts are bigint throughout and text is converted digit by digit: no Number, no
 * float, so 2^128 − 1 minor units show and parse exactly.
 */

/** Coffer's asset rule (src/domain/money.ts): `USD`, `USD/2`, `EUR_CENTS/6`… */
const ASSET_PATTERN = /^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(\/\d{1,6})?$/;

/** An amount as an operator types it: digits, an optional point and more digits. */
const MAJOR_PATTERN = /^(\d+)(?:\.(\d*))?$/;

export function isAsset(asset: string): boolean {
  return ASSET_PATTERN.test(asset);
}

/** Decimal places of the asset's major unit: 2 for `USD/2`, 0 for `POINTS`. */
export function precisionOf(asset: string): number {
  const slash = asset.indexOf('/');
  return slash === -1 ? 0 : Number.parseInt(asset.slice(slash + 1), 10);
}

/** The asset's code without its precision: `USD` for `USD/2`. */
export function currencyOf(asset: string): string {
  const slash = asset.indexOf('/');
  return slash === -1 ? asset : asset.slice(0, slash);
}

/** 10000n of `USD/2` → `100.00`; −5n → `-0.05`. */
export function formatMajor(minor: bigint, asset: string): string {
  const precision = precisionOf(asset);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString();
  if (precision === 0) return `${negative ? '-' : ''}${digits}`;
  const padded = digits.padStart(precision + 1, '0');
  const whole = padded.slice(0, padded.length - precision);
  const fraction = padded.slice(padded.length - precision);
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

export type ParsedAmount = { readonly ok: true; readonly minor: bigint } | { readonly ok: false; readonly reason: string };

/**
 * What an operator typed, in major units of `asset`, as minor units: `100.5` of `USD/2` →
 * 10050n. Refuses more decimals than the asset has (they would be lost), signs, exponents and
 * anything but digits and one point; `allowZero` for the amounts where 0 means something.
 */
export function parseMajor(text: string, asset: string, allowZero = false): ParsedAmount {
  const trimmed = text.trim();
  if (!isAsset(asset)) return { ok: false, reason: `"${asset}" is not an asset (like USD/2)` };
  const match = MAJOR_PATTERN.exec(trimmed);
  if (match === null) return { ok: false, reason: 'type a positive amount with digits and at most one point, like 12.50' };
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  const precision = precisionOf(asset);
  if (fraction.length > precision) {
    return { ok: false, reason: precision === 0 ? `${asset} has no decimals` : `${asset} has ${precision} decimal${precision === 1 ? '' : 's'} at most` };
  }
  const minor = BigInt(whole + fraction.padEnd(precision, '0'));
  if (minor === 0n && !allowZero) return { ok: false, reason: 'the amount must be more than zero' };
  return { ok: true, minor };
}
