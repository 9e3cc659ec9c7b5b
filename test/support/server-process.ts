/**
 * Runs Coffer as a real child process (`src/main.ts`, or `coffer serve`), for tests that
 * kill, restart or multiply servers, or drive it as a user would. Talks to it over HTTP on loopback with the global fetch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `npm start`'s command; `['--import', 'tsx', 'src/cli/index.ts', 'serve']` starts it as the CLI does. */
const NPM_START = ['--import', 'tsx', 'src/main.ts'];

/**
 * `wrapper` is a program that runs the server as its command (`['strace', …]`), if any.
 * `logLines`, when given, receives every line the server writes to stdout (its log).
 */
export async function startServer(
  env: Record<string, string>,
  readyTimeoutMs = 60_000,
  command: readonly string[] = NPM_START,
  wrapper: readonly string[] = [],
  logLines?: string[],
): Promise<ServerProcess> {
  // A fixed PORT in `env` (a process restarted behind a proxy) is kept; else a free one.
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort();
  const [program, ...args] = [...wrapper, process.execPath, ...command] as [string, ...string[]];
  const child = spawn(program, args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', logLines === undefined ? 'ignore' : 'pipe', 'pipe'],
  });
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    logLines?.push(...lines);
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`coffer exited during start-up: ${stderr}`);
    try {
      const response = await fetch(`${url}/_healthcheck`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`coffer did not become healthy: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    child,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
  readonly replayed: boolean;
}

export async function send(url: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
    body,
  });
  return { status: response.status, text: await response.text(), replayed: response.headers.get('idempotent-replayed') === 'true' };
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in the project folder to its end, with exactly `env`, and collects its output. */
export function runCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
