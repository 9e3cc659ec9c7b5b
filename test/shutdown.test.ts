/**
 * Stopping is bounded (src/server.ts), on real processes: a server whose log reader has
 * stalled or gone keeps serving and exits within SHUTDOWN_TIMEOUT_MS of SIGTERM; a request
 * that hangs is given up at SHUTDOWN_TIMEOUT_MS, and a second SIGTERM ends the process at
 * once; SIGTERM to `npm start` stops the server itself, not only npm.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freshPostgresDatabase, postgresSkipped, untilBlockedBy } from './support/harness.ts';
import { freePort, send } from './support/server-process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SHUTDOWN_TIMEOUT_MS = 2_000;
/** What a process needs beyond the timeout to be seen gone: the exit itself, and the test's own scheduling. */
const SLACK_MS = 1_000;

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Spawns `command` with stdout a pipe the caller decides about, and waits for /_healthcheck. */
async function start(command: string, args: readonly string[], settings: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), ...settings },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    assert.equal(child.exitCode, null, `exited during start-up: ${stderr}`);
    const healthy = await fetch(`${url}/_healthcheck`).then((response) => response.ok, () => false);
    if (healthy) break;
    assert.ok(Date.now() < deadline, `not healthy: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, url, exited };
}

function startCoffer(settings: Record<string, string>): Promise<Started> {
  return start(process.execPath, ['--import', 'tsx', 'src/main.ts'], settings);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('bounded shutdown', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'coffer-shutdown-'));
  const running: ChildProcess[] = [];
  after(() => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const reader of ['stalled', 'gone'] as const) {
    it(`log reader ${reader}: the server keeps answering, and exits within SHUTDOWN_TIMEOUT_MS of SIGTERM`, { timeout: 180_000 }, async () => {
      const server = await startCoffer({ DATA_DIR: dataDir });
      running.push(server.child);
      // Nobody reads stdout any more: a pipe holds 64 KiB, and each request logs about 500 bytes.
      if (reader === 'stalled') server.child.stdout!.pause();
      else server.child.stdout!.destroy();
      for (let i = 0; i < 600; i++) {
        const answer = await send(server.url, 'GET', '/wallets/no-such-wallet');
        assert.equal(answer.status, 404, `request ${i} answered`);
      }
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const exit = await server.exited;
      assert.equal(exit.code, 0, 'a clean stop');
      assert.ok(exit.at - signalled < SHUTDOWN_TIMEOUT_MS + SLACK_MS, `exited ${exit.at - signalled} ms after SIGTERM`);
    });
  }

  it('SIGTERM to npm start → the node server itself stops: its port no longer answers, no orphan left', { timeout: 180_000 }, async () => {
    const npm = await start('npm', ['start'], { DATA_DIR: dataDir });
    running.push(npm.child);
    let log = '';
    npm.child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    // The server's own pid, from its log: npm's child is the server (npm start execs node).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const serving = log.split('\n').find((line) => line.includes('"coffer is serving"'));
    assert.ok(serving, `the server logged that it serves: ${log}`);
    const pid = JSON.parse(serving).pid as number;
    assert.notEqual(pid, npm.child.pid);
    npm.child.kill('SIGTERM');
    await npm.exited;
    const deadline = Date.now() + SHUTDOWN_TIMEOUT_MS + SLACK_MS;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(isAlive(pid), false, `node server ${pid} still running after npm was stopped`);
    await assert.rejects(fetch(`${npm.url}/_healthcheck`), 'the port no longer answers');
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;
if (serverUrl) {
  describe('bounded shutdown, a request hanging on a row lock (PostgreSQL)', () => {
    /** A server with a debit in flight that waits on a row another transaction holds. */
    async function hangingDebit(databaseUrl: string, shutdownMs: number) {
      const server = await startCoffer({ DATABASE_URL: databaseUrl, SHUTDOWN_TIMEOUT_MS: String(shutdownMs), LOG_LEVEL: 'silent' });
      const walletId = JSON.parse((await send(server.url, 'POST', '/wallets', '{}')).text).data.id as string;
      assert.equal((await send(server.url, 'POST', `/wallets/${walletId}/credit`, '{"amount":{"asset":"USD/2","amount":100}}')).status, 204);
      const blocker = new pg.Client({ connectionString: databaseUrl });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM coffer.volumes WHERE address LIKE $1 FOR UPDATE', [`wallets:${walletId}:%`]);
      const debit = send(server.url, 'POST', `/wallets/${walletId}/debit`, '{"amount":{"asset":"USD/2","amount":10}}').catch((error: Error) => error);
      try {
        await untilBlockedBy(blocker, 'the debit never waited on the lock');
      } catch (error) {
        server.child.kill('SIGKILL');
        await blocker.query('ROLLBACK');
        await blocker.end();
        throw error;
      }
      return { server, blocker, debit };
    }

    it('second SIGTERM while a request hangs → the process ends at once', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      const { server, blocker, debit } = await hangingDebit(fresh.url, 60_000);
      try {
        server.child.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        assert.equal(server.child.exitCode, null, 'the first SIGTERM waits for the in-flight debit');
        const second = Date.now();
        server.child.kill('SIGTERM');
        const exit = await server.exited;
        assert.equal(exit.signal, 'SIGTERM', 'ended by the second signal');
        assert.ok(exit.at - second < 500, `ended ${exit.at - second} ms after the second SIGTERM`);
        await debit;
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
        await fresh.drop();
      }
    });

    it('one SIGTERM while a request hangs → the process exits (code 1) within SHUTDOWN_TIMEOUT_MS', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      const { server, blocker, debit } = await hangingDebit(fresh.url, SHUTDOWN_TIMEOUT_MS);
      try {
        const signalled = Date.now();
        server.child.kill('SIGTERM');
        const exit = await server.exited;
        assert.equal(exit.code, 1, 'in-flight requests did not finish');
        assert.ok(exit.at - signalled < SHUTDOWN_TIMEOUT_MS + SLACK_MS, `exited ${exit.at - signalled} ms after SIGTERM`);
        await debit;
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
        await fresh.drop();
      }
    });
  });
} else {
  postgresSkipped('bounded shutdown, a request hanging on a row lock (PostgreSQL)');
}
