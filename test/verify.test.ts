/**
 * `coffer verify` (src/cli/verify.ts, `npm run verify`): a ledger built by real traffic
 * passes; each kind of corruption, written straight into the test's own database, is
 * reported under its rule, and the command exits non-zero with the report. Every
 * corruption is undone at the end of its test, and the suite's invariant check after each
 * test proves the repair.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verifyDatabase } from '../src/cli/verify.ts';
import { openPglite, openPostgres, type Database, type Queryable } from '../src/storage/database.ts';
import { balanceAddress, holdAddress } from '../src/domain/chart.ts';
import { createBalance, createWallet, credit, expectStatus, freshPostgresDatabase, postgresSkipped, startHarness, suite, type Backend, type Harness } from './support/harness.ts';
import { runCommand, type Run } from './support/server-process.ts';


interface Ledger {
  readonly alice: string;
  readonly bob: string;
  /** Partly confirmed: 60 of 100 remain. */
  readonly openHold: string;
}

/** Real traffic: credits, a transfer, a partly confirmed hold, a voided hold, a named balance. */
async function buildLedger(h: Harness): Promise<Ledger> {
  const alice = await createWallet(h, { name: 'alice' });
  const bob = await createWallet(h, { name: 'bob' });
  await createBalance(h, alice, { name: 'promo' });
  await credit(h, alice, 1000n);
  await credit(h, alice, 50n, { balance: 'promo' });
  await credit(h, alice, 7n, {}, 'EUR');
  expectStatus(await h.post(`/wallets/${alice}/debit`, { amount: { asset: 'USD/2', amount: 200n }, destination: { type: 'WALLET', identifier: bob } }), 204);
  const open = expectStatus(await h.post(`/wallets/${alice}/debit`, { amount: { asset: 'USD/2', amount: 100n }, pending: true, balances: ['*'] }), 201);
  const openHold = open.body.data.id as string;
  expectStatus(await h.post(`/holds/${openHold}/confirm`, { amount: 40n }), 204);
  const voided = expectStatus(await h.post(`/wallets/${bob}/debit`, { amount: { asset: 'USD/2', amount: 30n }, pending: true }), 201);
  expectStatus(await h.post(`/holds/${voided.body.data.id}/void`), 204);
  return { alice, bob, openHold };
}

async function rulesBroken(db: Database): Promise<string[]> {
  const verification = await verifyDatabase(db);
  assert.equal(verification.ok, verification.violations.length === 0);
  return [...new Set(verification.violations.map((violation) => violation.rule))].sort();
}

/** Drops the CHECK constraint that keeps volumes within their overdraft limit, for the duration of `body`. */
async function withoutNonNegativeCheck(db: Queryable, body: () => Promise<void>): Promise<void> {
  await db.exec('ALTER TABLE volumes DROP CONSTRAINT volumes_within_overdraft');
  try {
    await body();
  } finally {
    await db.exec('ALTER TABLE volumes ADD CONSTRAINT volumes_within_overdraft CHECK (input - output + overdraft >= 0)');
  }
}

suite('coffer verify', (h) => {
  let ledger: Ledger | undefined;
  const built = async () => (ledger ??= await buildLedger(h()));

  it('a ledger built by real traffic → ok, and the report says so', async () => {
    await built();
    const verification = await verifyDatabase(h().db);
    assert.equal(verification.ok, true, verification.report);
    assert.deepEqual(verification.violations, []);
    assert.match(verification.report, /^coffer verify: ok — all 6 ledger invariants hold \(\d+ transactions, \d+ account volumes, 2 holds\)\n$/);
  });

  it('a closed wallet that holds money (status forced in SQL, with its history row) → wallet-status only', async () => {
    const { alice } = await built();
    await h().db.query("UPDATE wallets SET status = 'closed' WHERE id = $1", [alice]);
    await h().db.query(
      "INSERT INTO wallet_status_changes (ledger, wallet_id, previous_status, status, changed_at) VALUES ('test-ledger', $1, 'active', 'closed', now())",
      [alice],
    );
    try {
      assert.deepEqual(await rulesBroken(h().db), ['wallet-status']);
      assert.match((await verifyDatabase(h().db)).report, new RegExp(`wallet-status: 1\\n {2}test-ledger wallet ${alice}: closed but holds wallets:${alice}:main`));
    } finally {
      await h().db.query('DELETE FROM wallet_status_changes WHERE wallet_id = $1', [alice]);
      await h().db.query("UPDATE wallets SET status = 'active' WHERE id = $1", [alice]);
    }
  });

  it('money created from nothing (a volume raised, no posting) → sum-per-asset (and volumes-match-postings)', async () => {
    const { alice } = await built();
    const main = balanceAddress(alice, 'main');
    await h().db.query(`UPDATE volumes SET input = input + 7 WHERE address = $1 AND asset = 'USD/2'`, [main]);
    try {
      const verification = await verifyDatabase(h().db);
      assert.equal(verification.ok, false);
      assert.deepEqual(await rulesBroken(h().db), ['sum-per-asset', 'volumes-match-postings']);
      assert.match(verification.report, /^coffer verify: FAILED — 2 violation\(s\)/);
      assert.match(verification.report, /\nsum-per-asset: 1\n {2}ledger test-ledger asset USD\/2: balances sum to 7\n/);
      assert.ok(verification.report.includes(main));
    } finally {
      await h().db.query(`UPDATE volumes SET input = input - 7 WHERE address = $1 AND asset = 'USD/2'`, [main]);
    }
  });

  it('money moved between accounts without a posting (sums still zero) → volumes-match-postings only', async () => {
    const { alice, bob } = await built();
    const [from, to] = [balanceAddress(alice, 'main'), balanceAddress(bob, 'main')];
    const move = async (amount: number) => {
      await h().db.query(`UPDATE volumes SET input = input - $2 WHERE address = $1 AND asset = 'USD/2'`, [from, amount]);
      await h().db.query(`UPDATE volumes SET input = input + $2 WHERE address = $1 AND asset = 'USD/2'`, [to, amount]);
    };
    await move(5);
    try {
      assert.deepEqual(await rulesBroken(h().db), ['volumes-match-postings']);
      const verification = await verifyDatabase(h().db);
      assert.equal(verification.violations.length, 2);
      assert.ok(verification.report.includes(`${from} USD/2: volumes in`));
      assert.ok(verification.report.includes(`${to} USD/2: volumes in`));
    } finally {
      await move(-5);
    }
  });

  it('a wallet-to-wallet posting altered after the fact → volumes-match-postings on both accounts', async () => {
    const { alice, bob } = await built();
    const [posting] = await h().db.query<{ transaction_id: bigint; position: number }>(
      'SELECT transaction_id, position FROM postings WHERE source = $1 AND destination = $2',
      [balanceAddress(alice, 'main'), balanceAddress(bob, 'main')],
    );
    const key = [posting!.transaction_id, posting!.position];
    await h().db.query('UPDATE postings SET amount = amount + 1 WHERE transaction_id = $1 AND position = $2', key);
    try {
      assert.deepEqual(await rulesBroken(h().db), ['volumes-match-postings']);
      assert.equal((await verifyDatabase(h().db)).violations.length, 2);
    } finally {
      await h().db.query('UPDATE postings SET amount = amount - 1 WHERE transaction_id = $1 AND position = $2', key);
    }
  });

  it('a wallet overdrawn past its limit by a balanced transaction (CHECK dropped) → within-overdraft only', async () => {
    const { bob } = await built();
    const main = balanceAddress(bob, 'main');
    await withoutNonNegativeCheck(h().db, async () => {
      const [{ balance } = { balance: '0' }] = await h().db.query<{ balance: string }>(
        `SELECT (input - output)::text AS balance FROM volumes WHERE address = $1 AND asset = 'USD/2'`,
        [main],
      );
      const overdraft = BigInt(balance) + 25n;
      const [{ id } = { id: 0n }] = await h().db.query<{ id: bigint }>(
        `INSERT INTO transactions (ledger, id, timestamp, inserted_at) VALUES ('test-ledger', nextval('transaction_ids'), now(), now()) RETURNING id`,
      );
      await h().db.query(
        `INSERT INTO postings (ledger, transaction_id, position, source, destination, asset, amount) VALUES ('test-ledger', $1, 0, $2, 'world', 'USD/2', $3)`,
        [id, main, overdraft.toString()],
      );
      await h().db.query(`UPDATE volumes SET output = output + $2::numeric WHERE address = $1 AND asset = 'USD/2'`, [main, overdraft.toString()]);
      try {
        assert.deepEqual(await rulesBroken(h().db), ['within-overdraft']);
        assert.match((await verifyDatabase(h().db)).report, new RegExp(`within-overdraft: 1\\n {2}test-ledger ${main} USD/2: balance -25, overdraft limit 0\\n`));
        await h().db.query(`UPDATE volumes SET overdraft = 25 WHERE address = $1 AND asset = 'USD/2'`, [main]);
        assert.deepEqual(await rulesBroken(h().db), [], 'within a limit of 25, -25 breaks nothing');
        await h().db.query(`UPDATE volumes SET overdraft = 0 WHERE address = $1 AND asset = 'USD/2'`, [main]);
      } finally {
        await h().db.query(`UPDATE volumes SET output = output - $2::numeric WHERE address = $1 AND asset = 'USD/2'`, [main, overdraft.toString()]);
        await h().db.query('DELETE FROM postings WHERE transaction_id = $1', [id]);
        await h().db.query('DELETE FROM transactions WHERE id = $1', [id]);
      }
    });
  });

  it("a hold's remaining out of step with its account, or above its original → hold-remaining only", async () => {
    const { openHold } = await built();
    for (const [corrupt, repair, shown] of [
      ['remaining = remaining - 1', 'remaining = remaining + 1', /remaining 59, account balance 60, original 100/],
      ['original_amount = 50', 'original_amount = 100', /remaining 60, account balance 60, original 50/],
    ] as const) {
      await h().db.query(`UPDATE holds SET ${corrupt} WHERE id = $1`, [openHold]);
      try {
        assert.deepEqual(await rulesBroken(h().db), ['hold-remaining']);
        const report = (await verifyDatabase(h().db)).report;
        assert.match(report, new RegExp(`hold-remaining: 1\\n {2}test-ledger hold ${openHold}: `));
        assert.match(report, shown);
      } finally {
        await h().db.query(`UPDATE holds SET ${repair} WHERE id = $1`, [openHold]);
      }
    }
    const [account] = await h().db.query<{ balance: string }>(
      `SELECT (input - output)::text AS balance FROM volumes WHERE address = $1`,
      [holdAddress(openHold)],
    );
    assert.equal(account!.balance, '60');
  });

  it("an account row without its wallet, or with another's → account-wallet only, for balances and holds", async () => {
    const { alice, bob, openHold } = await built();
    const main = balanceAddress(alice, 'main');
    const hold = holdAddress(openHold);
    for (const [address, wrong, shown] of [
      [main, null, `${main}: wallet none, its address names ${alice}`],
      [main, bob, `${main}: wallet ${bob}, its address names ${alice}`],
      [hold, null, `${hold}: wallet none, its address names ${alice}`],
      // A hold's account is its hold's wallet's, not a wallet named 'holds'.
      [hold, 'holds', `${hold}: wallet holds, its address names ${alice}`],
    ] as const) {
      await h().db.query('UPDATE accounts SET wallet_id = $2 WHERE address = $1', [address, wrong]);
      try {
        assert.deepEqual(await rulesBroken(h().db), ['account-wallet']);
        const verification = await verifyDatabase(h().db);
        assert.equal(verification.ok, false);
        assert.ok(verification.report.includes(`\naccount-wallet: 1\n  test-ledger ${shown}\n`), verification.report);
      } finally {
        await h().db.query('UPDATE accounts SET wallet_id = $2 WHERE address = $1', [address, alice]);
      }
    }
    // An address outside wallets: is no wallet's: a wallet id on it is reported too.
    await h().db.query(`INSERT INTO accounts (ledger, address, wallet_id) VALUES ('test-ledger', 'platform:fees', $1)`, [alice]);
    try {
      assert.deepEqual(await rulesBroken(h().db), ['account-wallet']);
      assert.ok((await verifyDatabase(h().db)).report.includes(`platform:fees: wallet ${alice}, its address names none`));
    } finally {
      await h().db.query(`DELETE FROM accounts WHERE address = 'platform:fees'`);
    }
  });

  it('every rule broken at once → each reported under its own heading, in rule order', async () => {
    const { alice, openHold } = await built();
    const main = balanceAddress(alice, 'main');
    await withoutNonNegativeCheck(h().db, async () => {
      await h().db.query(`UPDATE volumes SET output = input + 3 WHERE address = $1 AND asset = 'EUR'`, [main]);
      await h().db.query('UPDATE holds SET remaining = remaining + 1 WHERE id = $1', [openHold]);
      await h().db.query('UPDATE accounts SET wallet_id = NULL WHERE address = $1', [main]);
      await h().db.query("UPDATE wallets SET status = 'frozen' WHERE id = $1", [alice]);
      try {
        const verification = await verifyDatabase(h().db);
        assert.deepEqual(await rulesBroken(h().db), ['account-wallet', 'hold-remaining', 'sum-per-asset', 'volumes-match-postings', 'wallet-status', 'within-overdraft']);
        const headings = verification.report.split('\n').filter((line) => /^[a-z-]+: \d+$/.test(line));
        assert.deepEqual(headings, ['sum-per-asset: 1', 'volumes-match-postings: 1', 'within-overdraft: 1', 'hold-remaining: 1', 'account-wallet: 1', 'wallet-status: 1']);
      } finally {
        await h().db.query("UPDATE wallets SET status = 'active' WHERE id = $1", [alice]);
        await h().db.query(`UPDATE volumes SET output = 0 WHERE address = $1 AND asset = 'EUR'`, [main]);
        await h().db.query('UPDATE holds SET remaining = remaining - 1 WHERE id = $1', [openHold]);
        await h().db.query('UPDATE accounts SET wallet_id = $2 WHERE address = $1', [main, alice]);
      }
    });
  });
});

/** Runs `npm run verify` (or the `coffer verify` it stands for) with the given environment. */
function runVerify(env: Record<string, string>, viaNpm = false): Promise<Run> {
  // Only the target's own settings: a DATABASE_URL or DATA_DIR of the test's environment must not leak in.
  const inherited = { ...process.env };
  delete inherited.DATABASE_URL;
  delete inherited.DATA_DIR;
  return viaNpm
    ? runCommand('npm', ['run', '--silent', 'verify'], { ...inherited, ...env })
    : runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'verify'], { ...inherited, ...env });
}

interface CliTarget {
  readonly name: string;
  /** A database with the ledger built in it, the env that points verify at it, a way to open it again. */
  setUp(): Promise<{ env: Record<string, string>; backend: Backend; open: () => Promise<Database>; cleanUp: () => Promise<void> }>;
}

const cliTargets: CliTarget[] = [
  {
    name: 'pglite on disk',
    async setUp() {
      const dir = mkdtempSync(join(tmpdir(), 'coffer-verify-'));
      const open = () => openPglite(dir);
      return {
        env: { DATA_DIR: dir },
        backend: { name: 'pglite', open: async () => ({ db: await open(), drop: async () => {} }) },
        open,
        cleanUp: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];
const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  cliTargets.push({
    name: 'postgres',
    async setUp() {
      const fresh = await freshPostgresDatabase(serverUrl);
      const open = async () => openPostgres({ url: fresh.url, poolSize: 2, statementTimeoutMs: 30_000 });
      return {
        env: { DATABASE_URL: fresh.url },
        backend: { name: 'postgres', open: async () => ({ db: await open(), drop: async () => {} }) },
        open,
        cleanUp: fresh.drop,
      };
    },
  });
} else {
  postgresSkipped('npm run verify [postgres]');
}

for (const target of cliTargets) {
  describe(`npm run verify [${target.name}]`, () => {
    it('a sound ledger → exit 0 and "ok"; a corrupted one → exit 4 with the report on stdout', { timeout: 120_000 }, async () => {
      const { env, backend, open, cleanUp } = await target.setUp();
      try {
        const h = await startHarness(backend);
        const { alice } = await buildLedger(h);
        await h.close();

        const sound = await runVerify(env, true);
        assert.equal(sound.code, 0, sound.stderr);
        assert.match(sound.stdout, /^coffer verify: ok — all 6 ledger invariants hold/);

        const db = await open();
        await db.query(`UPDATE volumes SET input = input + 1 WHERE address = $1 AND asset = 'USD/2'`, [balanceAddress(alice, 'main')]);
        await db.close();
        const corrupted = await runVerify(env);
        assert.equal(corrupted.code, 4, corrupted.stderr);
        assert.match(corrupted.stdout, /^coffer verify: FAILED — 2 violation\(s\)/);
        assert.match(corrupted.stdout, /\nsum-per-asset: 1\n/);
        assert.match(corrupted.stdout, /\nvolumes-match-postings: 1\n/);
      } finally {
        await cleanUp();
      }
    });
  });
}

describe('npm run verify: nothing to verify', () => {
  it('a DATA_DIR that does not exist, or a database that was never migrated → exit 2, "could not verify" on stderr', { timeout: 60_000 }, async () => {
    const missing = await runVerify({ DATA_DIR: join(tmpdir(), `coffer-verify-missing-${process.pid}`) });
    assert.equal(missing.code, 2);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^coffer verify: could not verify: no database in DATA_DIR /);

    const empty = mkdtempSync(join(tmpdir(), 'coffer-verify-empty-'));
    try {
      const db = await openPglite(empty);
      await db.close();
      const unmigrated = await runVerify({ DATA_DIR: empty });
      assert.equal(unmigrated.code, 2);
      assert.match(unmigrated.stderr, /could not verify: relation "transactions" does not exist/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
