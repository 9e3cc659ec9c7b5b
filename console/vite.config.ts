/**
 * The console's build: `console/` → `dist/console/`, served by Coffer at /console
 * (src/http/routes/console.ts). scripts/build.js runs it after the server's build; `npx vite
 * --config console/vite.config.ts` serves it with live reload, the API proxied to a Coffer on
 * COFFER_URL (default http://127.0.0.1:8080).
 *
 * `coffer/client` is the typed client's source, bundled in: the console has no API layer of
 * its own. No inline script or style is emitted (the page's Content-Security-Policy forbids
 * them), and nothing is loaded from anywhere but Coffer.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./'),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  resolve: { alias: { 'coffer/client': here('../src/client/index.ts') } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be an inline script; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // Small enough to inline would mean a data: URL for a script or style: keep every asset a file.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/api/wallets': process.env.COFFER_URL ?? 'http://127.0.0.1:8080' },
  },
});
