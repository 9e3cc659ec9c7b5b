/**
 * A throwaway PostgreSQL cluster for tests that stop the database under Coffer: initdb in a
 * temporary folder, started on a free port with its socket in that folder. initdb refuses
 * to run as root, so as root the server programs run as the `postgres` user. Only the
 * cluster this file started is ever stopped, by its data folder.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './server-process.ts';

export const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

export interface Cluster {
  readonly url: string;
  /** `fast` ends sessions cleanly; `immediate` is a crash (recovery replays the WAL at start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Runs a server program, as `postgres` when this process is root. */
export async function pg(program: string, args: string[]): Promise<void> {
  const command = [join(BIN, program), ...args];
  if (process.getuid?.() === 0) await run('su', ['postgres', '-c', command.map(shellQuote).join(' ')]);
  else await run(command[0]!, command.slice(1));
}

export function pgSync(program: string, args: string[]): void {
  const command = [join(BIN, program), ...args];
  if (process.getuid?.() === 0) execFileSync('su', ['postgres', '-c', command.map(shellQuote).join(' ')], { stdio: 'ignore' });
  else execFileSync(command[0]!, command.slice(1), { stdio: 'ignore' });
}

export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  const start = () => pg('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  let running = false;
  // A test that dies half-way must not leave its server behind.
  const onExit = () => {
    if (running) pgSync('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  };
  process.on('exit', onExit);
  await start();
  running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop(mode) {
      await pg('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
