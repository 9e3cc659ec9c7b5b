/**
 * `/openapi.json` and the interactive reference at `/docs`: Swagger UI from the
 * swagger-ui-dist package, served by this server so that it works offline. The page's
 * Content-Security-Policy allows nothing but this origin, and the UI's online validator
 * (a call to a third-party site) is turned off.
 */
import type { FastifyInstance } from 'fastify';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeJson } from '../json.ts';
import type { OpenApiDocument } from '../openapi.ts';
import { route } from '../operations.ts';

const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The files the page loads, by the name it loads them under. */
const ASSETS: Record<string, { readonly file: string; readonly type: string }> = {
  'swagger-ui.css': { file: join(SWAGGER_UI_DIR, 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: join(SWAGGER_UI_DIR, 'swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: join(SWAGGER_UI_DIR, 'favicon-32x32.png'), type: 'image/png' },
};

const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
};
`;

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Coffer API reference</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/initializer.js" charset="UTF-8"></script>
  </body>
</html>
`;

/** Swagger UI sets inline styles and shows inline SVG images; everything else must come from here. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

export function docsRoutes(app: FastifyInstance, document: OpenApiDocument): void {
  const documentText = writeJson(document);
  route(app, 'getOpenApi', async (_request, reply) => reply.type('application/json').send(documentText));
  route(app, 'getDocs', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', CONTENT_SECURITY_POLICY).send(PAGE),
  );

  // The page's own files: part of the UI, not of the API, so not in the route table.
  app.get('/docs/initializer.js', { config: { uiAsset: true } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(INITIALIZER));
  const cache = new Map<string, Buffer>();
  app.get<{ Params: { asset: string } }>('/docs/:asset', { config: { uiAsset: true } }, async (request, reply) => {
    const asset = Object.hasOwn(ASSETS, request.params.asset) ? ASSETS[request.params.asset] : undefined;
    if (asset === undefined) return reply.callNotFound();
    let bytes = cache.get(asset.file);
    if (bytes === undefined) {
      bytes = await readFile(asset.file);
      cache.set(asset.file, bytes);
    }
    return reply.type(asset.type).header('cache-control', 'public, max-age=3600').send(bytes);
  });
}
