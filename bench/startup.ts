/**
 * Start-up time: from spawning the server to its first 200 on /_healthcheck, on the embedded
 * default (PGlite), with a fresh data folder and then with that existing folder.
 *
 *   node --import tsx bench/startup.ts [runs] [-- command...]
 *
 * The command defaults to `npm start`'s (node dist/main.js); `-- node --import tsx src/main.ts`
 * measures the TypeScript sources through tsx instead.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/server-process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const separator = process.argv.indexOf('--');
const runs = Number(process.argv[2] && process.argv[2] !== '--' ? process.argv[2] : 3);
const command = separator === -1 ? [process.execPath, 'dist/main.js'] : process.argv.slice(separator + 1);

async function startOnce(dataDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, args, { cwd: ROOT, env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'silent' }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/_healthcheck`)).status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const fresh: number[] = [];
const existing: number[] = [];
for (let i = 0; i < runs; i += 1) {
  const parent = mkdtempSync(join(tmpdir(), 'coffer-startup-'));
  const dataDir = join(parent, 'data');
  try {
    fresh.push(await startOnce(dataDir));
    existing.push(await startOnce(dataDir));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}
// Milliseconds as integers (no float formatting), printed like bench/run.ts prints its table.
const show = (ms: number[]) => ms.map((m) => `${Math.round(m)} ms`).join(', ');
const median = (ms: number[]) => Math.round([...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!);
process.stdout.write(
  `command: ${command.join(' ')}\n` +
    `fresh data folder:    median ${median(fresh)} ms (${show(fresh)})\n` +
    `existing data folder: median ${median(existing)} ms (${show(existing)})\n`,
);
