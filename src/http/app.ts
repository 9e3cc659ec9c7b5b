/**
 * The Fastify app: lossless JSON bodies up to 1 MiB, JSON errors for everything (404 and
 * 415 included), and the Formance Wallets v1 routes served at the root and again under
 * `/api/wallets`, the prefix the official SDK calls.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Database } from '../storage/database.ts';
import type { Limits } from '../domain/limits.ts';
import { BODY_BYTES_MAX } from '../domain/limits.ts';
import { instantFromDate, type Instant } from '../domain/time.ts';
import { createRunner } from '../idempotency/runner.ts';
import { errorReply, replyForConnectionError, replyForError } from './errors.ts';
import { parseJson, unstorableText } from './json.ts';
import { ClientError } from '../domain/errors.ts';
import { buildSchemas } from './schemas.ts';
import type { RouteDeps } from './deps.ts';
import { walletRoutes } from './routes/wallets.ts';
import { balanceRoutes } from './routes/balances.ts';
import { moneyRoutes } from './routes/money.ts';
import { holdRoutes } from './routes/holds.ts';
import { transactionRoutes } from './routes/transactions.ts';
import { systemRoutes } from './routes/system.ts';

export interface AppOptions {
  readonly db: Database;
  readonly ledger: string;
  readonly limits: Limits;
  readonly logger?: FastifyServerOptions['logger'];
  readonly clock?: () => Instant;
  readonly requestTimeoutMs?: number;
  /** Group commit: most commands per transaction, how long a batch waits to fill, and a size observer. */
  readonly batch?: {
    readonly sizeMax?: number;
    readonly waitMs?: number;
    readonly concurrency?: number;
    readonly onBatch?: (size: number) => void;
  };
  readonly keepAliveTimeoutMs?: number;
}

export const API_PREFIX = '/api/wallets';

/**
 * Answers a request Node's HTTP parser refused before Fastify saw it (headers over 16 KiB,
 * a malformed request line or chunk, a timeout) with Coffer's JSON error, then closes the
 * connection, as Fastify's default handler does with its own body shape.
 */
function answerConnectionError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = replyForConnectionError(error.code);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(answer.body)}\r\nConnection: close\r\n\r\n${answer.body}`,
    );
  }
  socket.destroy(error);
}

export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_BYTES_MAX,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 72_000,
    connectionTimeout: 60_000,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 255 },
    clientErrorHandler: answerConnectionError,
    // A URL that does not decode, or a path parameter over maxParamLength: Coffer's JSON error.
    frameworkErrors: (error, _request, reply) => {
      const answer = replyForError(error);
      // The hook's reply is typed per route generic; this one is a plain reply.
      return (reply as FastifyReply).code(answer.status).type('application/json').send(answer.body);
    },
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJson(text));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Path parameters and query strings reach SQL as text: refuse what PostgreSQL cannot store.
  app.addHook('preValidation', async (request) => {
    const problem = unstorableText(request.params) ?? unstorableText(request.query);
    if (problem !== null) throw new ClientError('VALIDATION', `path or query string: ${problem}`);
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = replyForError(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(answer.status).type('application/json').send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const answer = errorReply('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(answer.status).type('application/json').send(answer.body);
  });

  const clock = options.clock ?? (() => instantFromDate(new Date()));
  const deps: RouteDeps = {
    ledger: options.ledger,
    limits: options.limits,
    schemas: buildSchemas(options.limits),
    run: createRunner({
      db: options.db,
      ledger: options.ledger,
      clock,
      batchSizeMax: options.batch?.sizeMax,
      batchWaitMs: options.batch?.waitMs,
      batchConcurrency: options.batch?.concurrency,
      onBatch: options.batch?.onBatch,
    }),
    query: { db: options.db, ledger: options.ledger, clock },
  };

  for (const prefix of ['', API_PREFIX]) {
    app.register(
      async (scope) => {
        systemRoutes(scope, options.db);
        walletRoutes(scope, deps);
        balanceRoutes(scope, deps);
        moneyRoutes(scope, deps);
        holdRoutes(scope, deps);
        transactionRoutes(scope, deps);
      },
      { prefix },
    );
  }
  return app;
}
