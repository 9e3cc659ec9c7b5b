/**
 * `/console`: the operator console, a static front end built from `console/` into
 * `dist/console` (scripts/build.js) and served from here, so it works offline. It is a page
 * of the UI, not an operation of the API: it speaks only the public API (through the typed
 * client), so it is not in the route table or the OpenAPI document, and it is served at the
 * root only (not under /api/wallets).
 *
 * Every answer carries a Content-Security-Policy that allows nothing but this origin and no
 * inline script or style; the built page has neither. Only file names the build produces are
 * looked up (index.html and `assets/<name>`): anything else is the JSON 404 of the rest of the
 * server, before the file system is asked.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorReply } from '../errors.ts';

export const CONSOLE_PATH = '/console';

/** The build's output, at the package root: the same path from src/http/routes (tsx) and dist/http/routes. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

/** The console's page and its files: this origin only, no inline code, no framing, no plugins. */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** `index.html` or a built asset: letters, digits, `-`, `_` and dots, never a leading dot. */
const FILE_NAME = /^(?:assets\/)?[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Built assets carry a content hash in their names: they never change, so they may be cached for good. */
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

export function consoleRoutes(app: FastifyInstance, root: string = CONSOLE_DIR): void {
  // Only `reply.sendFile` (ETag, ranges, content types); the routes are Coffer's own, so they
  // carry the uiAsset flag the route-table guard asks of a route outside the API.
  app.register(fastifyStatic, { root, serve: false });

  const page = async (_request: unknown, reply: FastifyReply) => {
    if (!existsSync(`${root}/index.html`)) {
      const answer = errorReply('NOT_FOUND', 'the console is not built: run `npm run build` (npm ci builds it)');
      return reply.code(answer.status).type('application/json').send(answer.body);
    }
    // The page names its assets by hash: it must be fetched again to see a new build.
    return secure(reply).header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };
  app.get(CONSOLE_PATH, { config: { uiAsset: true } }, page);
  app.get<{ Params: { '*': string } }>(`${CONSOLE_PATH}/*`, { config: { uiAsset: true } }, async (request, reply) => {
    const name = request.params['*'];
    if (name === '' || name === 'index.html') return page(request, reply);
    if (!FILE_NAME.test(name) || !name.startsWith('assets/')) return reply.callNotFound();
    return secure(reply).header('cache-control', IMMUTABLE_CACHE).sendFile(name, { cacheControl: false });
  });
}
