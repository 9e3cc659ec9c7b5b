/**
 * The `coffer` command line: the server (`serve`, `migrate`) and the everyday operations
 * against a running server, through the typed client. The server is --url, else
 * COFFER_URL, else http://127.0.0.1:8080. Output is for people by default, one JSON value
 * with --json. Exit codes say what happened, so scripts can branch on them (EXIT_CODES).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { CofferConnectionError, CofferError, DEFAULT_URL } from '../client/index.ts';
import { ConfigError } from '../domain/errors.ts';
import { isUnavailable } from '../http/errors.ts';
import { DatabaseUnreachable } from '../storage/open.ts';
import { moneyCommands } from './money-commands.ts';
import { bulkCommand, OperationsRefused } from './bulk-command.ts';
import { authCommands } from './auth-commands.ts';
import { backupCommands } from './backup-commands.ts';
import { serverCommands } from './server-commands.ts';
import { adviceOfFailure, keyOfFailure } from './context.ts';
import { CannotVerify, VerificationFailed, verifyCommand } from './verify-command.ts';
import { walletCommands } from './wallet-commands.ts';
import { eventCommands } from './event-commands.ts';

export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /** The server refused the request (a 4xx: VALIDATION, NOT_FOUND, INSUFFICIENT_FUND, CONFLICT, …). */
  refused: 1,
  /** The command line or the configuration is wrong; nothing was sent or started. */
  usage: 2,
  /** No answer from the server or the database, or the server failed (a 5xx). Retrying may help. */
  unavailable: 3,
  /** `coffer verify` found the ledger's invariants broken. */
  verifyFailed: 4,
  /** A bug in coffer itself (the stack is printed); as sysexits' EX_SOFTWARE. */
  internal: 70,
} as const;

const EXIT_HELP = `
Exit codes:
  0  done
  1  the server refused the request (4xx: VALIDATION, NOT_FOUND, INSUFFICIENT_FUND, CONFLICT, ...)
  2  wrong command line or configuration; nothing was done
  3  no answer from the server or the database, or a server failure (5xx); retrying may help
  4  coffer verify found a broken ledger invariant (the report says which)
 70  a bug in coffer (the stack is printed)`;

/** This package's version, from package.json (`coffer --version`). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('coffer')
    .description('Coffer: wallets with their own double-entry ledger')
    .version(VERSION, '-V, --version', "print coffer's version and exit")
    .addOption(new Option('--url <url>', 'the Coffer server').env('COFFER_URL').default(DEFAULT_URL))
    .addOption(new Option('--client-id <id>', "an API client's id, for a server with auth on").env('COFFER_CLIENT_ID'))
    .addOption(new Option('--client-secret <secret>', "its secret (prefer the variable: a command line is visible to other users)").env('COFFER_CLIENT_SECRET'))
    .option('--json', 'print one JSON object instead of text: {"data": …, "idempotencyKey": …} (lists add "next"); amounts as exact integers')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP);
  serverCommands(program);
  authCommands(program);
  verifyCommand(program);
  backupCommands(program);
  walletCommands(program);
  moneyCommands(program);
  eventCommands(program);
  bulkCommand(program);
  return program;
}

/** What a failure prints on stderr (one line, or nothing when Commander printed it) and its exit code. */
interface Outcome {
  readonly code: number;
  readonly line: string;
}

function report(error: unknown, json: boolean): Outcome {
  if (error instanceof CommanderError) {
    // Commander has printed the problem (or the help) already.
    return { code: error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage, line: '' };
  }
  // A mutation that failed says which Idempotency-Key it sent: retrying with it is safe.
  const idempotencyKey = keyOfFailure(error);
  const advice = adviceOfFailure(error) ?? `retry safely with --idempotency-key ${idempotencyKey} (the command runs at most once)`;
  const retry = idempotencyKey === null ? '' : `\ncoffer: ${advice}`;
  if (error instanceof CofferError) {
    const details = { status: error.status, errorCode: error.errorCode, errorMessage: error.errorMessage, requestId: error.requestId ?? null, idempotencyKey };
    const code = error.status >= 400 && error.status < 500 ? EXIT_CODES.refused : EXIT_CODES.unavailable;
    if (json) return { code, line: JSON.stringify(details) };
    // A refusal is the key's stored answer (a retry replays it); only a failure is worth retrying.
    return { code, line: `coffer: ${error.errorCode}: ${error.errorMessage} (HTTP ${error.status}${error.requestId ? `, request ${error.requestId}` : ''})${code === EXIT_CODES.unavailable ? retry : ''}` };
  }
  if (error instanceof CofferConnectionError) {
    if (json) return { code: EXIT_CODES.unavailable, line: JSON.stringify({ status: null, errorCode: null, errorMessage: error.message, requestId: null, idempotencyKey }) };
    return { code: EXIT_CODES.unavailable, line: `coffer: ${error.message}${retry}` };
  }
  if (error instanceof OperationsRefused) return { code: EXIT_CODES.refused, line: '' };
  if (error instanceof VerificationFailed) return { code: EXIT_CODES.verifyFailed, line: `coffer verify: ${error.message}` };
  if (error instanceof CannotVerify) return { code: EXIT_CODES.usage, line: `coffer verify: could not verify: ${error.message}` };
  if (error instanceof ConfigError) return { code: EXIT_CODES.usage, line: `coffer: ${error.message}` };
  if (error instanceof DatabaseUnreachable) return { code: EXIT_CODES.unavailable, line: `coffer: ${error.message}` };
  if (isUnavailable(error)) return { code: EXIT_CODES.unavailable, line: `coffer: the database does not answer: ${(error as Error).message}` };
  return { code: EXIT_CODES.internal, line: `coffer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` };
}

/**
 * A server that cannot start says so in its log too (stdout, where its log lines go), as one
 * pino-style line at level fatal, for whatever collects the logs; stderr has the human line.
 */
function logStartFailure(outcome: Outcome): void {
  const entry = { level: 60, time: Date.now(), pid: process.pid, hostname: hostname(), msg: outcome.line.replace(/^coffer: /, ''), exitCode: outcome.code };
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}

/** Runs the command line and returns the exit code (a `serve` keeps running after it returns). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  let command = '';
  program.hook('preAction', (_program, action) => {
    command = action.name();
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    const outcome = report(error, program.opts<{ json?: boolean }>().json === true);
    if (outcome.line !== '') process.stderr.write(`${outcome.line}\n`);
    if (command === 'serve' && outcome.code !== EXIT_CODES.ok) logStartFailure(outcome);
    return outcome.code;
  }
}
