/**
 * Webhook endpoints (`admin`): add, list, get, change, remove, rotate the secret, send a
 * test event, see the attempts, replay. Nothing here sends anything: the delivery loop
 * (events/webhooks.ts) does, outside requests.
 */
import type { FastifyInstance } from 'fastify';
import { newUuidV7 } from '../../committer/ids.ts';
import { ClientError } from '../../domain/errors.ts';
import { formatInstant, type Instant } from '../../domain/time.ts';
import { newSecret, targetProblem, type WebhookSettings } from '../../events/webhooks.ts';
import type { Database } from '../../storage/database.ts';
import {
  deleteEndpoint,
  getEndpoint,
  insertEndpoint,
  insertTestDelivery,
  listAttempts,
  listEndpoints,
  replayDeliveries,
  rotateSecret,
  updateEndpoint,
  type Attempt,
  type WebhookEndpoint,
} from '../../storage/webhooks.ts';
import { noBody, notFound, parseBody, sendData } from '../command.ts';
import { writeJson } from '../json.ts';
import { first, parsePageSize, type QueryString } from '../query.ts';
import { route } from '../operations.ts';
import { createWebhookRequest, replayWebhookRequest, updateWebhookRequest } from '../webhook-schemas.ts';

type Params = { Params: { webhookID: string } };

function webhookView(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    description: endpoint.description,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    createdAt: formatInstant(endpoint.createdAt),
  };
}

function attemptView(attempt: Attempt) {
  return {
    id: attempt.id,
    eventId: attempt.eventId,
    attemptedAt: formatInstant(attempt.attemptedAt),
    statusCode: attempt.statusCode === null ? null : BigInt(attempt.statusCode),
    latencyMs: BigInt(attempt.latencyMs),
    error: attempt.error,
    responseBody: attempt.responseBody,
    nextAttemptAt: attempt.nextAttemptAt === null ? null : formatInstant(attempt.nextAttemptAt),
  };
}

function checkTarget(url: string, settings: WebhookSettings): void {
  const problem = targetProblem(url, settings.allowPrivate);
  if (problem !== null) throw new ClientError('VALIDATION', problem);
}

export interface WebhookRouteDeps {
  readonly db: Database;
  readonly ledger: string;
  readonly clock: () => Instant;
  readonly settings: WebhookSettings;
  /** Wakes the delivery loop, idle or not (an endpoint was created or enabled, a test or replay queued). */
  readonly wake: () => void;
}

export function webhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  const { db, ledger, clock, settings } = deps;
  const found = async (id: string): Promise<WebhookEndpoint> => (await getEndpoint(db, ledger, id)) ?? notFound(`webhook ${id}`);

  route(app, 'createWebhook', async (request, reply) => {
    const body = parseBody(createWebhookRequest, request.body);
    checkTarget(body.url, settings);
    const endpoint: WebhookEndpoint = {
      id: newUuidV7(),
      ledger,
      url: body.url,
      eventTypes: [...new Set(body.eventTypes ?? [])],
      description: body.description ?? '',
      secret: newSecret(),
      previousSecret: null,
      previousSecretUntil: null,
      enabled: true,
      disabledReason: null,
      createdAt: clock(),
    };
    await insertEndpoint(db, endpoint);
    deps.wake();
    return reply.code(201).type('application/json').send(writeJson({ data: { ...webhookView(endpoint), secret: endpoint.secret } }));
  });

  route(app, 'listWebhooks', async (_request, reply) => sendData(reply, (await listEndpoints(db, ledger)).map(webhookView)));

  route<Params>(app, 'getWebhook', async (request, reply) => sendData(reply, webhookView(await found(request.params.webhookID))));

  route<Params>(app, 'updateWebhook', async (request, reply) => {
    const body = parseBody(updateWebhookRequest, request.body);
    if (body.url !== undefined) checkTarget(body.url, settings);
    const updated = await updateEndpoint(db, ledger, request.params.webhookID, {
      ...body,
      ...(body.eventTypes !== undefined ? { eventTypes: [...new Set(body.eventTypes)] } : {}),
    }, clock());
    if (updated === null) notFound(`webhook ${request.params.webhookID}`);
    if (body.enabled === true) deps.wake();
    return sendData(reply, webhookView(updated));
  });

  route<Params>(app, 'deleteWebhook', async (request, reply) => {
    if (!(await deleteEndpoint(db, ledger, request.params.webhookID))) notFound(`webhook ${request.params.webhookID}`);
    return reply.code(204).send();
  });

  route<Params>(app, 'rotateWebhookSecret', async (request, reply) => {
    noBody(request.body);
    const rotated = await rotateSecret(db, ledger, request.params.webhookID, newSecret(), clock() + settings.secretGraceMicros);
    if (rotated === null) notFound(`webhook ${request.params.webhookID}`);
    return sendData(reply, { ...webhookView(rotated), secret: rotated.secret });
  });

  route<Params>(app, 'testWebhook', async (request, reply) => {
    noBody(request.body);
    const endpoint = await found(request.params.webhookID);
    const now = clock();
    const eventId = newUuidV7();
    const body = writeJson({
      id: eventId,
      type: 'webhook.test',
      occurredAt: formatInstant(now),
      ledger,
      data: { webhook: { id: endpoint.id, url: endpoint.url } },
      cause: { requestId: request.id, idempotencyKey: null, clientId: request.principal?.clientId ?? null },
    });
    await insertTestDelivery(db, endpoint.id, eventId, body, now);
    deps.wake();
    return reply.code(202).type('application/json').send(writeJson({ data: { eventId } }));
  });

  route<Params & { Querystring: QueryString }>(app, 'listWebhookAttempts', async (request, reply) => {
    const pageSize = parsePageSize(first(request.query, 'pageSize'));
    const endpoint = await found(request.params.webhookID);
    return sendData(reply, (await listAttempts(db, endpoint.id, pageSize, null)).map(attemptView));
  });

  route<Params>(app, 'replayWebhook', async (request, reply) => {
    const body = parseBody(replayWebhookRequest, request.body, {});
    const endpoint = await found(request.params.webhookID);
    const deliveries = await replayDeliveries(db, endpoint, body.after ?? null, body.since ?? null, clock());
    deps.wake();
    return reply.code(202).type('application/json').send(writeJson({ data: { deliveries: BigInt(deliveries) } }));
  });
}
