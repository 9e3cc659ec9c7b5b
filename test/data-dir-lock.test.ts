/**
 * One PGlite data folder, one process (src/storage/data-dir.ts): while a server holds the
 * folder, a second server, `coffer migrate` and `coffer verify` are refused with exit code 2
 * and one line naming the holder, also from another network namespace or through a bind-mounted
 * alias of the folder; after the holder is killed with SIGKILL, the kernel has
 * released the lock and a new server starts on the folder with the first one's data.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, runCommand, send, startServer, type Run, type ServerProcess } from './support/server-process.ts';

describe('one data folder, one process', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'coffer-lock-'));
  const env = { DATABASE_URL: '', DATA_DIR: dataDir };
  const servers: ServerProcess[] = [];

  after(async () => {
    await Promise.all(servers.map((server) => server.kill('SIGKILL')));
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function runWithFolder(args: readonly string[]): Promise<Run> {
    return runCommand(process.execPath, args, { ...process.env, ...env, LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: String(await freePort()) });
  }

  function expectBusy(run: Run, pid: number | undefined): void {
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^coffer[^\n]*\n$/, 'one line');
    assert.match(run.stderr, new RegExp(`DATA_DIR ".*coffer-(lock|alias)-.*" is in use by Coffer process ${pid}; one data folder serves one process`));
  }

  it('while a server holds the folder: a second server, coffer serve, migrate and verify → exit 2 naming its pid; the first still serves', { timeout: 120_000 }, async () => {
    const first = await startServer(env);
    servers.push(first);
    const wallet = await send(first.url, 'POST', '/wallets', '{"name":"kept"}');
    assert.equal(wallet.status, 201);
    const [npmStart, serve, migrate, verify] = await Promise.all([
      runWithFolder(['--import', 'tsx', 'src/main.ts']),
      runWithFolder(['--import', 'tsx', 'src/cli/index.ts', 'serve']),
      runWithFolder(['--import', 'tsx', 'src/cli/index.ts', 'migrate']),
      runWithFolder(['--import', 'tsx', 'src/cli/index.ts', 'verify']),
    ]);
    for (const run of [npmStart, serve, migrate, verify]) expectBusy(run, first.child.pid);
    assert.equal((await send(first.url, 'GET', '/wallets?name=kept')).status, 200);
  });

  it("the flock holder is outside the server's process group: a terminal's Ctrl-C stops the server, not its lock", () => {
    const server = servers[0]!;
    const children = readFileSync(`/proc/${server.child.pid}/task/${server.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    const groupOf = (pid: string | number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2];
    const flock = children.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('flock'));
    assert.ok(flock, 'the server holds the folder through a flock child');
    assert.notEqual(groupOf(flock), groupOf(server.child.pid!));
  });

  it('the lock belongs to the folder: refused from another network namespace and through a bind-mounted alias', { timeout: 120_000 }, async () => {
    const holder = servers[0]!;
    // Another network namespace (another container on the same volume) cannot see the
    // abstract socket; the flock on the folder's coffer.lock stops it.
    const otherNamespace = await runCommand('unshare', ['--net', process.execPath, 'bin/coffer.js', 'migrate'], { ...process.env, ...env, LOG_LEVEL: 'silent' });
    assert.equal(otherNamespace.code, 2, otherNamespace.stderr);
    assert.match(otherNamespace.stderr, /is in use by another Coffer process \(possibly in another container or network namespace\)/);
    // The same folder under another path (a bind mount) is the same device and inode.
    const alias = mkdtempSync(join(tmpdir(), 'coffer-alias-'));
    try {
      const script = `mount --bind "$SOURCE" "$ALIAS" && exec "$NODE" bin/coffer.js migrate`;
      const throughAlias = await runCommand('unshare', ['--mount', 'sh', '-c', script], {
        ...process.env,
        ...env,
        DATA_DIR: alias,
        SOURCE: dataDir,
        ALIAS: alias,
        NODE: process.execPath,
        LOG_LEVEL: 'silent',
      });
      expectBusy(throughAlias, holder.child.pid);
    } finally {
      rmSync(alias, { recursive: true, force: true });
    }
  });

  it('after kill -9 of the holder → a new server starts on the folder and finds its data', { timeout: 120_000 }, async () => {
    await servers[0]!.kill('SIGKILL');
    const second = await startServer(env);
    servers.push(second);
    const wallets = JSON.parse((await send(second.url, 'GET', '/wallets?name=kept')).text).cursor.data;
    assert.equal(wallets.length, 1);
    // And it holds the folder in turn.
    expectBusy(await runWithFolder(['--import', 'tsx', 'src/cli/index.ts', 'migrate']), second.child.pid);
  });
});
