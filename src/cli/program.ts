/**
 * The `coffer` command line: the server (`serve`, `migrate`) and the everyday operations
 * against a running server, through the typed client. The server is --url, else
 * COFFER_URL, else http://127.0.0.1:8080. Output is for people by default, one JSON value
 * with --json. Exit codes say what happened, so scripts can branch on them (EXIT_CODES).
 */
import { Command, CommanderError, Option } from 'commander';
import { CofferConnectionError, CofferError, DEFAULT_URL } from '../client/index.ts';
import { ConfigError } from '../config.ts';
import { isUnavailable } from '../http/errors.ts';
import { moneyCommands } from './money-commands.ts';
import { serverCommands } from './server-commands.ts';
import { CannotVerify, VerificationFailed, verifyCommand } from './verify-command.ts';
import { walletCommands } from './wallet-commands.ts';

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

export function buildProgram(): Command {
  const program = new Command('coffer')
    .description('Coffer: wallets with their own double-entry ledger')
    .addOption(new Option('--url <url>', 'the Coffer server').env('COFFER_URL').default(DEFAULT_URL))
    .option('--json', 'print one JSON value (amounts as exact integers) instead of text')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP);
  serverCommands(program);
  verifyCommand(program);
  walletCommands(program);
  moneyCommands(program);
  return program;
}

function report(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed the problem (or the help) already.
    return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  }
  if (error instanceof CofferError) {
    const details = { status: error.status, errorCode: error.errorCode, errorMessage: error.errorMessage, requestId: error.requestId };
    if (json) process.stderr.write(`${JSON.stringify(details)}\n`);
    else process.stderr.write(`coffer: ${error.errorCode}: ${error.errorMessage} (HTTP ${error.status}${error.requestId ? `, request ${error.requestId}` : ''})\n`);
    return error.status >= 400 && error.status < 500 ? EXIT_CODES.refused : EXIT_CODES.unavailable;
  }
  if (error instanceof CofferConnectionError) {
    process.stderr.write(`coffer: ${error.message}\n`);
    return EXIT_CODES.unavailable;
  }
  if (error instanceof VerificationFailed) {
    process.stderr.write(`coffer verify: ${error.message}\n`);
    return EXIT_CODES.verifyFailed;
  }
  if (error instanceof CannotVerify) {
    process.stderr.write(`coffer verify: could not verify: ${error.message}\n`);
    return EXIT_CODES.usage;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`coffer: ${error.message}\n`);
    return EXIT_CODES.usage;
  }
  if (isUnavailable(error)) {
    process.stderr.write(`coffer: the database does not answer: ${(error as Error).message}\n`);
    return EXIT_CODES.unavailable;
  }
  process.stderr.write(`coffer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT_CODES.internal;
}

/** Runs the command line and returns the exit code (a `serve` keeps running after it returns). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    return report(error, program.opts<{ json?: boolean }>().json === true);
  }
}
