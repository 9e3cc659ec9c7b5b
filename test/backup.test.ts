/**
 * Backup and restore. The embedded database: `coffer backup` of a stopped folder and
 * `coffer backup --live` of a folder a serving process holds (under load), `coffer restore`
 * into a new folder, `coffer verify` on it, and a server on the restored folder answering the
 * same balances (the live one: a consistent state between the backup's start and its end).
 * PostgreSQL: pg_dump -Fc -n coffer (Coffer's schema) of a serving database, pg_restore into another,
 * `coffer verify` passes there and the balances are the same.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { runCommand, send, startServer, type Run, type ServerProcess } from './support/server-process.ts';

const CLI = ['--import', 'tsx', 'src/cli/index.ts'];

function coffer(args: readonly string[], env: Record<string, string>): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|DATABASE_SCHEMA|DATA_DIR|COFFER_URL)$/.test(name)));
  return runCommand(process.execPath, [...CLI, ...args], { ...base, LOG_LEVEL: 'silent', ...env });
}

function expectExit(run: Run, code: number, stderr?: RegExp): void {
  assert.equal(run.code, code, `exit ${run.code}: ${run.stderr}${run.stdout}`);
  if (stderr !== undefined) assert.match(run.stderr, stderr);
}

/** Wallets with money, a hold and a transfer between them; returns their ids. */
async function someMoney(url: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const created = await send(url, 'POST', '/wallets', JSON.stringify({ name: `backup-${i}` }), { 'idempotency-key': `backup-wallet-${i}` });
    assert.equal(created.status, 201, created.text);
    const id = JSON.parse(created.text).data.id as string;
    assert.equal((await send(url, 'POST', `/wallets/${id}/credit`, `{"amount":{"asset":"USD/2","amount":${1000 * (i + 1)}}}`)).status, 204);
    ids.push(id);
  }
  const hold = await send(url, 'POST', `/wallets/${ids[0]}/debit`, '{"amount":{"asset":"USD/2","amount":250},"pending":true}');
  assert.equal(hold.status, 201, hold.text);
  const transfer = `{"amount":{"asset":"USD/2","amount":300},"destination":{"type":"WALLET","identifier":"${ids[2]}"}}`;
  assert.equal((await send(url, 'POST', `/wallets/${ids[1]}/debit`, transfer)).status, 204);
  return ids;
}

/** What a client sees of each wallet: its summary (balances, holds) and transactions, as text. */
async function balances(url: string, ids: readonly string[]): Promise<string[]> {
  const views: string[] = [];
  for (const id of ids) {
    views.push((await send(url, 'GET', `/wallets/${id}/summary`)).text);
    views.push((await send(url, 'GET', `/transactions?walletID=${id}&pageSize=100`)).text);
  }
  return views;
}

describe('backup and restore [pglite, the data folder]', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'coffer-backup-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a stopped folder → coffer backup, coffer restore into a new folder → verify passes, the same balances', { timeout: 120_000 }, async () => {
    const original = join(root, 'stopped');
    let server: ServerProcess = await startServer({ DATA_DIR: original });
    const ids = await someMoney(server.url);
    const before = await balances(server.url, ids);
    await server.kill('SIGTERM');

    const file = join(root, 'stopped.tar.gz');
    expectExit(await coffer(['backup', file], { DATA_DIR: original }), 0);
    const restored = join(root, 'stopped-restored');
    const restore = await coffer(['restore', file], { DATA_DIR: restored });
    expectExit(restore, 0);
    assert.match(restore.stdout, /restored .* into DATA_DIR/);
    const verify = await coffer(['verify'], { DATA_DIR: restored });
    expectExit(verify, 0);

    server = await startServer({ DATA_DIR: restored });
    try {
      assert.deepEqual(await balances(server.url, ids), before);
    } finally {
      await server.kill('SIGTERM');
    }
  });

  it('a serving folder under load → plain backup refused (exit 2, says --live); --live → a consistent copy: verify passes, a state between the backup start and its end', { timeout: 120_000 }, async () => {
    const original = join(root, 'live');
    const server = await startServer({ DATA_DIR: original });
    const file = join(root, 'live.tar.gz');
    let restoredIds: string[] = [];
    try {
      const ids = await someMoney(server.url);
      expectExit(await coffer(['backup', file], { DATA_DIR: original }), 2, /in use by .*add --live/);

      // Keyed credits, one after another, while the backup is taken.
      let running = true;
      const acknowledged: number[] = [];
      const load = (async () => {
        for (let n = 1; running; n++) {
          const answer = await send(server.url, 'POST', `/wallets/${ids[0]}/credit`, '{"amount":{"asset":"USD/2","amount":1}}', { 'idempotency-key': `live-${n}` });
          assert.equal(answer.status, 204, answer.text);
          acknowledged.push(n);
        }
      })();
      // The backup starts once some credits were acknowledged (a loaded machine may take a while).
      let failed = false;
      load.catch(() => (failed = true)); // awaited below; a refused credit ends the wait at once
      for (const deadline = Date.now() + 30_000; acknowledged.length < 3 && !failed && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
      const ackedBefore = acknowledged.length;
      expectExit(await coffer(['backup', '--live', file], { COFFER_URL: server.url }), 0);
      const ackedAfter = acknowledged.length;
      running = false;
      await load;
      assert.ok(ackedBefore > 0, 'credits were acknowledged before the backup');

      const restored = join(root, 'live-restored');
      expectExit(await coffer(['restore', file], { DATA_DIR: restored }), 0);
      expectExit(await coffer(['verify'], { DATA_DIR: restored }), 0);
      const copy = await startServer({ DATA_DIR: restored });
      try {
        const main = JSON.parse((await send(copy.url, 'GET', `/wallets/${ids[0]}`)).text).data.balances.main.assets['USD/2'] as number;
        // 1000 credited, 250 on hold; every credit acknowledged before the backup began is in it.
        const credits = main - 750;
        assert.ok(credits >= ackedBefore && credits <= ackedAfter + 1, `the copy holds ${credits} credits; ${ackedBefore} were acknowledged before the backup, ${ackedAfter} by its end`);
        restoredIds = ids;
      } finally {
        await copy.kill('SIGTERM');
      }
    } finally {
      await server.kill('SIGTERM');
    }
    assert.equal(restoredIds.length, 3);
  });

  it('refusals: restore over a folder that holds a database, a file that is no backup, a missing file, DATABASE_URL set → exit 2, nothing changed', { timeout: 60_000 }, async () => {
    const file = join(root, 'stopped.tar.gz');
    expectExit(await coffer(['restore', file], { DATA_DIR: join(root, 'stopped') }), 2, /already holds a database: restore into a new or empty folder/);
    const junk = join(root, 'junk.tar.gz');
    writeFileSync(junk, 'not a backup');
    expectExit(await coffer(['restore', junk], { DATA_DIR: join(root, 'never') }), 2, /not a gzipped tar made by coffer backup/);
    expectExit(await coffer(['restore', join(root, 'missing.tar.gz')], { DATA_DIR: join(root, 'never') }), 2, /cannot read the backup file/);
    expectExit(await coffer(['backup', file], { DATABASE_URL: 'postgres://u@127.0.0.1:1/db' }), 2, /pg_dump/);
    expectExit(await coffer(['restore', file], { DATABASE_URL: 'postgres://u@127.0.0.1:1/db' }), 2, /pg_dump/);
    expectExit(await coffer(['backup', join(root, 'x.tar.gz')], { DATA_DIR: join(root, 'never') }), 2, /no database in DATA_DIR/);
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  describe('backup and restore [postgres, pg_dump and pg_restore]', () => {
    it("pg_dump -Fc of Coffer's database → pg_restore into a new database → coffer verify passes, the same balances", { timeout: 120_000 }, async () => {
      const source = await freshPostgresDatabase(serverUrl);
      const target = await freshPostgresDatabase(serverUrl);
      const dir = mkdtempSync(join(tmpdir(), 'coffer-pgdump-'));
      let server: ServerProcess | undefined;
      try {
        server = await startServer({ DATABASE_URL: source.url });
        const ids = await someMoney(server.url);
        const before = await balances(server.url, ids);
        // The live server keeps serving: pg_dump reads one snapshot.
        const file = join(dir, 'coffer.dump');
        execFileSync('pg_dump', ['-Fc', '-n', 'coffer', '-f', file, '-d', source.url]);
        await server.kill('SIGTERM');
        server = undefined;
        execFileSync('pg_restore', ['--exit-on-error', '-d', target.url, file]);
        expectExit(await coffer(['verify'], { DATABASE_URL: target.url }), 0);
        server = await startServer({ DATABASE_URL: target.url });
        assert.deepEqual(await balances(server.url, ids), before);
        const refused = await send(server.url, 'GET', '/_backup');
        assert.equal(refused.status, 404);
        assert.equal(JSON.parse(refused.text).errorCode, 'NOT_FOUND');
      } finally {
        await server?.kill('SIGTERM');
        await source.drop();
        await target.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
} else {
  postgresSkipped('backup and restore [postgres, pg_dump and pg_restore]');
}
