/**
 * `coffer verify`, ready to wire: it opens the configured database, runs the verification it
 * is given, prints what it found, and exits 4 (EXIT_CODES.verifyFailed) when anything is
 * wrong. The verification itself, `verifyDatabase(db)` in src/cli/verify.ts, is being
 * written on another branch, so this command is not registered yet. Once that module is
 * merged, one line in buildProgram (program.ts) wires it:
 *
 *   verifyCommand(program, async (db) => (await import('./verify.ts')).verifyDatabase(db));
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import type { Database } from '../storage/database.ts';
import { table, write, writeJsonValue } from './output.ts';

/** One broken rule, as src/storage/invariants.ts reports it. */
export interface VerifyFinding {
  readonly rule: string;
  readonly detail: string;
}

export type VerifyDatabase = (db: Database) => Promise<readonly VerifyFinding[]>;

/** Thrown after the findings are printed; main() turns it into exit code 4. */
export class VerificationFailed extends Error {
  constructor(readonly findings: number) {
    super(`${findings} problem${findings === 1 ? '' : 's'} found`);
    this.name = 'VerificationFailed';
  }
}

export function verifyCommand(program: Command, verifyDatabase: VerifyDatabase): void {
  program
    .command('verify')
    .description("check the ledger's invariants on the configured database (on PGlite, stop the server first); exit 4 when one is broken")
    .action(async (_options: unknown, command: Command) => {
      const config = loadConfig();
      const { openDatabase } = await import('../storage/open.ts');
      const db = await openDatabase(config);
      let findings: readonly VerifyFinding[];
      try {
        findings = await verifyDatabase(db);
      } finally {
        await db.close();
      }
      if (command.optsWithGlobals<{ json?: boolean }>().json === true) writeJsonValue({ ok: findings.length === 0, findings });
      else if (findings.length === 0) write('the ledger is consistent: every invariant holds');
      else write(table(['RULE', 'DETAIL'], findings.map((finding) => [finding.rule, finding.detail])));
      if (findings.length > 0) throw new VerificationFailed(findings.length);
    });
}
