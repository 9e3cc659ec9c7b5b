/**
 * Instants are bigint microseconds since the Unix epoch: the precision PostgreSQL stores,
 * exact and comparable without a float. RFC 3339 strings are parsed and written here.
 * Only the years 0001–9999 are accepted: RFC 3339 and PostgreSQL's text form both write a
 * year in four digits, and an instant outside them cannot be stored and read back as text.
 */
export type Instant = bigint;

/** Milliseconds since the epoch; unlike Date.UTC, years 0–99 are taken as given (not 1900–1999). */
function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

export const INSTANT_MIN: Instant = BigInt(utcMillis(1, 1, 1, 0, 0, 0)) * 1000n;
export const INSTANT_MAX: Instant = BigInt(utcMillis(9999, 12, 31, 23, 59, 59)) * 1000n + 999_999n;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 date-time, rounding sub-microsecond digits to the nearest microsecond;
 * null when it is malformed or, offset applied, falls outside INSTANT_MIN…INSTANT_MAX.
 */
export function parseInstant(text: string): Instant | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(utcMillis(year, month + 1, 0, 0, 0, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  const fraction = (m[7] ?? '').padEnd(9, '0');
  const nanos = BigInt(fraction);
  let micros = nanos / 1000n + (nanos % 1000n >= 500n ? 1n : 0n);
  let offsetMinutes = 0;
  if (m[9]) {
    const hours = Number(m[10]);
    const minutes = Number(m[11]);
    if (hours > 23 || minutes > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const epochMs = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  if (!Number.isFinite(epochMs)) return null;
  micros += BigInt(epochMs) * 1000n;
  return micros >= INSTANT_MIN && micros <= INSTANT_MAX ? micros : null;
}

export function instantFromDate(date: Date): Instant {
  return BigInt(date.getTime()) * 1000n;
}

/** RFC 3339 in UTC with six fractional digits: the form PostgreSQL parses exactly. */
export function formatInstantFixed(instant: Instant): string {
  const ms = instant / 1000n - (instant % 1000n < 0n ? 1n : 0n);
  const micros = instant - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-11-30T06:46:39.735Z
  return `${iso.slice(0, 23)}${micros.toString().padStart(3, '0')}Z`;
}

/** RFC 3339 in UTC with trailing fractional zeros trimmed, as Go's RFC3339Nano writes it. */
export function formatInstant(instant: Instant): string {
  const fixed = formatInstantFixed(instant);
  const fraction = fixed.slice(20, 26).replace(/0+$/, '');
  return `${fixed.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}
