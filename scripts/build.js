#!/usr/bin/env node
// `npm run build`, and `prepare` (which `npm ci` and `npm install` run in this folder): compiles
// src/ into dist/ with tsconfig.build.json, from a clean dist/ so that no file moved or deleted
// in src/ lingers there, then builds the operator console (console/) into dist/console with
// Vite (console/vite.config.ts), which the server serves at /console. A production install (`npm ci --omit=dev`) has no TypeScript: it keeps
// the dist/ a full `npm ci` built before, and fails, saying so, when there is none.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (existsSync(new URL('../dist/main.js', import.meta.url))) {
    console.error('coffer build: TypeScript is not installed (a production install); using the dist/ built before.');
    process.exit(0);
  }
  console.error('coffer build: dist/ is missing and TypeScript is not installed. Build first with `npm ci` (development dependencies included), then `npm prune --omit=dev`; or install the package that `npm pack` made.');
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);

const { build } = await import('vite');
await build({ configFile: fileURLToPath(new URL('../console/vite.config.ts', import.meta.url)) });
