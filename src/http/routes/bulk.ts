/**
 * `POST /bulk`: up to 1,000 mutations in one request. Each operation becomes the very
 * `Command` its single route builds (commands.ts) and runs through the committer
 * (committer/sequence.ts): atomic in one transaction, or each on its own in the group-commit
 * queue. Its answer item is what the single route would have answered: the status and the
 * body's `data`, or its `errorCode` and `errorMessage`.
 *
 * Keys. An operation's `ik` is its Idempotency-Key, stored and replayed as the single
 * route's. The request's own Idempotency-Key R is stored as one more record (operation
 * `bulk`, fingerprint of the whole request), claimed before the operations — in their
 * transaction when atomic, in a transaction of its own before them when not — and every
 * operation without an `ik` runs under a key derived from R and its position (R, U+001E, the
 * index: no client key can contain U+001E). A retry with R thus replays each operation's
 * stored answer (or runs it, if the first attempt stopped before it) and so the whole answer;
 * R with a different request is 409 CONFLICT and runs nothing.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ClientError, ok } from '../../domain/errors.ts';
import type { Principal } from '../../domain/principal.ts';
import type { Command, RunResult } from '../../committer/committer.ts';
import { refusedAnswer, runEach, type FailedItem, type NotRunItem, type SequenceItem } from '../../committer/sequence.ts';
import { fingerprint } from '../../idempotency/fingerprint.ts';
import { idempotencyKey, parseBody, sendRun } from '../command.ts';
import { COMMANDS, type BulkOperation } from '../commands.ts';
import type { RouteDeps } from '../deps.ts';
import { errorReply, replyForError } from '../errors.ts';
import { route } from '../operations.ts';
import type { BulkAction } from '../schemas.ts';

/** Each action: the single route's operation, and which path parameter `data` carries. */
const ACTIONS: Record<BulkAction, { readonly operation: BulkOperation; readonly param: 'walletID' | 'holdID' | null }> = {
  CREATE_WALLET: { operation: 'createWallet', param: null },
  UPDATE_WALLET: { operation: 'updateWallet', param: 'walletID' },
  CREATE_BALANCE: { operation: 'createBalance', param: 'walletID' },
  CREDIT_WALLET: { operation: 'creditWallet', param: 'walletID' },
  DEBIT_WALLET: { operation: 'debitWallet', param: 'walletID' },
  CONFIRM_HOLD: { operation: 'confirmHold', param: 'holdID' },
  VOID_HOLD: { operation: 'voidHold', param: 'holdID' },
};

/** Separates a request's Idempotency-Key from an operation's index in derived keys; printable keys never contain it. */
const DERIVED_KEY_SEPARATOR = '\u001e';

interface RawOperation {
  readonly action: BulkAction;
  readonly ik?: string;
  readonly data?: Record<string, unknown>;
}

/** An operation parsed into its command, or the 400 its single route would have answered. */
type Parsed =
  | { readonly action: BulkAction; readonly key: string | undefined; readonly item: SequenceItem }
  | { readonly action: BulkAction; readonly invalid: ClientError; readonly data: unknown };

/** An answer item's JSON text: action and status, then the single route's body fields, byte for byte. */
function itemText(action: string, status: number, body: string | null): string {
  const head = `{"action":${JSON.stringify(action)},"status":${status}`;
  return body === null || body === '{}' ? `${head}}` : `${head},${body.slice(1)}`;
}

function answerText(action: string, answer: RunResult | FailedItem | NotRunItem): string {
  switch (answer.kind) {
    case 'executed':
    case 'replayed':
      return itemText(action, answer.outcome.status, answer.outcome.body);
    case 'conflict': {
      const reply = errorReply('CONFLICT', answer.message);
      return itemText(action, reply.status, reply.body);
    }
    case 'unknown': {
      const reply = errorReply('SERVICE_UNAVAILABLE', answer.message);
      return itemText(action, reply.status, reply.body);
    }
    case 'failed': {
      const reply = replyForError(answer.error);
      return itemText(action, reply.status, reply.body);
    }
    case 'notRun': {
      const reply = errorReply('SERVICE_UNAVAILABLE', 'not run: an earlier operation failed or its outcome is unknown; retry the request with the same Idempotency-Key');
      return itemText(action, reply.status, reply.body);
    }
  }
}

function invalidText(parsed: Parsed & { invalid: ClientError }): string {
  const reply = errorReply(parsed.invalid.code, parsed.invalid.message);
  return itemText(parsed.action, reply.status, reply.body);
}

function rolledBackText(action: string, refusedIndex: number): string {
  const reply = errorReply('ROLLED_BACK', `not applied: the request is atomic and operation ${refusedIndex} was refused`);
  return itemText(action, reply.status, reply.body);
}

/**
 * True when an item of a rolled-back atomic request replayed an answer stored before this
 * request (by the single route or an earlier request under its `ik`): the rollback did not undo
 * it, so it was applied and its answer is the stored one, not ROLLED_BACK. A replay of a key an
 * earlier operation of this same request ran under was stored in this transaction and rolled back.
 */
function appliedEarlier(answers: readonly RunResult[], parsed: readonly Parsed[], index: number): boolean {
  if (answers[index]!.kind !== 'replayed') return false;
  const keyOf = (i: number) => (parsed[i] as Parsed & { key: string | undefined }).key;
  return !answers.slice(0, index).some((answer, i) => answer.kind === 'executed' && keyOf(i) === keyOf(index));
}

/** Builds each operation's command as its single route would, under its own key or one derived from the request's. */
function parseOperations(deps: RouteDeps, operations: readonly RawOperation[], requestKey: string | undefined, principal: Principal | null, requestId: string): Parsed[] {
  return operations.map((operation, index) => {
    const { operation: operationId, param } = ACTIONS[operation.action];
    const { walletID, holdID, ...body } = operation.data ?? {};
    const pathValue = param === 'walletID' ? walletID : param === 'holdID' ? holdID : undefined;
    try {
      if (param !== null && typeof pathValue !== 'string') throw new ClientError('VALIDATION', `data.${param} is required for ${operation.action}`);
      const params: Record<string, string> = param === 'walletID' ? { id: pathValue as string } : param === 'holdID' ? { holdID: pathValue as string } : {};
      // `data` without its path parameter is the body the single route would have been sent.
      const command = COMMANDS[operationId](deps, { params, body, principal, requestId });
      const key = operation.ik ?? (requestKey === undefined ? undefined : `${requestKey}${DERIVED_KEY_SEPARATOR}${index}`);
      return { action: operation.action, key, item: { key, command, movesMoney: operationId === 'creditWallet' || operationId === 'debitWallet' } };
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      return { action: operation.action, invalid: error, data: operation.data ?? null };
    }
  });
}

/**
 * The record of the request's own key: a command that changes nothing, whose fingerprint is the
 * whole request's (each operation's own fingerprint, or its raw data when it did not parse).
 */
function requestRecord(atomic: boolean, parsed: readonly Parsed[], principal: Principal | null): Command<unknown> {
  const operations = parsed.map((p) =>
    'item' in p
      ? { action: p.action, ik: p.item.key ?? null, fingerprint: fingerprint(p.item.command.operation, p.item.command.params, p.item.command.body) }
      : { action: p.action, invalid: p.data },
  );
  return {
    operation: 'bulk',
    principal,
    params: {},
    body: { atomic, operations },
    command: { reads: () => {}, plan: () => ok({ locks: [], apply: () => ok(null) }) },
    render: () => ({ status: 200, body: null }),
  };
}

function sendItems(reply: FastifyReply, items: readonly string[], replayed: boolean): FastifyReply {
  if (replayed) reply.header('Idempotent-Replayed', 'true').header('Idempotency-Hit', 'true');
  return reply.code(200).type('application/json').send(`{"data":[${items.join(',')}]}`);
}

export function bulkRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { run, query } = deps;

  route(app, 'bulk', async (request, reply) => {
    const body = parseBody(deps.schemas.bulk, request.body);
    const requestKey = idempotencyKey(request);
    const principal = request.principal;
    // The operations as sent (the schema checked their shape): `data` is the single route's body, parsed by its own schema.
    const operations = (request.body as { operations: RawOperation[] }).operations;
    const parsed = parseOperations(deps, operations, requestKey, principal, request.id);
    const record = requestKey === undefined ? undefined : { key: requestKey, command: requestRecord(body.atomic, parsed, principal), movesMoney: false };

    if (body.atomic) {
      const firstInvalid = parsed.findIndex((p) => 'invalid' in p);
      if (firstInvalid >= 0) {
        // Nothing runs: an atomic request with an operation its route refuses before running is refused as a whole, item by item.
        return sendItems(reply, parsed.map((p) => ('invalid' in p ? invalidText(p) : rolledBackText(p.action, firstInvalid))), false);
      }
      const items = parsed.map((p) => (p as Parsed & { item: SequenceItem }).item);
      const result = await deps.runAtomic(record ? [record, ...items] : items);
      if (result.kind === 'unknown') {
        // A retry is safe only when every operation runs under a key (the request's, derived, or
        // its own ik); otherwise one without a key would run again, as the committer's unkeyed answer says.
        const keyed = items.every((item) => item.key !== undefined);
        const unknown = errorReply(
          'SERVICE_UNAVAILABLE',
          'the database connection was lost while committing: this atomic request may or may not have been applied. ' +
            (keyed
              ? 'Retry with the same Idempotency-Key (or the same ik on every operation): it is applied at most once'
              : 'Check before repeating it; a request sent with an Idempotency-Key (or an ik on every operation) is safe to retry'),
        );
        return reply.code(unknown.status).type('application/json').send(unknown.body);
      }
      const recordAnswer = record ? result.answers[0]! : undefined;
      if (recordAnswer?.kind === 'conflict') return sendRun(reply, recordAnswer);
      const answers = record ? result.answers.slice(1) : result.answers;
      if (result.kind === 'committed') {
        return sendItems(reply, answers.map((answer, index) => answerText(parsed[index]!.action, answer)), recordAnswer?.kind === 'replayed');
      }
      const firstRefused = answers.findIndex(refusedAnswer);
      return sendItems(
        reply,
        answers.map((answer, index) =>
          refusedAnswer(answer) || appliedEarlier(answers, parsed, index) ? answerText(parsed[index]!.action, answer) : rolledBackText(parsed[index]!.action, firstRefused),
        ),
        false,
      );
    }

    let replayed = false;
    if (record) {
      const recorded = await run(record.key, record.command);
      if (recorded.kind === 'conflict' || recorded.kind === 'unknown') return sendRun(reply, recorded);
      replayed = recorded.kind === 'replayed';
    }
    const valid = parsed.filter((p): p is Parsed & { item: SequenceItem } => 'item' in p);
    const answers = await runEach(run, query.clock, valid.map((p) => p.item));
    const byParsed = new Map(valid.map((p, index) => [p, answers[index]!]));
    return sendItems(
      reply,
      parsed.map((p) => ('invalid' in p ? invalidText(p) : answerText(p.action, byParsed.get(p)!))),
      replayed,
    );
  });
}
