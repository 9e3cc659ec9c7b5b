/**
 * A request's fingerprint: sha256 over canonical JSON of (operation, path parameters, the
 * request's canonical form — http/canonical.ts, where every spelling of a default is one).
 * Canonical JSON = object keys sorted, undefined dropped, bigints as plain digits; so key
 * order never makes two identical requests differ.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, item]) => item !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
    }
    default:
      throw new Error(`cannot fingerprint a ${typeof value}`);
  }
}

export function fingerprint(operation: string, params: Record<string, string>, body: unknown): string {
  return createHash('sha256').update(canonicalJson({ operation, params, body })).digest('hex');
}
