/** `coffer credit`, `coffer debit [--pending]`, `coffer holds list|get|confirm|void`: moving money. */
import { Option, type Command } from 'commander';
import type { Coffer, ExpandedHold, Hold, HoldStatus, ListHoldsQuery, Metadata, Page, Subject } from '../client/index.ts';
import { amountArgument, collect, collectSubject, holdStatusArgument, metadataEntry, subjectArgument } from './arguments.ts';
import { contextOf, idempotencyKeyOption, keyOf, sendWithKey } from './context.ts';
import { fields, metadataText, pageText, subjectText, write, writeJson, writeJsonList } from './output.ts';
import { fetchList, pageOptions } from './wallet-commands.ts';

interface MoveOptions {
  metadata?: Metadata;
  reference?: string;
  timestamp?: string;
  idempotencyKey?: string;
}

function holdFields(hold: Hold): [string, string][] {
  return [
    ['hold', hold.id],
    ['wallet', hold.walletID],
    ['asset', hold.asset],
    ['destination', subjectText(hold.destination)],
    ['description', hold.description || '-'],
    ['metadata', metadataText(hold.metadata)],
    ['expires', hold.expiresAt ?? '-'],
    ['status', hold.status],
  ];
}

function expandedHoldText(hold: ExpandedHold): string {
  return fields([...holdFields(hold), ['original', String(hold.originalAmount)], ['remaining', String(hold.remaining)]]);
}

/** Holds fetched at once by `holds list`: the list has no amounts, so each hold is read with GET /holds/{id}. */
const HOLD_READS_IN_FLIGHT = 8;

/** The page's holds with their amounts (GET /holds/{id} each, a few at a time), in the page's order. */
async function expandHolds(coffer: Coffer, holds: readonly Hold[]): Promise<ExpandedHold[]> {
  const expanded: ExpandedHold[] = new Array<ExpandedHold>(holds.length);
  let next = 0;
  const worker = async () => {
    while (next < holds.length) {
      const index = next++;
      expanded[index] = await coffer.getHold(holds[index]!.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HOLD_READS_IN_FLIGHT, holds.length) }, worker));
  return expanded;
}

function moveBody(options: MoveOptions) {
  return {
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.reference !== undefined ? { reference: options.reference } : {}),
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
  };
}

/** The options credit and debit share. */
function moveOptions(command: Command): Command {
  return command
    .option('--metadata <key=value>', 'a metadata entry on the transaction (repeatable)', metadataEntry)
    .option('--reference <reference>', 'a unique reference for the transaction')
    .option('--timestamp <date>', "the transaction's RFC 3339 date-time (default: now)")
    .addOption(idempotencyKeyOption());
}

export function moneyCommands(program: Command): void {
  creditCommand(program);
  debitCommand(program);
  holdsCommand(program);
}

function creditCommand(program: Command): void {
  moveOptions(
    program
      .command('credit')
      .description('credit a wallet: from the world by default, or from other subjects')
      .argument('<wallet-id>')
      .argument('<amount>', 'an integer of minor units: 10000 of USD/2 is 100.00 USD', amountArgument)
      .argument('<asset>', 'e.g. USD/2')
      .option('--balance <name>', 'the balance credited (default main)')
      .option('--source <subject>', 'world, account:<address>, wallet:<id> or wallet:<id>:<balance> (repeatable, drained in order)', collectSubject),
  ).action(async (walletId: string, amount: bigint, asset: string, options: MoveOptions & { balance?: string; source?: Subject[] }, command: Command) => {
    const { coffer, json } = contextOf(command);
    const idempotencyKey = keyOf(options);
    const balance = options.balance ?? 'main';
    await sendWithKey(idempotencyKey, (sent) => coffer.credit(walletId, { amount: { asset, amount }, balance, ...(options.source ? { sources: options.source } : {}), ...moveBody(options) }, sent));
    if (json) writeJson(null, idempotencyKey);
    else write(`credited ${amount} ${asset} to wallet ${walletId} (${balance})\n${fields([['idempotency-key', idempotencyKey]])}`);
  });
}

function debitCommand(program: Command): void {
  moveOptions(
    program
      .command('debit')
      .description('debit a wallet at once, or with --pending put the amount on hold')
      .argument('<wallet-id>')
      .argument('<amount>', 'an integer of minor units: 10000 of USD/2 is 100.00 USD', amountArgument)
      .argument('<asset>', 'e.g. USD/2')
      .option('--pending', 'create a hold to confirm or void later, instead of debiting at once')
      .option('--balance <name>', 'a source balance, spent in the order given (repeatable; "*" = all, expiring first; default main)', collect)
      .option('--destination <subject>', 'world (default), account:<address>, wallet:<id> or wallet:<id>:<balance>', subjectArgument)
      .option('--description <text>', "the hold's description")
      .option('--expires-at <date>', "with --pending: the RFC 3339 date-time at which the hold expires and is voided (default: the server's HOLD_DEFAULT_TTL, or never)"),
  ).action(
    async (
      walletId: string,
      amount: bigint,
      asset: string,
      options: MoveOptions & { pending?: boolean; balance?: string[]; destination?: Subject; description?: string; expiresAt?: string },
      command: Command,
    ) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      const request = {
        amount: { asset, amount },
        pending: options.pending === true,
        ...(options.balance ? { balances: options.balance } : {}),
        ...(options.destination ? { destination: options.destination } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
        ...moveBody(options),
      };
      const hold = await sendWithKey(idempotencyKey, (sent) => coffer.debit(walletId, request, sent));
      if (json) writeJson(hold ?? null, idempotencyKey);
      else if (hold) write(`${amount} ${asset} on hold\n${fields([...holdFields(hold), ['idempotency-key', idempotencyKey]])}`);
      else write(`debited ${amount} ${asset} from wallet ${walletId}\n${fields([['idempotency-key', idempotencyKey]])}`);
    },
  );
}

function holdsCommand(program: Command): void {
  const holds = program.command('holds').description('pending debits: list, show, confirm, void, move their expiry');

  pageOptions(
    holds
      .command('list')
      .description('list holds in creation order with their amounts and status (open, confirmed, voided, expired)')
      .option('--wallet <wallet-id>', "only this wallet's holds")
      .option('--metadata <key=value>', 'only holds with this metadata entry (repeatable)', metadataEntry)
      .addOption(new Option('--status <status>', 'only holds with this status now: open, confirmed, voided or expired').argParser(holdStatusArgument).conflicts(['open', 'closed']))
      .addOption(new Option('--open', 'only open holds (the same as --status open)').conflicts('closed'))
      .addOption(new Option('--closed', 'only settled holds: confirmed, voided or expired')),
  ).action(
    async (
      options: { wallet?: string; metadata?: Metadata; status?: HoldStatus; open?: boolean; closed?: boolean; pageSize?: number; cursor?: string; all?: boolean },
      command: Command,
    ) => {
      const { coffer, json } = contextOf(command);
      const status = options.status ?? (options.open ? 'open' : undefined);
      const query = {
        ...(options.wallet !== undefined ? { walletID: options.wallet } : {}),
        ...(options.metadata ? { metadata: options.metadata } : {}),
        ...(status !== undefined ? { status } : {}),
      };
      const listed = await fetchList((q: ListHoldsQuery) => coffer.listHolds(q), query, options);
      // The server filters by wallet, metadata and status; --closed (three statuses) filters
      // each page here (such a page may show fewer holds than --page-size).
      const holds = (await expandHolds(coffer, listed.data)).filter((hold) => !options.closed || hold.status !== 'open');
      const page: Page<ExpandedHold> = { ...listed, data: holds };
      if (json) return writeJsonList(page);
      const again = `coffer holds list${status ? ` --status ${status}` : options.closed ? ' --closed' : ''}`;
      write(
        pageText(
          page,
          ['ID', 'WALLET', 'ASSET', 'AMOUNT', 'REMAINING', 'STATUS', 'EXPIRES', 'DESTINATION', 'DESCRIPTION'],
          (h) => [h.id, h.walletID, h.asset, String(h.originalAmount), String(h.remaining), h.status, h.expiresAt ?? '-', subjectText(h.destination), h.description || '-'],
          again,
        ),
      );
    },
  );

  holds
    .command('get')
    .description('show a hold with its original and remaining amounts')
    .argument('<hold-id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { coffer, json } = contextOf(command);
      const hold = await coffer.getHold(id);
      if (json) writeJson(hold);
      else write(expandedHoldText(hold));
    });

  holds
    .command('confirm')
    .description("send all or part of a hold to its destination")
    .argument('<hold-id>')
    .option('--amount <amount>', 'how much to confirm (default: all that remains)', amountArgument)
    .option('--final', 'return what is left afterwards to the main balance')
    .addOption(idempotencyKeyOption())
    .action(async (id: string, options: { amount?: bigint; final?: boolean; idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      await sendWithKey(idempotencyKey, (sent) => coffer.confirmHold(id, { ...(options.amount !== undefined ? { amount: options.amount } : {}), final: options.final === true }, sent));
      // The server answers 204: JSON says so; people also see what remains (one more read).
      if (json) return writeJson(null, idempotencyKey);
      const hold = await coffer.getHold(id);
      write(`confirmed hold ${id}\n${fields([['remaining', String(hold.remaining)], ['idempotency-key', idempotencyKey]])}`);
    });

  holds
    .command('expire-at')
    .description("move an open hold's expiry")
    .argument('<hold-id>')
    .argument('<date>', 'an RFC 3339 date-time after now, or "never"')
    .addOption(idempotencyKeyOption())
    .action(async (id: string, date: string, options: { idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      await sendWithKey(idempotencyKey, (sent) => coffer.updateHold(id, { expiresAt: date === 'never' ? null : date }, sent));
      if (json) writeJson(null, idempotencyKey);
      else write(`hold ${id} expires ${date === 'never' ? 'never' : `at ${date}`}\n${fields([['idempotency-key', idempotencyKey]])}`);
    });

  holds
    .command('void')
    .description('cancel a hold: what remains goes back to the balances it came from')
    .argument('<hold-id>')
    .addOption(idempotencyKeyOption())
    .action(async (id: string, options: { idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      await sendWithKey(idempotencyKey, (sent) => coffer.voidHold(id, sent));
      if (json) writeJson(null, idempotencyKey);
      else write(`voided hold ${id}\n${fields([['idempotency-key', idempotencyKey]])}`);
    });
}
