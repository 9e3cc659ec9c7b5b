/**
 * `coffer verify`: checks a database against the ledger's invariants (the six rules of
 * storage/invariants.ts). All of them are read in one REPEATABLE READ, READ ONLY
 * transaction — one snapshot — so it is safe against a PostgreSQL server that is serving
 * traffic: a transfer committing between two queries cannot look like a broken rule, and
 * verify never writes.
 *
 * Usage from code (the `coffer verify` command of the CLI calls exactly this):
 *
 *   const { ok, report } = await verifyDatabase(db);
 *   process.stdout.write(report);
 *   process.exitCode = ok ? 0 : 1;
 *
 * It throws when the database cannot be read (unreachable, or not migrated); the caller
 * reports that as "could not verify", which is not the same as a broken invariant.
 */
import type { Database } from '../storage/database.ts';
import { findViolations, type Violation } from '../storage/invariants.ts';

export interface Verification {
  /** True when every invariant holds. */
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** What a person reads: a verdict line, then each broken rule with its rows; ends with a newline. */
  readonly report: string;
}

export const RULES: readonly Violation['rule'][] = ['sum-per-asset', 'volumes-match-postings', 'within-overdraft', 'hold-remaining', 'account-wallet', 'wallet-status'];

/** A corrupt database can break a rule on millions of rows; the report shows this many per rule. */
const DETAILS_PER_RULE_MAX = 50;

interface Counts {
  readonly transactions: bigint;
  readonly volumes: bigint;
  readonly holds: bigint;
}

export async function verifyDatabase(db: Database): Promise<Verification> {
  const { violations, counts } = await db.transaction(async (tx) => {
    await tx.exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const [row] = await tx.query<Counts>(
      `SELECT (SELECT count(*) FROM transactions)::int8 AS transactions, (SELECT count(*) FROM volumes)::int8 AS volumes,
              (SELECT count(*) FROM holds)::int8 AS holds`,
    );
    return { violations: await findViolations(tx), counts: row! };
  });
  const scope = `${counts.transactions} transactions, ${counts.volumes} account volumes, ${counts.holds} holds`;
  if (violations.length === 0) {
    return { ok: true, violations, report: `coffer verify: ok — all ${RULES.length} ledger invariants hold (${scope})\n` };
  }
  const lines = [`coffer verify: FAILED — ${violations.length} violation(s) of the ledger invariants (${scope})`];
  for (const rule of RULES) {
    const broken = violations.filter((violation) => violation.rule === rule);
    if (broken.length === 0) continue;
    lines.push(`${rule}: ${broken.length}`);
    for (const violation of broken.slice(0, DETAILS_PER_RULE_MAX)) lines.push(`  ${violation.detail}`);
    if (broken.length > DETAILS_PER_RULE_MAX) lines.push(`  … and ${broken.length - DETAILS_PER_RULE_MAX} more`);
  }
  return { ok: false, violations, report: `${lines.join('\n')}\n` };
}
