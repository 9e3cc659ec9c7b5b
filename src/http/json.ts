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

/** U+0000, or a UTF-16 surrogate without its pair. */
// eslint-disable-next-line no-control-regex -- finding U+0000 is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a client's value cannot be stored as it was sent, or null when it can. PostgreSQL text
 * and jsonb cannot hold U+0000, and an unpaired surrogate is not UTF-8: such a string would
 * fail in the database (a 500) or be silently altered. A `__proto__` key is refused because
 * schema validation drops it silently, so it would vanish from metadata without a word.
 */
export function unstorableText(value: unknown): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? 'strings must not contain U+0000 or unpaired surrogates' : null;
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = unstorableText(item);
      if (problem !== null) return problem;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__') return 'the key "__proto__" is not allowed';
    const problem = unstorableText(key) ?? unstorableText(item);
    if (problem !== null) return problem;
  }
  return null;
}

export function parseJson(text: string): unknown {
  if (nestingDepth(text) > NESTING_MAX) throw new ClientError('VALIDATION', `invalid JSON: nested deeper than ${NESTING_MAX} levels`);
  let value: unknown;
  try {
    value = parse(text, null, (number) => (/^-?\d+$/.test(number) ? BigInt(number) : new NonIntegerNumber(number)));
  } catch (error) {
    // The parser quotes the offending character; a control character is shown as its escape.
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    const message = (error as Error).message.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    throw new ClientError('VALIDATION', `invalid JSON: ${message}`);
  }
  const problem = unstorableText(value);
  if (problem !== null) throw new ClientError('VALIDATION', `invalid JSON: ${problem}`);
  return value;
}

export function writeJson(value: unknown): string {
  return stringify(value) ?? 'null';
}
