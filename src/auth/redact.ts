/**
 * Secrets never reach a log line. Fastify's request serializer leaves headers out (so no
 * Authorization header), bodies are not logged, and pino's `redact` blanks the fields that
 * name credentials. As the last guard, every line is scrubbed on its way to the log
 * stream of anything shaped like a client secret (its `cof_cs_` prefix) or a JWT (three
 * base64url parts, the first a JSON object: `eyJ…`), wherever it hides: a URL's query
 * string, an error message, a field nobody thought of.
 */
import { CLIENT_SECRET_PREFIX } from './secrets.ts';

const SECRET_SHAPES = new RegExp(`${CLIENT_SECRET_PREFIX}[A-Za-z0-9_-]*|eyJ[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*`, 'g');

export const REDACTED = '[REDACTED]';

/** Pino `redact` paths: credentials by field name, wherever a log call puts them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.authorization',
  '*.client_secret',
  '*.clientSecret',
  '*.access_token',
  '*.accessToken',
  'client_secret',
  'clientSecret',
  'access_token',
  'accessToken',
];

/** A log line with every secret-shaped string replaced. */
export function scrubSecrets(line: string): string {
  return line.includes(CLIENT_SECRET_PREFIX) || line.includes('eyJ') ? line.replace(SECRET_SHAPES, REDACTED) : line;
}
