/**
 * Durability of the embedded default: a Coffer server on a fresh PGlite data folder runs
 * under strace, and the trace shows that no write is acknowledged before it is on disk.
 * For every 2xx answer to a mutation, the server's main thread (which runs PGlite, reads
 * requests and writes answers, so its system calls are in one order) wrote WAL after it
 * read the request and fsynced that WAL file before it wrote the answer. The initdb child
 * must flush every file it wrote, its folders and the data folder's entry in its parent.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { startServer } from './support/server-process.ts';

interface Answer {
  readonly status: number;
  readonly text: string;
  /** The client's port: it names the server's socket for this request in the trace. */
  readonly port: number;
}

/**
 * One request on a connection of its own, so that its socket is its alone in the trace (or,
 * with `agent`, on the one connection that agent keeps open).
 */
function call(url: string, method: string, path: string, body?: string, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = request(`${url}${path}`, { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      // Read now: on a kept connection the socket goes back to its agent at the end.
      const port = response.socket.localPort!;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, text, port }));
    });
    sent.once('error', reject);
    sent.end(body);
  });
}

/**
 * Connections opened ahead, each with one request already answered 404 (so that the first
 * 2xx on it is the mutation's answer). The server takes in a new connection's first request
 * only on a later turn of its event loop than the accept: requests sent on fresh connections
 * reach the committer one by one, each often after the previous commit, and rarely share a
 * batch. On open connections they arrive together, as a client's pooled connections do.
 */
async function openConnections(url: string, count: number): Promise<Agent[]> {
  const agents = Array.from({ length: count }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const warm = await Promise.all(agents.map((agent) => call(url, 'GET', '/warm-up', undefined, agent)));
  assert.ok(warm.every((answer) => answer.status === 404));
  return agents;
}

/** One system call of the trace: its name, the path or socket of its descriptor, its result. */
interface Call {
  readonly name: string;
  readonly target: string;
  readonly text: string;
  readonly result: number;
}

function parseTrace(file: string): Call[] {
  const calls: Call[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    // `write(25<TCP:[127.0.0.1:8080->127.0.0.1:41234]>, "HTTP/1.1 204"..., 180) = 180`; writev has `[{iov_base="…`.
    const match = /^(\w+)\(\d+<(.*?)>(?=[,)])(?:, (?:\[\{iov_base=)?"(.*?)")?.* = (-?\d+)/.exec(line);
    // `unlink("/path") = 0`, `rename("/old", "/new") = 0`: their target is the path they remove.
    const removal = /^(unlink|rename)\("(.*?)"/.exec(line);
    if (removal) calls.push({ name: removal[1]!, target: removal[2]!, text: '', result: 0 });
    else if (match) calls.push({ name: match[1]!, target: match[2]!, text: match[3] ?? '', result: Number(match[4]) });
  }
  return calls;
}

/** The index of the last call in `calls[from, to)` that `test` accepts, or -1. */
function lastIndex(calls: readonly Call[], from: number, to: number, test: (call: Call) => boolean): number {
  for (let index = to - 1; index >= from; index--) if (test(calls[index]!)) return index;
  return -1;
}

const WRITES = new Set(['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2']);
const READS = new Set(['read', 'readv', 'recvfrom', 'recvmsg']);
const isWalWrite = (call: Call) => WRITES.has(call.name) && call.target.includes('/pg_wal/') && call.result > 0;
const isFsync = (call: Call) => (call.name === 'fsync' || call.name === 'fdatasync') && call.result === 0;

/** The trace file (strace -ff writes one per thread) of the process whose command line holds `marker`. */
function traceOf(prefix: string, marker: string): { pid: number; calls: Call[] } {
  for (const name of readdirSync(dirname(prefix))) {
    if (!name.startsWith(`${prefix.slice(dirname(prefix).length + 1)}.`)) continue;
    const file = join(dirname(prefix), name);
    // A forked child's first lines may come before its execve.
    const started = readFileSync(file, 'utf8').split('\n', 8).find((line) => line.startsWith('execve('));
    if (started?.includes(marker)) return { pid: Number(name.slice(name.lastIndexOf('.') + 1)), calls: parseTrace(file) };
  }
  throw new Error(`no trace of a process running ${marker}`);
}

const ASSET = '{"asset":"USD/2","amount":1000}';

describe('durability [pglite on disk]', () => {
  it('fresh data folder, sequential and concurrent credits/debits under strace → every 2xx answer follows an fsync of the WAL its commit wrote; initdb flushed every file it made', { timeout: 240_000 }, async () => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      assert.fail('this test needs strace (Debian: apt-get install strace)');
    }
    const root = mkdtempSync(join(tmpdir(), 'coffer-durability-'));
    const dataDir = join(root, 'data');
    const prefix = join(root, 'trace');
    try {
      const strace = ['strace', '-f', '-ff', '--seccomp-bpf', '-qq', '-yy', '-s', '96', '-o', prefix, '-e', 'signal=none',
        '-e', `trace=execve,unlink,rename,fsync,fdatasync,${[...WRITES, ...READS].join(',')}`];
      const server = await startServer({ DATA_DIR: dataDir }, 180_000, undefined, strace);
      const mutations: Answer[] = [];
      const mutate = async (path: string, body: string, agent: Agent | false = false) => {
        const answer = await call(server.url, 'POST', path, body, agent);
        assert.ok(answer.status >= 200 && answer.status < 300, `${path}: ${answer.status} ${answer.text}`);
        mutations.push(answer);
        return answer;
      };
      const wallets: string[] = [];
      for (let i = 0; i < 4; i++) wallets.push(JSON.parse((await mutate('/wallets', `{"name":"w${i}"}`)).text).data.id);
      for (const id of wallets) await mutate(`/wallets/${id}/credit`, `{"amount":${ASSET}}`);
      for (const id of wallets) await mutate(`/wallets/${id}/debit`, '{"amount":{"asset":"USD/2","amount":1}}');
      // Concurrent rounds on open connections, so that group commit puts several commands in one batch.
      let concurrent = 0;
      for (let round = 0; round < 3; round++) {
        const agents = await openConnections(server.url, 24);
        await Promise.all(
          agents.map((agent, i) => {
            concurrent++;
            const id = wallets[i % wallets.length]!;
            return i % 3 === 0 ? mutate(`/wallets/${id}/credit`, `{"amount":${ASSET}}`, agent) : mutate(`/wallets/${id}/debit`, '{"amount":{"asset":"USD/2","amount":1}}', agent);
          }),
        );
        for (const agent of agents) agent.destroy();
      }
      const main = traceOf(prefix, 'src/main.ts');
      process.kill(main.pid, 'SIGTERM');
      await server.kill('SIGTERM');

      const calls = traceOf(prefix, 'src/main.ts').calls;
      const flushes = new Set<number>();
      for (const answer of mutations) {
        const socket = (call: Call) => call.target.endsWith(`->127.0.0.1:${answer.port}]`);
        const replied = calls.findIndex((call) => socket(call) && WRITES.has(call.name) && call.text.startsWith('HTTP/1.1 2'));
        assert.ok(replied > 0, `the answer to the request from port ${answer.port} is in the trace`);
        const received = lastIndex(calls, 0, replied, (call) => socket(call) && READS.has(call.name) && call.result > 0);
        assert.ok(received >= 0, `the request from port ${answer.port} is in the trace`);
        // Its commit: WAL written after the request was read, then that file fsynced, both before the answer.
        const written = calls.findIndex((call, index) => index > received && index < replied && isWalWrite(call));
        assert.ok(written >= 0, `WAL written between reading the request from port ${answer.port} and answering it`);
        const flushed = lastIndex(calls, written + 1, replied, (call) => isFsync(call) && call.target === calls[written]!.target);
        assert.ok(flushed >= 0, `the WAL written for the request from port ${answer.port} was fsynced before its ${answer.status} answer`);
        flushes.add(flushed);
      }
      const walFsyncs = calls.filter((call) => isFsync(call) && call.target.includes('/pg_wal/')).length;
      assert.ok(walFsyncs >= flushes.size, `${walFsyncs} WAL fsyncs for ${flushes.size} answered batches`);
      assert.ok(flushes.size < mutations.length, `group commit: ${mutations.length} mutations (${concurrent} concurrent) shared ${flushes.size} flushes`);

      // The initdb child: every file it wrote fsynced after its last write, every folder of the data folder and its parent fsynced.
      const initdb = traceOf(prefix, 'pglite-initdb.mjs').calls;
      const lastWrite = new Map<string, number>();
      initdb.forEach((call, index) => WRITES.has(call.name) && call.target.startsWith(dataDir) && lastWrite.set(call.target, index));
      assert.ok(lastWrite.size > 100, `initdb wrote ${lastWrite.size} files`);
      for (const [path, index] of lastWrite) {
        // A file removed or renamed away (the statistics file, read and deleted at start-up) has nothing to keep.
        const gone = initdb.some((call, at) => at > index && (call.name === 'unlink' || call.name === 'rename') && call.target === path);
        assert.ok(gone || initdb.some((call, at) => at > index && isFsync(call) && call.target === path), `initdb fsynced ${path} after writing it`);
      }
      const folders = [root, dataDir, ...readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(e.parentPath, e.name))];
      for (const folder of folders) {
        // Folders the server made after initdb (none expected) would not be the child's to flush.
        assert.ok(initdb.some((call) => isFsync(call) && call.target === folder), `initdb fsynced the folder ${folder}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a flush that fails stops the server (PANIC, exit 70) instead of acknowledging or hanging; a restart recovers', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'coffer-fsync-fail-'));
    try {
      const server = await startServer({ DATA_DIR: dataDir });
      let stderr = '';
      server.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
      const wallet = JSON.parse((await call(server.url, 'POST', '/wallets', '{"name":"w"}')).text).data.id as string;
      // From now on every fsync of the server fails with EIO, as on a failing disk (strace
      // injects the error into the real system call).
      const strace = spawn('strace', ['-f', '-p', String(server.child.pid), '-e', 'trace=fsync,fdatasync', '-e', 'inject=fsync:error=EIO'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        strace.once('error', reject);
        strace.stderr.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('attached')) resolve();
        });
      });
      const credit = await call(server.url, 'POST', `/wallets/${wallet}/credit`, '{"amount":{"asset":"USD/2","amount":100}}').then(
        (answer) => answer.status,
        (error: Error) => error.message,
      );
      assert.ok(typeof credit === 'string' || credit >= 500, `the credit was not acknowledged: ${credit}`);
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))]);
      strace.kill('SIGKILL');
      assert.equal(code, 70, stderr);
      assert.match(stderr, /coffer: PANIC: a flush of the PGlite data folder failed/);
      // Restarted on the folder, recovery replays the WAL: the wallet acknowledged before is there.
      const restarted = await startServer({ DATA_DIR: dataDir });
      try {
        assert.equal((await call(restarted.url, 'GET', `/wallets/${wallet}`)).status, 200);
      } finally {
        await restarted.kill('SIGTERM');
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
