/** Webhook requests and answers (routes/webhooks.ts): the OpenAPI document's schemas of them. */
import { z } from 'zod';
import { EVENT_TYPES } from '../domain/events.ts';
import { parseInstant } from '../domain/time.ts';
import { integer } from './schemas.ts';

const url = z.string({ error: 'url must be a string' }).min(1, { error: 'url is required' }).max(2048, { error: 'url must be at most 2048 characters' }).meta({ examples: ['https://example.com/coffer'] });
const eventTypes = z.array(z.enum(EVENT_TYPES, { error: `eventTypes must be among ${EVENT_TYPES.join(', ')}` }), { error: 'eventTypes must be an array of event types' }).max(EVENT_TYPES.length * 2);
const description = z.string({ error: 'description must be a string' }).max(1000, { error: 'description must be at most 1000 characters' });

export const createWebhookRequest = z.strictObject({
  url,
  eventTypes: eventTypes.optional().meta({ description: 'Only these types; absent or empty = every type' }),
  description: description.optional(),
}).meta({ examples: [{ url: 'https://example.com/coffer', eventTypes: ['wallet.debited', 'hold.confirmed'], description: 'fulfilment' }] });

export const updateWebhookRequest = z.strictObject({
  url: url.optional(),
  eventTypes: eventTypes.optional(),
  description: description.optional(),
  enabled: z.boolean({ error: 'enabled must be true or false' }).optional().meta({ description: 'false pauses deliveries (they wait); true resumes them and clears a disabled endpoint' }),
}).meta({ examples: [{ enabled: true }, { eventTypes: [] }] });

const since = z
  .string({ error: 'since must be an RFC 3339 date-time string' })
  .meta({ format: 'date-time' })
  .transform((text, context) => {
    const instant = text.length <= 64 ? parseInstant(text) : null;
    if (instant === null) {
      context.addIssue({ code: 'custom', message: `since must be an RFC 3339 date-time, got ${JSON.stringify(text.slice(0, 64))}` });
      return z.NEVER;
    }
    return instant;
  });

export const replayWebhookRequest = z.strictObject({
  after: integer('after', 0n, (1n << 63n) - 1n, 'int64').optional().meta({ description: 'Events after this feed position' }),
  since: since.optional().meta({ description: 'Events that occurred at or after this instant' }),
}).meta({ examples: [{ after: 0 }, { since: '2030-01-01T00:00:00Z' }] });

const dateTime = z.string().meta({ format: 'date-time' });

export const webhookResponse = z.strictObject({
  id: z.string(),
  url: z.string(),
  eventTypes: z.array(z.enum(EVENT_TYPES)),
  description: z.string(),
  enabled: z.boolean(),
  disabledReason: z.string().nullable().meta({ description: 'Why Coffer disabled it; null while enabled or paused by you' }),
  createdAt: dateTime,
});

export const webhookWithSecretResponse = webhookResponse.extend({
  secret: z.string().meta({ description: 'whsec_<base64>: verify signatures with it (Standard Webhooks); shown only when created or rotated' }),
});

export const webhookAttemptResponse = z.strictObject({
  id: integer('id', 1n, (1n << 63n) - 1n, 'int64'),
  eventId: z.string(),
  attemptedAt: dateTime,
  statusCode: integer('statusCode', 0n, 999n, 'int64').nullable().meta({ description: 'null when there was no answer' }),
  latencyMs: integer('latencyMs', 0n, (1n << 63n) - 1n, 'int64'),
  error: z.string().nullable(),
  responseBody: z.string().nullable().meta({ description: 'The first 1024 characters of the answer' }),
  nextAttemptAt: dateTime.nullable().meta({ description: 'When it is retried; null once delivered or given up' }),
});

export const webhookTestResponse = z.strictObject({ eventId: z.string() });
export const webhookReplayResponse = z.strictObject({ deliveries: integer('deliveries', 0n, (1n << 63n) - 1n, 'int64') });
