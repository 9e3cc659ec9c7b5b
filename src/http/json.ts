/**
 * JSON on the wire without a float in between: integers parse to bigint and bigints write
 * as plain digits, so amounts keep every digit up to u128 and beyond.
 */
import { parse, stringify } from 'lossless-json';
import { ClientError } from '../domain/errors.ts';

/** A JSON number that is not an integer, kept as text so validation can name it. */
export class NonIntegerNumber {
  constructor(readonly text: string) {}
}

/** Bodies nest a few levels; anything deeper than this is hostile, not a wallet request. */
const NESTING_MAX = 32;

function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

export function parseJson(text: string): unknown {
  if (nestingDepth(text) > NESTING_MAX) throw new ClientError('VALIDATION', `invalid JSON: nested deeper than ${NESTING_MAX} levels`);
  try {
    return parse(text, null, (number) => (/^-?\d+$/.test(number) ? BigInt(number) : new NonIntegerNumber(number)));
  } catch (error) {
    throw new ClientError('VALIDATION', `invalid JSON: ${(error as Error).message}`);
  }
}

export function writeJson(value: unknown): string {
  return stringify(value) ?? 'null';
}
