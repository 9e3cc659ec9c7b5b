/**
 * Glue between a route and the committer: the Idempotency-Key header, body parsing
 * against a schema, rendering a use case's result as the stored HTTP outcome, and sending
 * an executed, replayed or conflicting run back to the client.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ClientError, type Refusal, type Result } from '../domain/errors.ts';
import type { Outcome, RunResult } from '../committer/committer.ts';
import { idempotencyConflicts, idempotencyReplays } from '../metrics.ts';
import { errorReply } from './errors.ts';
import { writeJson } from './json.ts';

/** 1–255 printable ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

export function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !IDEMPOTENCY_KEY.test(value)) {
    throw new ClientError('VALIDATION', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Validates a body; `undefined` (no body) is validated as `emptyAs`, or refused when that is undefined too. */
export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown, emptyAs?: unknown): z.output<Schema> {
  const input = body === undefined ? emptyAs : body;
  if (input === undefined) throw new ClientError('VALIDATION', 'a JSON request body is required');
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ClientError('VALIDATION', parsed.error.issues.slice(0, 3).map(describeIssue).join('; '));
  }
  return parsed.data;
}

/**
 * A route that takes no body: none, or an empty JSON object. Anything else is refused, a
 * non-empty object too — a field sent to such a route would otherwise be ignored in silence.
 */
export function noBody(body: unknown): void {
  if (body === undefined) return;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0) {
    throw new ClientError('VALIDATION', 'this operation takes no body (or an empty JSON object)');
  }
}

export function refusalOutcome(refusal: Refusal): Outcome {
  return errorReply(refusal.code, refusal.message);
}

/** Renders a result: `success(value)` gives status and body; a refusal its error reply. */
export function render<Value>(result: Result<Value>, success: (value: Value) => Outcome): Outcome {
  return result.ok ? success(result.value) : refusalOutcome(result.refusal);
}

export function noContent(): Outcome {
  return { status: 204, body: null };
}

export function created(data: unknown): Outcome {
  return { status: 201, body: writeJson({ data }) };
}

export function sendRun(reply: FastifyReply, run: RunResult): FastifyReply {
  const route = reply.request.routeOptions.url ?? '';
  if (run.kind === 'conflict') {
    idempotencyConflicts.inc({ route });
    const conflict = errorReply('CONFLICT', run.message);
    return reply.code(conflict.status).type('application/json').send(conflict.body);
  }
  if (run.kind === 'unknown') {
    const unknown = errorReply('SERVICE_UNAVAILABLE', run.message);
    return reply.code(unknown.status).type('application/json').send(unknown.body);
  }
  if (run.kind === 'replayed') {
    idempotencyReplays.inc({ route });
    reply.header('Idempotent-Replayed', 'true').header('Idempotency-Hit', 'true');
  }
  reply.code(run.outcome.status);
  if (run.outcome.body === null) return reply.send();
  return reply.type('application/json').send(run.outcome.body);
}

export function sendData(reply: FastifyReply, data: unknown): FastifyReply {
  return reply.code(200).type('application/json').send(writeJson({ data }));
}

export function sendJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type('application/json').send(writeJson(value));
}

export function notFound(what: string): never {
  throw new ClientError('NOT_FOUND', `${what} not found`);
}
