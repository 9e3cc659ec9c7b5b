/** What every operation command starts from: the client for --url and the output mode. */
import { Option, type Command } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { Coffer } from '../client/index.ts';

export interface Context {
  readonly coffer: Coffer;
  readonly json: boolean;
}

/** The client and output mode a command runs with, from the global options. */
export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<{ url: string; json?: boolean }>();
  return { coffer: new Coffer({ url: options.url }), json: options.json === true };
}

/** A mutation's Idempotency-Key: the one given, or a new one that the output reports so the operator can retry safely. */
export function keyOf(options: { idempotencyKey?: string }): string {
  return options.idempotencyKey ?? uuidv7();
}

export function idempotencyKeyOption(): Option {
  return new Option('--idempotency-key <key>', 'a retry with the same key replays the first answer instead of running again (default: a new key, printed)');
}
