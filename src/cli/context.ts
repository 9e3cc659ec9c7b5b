/** What every operation command starts from: the client for --url and the output mode. */
import { Option, type Command } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { Coffer } from '../client/index.ts';
import { ConfigError } from '../domain/errors.ts';

export interface Context {
  readonly coffer: Coffer;
  readonly json: boolean;
}

/** The client and output mode a command runs with, from the global options. */
export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<{ url: string; json?: boolean; clientId?: string; clientSecret?: string }>();
  // An empty variable is an unset one (`COFFER_CLIENT_ID= coffer …`).
  const credentials = options.clientId || options.clientSecret ? { clientId: options.clientId ?? '', clientSecret: options.clientSecret ?? '' } : {};
  if ('clientId' in credentials && (!credentials.clientId || !credentials.clientSecret)) {
    throw new ConfigError('--client-id and --client-secret (COFFER_CLIENT_ID, COFFER_CLIENT_SECRET) go together');
  }
  return { coffer: new Coffer({ url: options.url, ...credentials }), json: options.json === true };
}

/** A mutation's Idempotency-Key: the one given, or a new one that the output reports so the operator can retry safely. */
export function keyOf(options: { idempotencyKey?: string }): string {
  return options.idempotencyKey ?? uuidv7();
}

export function idempotencyKeyOption(): Option {
  return new Option('--idempotency-key <key>', 'a retry with the same key replays the first answer instead of running again (default: a new key, printed)');
}

/** What the error report says of each failed mutation: the key to retry with, and how, when more than the key is needed. */
interface Retry {
  readonly idempotencyKey: string;
  readonly advice?: string;
}

/** The key each failed mutation sent: the error report prints it, since a retry with it is safe. */
const retriesOfFailures = new WeakMap<object, Retry>();

/**
 * Sends a mutation with its key; if it fails, the failure remembers the key (see keyOfFailure).
 * A command whose requests carry keys derived from the operator's (coffer bulk) passes `retry`:
 * the operator's key and how to rerun with it, since retrying with a derived key would run again.
 */
export async function sendWithKey<T>(idempotencyKey: string, send: (options: { idempotencyKey: string }) => Promise<T>, retry: Retry = { idempotencyKey }): Promise<T> {
  try {
    return await send({ idempotencyKey });
  } catch (error) {
    if (typeof error === 'object' && error !== null) retriesOfFailures.set(error, retry);
    throw error;
  }
}

/** The Idempotency-Key to retry the failed mutation with, or null (a read, or a failure before anything was sent). */
export function keyOfFailure(error: unknown): string | null {
  return typeof error === 'object' && error !== null ? (retriesOfFailures.get(error)?.idempotencyKey ?? null) : null;
}

/** How to retry the failed mutation, when saying its key is not enough; else null. */
export function adviceOfFailure(error: unknown): string | null {
  return typeof error === 'object' && error !== null ? (retriesOfFailures.get(error)?.advice ?? null) : null;
}
