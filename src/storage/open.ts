/** Opens the configured backend: PostgreSQL when a URL is given, else PGlite in a data folder. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPglite, openPostgres, type Database } from './database.ts';

export interface OpenOptions {
  readonly databaseUrl?: string;
  readonly dataDir: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.databaseUrl !== undefined) {
    return openPostgres({ url: options.databaseUrl, poolSize: options.poolSize, statementTimeoutMs: options.statementTimeoutMs });
  }
  mkdirSync(options.dataDir, { recursive: true });
  initialisePglite(options.dataDir);
  return openPglite(options.dataDir);
}

/**
 * Creating a PGlite data folder runs initdb, whose WebAssembly memory (about 500 MB here) the
 * process would keep for its whole life. A new folder is therefore initialised by a child
 * process that exits, and the server only ever opens an existing one (about 300 MB).
 */
function initialisePglite(dataDir: string): void {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const script = fileURLToPath(new URL('./pglite-initdb.mjs', import.meta.url));
  const child = spawnSync(process.execPath, [script, dataDir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`could not initialise the PGlite data folder ${dataDir}: ${child.stderr || child.error?.message}`);
}
