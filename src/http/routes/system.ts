/** `/_healthcheck` (200 only while the database answers), `/_info`, and `/_backup` (the embedded database, for `coffer backup --live`). */
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import type { Database } from '../../storage/database.ts';
import { errorReply } from '../errors.ts';
import { sendJson } from '../command.ts';
import { route } from '../operations.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** How long the health probe waits for the database before calling it down. */
const HEALTH_TIMEOUT_MS = 2_000;

async function databaseAnswers(db: Database): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([db.query('SELECT 1').then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function systemRoutes(app: FastifyInstance, db: Database): void {
  route(app, 'getHealth', async (_request, reply) => {
    if (await databaseAnswers(db)) return sendJson(reply, { status: 'ok' });
    const down = errorReply('SERVICE_UNAVAILABLE', 'the database is not answering');
    return reply.code(down.status).type('application/json').send(down.body);
  });

  route(app, 'getServerInfo', async (_request, reply) => sendJson(reply, { version: VERSION }));
}

/** `/_backup`, at the root only (an admin route, not part of the wallets API). */
export function backupRoutes(app: FastifyInstance, db: Database): void {
  route(app, 'getBackup', async (_request, reply) => {
    if (db.dumpDataDir === undefined) {
      const missing = errorReply('NOT_FOUND', 'this server runs on PostgreSQL: back it up with pg_dump or a base backup (docs/deployment.md#backup-and-restore)');
      return reply.code(missing.status).type('application/json').send(missing.body);
    }
    const archive = await db.dumpDataDir();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="coffer-backup-${stamp}.tar.gz"`)
      .header('cache-control', 'no-store')
      .send(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength));
  });
}
