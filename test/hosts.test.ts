/**
 * A DATABASE_URL naming several servers (libpq's host list): how it is read, which values are
 * refused (exit 2 at start, nothing opened), and — against this machine's PostgreSQL, with a
 * dead server listed first — that Coffer skips a server that does not answer and serves from
 * the one that takes writes; with none answering, the start fails as unreachable (exit 3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/domain/errors.ts';
import { failoverLossRisk, parseHosts } from '../src/storage/hosts.ts';
import { DatabaseUnreachable, openDatabase } from '../src/storage/open.ts';
import { freshPostgresDatabase, postgresSkipped } from './support/harness.ts';
import { freePort, startServer } from './support/server-process.ts';

describe('DATABASE_URL with several servers', () => {
  it('is split into one URL per server, in order, without target_session_attrs; one server is checked only when asked', () => {
    assert.deepEqual(parseHosts('postgres://u:p%40ss@h1:5432,h2:5433,[::1]:5434/db?target_session_attrs=read-write&sslmode=disable'), {
      urls: [
        'postgres://u:p%40ss@h1:5432/db?sslmode=disable&uselibpqcompat=true',
        'postgres://u:p%40ss@h2:5433/db?sslmode=disable&uselibpqcompat=true',
        'postgres://u:p%40ss@[::1]:5434/db?sslmode=disable&uselibpqcompat=true',
      ],
      primaryOnly: true,
    });
    assert.deepEqual(parseHosts('postgresql://h1,h2/db'), { urls: ['postgresql://h1/db', 'postgresql://h2/db'], primaryOnly: true });
    assert.deepEqual(parseHosts('postgres://u@h1:5432/db'), { urls: ['postgres://u@h1:5432/db'], primaryOnly: false });
    assert.deepEqual(parseHosts('postgres://u@h1:5432/db?target_session_attrs=primary'), { urls: ['postgres://u@h1:5432/db'], primaryOnly: true });
    // Unix sockets, as node-postgres reads them, pass unchanged.
    assert.deepEqual(parseHosts('postgres:///coffer'), { urls: ['postgres:///coffer'], primaryOnly: false });
    assert.deepEqual(parseHosts('postgres://coffer@/coffer?host=%2Fvar%2Frun%2Fpostgresql'), { urls: ['postgres://coffer@/coffer?host=%2Fvar%2Frun%2Fpostgresql'], primaryOnly: false });
  });

  it("pg_auto_failover's `pg_autoctl show uri` (sslmode=require, no user) → sslmode read as libpq reads it; an explicit uselibpqcompat is kept", () => {
    assert.deepEqual(parseHosts('postgres://127.0.0.1:45589,127.0.0.1:42085/postgres?target_session_attrs=read-write&sslmode=require'), {
      urls: ['postgres://127.0.0.1:45589/postgres?sslmode=require&uselibpqcompat=true', 'postgres://127.0.0.1:42085/postgres?sslmode=require&uselibpqcompat=true'],
      primaryOnly: true,
    });
    assert.deepEqual(parseHosts('postgres://u@h1/db?sslmode=verify-full&uselibpqcompat=false'), { urls: ['postgres://u@h1/db?sslmode=verify-full&uselibpqcompat=false'], primaryOnly: false });
  });

  it('a standby-only target, an empty or unreadable host list → ConfigError naming DATABASE_URL', () => {
    for (const [url, message] of [
      ['postgres://h1,h2/db?target_session_attrs=standby', /target_session_attrs must be read-write, primary or any/],
      ['postgres://h1,h2/db?target_session_attrs=read-only', /target_session_attrs/],
      ['postgres://h1,,h2/db', /host list it cannot read/],
      ['postgres://h1:54x32,h2/db', /host list it cannot read/],
      ['postgres://h1:5432:1/db', /host list it cannot read/],
      ['postgres://h1,/db', /host list it cannot read/],
      ['postgres://h1/db?options=-c%20search_path%3Dpublic', /must not carry options=/],
    ] as const) {
      assert.throws(() => parseHosts(url), (error: unknown) => error instanceof ConfigError && message.test(error.message) && /DATABASE_URL/.test(error.message), url);
    }
  });

  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    it('a dead server listed first → skipped, the writable one serves; none answering → DatabaseUnreachable naming every server', async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      const dead = await freePort();
      try {
        const live = new URL(fresh.url);
        const url = `postgres://${live.username}@127.0.0.1:${dead},${live.host}${live.pathname}?target_session_attrs=read-write`;
        const db = await openDatabase({ databaseUrl: url, dataDir: '', poolSize: 2, statementTimeoutMs: 5_000 });
        try {
          const [row] = await db.query<{ port: number }>("SELECT current_setting('port')::int AS port");
          assert.equal(row?.port, Number(live.port || 5432));
        } finally {
          await db.close();
        }
        const other = await freePort();
        await assert.rejects(
          openDatabase({ databaseUrl: `postgres://u@127.0.0.1:${dead},127.0.0.1:${other}/db`, dataDir: '', poolSize: 1, statementTimeoutMs: 5_000 }),
          (error: unknown) => error instanceof DatabaseUnreachable && error.message.includes(`127.0.0.1:${dead},127.0.0.1:${other}/db`) && /no server in DATABASE_URL is a writable primary/.test(error.message),
        );
      } finally {
        await fresh.drop();
      }
    });
    it('a host list whose primary has no synchronous standby → a start-up warning that a failover can lose acknowledged writes; one server → no warning', { timeout: 120_000 }, async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const db = await openDatabase({ databaseUrl: fresh.url, dataDir: '', poolSize: 1, statementTimeoutMs: 5_000 });
        try {
          const [row] = await db.query<{ standbys: string }>("SELECT current_setting('synchronous_standby_names') AS standbys");
          assert.equal(row?.standbys, '', 'this test needs a server without a synchronous standby');
          assert.match((await failoverLossRisk(db)) ?? '', /synchronous_standby_names is empty/);
        } finally {
          await db.close();
        }
        const live = new URL(fresh.url);
        const list = `postgres://${live.username}@${live.host},${live.host}${live.pathname}`;
        for (const [url, warned] of [[list, true], [fresh.url, false]] as const) {
          const log: string[] = [];
          const server = await startServer({ DATABASE_URL: url, LOG_LEVEL: 'info' }, 60_000, ['--import', 'tsx', 'src/cli/index.ts', 'serve'], [], log);
          await server.kill('SIGTERM');
          const warning = log.find((line) => line.includes('"failover":"unsafe"'));
          assert.equal(warning !== undefined, warned, log.join('\n'));
          if (warned) assert.match(warning!, /synchronous_standby_names is empty.*can be lost on the promoted standby/);
        }
      } finally {
        await fresh.drop();
      }
    });
  } else {
    postgresSkipped('a dead server listed first → skipped, the writable one serves');
    postgresSkipped('a host list whose primary has no synchronous standby → a start-up warning');
  }
});
