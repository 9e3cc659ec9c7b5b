/**
 * Opens the configured backend: PostgreSQL when a URL is given, else PGlite in a data folder.
 * A database that cannot be opened is one line naming the setting: a ConfigError (exit code
 * 2) when the setting is wrong, DatabaseUnreachable (exit code 3) when the server does not
 * answer — never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../domain/errors.ts';
import { lockDataDir, prepareDataDir } from './data-dir.ts';
import { hostOf, parseHosts } from './hosts.ts';
import { DEFAULT_SCHEMA, openPglite, openPostgres, type Database } from './database.ts';

export interface OpenOptions {
  readonly databaseUrl?: string;
  /** DATABASE_SCHEMA; absent = `coffer`, or `public` for an install from before the setting. */
  readonly databaseSchema?: string;
  readonly dataDir: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
}

/** The configured PostgreSQL server does not answer (refused, unresolvable, timed out): retrying may help. */
export class DatabaseUnreachable extends Error {}

/** `progress` hears what start-up is doing, for the server's log (a first start takes seconds). */
export async function openDatabase(options: OpenOptions, progress: (message: string) => void = () => {}): Promise<Database> {
  if (options.databaseUrl !== undefined) {
    progress(`opening ${databaseSetting(options)}`);
    return openPostgresChecked(options.databaseUrl, options, progress);
  }
  prepareDataDir(options.dataDir);
  await lockDataDir(options.dataDir);
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    progress(`initialising a new data folder, ${databaseSetting(options)} (first start only, several seconds)`);
    initialisePglite(options.dataDir);
  }
  progress(`opening ${databaseSetting(options)}`);
  return openPglite(options.dataDir);
}

/** PostgreSQL's codes for a database that does not exist and for a refused login. */
const BAD_SETTING_CODES: Readonly<Record<string, string>> = {
  '3D000': 'names a database that does not exist',
  '28000': 'is refused by the server (no such role, or pg_hba.conf)',
  '28P01': 'is refused by the server (wrong password)',
};

/**
 * Opens the pool and runs one query, so a wrong URL fails here and not on the first request.
 * With DATABASE_SCHEMA unset the schema is `coffer` — unless the database holds Coffer's
 * tables in `public` and none in `coffer`: an install from before the setting existed, whose
 * tables stay where they are (old and new processes then share them during a rolling
 * upgrade). Moving them is an operator's choice (docs/deployment.md), never done here.
 */
async function openPostgresChecked(url: string, options: OpenOptions, progress: (message: string) => void): Promise<Database> {
  const open = (schema: string) => openPostgres({ url, poolSize: options.poolSize, statementTimeoutMs: options.statementTimeoutMs, schema });
  let db = open(options.databaseSchema ?? DEFAULT_SCHEMA);
  try {
    const [row] = await db.query<{ legacy: boolean }>('SELECT to_regclass($1) IS NULL AND to_regclass($2) IS NOT NULL AS legacy', [
      `${DEFAULT_SCHEMA}.coffer_migrations`,
      'public.coffer_migrations',
    ]);
    if (options.databaseSchema === undefined && row?.legacy === true) {
      await db.close();
      progress(`DATABASE_SCHEMA is unset and Coffer's tables are in the schema public (an install from before the setting): using public`);
      db = open('public');
      await db.query('SELECT 1');
    }
    return db;
  } catch (error) {
    await db.close().catch(() => {});
    const code = String((error as { code?: unknown }).code ?? '');
    const where = describeUrl(url);
    const reason = (error as Error).message;
    const badSetting = BAD_SETTING_CODES[code];
    if (badSetting !== undefined) throw new ConfigError(`DATABASE_URL ${where} ${badSetting}: ${reason}`);
    throw new DatabaseUnreachable(`DATABASE_URL ${where} does not answer: ${reason || code}`);
  }
}

/** The URL as host:port[,host:port…]/database, without its password. */
function describeUrl(url: string): string {
  try {
    const { urls } = parseHosts(url);
    return `${urls.map(hostOf).join(',')}${new URL(urls[0]!).pathname}`;
  } catch {
    return '(unparsable URL)';
  }
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

/** The setting that names the database, for messages: DATABASE_URL (without its password) or DATA_DIR. */
export function databaseSetting(options: OpenOptions): string {
  return options.databaseUrl !== undefined ? `DATABASE_URL ${describeUrl(options.databaseUrl)}` : `DATA_DIR ${JSON.stringify(options.dataDir)}`;
}
