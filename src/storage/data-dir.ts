/**
 * PGlite's data folder: made and checked before PGlite sees it, and held by one process. Two
 * processes on one folder each keep their own copy of the database in memory and write it
 * back in turn, so the second one's acknowledged writes are lost: a second process (server,
 * migrate, verify) is refused while another holds the folder.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { ConfigError } from '../domain/errors.ts';

/**
 * Creates the folder (and its parents) if needed and checks that it is a folder this process
 * can write in. Node's own recursive mkdir loops forever where mkdir answers ENOENT for an
 * existing parent (under /proc), so the parents are made here one by one.
 */
export function prepareDataDir(dataDir: string): void {
  try {
    makeFolder(dataDir);
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    // Permissions say little (root may write anywhere but a read-only file system): write.
    const probe = join(dataDir, `.coffer-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new ConfigError(`DATA_DIR ${JSON.stringify(dataDir)} is not a writable folder: ${WHY[code] ?? (error as Error).message}`);
  }
}

const WHY: Readonly<Record<string, string>> = {
  ENOTDIR: 'it, or a folder on its path, is a file (ENOTDIR)',
  ENOENT: 'it cannot be created there (ENOENT)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EROFS: 'the file system is read-only (EROFS)',
  ENOSPC: 'no space left on the device (ENOSPC)',
};

function makeFolder(path: string): void {
  try {
    mkdirSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    makeFolder(parent);
    mkdirSync(path);
  }
}

/** The folders this process holds, for the life of the process: the sockets must not be collected. */
const held = new Map<string, { server: Server; flock: ChildProcess | undefined } | 'pid file'>();

/**
 * Takes the folder for this process, or throws a ConfigError (exit code 2) naming the process
 * that holds it. Taking it again in the same process is a no-op.
 *
 * On Linux the lock is two locks, both released by the kernel when the process ends however
 * it ends (kill -9 included), with no file to go stale and no native module:
 * - a listening Unix socket in the abstract namespace, named after the folder's device and
 *   inode (the same folder through a symlink or a bind mount is the same name): binding it
 *   is atomic, and the holder answers a connection with its pid, for the message;
 * - an flock(2) on `coffer.lock` inside the folder, held by a `flock` child process (util-
 *   linux) whose standard input is a pipe from this process: it belongs to the folder, so it
 *   also stops a process in another network namespace (another container on the same
 *   volume), which cannot see the socket. When this process ends, the pipe closes and the
 *   child exits, releasing it. Without a `flock` command only the socket is taken.
 * Elsewhere it is a pid file in the folder, taken over when the pid in it is no longer alive
 * (a pid reused since is taken for alive: then delete the file by hand).
 */
export async function lockDataDir(dataDir: string): Promise<void> {
  const path = realpathSync(dataDir);
  if (held.has(path)) return;
  if (process.platform !== 'linux') {
    takePidFile(path);
    held.set(path, 'pid file');
    return;
  }
  const server = await listenAbstract(path);
  // The locks last as long as the process but do not keep it alive by themselves.
  server.unref();
  let flock: ChildProcess | undefined;
  try {
    flock = await flockFolder(path);
  } catch (error) {
    server.close();
    throw error;
  }
  held.set(path, { server, flock });
}

/** Exit code the `flock` child reports when another process holds the folder. */
const FLOCK_BUSY = 75;

/** Holds flock(2) on the folder's `coffer.lock` through a child; undefined without a `flock` command. */
function flockFolder(path: string): Promise<ChildProcess | undefined> {
  const file = join(path, 'coffer.lock');
  const child = spawn('flock', ['--nonblock', '--conflict-exit-code', String(FLOCK_BUSY), file, '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'ignore'],
    // A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) must
    // stop the server gracefully, not kill the lock's holder under it.
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onExit = (code: number | null) => {
      if (code === FLOCK_BUSY) reject(busy(path, undefined));
      else reject(new Error(`could not lock DATA_DIR ${JSON.stringify(path)}: flock exited with ${code}`));
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve(undefined);
      else reject(error);
    });
    child.once('exit', onExit);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.startsWith('locked')) return;
      child.off('exit', onExit);
      child.stdout!.destroy();
      // The child lives as long as this process and must not keep it alive; losing it while
      // serving would leave the folder unguarded, so the process stops instead.
      child.once('exit', () => {
        process.stderr.write(`coffer: the lock on DATA_DIR ${JSON.stringify(path)} was lost (its flock process ended); stopping\n`);
        process.exit(1);
      });
      (child.stdin as Socket).unref();
      child.unref();
      resolve(child);
    });
  });
}

function busy(dataDir: string, pid: string | undefined): ConfigError {
  const holder = pid ? `Coffer process ${pid}` : 'another Coffer process (possibly in another container or network namespace)';
  return new ConfigError(`DATA_DIR ${JSON.stringify(dataDir)} is in use by ${holder}; one data folder serves one process (stop it first, or use PostgreSQL for several)`);
}

async function listenAbstract(path: string): Promise<Server> {
  const { dev, ino } = statSync(path);
  const name = `\0coffer-${createHash('sha256').update(`${dev}:${ino}`).digest('hex')}`;
  const server = createServer((socket) => socket.end(String(process.pid)));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => resolve());
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw busy(path, await holderPid(name));
  }
  return server;
}

/** The holder's pid, asked over the socket; undefined if it does not answer within a second. */
function holderPid(name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(name);
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve(/^\d+$/.test(answer) ? answer : undefined));
  });
}

/** The fallback: a pid file, removed when the process exits. */
function takePidFile(path: string): void {
  const file = join(path, 'coffer.pid');
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const pid = readFileSync(file, 'utf8').trim();
    if (/^\d+$/.test(pid) && isAlive(Number(pid))) throw busy(path, pid);
    writeFileSync(file, String(process.pid));
  }
  process.once('exit', () => rmSync(file, { force: true }));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
