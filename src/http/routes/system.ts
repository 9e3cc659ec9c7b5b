/** `/_healthcheck` (200 only while the database answers) and `/_info`. */
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
