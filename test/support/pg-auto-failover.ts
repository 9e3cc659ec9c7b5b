/**
 * A throwaway pg_auto_failover formation for failover tests (Debian's
 * `postgresql-15-auto-failover`): a monitor and two Postgres nodes on free local ports, each
 * under its own `pg_autoctl` supervisor, made with `--ssl-self-signed --auth trust`. The
 * monitor makes the second node the first's synchronous standby (`synchronous_standby_names =
 * 'ANY 1 (pgautofailover_standby_2)'`, `synchronous_commit = on`) and, when the primary fails
 * its health checks, promotes it. Coffer's DATABASE_URL is the monitor's own answer to
 * `pg_autoctl show uri --formation default` (both nodes, `target_session_attrs=read-write`).
 *
 * The monitor's health checks are shortened (its `pgautofailover.*` settings, defaults in the
 * comments below) so that a lost primary is noticed in a few seconds, not ~30.
 *
 * As root the programs run as `postgres` (initdb refuses root). `XDG_*` point into the
 * temporary folder so that pg_autoctl's own state files stay there too. Only this formation's
 * processes are ever signalled: each node's supervisor, its children and its postmaster share
 * one process group, found from the node's postmaster.pid.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './pg-cluster.ts';
import { freePort } from './server-process.ts';

/** The monitor's health-check settings for the test (pg_auto_failover 2.0's defaults after each). */
const MONITOR_SETTINGS: Record<string, number> = {
  'pgautofailover.health_check_period': 1_000, // 5000 ms
  'pgautofailover.health_check_timeout': 1_000, // 5000 ms
  'pgautofailover.health_check_max_retries': 1, // 2
  'pgautofailover.health_check_retry_delay': 500, // 2000 ms
  'pgautofailover.node_considered_unhealthy_timeout': 2_000, // 20000 ms
  // How long the monitor waits for an unreachable primary to demote itself before promoting
  // the standby. In production it must exceed the keeper's timeout.network_partition_timeout
  // (20 s), after which a primary cut off from the monitor and its standby demotes itself:
  // otherwise two primaries may run for a moment (neither can acknowledge a commit without
  // the synchronous standby, but still). The test kills the whole node, keeper included.
  // 5 s, not 1 like the rest: the window without a primary must outlast the test's checks
  // of it (20 answers 503, then each server's health and a write) on a slow machine.
  'pgautofailover.primary_demote_timeout': 5_000, // 30000 ms
};

export interface AutoFailoverFormation {
  /** `pg_autoctl show uri --formation default`: both nodes, primary first, as Coffer's DATABASE_URL. */
  readonly url: string;
  /** Node names in the monitor's order (node1 is the first primary). */
  readonly nodes: readonly string[];
  /** The node the monitor reports as primary now, or undefined while there is none. */
  primary(): Promise<string | undefined>;
  /**
   * Loses the primary node: SIGKILL to its `pg_autoctl run` supervisor, the keeper under it
   * and its postmaster at once (the keeper would restart a postmaster killed alone).
   */
  killNode(name: string): void;
  /** `pg_autoctl show state`, for failure messages. */
  state(): Promise<string>;
  destroy(): Promise<void>;
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export async function startAutoFailover(): Promise<AutoFailoverFormation> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-paf-'));
  const root = process.getuid?.() === 0;
  if (root) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  const env = { XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'share'), XDG_RUNTIME_DIR: join(dir, 'run') };
  const envPrefix = `env ${Object.entries(env).map(([name, value]) => `${name}=${shellQuote(value)}`).join(' ')}`;
  const command = (args: string[]) => `${envPrefix} pg_autoctl ${args.map(shellQuote).join(' ')}`;
  /** Runs `pg_autoctl args` to its end; its output. */
  const autoctl = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const line = command(args);
      const child = root ? spawn('su', ['postgres', '-c', line]) : spawn('sh', ['-c', line]);
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (out += chunk));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pg_autoctl ${args.join(' ')} exited ${code}:\n${out}`))));
    });
  /** Starts `pg_autoctl args` for good (a supervisor), its output in `log`. */
  const background = (args: string[], log: string) => {
    const fd = openSync(join(dir, log), 'a');
    const line = `exec ${command(args)}`;
    const child = root ? spawn('su', ['postgres', '-c', line], { stdio: ['ignore', fd, fd], detached: true }) : spawn('sh', ['-c', line], { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
  };

  const data = (name: string) => join(dir, name);
  const groupOf = (name: string): number | undefined => {
    const pidFile = join(data(name), 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      return Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)]).toString().trim()) || undefined;
    } catch {
      return undefined; // that postmaster is gone
    }
  };
  const killGroup = (name: string) => {
    const group = groupOf(name);
    if (group === undefined || group <= 1) return;
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const names = ['monitor', 'node1', 'node2'];
  const onExit = () => names.forEach(killGroup);
  process.on('exit', onExit);

  const [monitorPort, port1, port2] = [await freePort(), await freePort(), await freePort()];
  const pgctl = join(BIN, 'pg_ctl');
  const common = ['--hostname', '127.0.0.1', '--auth', 'trust', '--ssl-self-signed', '--pgctl', pgctl];
  await autoctl(['create', 'monitor', '--pgdata', data('monitor'), '--pgport', String(monitorPort), ...common]);
  background(['run', '--pgdata', data('monitor')], 'monitor.log');
  const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=require`;
  const { default: pgDriver } = await import('pg');
  const monitorQuery = async <T extends object>(sql: string): Promise<T[]> => {
    // The monitor's own superuser over its self-signed TLS (libpq's sslmode=require: encrypted, not verified).
    const client = new pgDriver.Client({ connectionString: `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=require&uselibpqcompat=true` });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };
  await until('the monitor to accept connections', async () => {
    try {
      await monitorQuery('SELECT 1');
      return true;
    } catch {
      return false;
    }
  });
  for (const [name, value] of Object.entries(MONITOR_SETTINGS)) await monitorQuery(`ALTER SYSTEM SET ${name} = ${value}`);
  await monitorQuery('SELECT pg_reload_conf()');

  const states = () =>
    monitorQuery<{ nodename: string; reportedstate: string; goalstate: string }>("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node WHERE formationid = 'default' ORDER BY nodeid");
  const formation: AutoFailoverFormation = {
    url: '',
    nodes: ['node1', 'node2'],
    async primary() {
      const rows = await states();
      return rows.find((row) => row.reportedstate === row.goalstate && ['primary', 'wait_primary', 'single'].includes(row.reportedstate))?.nodename;
    },
    killNode: killGroup,
    state: () => autoctl(['show', 'state', '--pgdata', data('monitor')]),
    async destroy() {
      onExit();
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const [index, port] of [port1, port2].entries()) {
      const name = `node${index + 1}`;
      // --listen: the nodes only on the loopback (pg_autoctl's default is '*'; its pg_hba rules trust 127.0.0.1 only).
      background(['create', 'postgres', '--pgdata', data(name), '--pgport', String(port), '--listen', '127.0.0.1', '--name', name, '--monitor', monitorUrl, ...common, '--run'], `${name}.log`);
      const goal = index === 0 ? 'single' : 'secondary';
      await until(`${name} to be ${goal}`, async () => (await states()).some((row) => row.nodename === name && row.reportedstate === goal && row.goalstate === goal), 60_000);
    }
    await until('node1 primary with node2 its synchronous standby', async () => {
      const rows = await states();
      return rows[0]?.reportedstate === 'primary' && rows[1]?.reportedstate === 'secondary';
    });
    const uri = (await autoctl(['show', 'uri', '--pgdata', data('monitor'), '--formation', 'default'])).trim();
    return { ...formation, url: uri };
  } catch (error) {
    const state = await formation.state().catch(() => '(no state)');
    await formation.destroy();
    throw new Error(`${(error as Error).message}\n${state}`);
  }
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
