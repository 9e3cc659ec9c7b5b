/**
 * A PostgreSQL URL that names several servers, as libpq reads it:
 * `postgres://user@h1:5432,h2:5432/db?target_session_attrs=read-write`. node-postgres (8.x)
 * takes one host only (its URL parser refuses the list), so this file splits the list into
 * one URL per server, in order, and `findPrimary` asks each in turn whether it takes writes —
 * what libpq does for `target_session_attrs=read-write`: the first server that answers and is
 * neither in recovery nor read-only is the primary. The pool over it is in database.ts.
 *
 * In a host list, `sslmode` is read as libpq reads it, since the list is libpq's (pg_auto_failover's
 * `pg_autoctl show uri` gives `sslmode=require` for its self-signed certificates): node-postgres
 * 8.x otherwise takes `prefer`, `require` and `verify-ca` as `verify-full` and refuses a server
 * whose certificate no CA vouches for. Each URL split from a list gets node-postgres's
 * `uselibpqcompat=true` unless it says otherwise: `require` encrypts without verifying,
 * `verify-full` (with `sslrootcert`) verifies. node-postgres cannot fall back to plain text,
 * so `prefer` and `allow` still need a server with TLS.
 */
import pg from 'pg';
import { ConfigError } from '../domain/errors.ts';
import type { Queryable } from './database.ts';

export interface HostList {
  /** One single-host URL per server, in the order given, without target_session_attrs. */
  readonly urls: readonly string[];
  /** Whether a server must be proven writable before Coffer uses it. */
  readonly primaryOnly: boolean;
}

/** libpq's values that Coffer can work with: it writes, so never a standby. */
const TARGET_SESSION_ATTRS = new Set(['any', 'read-write', 'primary']);

/**
 * Splits `url`. With more than one server Coffer always looks for the writable one (as
 * `target_session_attrs=read-write` would), whatever the URL says: a standby cannot serve it.
 * With one server it checks only when the URL asks (`read-write` or `primary`).
 */
export function parseHosts(url: string): HostList {
  const match = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)([^?#]*)(\?[^#]*)?$/.exec(url);
  if (match === null) throw new ConfigError('DATABASE_URL is not a URL of the form postgres://user@host:port[,host:port…]/database');
  const [, scheme, userinfo = '', hostText = '', path = '', queryText = ''] = match;
  const query = new URLSearchParams(queryText.slice(1));
  const attrs = query.get('target_session_attrs') ?? 'any';
  if (!TARGET_SESSION_ATTRS.has(attrs)) {
    throw new ConfigError(`DATABASE_URL's target_session_attrs must be read-write, primary or any (Coffer writes: never a standby), got ${JSON.stringify(attrs)}`);
  }
  if (query.has('options')) {
    throw new ConfigError('DATABASE_URL must not carry options=: Coffer sets its own session options (search_path to DATABASE_SCHEMA, plan_cache_mode), which the URL would replace');
  }
  query.delete('target_session_attrs');
  const hosts = hostText.split(',');
  // Only for a host list, which Coffer never took before: a single-host URL keeps
  // node-postgres's stricter reading of `sslmode`, so no existing setting verifies less.
  if (hosts.length > 1 && query.has('sslmode') && !query.has('uselibpqcompat')) query.set('uselibpqcompat', 'true');
  // An empty host is allowed alone: a Unix socket (`postgres:///db`, `postgres://u@/db?host=/run/postgresql`).
  if (hosts.some((host) => !/^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/.test(host) && !(host === '' && hosts.length === 1))) {
    throw new ConfigError('DATABASE_URL names a host list it cannot read: each entry is host or host:port, comma-separated');
  }
  const params = query.toString();
  const rest = `${path}${params !== '' ? `?${params}` : ''}`;
  return { urls: hosts.map((host) => `${scheme}${userinfo}${host}${rest}`), primaryOnly: hosts.length > 1 || attrs !== 'any' };
}

/** host:port of a single-host URL, for messages (never its password). */
export function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** PostgreSQL's answers that mean the URL itself is wrong (no such database, login refused): every server will say the same. */
const BAD_SETTING_CODES = new Set(['3D000', '28000', '28P01']);

/** How long `findPrimary` waits for one server to answer before trying the next. */
const PROBE_TIMEOUT_MS = 2_000;

/** No server of the list is a writable primary now (all down, or standbys waiting for a promotion). */
export class NoPrimary extends Error {
  /** SQLSTATE "cannot establish connection": callers that tell an outage by its code see one. */
  readonly code = '08001';
  constructor(reasons: readonly string[]) {
    super(`no server in DATABASE_URL is a writable primary now: ${reasons.join('; ')}`);
    this.name = 'NoPrimary';
  }
}

/**
 * The index of the first server in `urls` that takes writes. A server that refuses the login
 * or has no such database ends the search with that error (the setting is wrong, not the
 * server); one that is down, in recovery or read-only is skipped.
 */
export async function findPrimary(urls: readonly string[]): Promise<number> {
  const reasons: string[] = [];
  for (const [index, url] of urls.entries()) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
    client.on('error', () => {});
    try {
      await client.connect();
      const [row] = (
        await client.query<{ recovery: boolean; read_only: string }>("SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only")
      ).rows;
      if (row?.recovery === false && row.read_only === 'off') return index;
      reasons.push(`${hostOf(url)} ${row?.recovery ? 'is a standby (in recovery)' : 'is read-only'}`);
    } catch (error) {
      if (BAD_SETTING_CODES.has(String((error as { code?: unknown }).code))) throw error;
      reasons.push(`${hostOf(url)} ${(error as Error).message || String((error as { code?: unknown }).code)}`);
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new NoPrimary(reasons);
}

/**
 * Why a write this primary acknowledges could be lost when a standby is promoted, or null
 * when it cannot: the primary must wait for a synchronous standby before it answers COMMIT
 * (`synchronous_standby_names` set, `synchronous_commit` on, remote_write or remote_apply).
 * Coffer does not change either; with a host list (failover) it says so at start-up
 * (docs/deployment.md, Failover).
 */
export async function failoverLossRisk(db: Queryable): Promise<string | null> {
  const [row] = await db.query<{ standbys: string; commit: string }>(
    "SELECT current_setting('synchronous_standby_names') AS standbys, current_setting('synchronous_commit') AS commit",
  );
  if (row === undefined) return null;
  if (row.standbys.trim() === '') return 'synchronous_standby_names is empty: the primary acknowledges COMMIT before any standby has the write';
  if (row.commit === 'off' || row.commit === 'local') return `synchronous_commit is ${row.commit}: the primary acknowledges COMMIT without waiting for its synchronous standby`;
  return null;
}
