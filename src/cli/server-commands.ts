/**
 * `coffer serve` and `coffer migrate`: the server side, configured by environment variables
 * (src/config.ts). The server's modules (Fastify, the database drivers) are loaded only when
 * one of these runs, so the everyday commands start fast.
 */
import type { Command } from 'commander';
import { loadConfig, SETTINGS } from '../config.ts';
import { ConfigError } from '../domain/errors.ts';
import { write, writeJson } from './output.ts';
import { parseWorkers, serveWorkers } from './workers.ts';

/** The settings and their defaults, for `serve --help`: the same table docs/configuration.md shows. */
function settingsHelp(): string {
  const rows = Object.entries(SETTINGS).map(([name, setting]) => `  ${name.padEnd(26)} ${(setting.default ?? '(unset)').padEnd(10)} ${setting.meaning}`);
  return `\nConfiguration (environment variables, default, meaning):\n${rows.join('\n')}`;
}

/** Applies pending migrations to the configured database; returns their numbers. */
export async function migrateDatabase(): Promise<number[]> {
  const config = loadConfig();
  const [{ databaseSetting, openDatabase }, { migrate, SchemaTooNew }] = await Promise.all([import('../storage/open.ts'), import('../storage/migrations.ts')]);
  const db = await openDatabase(config);
  try {
    return await migrate(db);
  } catch (error) {
    throw error instanceof SchemaTooNew ? new ConfigError(`${databaseSetting(config)}: ${error.message}`) : error;
  } finally {
    await db.close();
  }
}

export function serverCommands(program: Command): void {
  program
    .command('serve')
    .description('run the Coffer server: open the database, migrate, listen (SIGTERM stops it cleanly)')
    .option('--workers <n>', 'server processes sharing the port, on one PostgreSQL (DATABASE_URL); a dead one is replaced', '1')
    .addHelpText('after', settingsHelp())
    .action(async (options: { workers: string }) => {
      const workers = parseWorkers(options.workers);
      const config = loadConfig();
      await serveWorkers(config, workers);
    });

  program
    .command('migrate')
    .description('apply pending database migrations and exit (serve does this too at start-up)')
    .addHelpText('after', settingsHelp())
    .action(async (_options, command: Command) => {
      const applied = await migrateDatabase();
      if (command.optsWithGlobals<{ json?: boolean }>().json === true) writeJson({ applied });
      else write(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'database is up to date');
    });
}
