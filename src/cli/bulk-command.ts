/**
 * `coffer bulk < ops.jsonl`: operations read as JSON lines from standard input — each
 * `{"action": …, "ik"?: …, "data": {…}}`, as `POST /bulk` takes them — and sent in chunks of
 * up to 1,000 (`--chunk-size`). Lines are read as they come, so a file of any length needs
 * the memory of one chunk. Each chunk carries the Idempotency-Key `<key>-<n>` (n from 1): the
 * same command run again with the same `--idempotency-key` replays every chunk that was
 * answered and runs the rest, so an interrupted file is finished exactly once (the key and that
 * command are printed before the first chunk, and a failure advises them, never a chunk's key). `--atomic`
 * makes each chunk one transaction (atomicity does not span chunks).
 *
 * Prints one line per operation, in input order: its line number, action, status and what
 * the server answered (with --json, one JSON object per line). Exits 1 if any operation was
 * refused, like a refused single command.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { BulkItem, BulkOperation } from '../client/index.ts';
import { parseJson, writeJson as jsonText } from '../client/transport.ts';
import { ConfigError } from '../domain/errors.ts';
import { contextOf, idempotencyKeyOption, keyOf, sendWithKey, type Context } from './context.ts';
import { write } from './output.ts';

/** Some operations were refused: the command exits 1, as a refused single command does (its lines and summary are printed). */
export class OperationsRefused extends Error {
  constructor(readonly refused: number) {
    super(`${refused} operations refused`);
  }
}

/** What the server takes in one request (BULK_OPERATIONS_MAX). */
const CHUNK_SIZE_MAX = 1000;

/** The server's limit on an Idempotency-Key (src/http/command.ts). */
const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

/**
 * Room kept for a chunk key's suffix `-<n>`, n up to 10 digits: a base key that fits leaves every
 * chunk key within the server's limit, so no chunk is refused for its key after earlier ones ran.
 */
const BASE_KEY_LENGTH_MAX = IDEMPOTENCY_KEY_LENGTH_MAX - '-9999999999'.length;

interface BulkCommandOptions {
  atomic?: boolean;
  chunkSize: number;
  idempotencyKey?: string;
}

function chunkSizeArgument(text: string): number {
  const size = Number(text);
  if (!/^\d+$/.test(text) || size < 1 || size > CHUNK_SIZE_MAX) throw new ConfigError(`--chunk-size must be an integer from 1 to ${CHUNK_SIZE_MAX}, got ${text}`);
  return size;
}

/** One input line as an operation; a line that is not a JSON object stops the command before that chunk is sent. */
function operationOf(text: string, line: number): BulkOperation {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (error) {
    throw new ConfigError(`line ${line}: not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`line ${line}: an operation must be a JSON object`);
  return value as BulkOperation;
}

function itemLine(line: number, item: BulkItem, json: boolean): string {
  if (json) return jsonText({ line, ...item });
  const detail = item.errorCode !== undefined ? `${item.errorCode}: ${item.errorMessage ?? ''}` : item.data !== undefined && 'id' in item.data ? `id ${item.data.id}` : '';
  return `${line}\t${item.action}\t${item.status}${detail ? `\t${detail.replace(/\p{Cc}/gu, '?')}` : ''}`;
}

export function bulkCommand(program: Command): void {
  program
    .command('bulk')
    .description('send operations read as JSON lines from standard input ({"action", "ik"?, "data"} each, as POST /bulk takes them), in chunks')
    .option('--atomic', 'each chunk in one transaction: if one operation is refused, none of its chunk is applied')
    .addOption(new Option('--chunk-size <n>', `operations per request, 1 to ${CHUNK_SIZE_MAX}`).default(CHUNK_SIZE_MAX).argParser(chunkSizeArgument))
    .addOption(idempotencyKeyOption())
    .action(async (options: BulkCommandOptions, command: Command) => {
      const context = contextOf(command);
      const key = keyOf(options);
      if (key.length > BASE_KEY_LENGTH_MAX) {
        throw new ConfigError(`--idempotency-key must be at most ${BASE_KEY_LENGTH_MAX} characters for bulk (each chunk's key adds -<n>), got ${key.length}`);
      }
      // The chunk keys are derived from the base key and the chunk size: only the same file, key
      // and chunk size again replays the chunks that ran. Said before the first chunk is sent, so
      // a run that is interrupted (killed, not just failed) can still be finished.
      const rerun = `rerun the same file with --idempotency-key ${key} --chunk-size ${options.chunkSize}${options.atomic === true ? ' --atomic' : ''}`;
      process.stderr.write(`coffer bulk: idempotency-key ${key}; if interrupted, ${rerun} (each operation runs at most once)\n`);
      let refused = 0;
      let sent = 0;
      let chunk: { line: number; operation: BulkOperation }[] = [];
      let chunks = 0;
      const flush = async () => {
        if (chunk.length === 0) return;
        chunks++;
        refused += await sendChunk(context, chunk, { atomic: options.atomic === true, idempotencyKey: `${key}-${chunks}`, retry: { idempotencyKey: key, advice: `${rerun}: chunks that ran are replayed, the rest run` } });
        sent += chunk.length;
        chunk = [];
      };
      let line = 0;
      for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        line++;
        if (text.trim() === '') continue;
        chunk.push({ line, operation: operationOf(text, line) });
        if (chunk.length >= options.chunkSize) await flush();
      }
      await flush();
      process.stderr.write(`coffer bulk: ${sent} operations in ${chunks} requests, ${refused} refused; idempotency-key ${key} (run again with it to finish or replay)\n`);
      if (refused > 0) throw new OperationsRefused(refused);
    });
}

/** Sends one chunk and prints its items; returns how many were refused. */
async function sendChunk(
  context: Context,
  chunk: readonly { line: number; operation: BulkOperation }[],
  options: { atomic: boolean; idempotencyKey: string; retry: { idempotencyKey: string; advice: string } },
): Promise<number> {
  // A failure names the base key, not this chunk's: a retry with the chunk's key would derive new keys and run every chunk again.
  const items = await sendWithKey(options.idempotencyKey, (sent) => context.coffer.bulk(chunk.map((entry) => entry.operation), { atomic: options.atomic, ...sent }), options.retry);
  let refused = 0;
  items.forEach((item, index) => {
    if (item.status >= 400) refused++;
    write(itemLine(chunk[index]!.line, item, context.json));
  });
  return refused;
}
