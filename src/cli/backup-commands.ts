/**
 * `coffer backup <file>` and `coffer restore <file>`: the embedded database (DATA_DIR) as one
 * gzipped tar. A stopped folder is opened (and held) by the command itself; a folder a server
 * holds is backed up through that server (`--live`: GET /_backup, scope admin), which reads
 * it while no write runs. A restore unpacks into a folder that holds no database yet, so it can
 * never overwrite one. A PostgreSQL server is backed up with its own tools (pg_dump, or a base
 * backup with WAL archiving): docs/deployment.md#backup-and-restore.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.ts';
import { ConfigError } from '../domain/errors.ts';
import { contextOf } from './context.ts';
import { write, writeJson } from './output.ts';

const POSTGRES = 'DATABASE_URL is set: a PostgreSQL server is backed up with pg_dump -Fc (restored with pg_restore) or a base backup with WAL archiving; see docs/deployment.md#backup-and-restore';

function embeddedConfig(): Config {
  const config = loadConfig();
  if (config.databaseUrl !== undefined) throw new ConfigError(POSTGRES);
  return config;
}

/** Backs up a stopped DATA_DIR, holding it while the tar is made. */
async function backupStopped(): Promise<Uint8Array> {
  const config = embeddedConfig();
  if (!existsSync(join(config.dataDir, 'PG_VERSION'))) throw new ConfigError(`no database in DATA_DIR ${JSON.stringify(config.dataDir)}`);
  const { openDatabase } = await import('../storage/open.ts');
  let db;
  try {
    db = await openDatabase({ ...config, poolSize: 1 });
  } catch (error) {
    if (error instanceof ConfigError && / is in use by /.test(error.message)) {
      throw new ConfigError(`${error.message}; to back up the folder of a running server, add --live (it asks that server, at --url, for the backup)`);
    }
    throw error;
  }
  try {
    return await db.dumpDataDir!();
  } finally {
    await db.close();
  }
}

/** Writes the file whole or not at all: a temporary file, flushed, then renamed over `file`. */
function writeDurably(file: string, bytes: Uint8Array): void {
  const temporary = `${file}.partial-${process.pid}`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    for (let offset = 0; offset < bytes.byteLength; ) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

export function backupCommands(program: Command): void {
  program
    .command('backup <file>')
    .description('write a consistent backup of the embedded database (DATA_DIR) to <file>, a gzipped tar (stop the server first, or add --live)')
    .option('--live', 'take the backup from the running server at --url, which holds DATA_DIR (needs the admin scope when auth is on)')
    .action(async (file: string, options: { live?: boolean }, command: Command) => {
      const archive = options.live === true ? await contextOf(command).coffer.backup() : await backupStopped();
      writeDurably(file, archive);
      if (command.optsWithGlobals<{ json?: boolean }>().json === true) writeJson({ file, bytes: archive.byteLength });
      else write(`wrote a backup of ${archive.byteLength} bytes to ${file}`);
    });

  program
    .command('restore <file>')
    .description('restore a backup made by coffer backup into DATA_DIR, which must hold no database yet; then run coffer verify and start the server')
    .action(async (file: string, _options: unknown, command: Command) => {
      const config = embeddedConfig();
      let archive: Uint8Array;
      try {
        archive = readFileSync(file);
      } catch (error) {
        throw new ConfigError(`cannot read the backup file ${file}: ${(error as Error).message}`);
      }
      const { restoreDataDir } = await import('../storage/backup.ts');
      await restoreDataDir(config.dataDir, archive);
      if (command.optsWithGlobals<{ json?: boolean }>().json === true) writeJson({ file, dataDir: config.dataDir });
      else write(`restored ${file} into DATA_DIR ${config.dataDir}; check it with coffer verify, then start the server`);
    });
}
