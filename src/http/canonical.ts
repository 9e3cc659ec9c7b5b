/**
 * The canonical form of each mutation's request: what its Idempotency-Key fingerprint hashes
 * (idempotency/fingerprint.ts), one function per operation. Two bodies that ask for the same
 * thing have the same canonical form, so the second replays the first instead of a 409:
 *
 * - the schema has already parsed them (schemas.ts): absent and null metadata are `{}`,
 *   absent `pending`/`final` are false, a debit's absent description is '', a balance's
 *   absent expiry is null and priority 0, a credit's absent balance is main, and dates are
 *   the instant they denote (`2030-01-01T01:00:00+01:00` = `2030-01-01T00:00:00Z`);
 * - here, every other spelling of a default is reduced to the one the schema gives when it
 *   is left out: a debit's balances `["main"]` is `[]` (both spend main), its destination
 *   `{type: ACCOUNT, identifier: world}` is absent, a credit's sources `[world]` is `[]`, a
 *   WALLET subject's balance `main` is absent, and a confirm's amount 0 is absent (both
 *   confirm all that remains, domain/hold.ts).
 *
 * The representative is the spelling with defaults left out, not written out, because
 * that is what a default request hashed before these rules: its key, stored earlier, still
 * replays. What is genuinely different stays different: an explicit confirm amount is not
 * "all that remains" (that is known only when the confirm runs), `["*"]` is not `["main"]`,
 * and a timestamp is not "now".
 */
import type { z } from 'zod';
import { MAIN, WORLD } from '../domain/chart.ts';
import type { Subject } from '../domain/records.ts';
import type { Schemas } from './schemas.ts';

type Body<Name extends keyof Schemas> = z.output<Schemas[Name]>;

/** A WALLET subject's default balance left out; an ACCOUNT subject as it is. */
function canonicalSubject(subject: Subject): Subject {
  if (subject.type === 'WALLET' && subject.balance === MAIN) return { type: subject.type, identifier: subject.identifier };
  return subject;
}

function isWorld(subject: Subject): boolean {
  return subject.type === 'ACCOUNT' && subject.identifier === WORLD;
}

export function canonicalCreateWallet(body: Body<'createWallet'>): unknown {
  return { name: body.name, metadata: body.metadata };
}

/** Without a status, the form a metadata patch always had; with one, absent metadata is `{}`. */
export function canonicalUpdateWallet(body: Body<'updateWallet'>): unknown {
  if (body.status === undefined) return { metadata: body.metadata };
  return { metadata: body.metadata ?? {}, status: body.status };
}

/** Overdraft limits without the zeros (0 = none); none at all is left out. */
function canonicalOverdraft(limits: Readonly<Record<string, bigint>> | undefined): Record<string, bigint> | undefined {
  if (limits === undefined) return undefined;
  return Object.fromEntries(Object.entries(limits).filter(([, limit]) => limit !== 0n));
}

export function canonicalCreateBalance(body: Body<'createBalance'>): unknown {
  const overdraft = canonicalOverdraft(body.overdraft) ?? {};
  return { name: body.name, expiresAt: body.expiresAt, priority: body.priority, overdraft: Object.keys(overdraft).length > 0 ? overdraft : undefined };
}

/** A limit of 0 is kept here: on a patch it removes a limit, which is not the same as naming nothing. */
export function canonicalUpdateBalance(body: Body<'updateBalance'>): unknown {
  return { overdraft: body.overdraft, priority: body.priority, expiresAt: body.expiresAt };
}

export function canonicalUpdateHold(body: Body<'updateHold'>): unknown {
  return { expiresAt: body.expiresAt };
}

export function canonicalDebit(body: Body<'debit'>): unknown {
  const destination = body.destination === undefined || isWorld(body.destination) ? undefined : canonicalSubject(body.destination);
  return {
    amount: { asset: body.amount.asset, amount: body.amount.amount },
    pending: body.pending,
    balances: body.balances.length === 1 && body.balances[0] === MAIN ? [] : body.balances,
    destination,
    metadata: body.metadata,
    description: body.description,
    reference: body.reference,
    timestamp: body.timestamp,
    expiresAt: body.expiresAt,
  };
}

export function canonicalCredit(body: Body<'credit'>): unknown {
  const sources = body.sources.length === 1 && isWorld(body.sources[0]!) ? [] : body.sources.map(canonicalSubject);
  return {
    amount: { asset: body.amount.asset, amount: body.amount.amount },
    balance: body.balance,
    sources,
    metadata: body.metadata,
    reference: body.reference,
    timestamp: body.timestamp,
  };
}

export function canonicalConfirmHold(body: Body<'confirmHold'>): unknown {
  return { amount: body.amount === 0n ? undefined : body.amount, final: body.final };
}

/** A void takes no body: every void of one hold is the same request. */
export function canonicalVoidHold(): unknown {
  return {};
}
