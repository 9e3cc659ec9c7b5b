/**
 * `coffer verify` (also `npm run verify`): checks the configured database (DATABASE_URL, else
 * PGlite in DATA_DIR — the server's own settings) against the ledger's invariants
 * (src/cli/verify.ts) and prints the report. Exit status: 0 every invariant holds; 4 one is
 * broken (the report says which, where); 2 the check could not run (bad configuration, no
 * database, not migrated); 3 the database does not answer. On PGlite, run it while the
 * server is stopped: one data folder has one process.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { isUnavailable } from '../http/errors.ts';
import { checkSchemaVersion, SchemaTooNew } from '../storage/migrations.ts';
import { databaseSetting, openDatabase } from '../storage/open.ts';
import { write, writeJson } from './output.ts';
import { verifyDatabase } from './verify.ts';

/** Thrown after the report is printed; the program turns it into exit code 4. */
export class VerificationFailed extends Error {
  constructor(readonly violations: number) {
    super(`${violations} violation${violations === 1 ? '' : 's'} of the ledger invariants`);
    this.name = 'VerificationFailed';
  }
}

/** The check could not run at all: not the same as a broken invariant. Exit code 2. */
export class CannotVerify extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CannotVerify';
  }
}

export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description("check the ledger's invariants on the configured database (on PGlite, stop the server first); exit 4 when one is broken")
    .action(async (_options: unknown, command: Command) => {
      let config;
      try {
        config = loadConfig();
      } catch (error) {
        throw new CannotVerify((error as Error).message);
      }
      // Opening PGlite on a missing folder would create an empty database and call it broken.
      if (config.databaseUrl === undefined && !existsSync(config.dataDir)) throw new CannotVerify(`no database in DATA_DIR ${config.dataDir}`);
      const db = await openDatabase({ ...config, poolSize: 1 });
      let verification;
      try {
        await checkSchemaVersion(db);
        verification = await verifyDatabase(db);
      } catch (error) {
        if (isUnavailable(error)) throw error;
        if (error instanceof SchemaTooNew) throw new CannotVerify(`${databaseSetting(config)}: ${error.message}`);
        throw new CannotVerify((error as Error).message);
      } finally {
        await db.close();
      }
      if (command.optsWithGlobals<{ json?: boolean }>().json === true) writeJson({ ok: verification.ok, violations: verification.violations });
      else write(verification.report.trimEnd());
      if (!verification.ok) throw new VerificationFailed(verification.violations.length);
    });
}
