/**
 * A throwaway primary with a synchronous standby, for failover tests: initdb, the primary
 * started with `synchronous_standby_names = standby1` (on its command line, so that the
 * standby's copy of postgresql.conf does not name a standby of its own once promoted: it would
 * then wait forever on every commit), `pg_basebackup` for the standby, which streams as
 * `standby1`. A commit is acknowledged only once the standby has flushed it. The test kills
 * the primary's postmaster (SIGKILL) and promotes the standby with `pg_ctl promote`, what a
 * failover manager (pg_auto_failover, Patroni) does after its health checks. As root, the
 * server programs run as `postgres`; only these two clusters are ever stopped, by folder.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pg, pgSync } from './pg-cluster.ts';
import { freePort } from './server-process.ts';

export interface ReplicatedCluster {
  /** Both servers, primary first, libpq-style, as Coffer's DATABASE_URL. */
  readonly url: string;
  readonly primaryUrl: string;
  readonly standbyUrl: string;
  /** SIGKILL to the primary's postmaster: a crash, its backends die with it. */
  killPrimary(): void;
  /** `pg_ctl promote -w`: the standby becomes a primary (with no synchronous standby of its own). */
  promoteStandby(): Promise<void>;
  /** A fast stop of the standby: the primary's commits then wait for it. */
  stopStandby(): Promise<void>;
  /** The standby started again; it catches up, and the primary's waiting commits return. */
  startStandby(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startReplicatedCluster(): Promise<ReplicatedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-pgrep-'));
  const asPostgres = (path: string) => {
    if (process.getuid?.() !== 0) return;
    chownSync(path, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  };
  asPostgres(dir);
  const primary = join(dir, 'primary');
  const standby = join(dir, 'standby');
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const running = new Set<string>();
  const onExit = () => {
    for (const data of running) {
      try {
        pgSync('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', onExit);
  const start = async (data: string, port: number, extra: string) => {
    await pg('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on ${extra}`, '-l', join(dir, `${port}.log`), '-w', '-t', '60', 'start']);
    running.add(data);
  };

  await pg('initdb', ['-D', primary, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  await start(primary, primaryPort, '-c synchronous_standby_names=standby1 -c synchronous_commit=on -c wal_level=replica -c max_wal_senders=4');
  await pg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standby, '-X', 'stream', '--no-sync']);
  // standby.signal and where to stream from, under the name the primary waits for.
  writeFileSync(join(standby, 'standby.signal'), '');
  asPostgres(join(standby, 'standby.signal'));
  appendFileSync(join(standby, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=standby1'\n`);
  await start(standby, standbyPort, '-c hot_standby=on');

  const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
  const standbyUrl = `postgres://postgres@127.0.0.1:${standbyPort}/postgres`;
  await waitForSyncStandby(primaryPort);
  return {
    url: `postgres://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/postgres?target_session_attrs=read-write`,
    primaryUrl,
    standbyUrl,
    killPrimary() {
      const pid = Number(readFileSync(join(primary, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      running.delete(primary);
    },
    async promoteStandby() {
      await pg('pg_ctl', ['-D', standby, '-w', '-t', '60', 'promote']);
    },
    async stopStandby() {
      await pg('pg_ctl', ['-D', standby, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running.delete(standby);
    },
    async startStandby() {
      await start(standby, standbyPort, '-c hot_standby=on');
    },
    async destroy() {
      onExit();
      running.clear();
      process.off('exit', onExit);
      // The killed primary's backends end by themselves once they see their postmaster gone.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Until the primary reports its standby streaming as the synchronous one. */
async function waitForSyncStandby(port: number): Promise<void> {
  const { default: pgDriver } = await import('pg');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pgDriver.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    try {
      const { rows } = await client.query<{ sync_state: string }>("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'");
      if (rows[0]?.sync_state === 'sync') return;
    } finally {
      await client.end();
    }
    if (Date.now() > deadline) throw new Error('the standby did not become the synchronous standby within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
