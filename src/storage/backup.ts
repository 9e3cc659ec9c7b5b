/**
 * Backups of the embedded database: a PGlite data folder as one gzipped tar
 * (`Database.dumpDataDir`, taken from the serving process or from a stopped folder), and its
 * restore into a new folder. PostgreSQL servers are backed up with the server's own tools
 * (pg_dump, or a base backup with WAL archiving): docs/deployment.md.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../domain/errors.ts';
import { lockDataDir, prepareDataDir } from './data-dir.ts';
import { openPglite } from './database.ts';

/** The first bytes of every gzip stream. */
const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Unpacks `archive` into `dataDir`, which must hold no database yet (a restore never
 * overwrites one: move the old folder aside first), opens it once — PostgreSQL replays any
 * WAL the backup holds — checkpoints, and flushes every file and folder to disk before
 * returning, so a server started on it next builds on durable files.
 */
export async function restoreDataDir(dataDir: string, archive: Uint8Array): Promise<void> {
  if (archive[0] !== GZIP_MAGIC[0] || archive[1] !== GZIP_MAGIC[1]) throw new ConfigError('the backup file is not a gzipped tar made by coffer backup');
  if (existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new ConfigError(`DATA_DIR ${JSON.stringify(dataDir)} already holds a database: restore into a new or empty folder (move this one aside first)`);
  }
  prepareDataDir(dataDir);
  await lockDataDir(dataDir);
  const db = await openPglite(dataDir, archive);
  try {
    await db.query('SELECT count(*) FROM coffer_migrations');
    await db.query('CHECKPOINT');
  } finally {
    await db.close();
  }
  flushTree(resolve(dataDir));
  flush(dirname(resolve(dataDir)));
}

function flush(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** PGlite's file system never flushes what it unpacks: every file and folder is flushed here. */
function flushTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) flushTree(path);
    else if (entry.isFile()) flush(path);
  }
  flush(dir);
}
