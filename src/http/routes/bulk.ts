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
 *
 * An atomic request that applied nothing — one of its operations did not validate, or one was
 * refused and the transaction rolled back — stores nothing under its operations' keys, so its
 * answer cannot be rebuilt from them. R's record then keeps that answer itself (status 424,
 * the answer's bytes), stored once the rollback is done: a retry replays it and runs nothing,
 * and a different request under R is 409, as after any other answer. R's record is thus 200
 * with no body when the operations ran (the answer is rebuilt from their keys), 424 with the
 * answer when nothing was applied.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientError, ok } from '../../domain/errors.ts';
import type { Principal } from '../../domain/principal.ts';
import type { Command, Outcome, RunResult } from '../../committer/committer.ts';
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
  | { readonly action: BulkAction; readonly ik: string | undefined; readonly invalid: ClientError; readonly data: unknown };

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
      return { action: operation.action, ik: operation.ik, invalid: error, data: operation.data ?? null };
    }
  });
}

/** R's record of a request whose operations ran: their keys hold the answer. */
const APPLIED: Outcome = { status: 200, body: null };
/** The status of R's record of an atomic request that applied nothing; its body is the answer sent. */
const NOT_APPLIED_STATUS = 424;
/** Runs of an atomic request: a second one when R's record, stored after a rollback, met a concurrent twin that had applied. */
const ATOMIC_RUNS_MAX = 2;

/**
 * The record of the request's own key: a command that changes nothing, whose fingerprint is the
 * whole request's (each operation's own fingerprint, or, when it did not parse, its raw data and
 * its ik), and whose stored outcome is `outcome` (see the file's comment).
 */
function requestRecord(atomic: boolean, parsed: readonly Parsed[], principal: Principal | null, outcome: Outcome = APPLIED): Command<unknown> {
  const operations = parsed.map((p) =>
    'item' in p
      ? { action: p.action, ik: p.item.key ?? null, fingerprint: fingerprint(p.item.command.operation, p.item.command.params, p.item.command.body) }
      : // An absent ik is left out (canonical JSON drops undefined), so records stored before it was added keep their fingerprint.
        { action: p.action, ik: p.ik, invalid: p.data },
  );
  return {
    operation: 'bulk',
    principal,
    params: {},
    body: { atomic, operations },
    command: { reads: () => {}, plan: () => ok({ locks: [], apply: () => ok(null) }) },
    render: () => outcome,
  };
}

function answerOf(items: readonly string[]): string {
  return `{"data":[${items.join(',')}]}`;
}

function sendAnswer(reply: FastifyReply, answer: string, replayed: boolean): FastifyReply {
  if (replayed) reply.header('Idempotent-Replayed', 'true').header('Idempotency-Hit', 'true');
  return reply.code(200).type('application/json').send(answer);
}

function sendItems(reply: FastifyReply, items: readonly string[], replayed: boolean): FastifyReply {
  return sendAnswer(reply, answerOf(items), replayed);
}

/** What an atomic request that applied nothing leads to once R's record of it is stored. */
type NotApplied =
  | { readonly kind: 'sent'; readonly reply: FastifyReply }
  /** R was stored meanwhile by the same request, which applied: run again, to replay it. */
  | { readonly kind: 'appliedMeanwhile' };

/**
 * Answers an atomic request that applied nothing. Under R, the answer is first stored as R's
 * record, in a transaction of its own (the request's was rolled back): a retry then replays
 * it. R taken meanwhile by another request is 409 for this one too, as for every later retry.
 */
async function sendNotApplied(
  reply: FastifyReply,
  run: RouteDeps['run'],
  parsed: readonly Parsed[],
  principal: Principal | null,
  requestKey: string | undefined,
  items: readonly string[],
): Promise<NotApplied> {
  const answer = answerOf(items);
  if (requestKey === undefined) return { kind: 'sent', reply: sendAnswer(reply, answer, false) };
  const stored = await run(requestKey, requestRecord(true, parsed, principal, { status: NOT_APPLIED_STATUS, body: answer }));
  if (stored.kind === 'executed') return { kind: 'sent', reply: sendAnswer(reply, answer, false) };
  if (stored.kind === 'replayed') {
    if (stored.outcome.status !== NOT_APPLIED_STATUS) return { kind: 'appliedMeanwhile' };
    return { kind: 'sent', reply: sendAnswer(reply, stored.outcome.body!, true) };
  }
  return { kind: 'sent', reply: sendRun(reply, stored) };
}

/**
 * An atomic request: all its operations in one transaction with R's record, or none. An
 * operation that does not validate stops it before anything runs; R is checked all the same
 * (sendNotApplied), so R reused for another request is 409 whatever the operations hold.
 */
async function answerAtomic(
  reply: FastifyReply,
  deps: RouteDeps,
  parsed: readonly Parsed[],
  principal: Principal | null,
  requestKey: string | undefined,
  record: SequenceItem | undefined,
): Promise<NotApplied> {
  const firstInvalid = parsed.findIndex((p) => 'invalid' in p);
  if (firstInvalid >= 0) {
    // Nothing runs: an atomic request with an operation its route refuses before running is refused as a whole, item by item.
    const items = parsed.map((p) => ('invalid' in p ? invalidText(p) : rolledBackText(p.action, firstInvalid)));
    return sendNotApplied(reply, deps.run, parsed, principal, requestKey, items);
  }
  const items = parsed.map((p) => (p as Parsed & { item: SequenceItem }).item);
  const result = await deps.runAtomic(record ? [record, ...items] : items);
  if (result.kind === 'unknown') {
    // A retry is safe only when every operation runs under a key (the request's, derived, or
    // its own ik); otherwise one without a key would run again, as the committer's unkeyed answer says.
    const keyed = items.every((item) => item.key !== undefined);
    const unknown = errorReply(
      'SERVICE_UNAVAILABLE',
      (result.rolledBack
        ? 'nothing of this atomic request was applied (an operation was refused), but the outcomes it replays could not be confirmed ' +
          'on the synchronous standby yet, so they are not answered. '
        : result.notReplicated
        ? 'the database committed this atomic request but stopped waiting for its synchronous standby to confirm the copy ' +
          '(the wait was cancelled): it may be lost if the database fails over now, so it is not acknowledged. '
        : 'the database connection was lost while committing: this atomic request may or may not have been applied. ') +
        (keyed
          ? 'Retry with the same Idempotency-Key (or the same ik on every operation): it is applied at most once'
          : 'Check before repeating it; a request sent with an Idempotency-Key (or an ik on every operation) is safe to retry'),
    );
    return { kind: 'sent', reply: reply.code(unknown.status).type('application/json').send(unknown.body) };
  }
  const recordAnswer = record ? result.answers[0]! : undefined;
  if (recordAnswer?.kind === 'conflict') return { kind: 'sent', reply: sendRun(reply, recordAnswer) };
  if (recordAnswer?.kind === 'replayed' && recordAnswer.outcome.status === NOT_APPLIED_STATUS) {
    // R answered before that nothing was applied: that answer stands, and this run was rolled back (a 424 replay is a refusal).
    return { kind: 'sent', reply: sendAnswer(reply, recordAnswer.outcome.body!, true) };
  }
  const answers = record ? result.answers.slice(1) : result.answers;
  if (result.kind === 'committed') {
    return { kind: 'sent', reply: sendItems(reply, answers.map((answer, index) => answerText(parsed[index]!.action, answer)), recordAnswer?.kind === 'replayed') };
  }
  const firstRefused = answers.findIndex(refusedAnswer);
  const texts = answers.map((answer, index) =>
    refusedAnswer(answer) || appliedEarlier(answers, parsed, index) ? answerText(parsed[index]!.action, answer) : rolledBackText(parsed[index]!.action, firstRefused),
  );
  // R stored as applied, yet an operation's stored answer was not found again (its key purged by
  // retention before R's): R keeps its record; this run, rolled back, is answered as it went.
  if (recordAnswer?.kind === 'replayed') return { kind: 'sent', reply: sendItems(reply, texts, false) };
  return sendNotApplied(reply, deps.run, parsed, principal, requestKey, texts);
}

export function bulkRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { run, query } = deps;

  route(app, 'bulk', async (request, reply) => deps.bulkInFlight.hold(request, () => answerBulk(request, reply)), { onRequest: deps.bulkInFlight.onRequest });

  async function answerBulk(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseBody(deps.schemas.bulk, request.body);
    const requestKey = idempotencyKey(request);
    const principal = request.principal;
    // The operations as sent (the schema checked their shape): `data` is the single route's body, parsed by its own schema.
    const operations = (request.body as { operations: RawOperation[] }).operations;
    const parsed = parseOperations(deps, operations, requestKey, principal, request.id);
    const record = requestKey === undefined ? undefined : { key: requestKey, command: requestRecord(body.atomic, parsed, principal), movesMoney: false };

    if (body.atomic) {
      for (let attempt = 1; ; attempt++) {
        const answered = await answerAtomic(reply, deps, parsed, principal, requestKey, record);
        if (answered.kind === 'sent') return answered.reply;
        if (attempt >= ATOMIC_RUNS_MAX) {
          const busy = errorReply('SERVICE_UNAVAILABLE', 'the request was applied by a concurrent request with the same Idempotency-Key; retry it with that key to read its answer');
          return reply.code(busy.status).type('application/json').send(busy.body);
        }
      }
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
  }
}
