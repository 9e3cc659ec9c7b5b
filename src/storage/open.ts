/** Opens the configured backend: PostgreSQL when a URL is given, else PGlite in a data folder. */
import { mkdirSync } from 'node:fs';
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
  return openPglite(options.dataDir);
}
