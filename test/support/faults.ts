/**
 * Faults at the moment that decides whether money moved twice: the database committed, and
 * the committer never learned it. Two ways to get there, both over a real database:
 *
 * - `lostCommitAnswers` wraps a Database so that an armed transaction commits for real and
 *   then throws, as a driver does when COMMIT's answer is lost (both backends).
 * - `commitCuttingProxy` sits between node-postgres and a PostgreSQL server and, when armed,
 *   forwards the next COMMIT to the server and then cuts the client's connection before the
 *   answer can come back: the server commits, the client sees its connection terminated.
 */
import net from 'node:net';
import type { Database } from '../../src/storage/database.ts';

export interface FaultyDatabase extends Database {
  /** The next `count` transactions commit and then throw. */
  arm(count?: number): void;
  /** Transactions that committed and then threw. */
  readonly lost: number;
}

export function lostCommitAnswers(db: Database): FaultyDatabase {
  let armed = 0;
  let lost = 0;
  return {
    ...db,
    kind: db.kind,
    arm(count = 1) {
      armed += count;
    },
    get lost() {
      return lost;
    },
    async transaction(body) {
      const fault = armed > 0;
      if (fault) armed -= 1;
      const result = await db.transaction(body);
      if (!fault) return result;
      lost += 1;
      throw new Error('Connection terminated unexpectedly');
    },
    snapshot: (body) => db.snapshot(body),
    poolStats: () => db.poolStats(),
    close: () => db.close(),
    query: (sql, params) => db.query(sql, params),
    exec: (sql) => db.exec(sql),
  };
}

export interface CommitCuttingProxy {
  /** postgres:// URL through the proxy, to the given database. */
  url(database: string): string;
  /**
   * The next `count` COMMITs reach the server, and their connections are cut before the
   * answer; with `panic`, the client is first told the server PANICked (as PostgreSQL does
   * when the WAL flush of a commit fails, after the commit record was written).
   */
  arm(count?: number, how?: 'cut' | 'panic'): void;
  /** COMMITs whose answer was cut off. */
  readonly cut: number;
  close(): Promise<void>;
}

/** A simple-protocol Query message carrying exactly `COMMIT`: 'Q', int32 length, text, NUL. */
function isCommit(chunk: Buffer): boolean {
  const text = Buffer.from('COMMIT\0');
  for (let at = chunk.indexOf('Q'); at !== -1 && at + 5 + text.length <= chunk.length; at = chunk.indexOf('Q', at + 1)) {
    if (chunk.readInt32BE(at + 1) === 4 + text.length && chunk.subarray(at + 5, at + 5 + text.length).equals(text)) return true;
  }
  return false;
}

/** A backend ErrorResponse message: 'E', int32 length, (field type, text, NUL)…, NUL. */
function errorResponse(fields: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(fields).map(([type, text]) => Buffer.from(`${type}${text}\0`)), Buffer.from([0])]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

const PANIC = errorResponse({ S: 'PANIC', V: 'PANIC', C: '58030', M: 'could not fsync file "pg_wal/000000010000000000000001": Input/output error' });

export async function commitCuttingProxy(target: { host: string; port: number }): Promise<CommitCuttingProxy> {
  let armed = 0;
  let how: 'cut' | 'panic' = 'cut';
  let cut = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (armed > 0 && isCommit(chunk)) {
        armed -= 1;
        cut += 1;
        // Stop answering the client at once; give the server time to commit, then cut it.
        upstream.removeAllListeners('data');
        upstream.write(chunk);
        const panic = how === 'panic';
        setTimeout(() => {
          if (panic) client.write(PANIC);
          setTimeout(end, 50);
        }, 200);
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    arm(count = 1, kind: 'cut' | 'panic' = 'cut') {
      armed += count;
      how = kind;
    },
    get cut() {
      return cut;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
