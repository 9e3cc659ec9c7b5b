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

/** The key each failed mutation sent: the error report prints it, since a retry with it is safe. */
const keysOfFailures = new WeakMap<object, string>();

/** Sends a mutation with its key; if it fails, the failure remembers the key (see keyOfFailure). */
export async function sendWithKey<T>(idempotencyKey: string, send: (options: { idempotencyKey: string }) => Promise<T>): Promise<T> {
  try {
    return await send({ idempotencyKey });
  } catch (error) {
    if (typeof error === 'object' && error !== null) keysOfFailures.set(error, idempotencyKey);
    throw error;
  }
}

/** The Idempotency-Key the failed mutation sent, or null (a read, or a failure before anything was sent). */
export function keyOfFailure(error: unknown): string | null {
  return typeof error === 'object' && error !== null ? (keysOfFailures.get(error) ?? null) : null;
}
