/**
 * `npm run verify`: checks the configured database (DATABASE_URL, else PGlite in DATA_DIR —
 * the server's own settings) against the ledger invariants and prints the report.
 * Exit status: 0 every invariant holds; 1 one is broken (the report says which, where);
 * 2 the check could not run (bad configuration, no database, not reachable, not migrated).
 * On PGlite, run it while the server is stopped: one data folder has one process.
 */
import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../config.ts';
import { openDatabase } from '../storage/open.ts';
import { verifyDatabase } from './verify.ts';

const CANNOT_VERIFY = 2;

function cannotVerify(message: string): void {
  process.stderr.write(`coffer verify: could not verify: ${message}\n`);
  process.exitCode = CANNOT_VERIFY;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    return cannotVerify((error as Error).message);
  }
  // Opening PGlite on a missing folder would create an empty database and call it broken.
  if (config.databaseUrl === undefined && !existsSync(config.dataDir)) {
    return cannotVerify(`no database in DATA_DIR ${config.dataDir}`);
  }
  const db = await openDatabase({ ...config, poolSize: 1 });
  try {
    const verification = await verifyDatabase(db);
    process.stdout.write(verification.report);
    process.exitCode = verification.ok ? 0 : 1;
  } catch (error) {
    cannotVerify((error as Error).message);
  } finally {
    await db.close();
  }
}

await main();
