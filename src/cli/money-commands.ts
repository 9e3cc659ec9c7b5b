/** `coffer credit`, `coffer debit [--pending]`, `coffer holds list|get|confirm|void`: moving money. */
import type { Command } from 'commander';
import type { ExpandedHold, Hold, ListHoldsQuery, Metadata, Subject } from '../client/index.ts';
import { amountArgument, collect, collectSubject, metadataEntry, subjectArgument } from './arguments.ts';
import { contextOf, idempotencyKeyOption, keyOf } from './context.ts';
import { fields, metadataText, pageText, subjectText, write, writeJsonValue } from './output.ts';
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
  ];
}

function expandedHoldText(hold: ExpandedHold): string {
  return fields([...holdFields(hold), ['original', String(hold.originalAmount)], ['remaining', String(hold.remaining)], ['status', hold.remaining === 0n ? 'closed' : 'open']]);
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
    await coffer.credit(walletId, { amount: { asset, amount }, balance, ...(options.source ? { sources: options.source } : {}), ...moveBody(options) }, { idempotencyKey });
    if (json) writeJsonValue({ credited: { walletId, balance, asset, amount }, idempotencyKey });
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
      .option('--description <text>', "the hold's description"),
  ).action(
    async (
      walletId: string,
      amount: bigint,
      asset: string,
      options: MoveOptions & { pending?: boolean; balance?: string[]; destination?: Subject; description?: string },
      command: Command,
    ) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      const hold = await coffer.debit(
        walletId,
        {
          amount: { asset, amount },
          pending: options.pending === true,
          ...(options.balance ? { balances: options.balance } : {}),
          ...(options.destination ? { destination: options.destination } : {}),
          ...(options.description !== undefined ? { description: options.description } : {}),
          ...moveBody(options),
        },
        { idempotencyKey },
      );
      if (json) writeJsonValue(hold ? { hold, idempotencyKey } : { debited: { walletId, asset, amount }, idempotencyKey });
      else if (hold) write(`${amount} ${asset} on hold\n${fields([...holdFields(hold), ['idempotency-key', idempotencyKey]])}`);
      else write(`debited ${amount} ${asset} from wallet ${walletId}\n${fields([['idempotency-key', idempotencyKey]])}`);
    },
  );
}

function holdsCommand(program: Command): void {
  const holds = program.command('holds').description('pending debits: list, show, confirm, void');

  pageOptions(
    holds
      .command('list')
      .description('list holds in creation order, closed ones included')
      .option('--wallet <wallet-id>', "only this wallet's holds")
      .option('--metadata <key=value>', 'only holds with this metadata entry (repeatable)', metadataEntry),
  ).action(async (options: { wallet?: string; metadata?: Metadata; pageSize?: number; cursor?: string; all?: boolean }, command: Command) => {
    const { coffer, json } = contextOf(command);
    const query = { ...(options.wallet !== undefined ? { walletID: options.wallet } : {}), ...(options.metadata ? { metadata: options.metadata } : {}) };
    const page = await fetchList((q: ListHoldsQuery) => coffer.listHolds(q), query, options);
    if (json) writeJsonValue(page);
    else write(pageText(page, ['ID', 'WALLET', 'ASSET', 'DESTINATION', 'DESCRIPTION'], (h) => [h.id, h.walletID, h.asset, subjectText(h.destination), h.description || '-'], 'coffer holds list'));
  });

  holds
    .command('get')
    .description('show a hold with its original and remaining amounts')
    .argument('<hold-id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { coffer, json } = contextOf(command);
      const hold = await coffer.getHold(id);
      if (json) writeJsonValue(hold);
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
      await coffer.confirmHold(id, { ...(options.amount !== undefined ? { amount: options.amount } : {}), final: options.final === true }, { idempotencyKey });
      const hold = await coffer.getHold(id);
      if (json) writeJsonValue({ hold, idempotencyKey });
      else write(`confirmed hold ${id}\n${fields([['remaining', String(hold.remaining)], ['idempotency-key', idempotencyKey]])}`);
    });

  holds
    .command('void')
    .description('cancel a hold: what remains goes back to the balances it came from')
    .argument('<hold-id>')
    .addOption(idempotencyKeyOption())
    .action(async (id: string, options: { idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      await coffer.voidHold(id, { idempotencyKey });
      if (json) writeJsonValue({ voided: id, idempotencyKey });
      else write(`voided hold ${id}\n${fields([['idempotency-key', idempotencyKey]])}`);
    });
}
