/**
 * `coffer serve --workers N`: N processes on one port and one PostgreSQL, supervised by the
 * first; requests spread over them keep each key to one execution; SIGTERM stops them all and
 * the supervisor exits 0. Without DATABASE_URL, or with a bad count, it refuses to start (2).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { runCommand, send, startServer } from './support/server-process.ts';
import { RESTART_DELAY_MAX_MS, RESTART_STABLE_MS, restartDelayMs } from '../src/cli/workers.ts';

const SERVE = ['--import', 'tsx', 'src/cli/index.ts', 'serve'];

/** The pids of a process's children, from /proc. */
function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('coffer serve --workers', () => {
  it('--workers without DATABASE_URL, or a bad count → exit 2, nothing started', { timeout: 60_000 }, async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'DATABASE_URL'));
    const embedded = await runCommand(process.execPath, [...SERVE, '--workers', '2'], { ...env, DATA_DIR: '/tmp/coffer-workers-never', PORT: '0' });
    assert.equal(embedded.code, 2, embedded.stderr);
    assert.match(embedded.stderr, /--workers needs DATABASE_URL/);
    for (const bad of ['0', '65', 'two']) {
      const run = await runCommand(process.execPath, [...SERVE, '--workers', bad], { ...env, PORT: '0' });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--workers must be an integer from 1 to 64/);
    }
  });

  it('a worker that dies young is replaced after a delay that doubles (100 ms up to 30 s); one that ran a while, at once', () => {
    let delay = 0;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) delays.push((delay = restartDelayMs(delay, 50)));
    assert.deepEqual(delays, [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000, 30_000]);
    assert.equal(RESTART_DELAY_MAX_MS, 30_000);
    assert.equal(restartDelayMs(delay, RESTART_STABLE_MS), 0, 'a worker that lived long enough resets the delay');
    assert.equal(restartDelayMs(0, RESTART_STABLE_MS - 1), 100);
  });

  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    it('--workers 2 on PostgreSQL: a worker killed is replaced by a new process and the port keeps serving; SIGTERM after that → exit 0', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const log: string[] = [];
        const server = await startServer({ DATABASE_URL: fresh.url }, 60_000, [...SERVE, '--workers', '2'], [], log);
        // Healthy means one worker listens; the supervisor says when both do.
        for (const deadline = Date.now() + 30_000; !log.some((l) => l.includes('serving with 2 workers')) && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(log.some((l) => l.includes('serving with 2 workers')), log.join('\n'));
        const serving = () => children(server.child.pid!).filter((pid) => isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve'));
        const [victim, survivor] = serving();
        process.kill(victim!, 'SIGKILL');
        for (const deadline = Date.now() + 30_000; !log.some((l) => l.includes('a replacement worker is serving')) && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const now = serving();
        assert.equal(now.length, 2, `two workers again: ${now}`);
        assert.ok(now.includes(survivor!) && !now.includes(victim!), `the killed worker ${victim} was replaced: ${now}`);
        assert.ok(log.some((l) => l.includes('a worker ended; starting another') && l.includes(`"worker":${victim}`)), log.join('\n'));
        for (let i = 0; i < 6; i++) assert.equal((await send(server.url, 'POST', '/wallets', '{}')).status, 201);
        const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
        server.child.kill('SIGTERM');
        assert.equal(await exited, 0, 'the workers asked to stop all stopped cleanly');
        assert.deepEqual(now.filter(isAlive), [], 'no worker left behind');
      } finally {
        await fresh.drop();
      }
    });

    it('--workers 2 on PostgreSQL: SIGTERM while the workers are still starting stops them all too, and the supervisor exits 0', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const supervisor = spawn(process.execPath, SERVE.concat('--workers', '2'), { env: { ...process.env, DATABASE_URL: fresh.url, PORT: '0', HOST: '127.0.0.1' }, stdio: 'ignore' });
        const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)));
        // As soon as both workers are forked, before they serve.
        let workers: number[] = [];
        for (const deadline = Date.now() + 30_000; workers.length < 2 && Date.now() < deadline; ) {
          workers = children(supervisor.pid!).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve'));
          if (workers.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        assert.equal(workers.length, 2, 'both workers forked');
        supervisor.kill('SIGTERM');
        assert.equal(await exited, 0, 'the supervisor passed the stop on and exited when its workers had');
        for (const deadline = Date.now() + 5_000; workers.some(isAlive) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(workers.filter(isAlive), [], 'no worker left behind');
      } finally {
        await fresh.drop();
      }
    });

    it('--workers 2 on PostgreSQL → two processes serve one port, a key executes once across them; SIGTERM → all gone, exit 0', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const server = await startServer({ DATABASE_URL: fresh.url }, 60_000, [...SERVE, '--workers', '2']);
        const workers = children(server.child.pid!).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve'));
        assert.equal(workers.length, 2, `two workers: ${workers}`);
        const wallet = JSON.parse((await send(server.url, 'POST', '/wallets', '{}')).text).data.id as string;
        assert.equal((await send(server.url, 'POST', `/wallets/${wallet}/credit`, '{"amount":{"asset":"USD/2","amount":100}}')).status, 204);
        const answers = await Promise.all(
          Array.from({ length: 40 }, () => send(server.url, 'POST', `/wallets/${wallet}/debit`, '{"amount":{"asset":"USD/2","amount":30},"pending":true}', { 'idempotency-key': 'workers' })),
        );
        assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([201]));
        assert.equal(new Set(answers.map((a) => a.text)).size, 1);
        assert.equal(answers.filter((a) => !a.replayed).length, 1);
        const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
        server.child.kill('SIGTERM');
        assert.equal(await exited, 0);
        assert.deepEqual(workers.filter(isAlive), [], 'no worker left behind');
      } finally {
        await fresh.drop();
      }
    });
  } else {
    postgresSkipped('coffer serve --workers 2 on PostgreSQL');
  }
});
