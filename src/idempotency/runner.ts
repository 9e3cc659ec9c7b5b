/**
 * The command runner: every mutation runs here, in ONE database transaction that holds all
 * of its effects and, when the request carries an Idempotency-Key, the stored outcome.
 *
 * With a key: claim it first (a concurrent holder of the same key makes the claim wait);
 * if an outcome is already stored, replay it when the fingerprint matches and answer a
 * conflict when it does not — nothing executes. Otherwise execute, render the outcome and
 * store it with the effects. A crash before COMMIT leaves neither; a retry runs afresh.
 * Without a key: execute; a refused command rolls back so it leaves no trace at all.
 */
import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import type { Database, Queryable } from '../storage/database.ts';
import { claimKey, storeOutcome } from '../storage/idempotency-keys.ts';
import type { Instant } from '../domain/time.ts';
import type { Result } from '../domain/errors.ts';
import { fingerprint } from './fingerprint.ts';

/** Namespace of Coffer's key-derived ids (UUIDv5). Changing it changes every derived id. */
const ID_NAMESPACE = '0b6f2d6e-4e2a-4f3a-9f0a-2b9c1d8e7a31';

export type IdKind = 'wallet' | 'hold';

export interface CommandContext {
  readonly tx: Queryable;
  readonly ledger: string;
  readonly now: Instant;
  /** With a key, the id is derived from it (UUIDv5 of `kind:key`); without, a random UUIDv7. */
  newId(kind: IdKind): string;
  /** True when `newId` derives ids from a key, so an id may already exist (see retention). */
  readonly idsDerived: boolean;
}

/** What an HTTP answer is made of, rendered by the http layer and stored byte for byte. */
export interface Outcome {
  readonly status: number;
  readonly body: string | null;
}

export interface Command<Value> {
  readonly operation: string;
  readonly params: Record<string, string>;
  /** The body with defaults applied: the fingerprint's input. */
  readonly body: unknown;
  execute(context: CommandContext): Promise<Result<Value>>;
  render(result: Result<Value>): Outcome;
}

export type RunResult =
  | { readonly kind: 'executed'; readonly outcome: Outcome }
  | { readonly kind: 'replayed'; readonly outcome: Outcome }
  | { readonly kind: 'conflict'; readonly message: string };

export interface RunnerOptions {
  readonly db: Database;
  readonly ledger: string;
  readonly clock: () => Instant;
}

class RolledBack extends Error {
  constructor(readonly outcome: Outcome) {
    super('command refused; rolled back');
  }
}

export function createRunner(options: RunnerOptions) {
  const { db, ledger, clock } = options;

  return async function run<Value>(key: string | undefined, command: Command<Value>): Promise<RunResult> {
    const print = fingerprint(command.operation, command.params, command.body);
    try {
      return await db.transaction(async (tx): Promise<RunResult> => {
        const now = clock();
        if (key !== undefined) {
          const stored = await claimKey(tx, { ledger, key, operation: command.operation, fingerprint: print, createdAt: now });
          if (stored !== null) {
            if (stored.fingerprint !== print) {
              return {
                kind: 'conflict',
                message: `Idempotency-Key ${JSON.stringify(key)} was already used for a different request (${stored.operation})`,
              };
            }
            return { kind: 'replayed', outcome: { status: stored.status, body: stored.response } };
          }
        }
        const context: CommandContext = {
          tx,
          ledger,
          now,
          newId: (kind) => (key !== undefined ? uuidv5(`${kind}:${key}`, ID_NAMESPACE) : uuidv7()),
          idsDerived: key !== undefined,
        };
        const result = await command.execute(context);
        const outcome = command.render(result);
        if (key !== undefined) {
          await storeOutcome(tx, ledger, key, outcome.status, outcome.body);
        } else if (!result.ok) {
          throw new RolledBack(outcome);
        }
        return { kind: 'executed', outcome };
      });
    } catch (error) {
      if (error instanceof RolledBack) return { kind: 'executed', outcome: error.outcome };
      throw error;
    }
  };
}

export type Runner = ReturnType<typeof createRunner>;
