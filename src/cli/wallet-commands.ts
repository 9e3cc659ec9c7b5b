/** `coffer wallets …`, `coffer balances …`, `coffer summary`, `coffer transactions list`: reading and shaping wallets. */
import type { Command } from 'commander';
import { all, type Balance, type ListTransactionsQuery, type ListWalletsQuery, type Metadata, type Page, type PageQuery, type Transaction, type Wallet, type WalletStatus } from '../client/index.ts';
import { metadataEntry, overdraftEntry, pageSizeArgument, priorityArgument } from './arguments.ts';
import { amounts, fields, metadataText, pageText, table, write, writeJson, writeJsonList } from './output.ts';
import { contextOf, idempotencyKeyOption, keyOf, sendWithKey } from './context.ts';

interface ListOptions {
  pageSize?: number;
  cursor?: string;
  all?: boolean;
}

/**
 * `--page-size`, `--cursor` and `--all` on every list command. `--all` means one thing
 * everywhere: follow the cursors and list every page (from --cursor's page, if given).
 */
export function pageOptions(command: Command): Command {
  return command
    .option('--page-size <n>', 'items per page (1 to 100; default 15; with --all, items per request, default 100)', pageSizeArgument)
    .option('--cursor <token>', 'start at the page a previous list pointed to ("more:" in text, "next" in JSON)')
    .option('--all', 'follow the cursors: list every page, not just one');
}

/** One page, or with --all every item of every page in one list (no next page). */
export async function fetchList<Item, Q extends PageQuery>(list: (query: Q) => Promise<Page<Item>>, query: Q, options: ListOptions): Promise<Page<Item>> {
  const pageQuery = { ...query, ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}), ...(options.cursor !== undefined ? { cursor: options.cursor } : {}) };
  if (!options.all) return list(pageQuery);
  const items: Item[] = [];
  for await (const item of all(list, { ...pageQuery, pageSize: options.pageSize ?? 100 })) items.push(item);
  return { pageSize: items.length, hasMore: false, data: items };
}

function walletText(wallet: Wallet): string {
  return fields([
    ['id', wallet.id],
    ['name', wallet.name || '-'],
    ['created', wallet.createdAt],
    ['ledger', wallet.ledger],
    ['metadata', metadataText(wallet.metadata)],
    ['main', amounts(wallet.balances.main.assets)],
    ['status', `${wallet.status}${wallet.statusChangedAt === null ? '' : ` since ${wallet.statusChangedAt}${wallet.statusChangedBy !== null ? ` (by ${wallet.statusChangedBy})` : ''}`}`],
  ]);
}

function balanceRow(balance: Balance): string[] {
  return [balance.name, balance.expiresAt ?? '-', String(balance.priority), balance.overdraft ? amounts(balance.overdraft) : '-'];
}

const BALANCE_HEADERS = ['NAME', 'EXPIRES', 'PRIORITY', 'OVERDRAFT'];

/** `wallets freeze|unfreeze|close`: the status each sets, and what it means. */
const STATUS_COMMANDS: readonly { name: string; status: WalletStatus; description: string; done: string }[] = [
  { name: 'freeze', status: 'frozen', description: 'freeze a wallet: money may still come in (credits, voids, expiry), none may leave', done: 'frozen' },
  { name: 'unfreeze', status: 'active', description: 'make a frozen wallet active again', done: 'active' },
  { name: 'close', status: 'closed', description: 'close a wallet for good: it must hold nothing (every balance and hold at zero); it then only answers reads', done: 'closed' },
];

function transactionRow(transaction: Transaction): string[] {
  const postings = transaction.postings.map((p) => `${p.source} -> ${p.destination} ${p.amount} ${p.asset}`).join('; ');
  return [String(transaction.id), transaction.timestamp, postings, transaction.reference ?? '-'];
}

export function walletCommands(program: Command): void {
  walletsCommand(program);
  summaryCommand(program);
  balancesCommand(program);
  transactionsCommand(program);
}

function walletsCommand(program: Command): void {
  const wallets = program.command('wallets').description('create, list and show wallets; freeze, unfreeze or close one');

  wallets
    .command('create')
    .description('create a wallet')
    .option('--name <name>', "the wallet's name (free text, not unique)")
    .option('--metadata <key=value>', 'a metadata entry (repeatable)', metadataEntry)
    .addOption(idempotencyKeyOption())
    .action(async (options: { name?: string; metadata?: Metadata; idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      const request = { ...(options.name !== undefined ? { name: options.name } : {}), ...(options.metadata ? { metadata: options.metadata } : {}) };
      const wallet = await sendWithKey(idempotencyKey, (sent) => coffer.createWallet(request, sent));
      if (json) writeJson(wallet, idempotencyKey);
      else write(`${walletText(wallet)}\n${fields([['idempotency-key', idempotencyKey]])}`);
    });

  pageOptions(
    wallets
      .command('list')
      .description('list wallets in creation order, with their main balance')
      .option('--name <name>', 'only wallets with this exact name')
      .option('--metadata <key=value>', 'only wallets with this metadata entry (repeatable: all must match)', metadataEntry),
  ).action(async (options: ListOptions & { name?: string; metadata?: Metadata }, command: Command) => {
    const { coffer, json } = contextOf(command);
    const query = { expand: 'balances' as const, ...(options.name !== undefined ? { name: options.name } : {}), ...(options.metadata ? { metadata: options.metadata } : {}) };
    const page = await fetchList((q: ListWalletsQuery) => coffer.listWallets(q), query, options);
    if (json) writeJsonList(page);
    else write(pageText(page, ['ID', 'NAME', 'CREATED', 'MAIN', 'METADATA'], (w) => [w.id, w.name || '-', w.createdAt, amounts(w.balances.main.assets), metadataText(w.metadata)], 'coffer wallets list'));
  });

  wallets
    .command('get')
    .description('show a wallet and its main balance')
    .argument('<wallet-id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { coffer, json } = contextOf(command);
      const wallet = await coffer.getWallet(id);
      if (json) writeJson(wallet);
      else write(walletText(wallet));
    });

  for (const change of STATUS_COMMANDS) {
    wallets
      .command(change.name)
      .description(change.description)
      .argument('<wallet-id>')
      .addOption(idempotencyKeyOption())
      .action(async (id: string, options: { idempotencyKey?: string }, command: Command) => {
        const { coffer, json } = contextOf(command);
        const idempotencyKey = keyOf(options);
        await sendWithKey(idempotencyKey, (sent) => coffer.setWalletStatus(id, change.status, sent));
        if (json) writeJson(null, idempotencyKey);
        else write(`wallet ${id} is ${change.done}\n${fields([['idempotency-key', idempotencyKey]])}`);
      });
  }
}

function summaryCommand(program: Command): void {
  program
    .command('summary')
    .description("a wallet's balances and its available, expired, expirable and held funds")
    .argument('<wallet-id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { coffer, json } = contextOf(command);
      const summary = await coffer.walletSummary(id);
      if (json) return writeJson(summary);
      const rows = summary.balances.map((balance) => [...balanceRow(balance), amounts(balance.assets)]);
      write(
        [
          table(['BALANCE', 'EXPIRES', 'PRIORITY', 'OVERDRAFT', 'AMOUNTS'], rows),
          '',
          fields([
            ['available', amounts(summary.availableFunds)],
            ['on hold', amounts(summary.holdFunds)],
            ['expirable', amounts(summary.expirableFunds)],
            ['expired', amounts(summary.expiredFunds)],
          ]),
        ].join('\n'),
      );
    });
}

function balancesCommand(program: Command): void {
  const balances = program.command('balances').description("a wallet's named balances");

  pageOptions(balances.command('list').description("list a wallet's balances in name order, main included").argument('<wallet-id>')).action(
    async (id: string, options: ListOptions, command: Command) => {
      const { coffer, json } = contextOf(command);
      const page = await fetchList((q) => coffer.listBalances(id, q), {}, options);
      if (json) writeJsonList(page);
      else write(pageText(page, BALANCE_HEADERS, balanceRow, `coffer balances list ${id}`));
    },
  );

  balances
    .command('create')
    .description('create a named balance')
    .argument('<wallet-id>')
    .argument('<name>', 'letters, digits, _ and -; not main')
    .option('--expires-at <date>', 'RFC 3339 date-time after which the balance is not spent')
    .option('--priority <n>', 'spending order with "*" (lower first; default 0)', priorityArgument)
    .option('--overdraft <asset=limit>', 'let the balance go down to minus limit in that asset (repeatable)', overdraftEntry)
    .addOption(idempotencyKeyOption())
    .action(async (id: string, name: string, options: { expiresAt?: string; priority?: bigint; overdraft?: Record<string, bigint>; idempotencyKey?: string }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const idempotencyKey = keyOf(options);
      const request = {
        name,
        ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
        ...(options.overdraft ? { overdraft: options.overdraft } : {}),
      };
      const balance = await sendWithKey(idempotencyKey, (sent) => coffer.createBalance(id, request, sent));
      if (json) writeJson(balance, idempotencyKey);
      else write(`${table(BALANCE_HEADERS, [balanceRow(balance)])}\n\n${fields([['idempotency-key', idempotencyKey]])}`);
    });

  balances
    .command('update')
    .description("change a balance's overdraft limits, priority or expiry (main: overdraft only)")
    .argument('<wallet-id>')
    .argument('<name>')
    .option('--overdraft <asset=limit>', 'set the limit in that asset; 0 removes it (repeatable; other assets keep theirs)', overdraftEntry)
    .option('--priority <n>', 'spending order with "*" (lower first)', priorityArgument)
    .option('--expires-at <date>', 'a new RFC 3339 expiry, or "never" to remove it')
    .addOption(idempotencyKeyOption())
    .action(
      async (id: string, name: string, options: { overdraft?: Record<string, bigint>; priority?: bigint; expiresAt?: string; idempotencyKey?: string }, command: Command) => {
        const { coffer, json } = contextOf(command);
        const idempotencyKey = keyOf(options);
        const request = {
          ...(options.overdraft ? { overdraft: options.overdraft } : {}),
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
          ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt === 'never' ? null : options.expiresAt } : {}),
        };
        await sendWithKey(idempotencyKey, (sent) => coffer.updateBalance(id, name, request, sent));
        if (json) writeJson(null, idempotencyKey);
        else write(`updated balance ${name} of wallet ${id}\n${fields([['idempotency-key', idempotencyKey]])}`);
      },
    );

  balances
    .command('get')
    .description('show a balance with its amounts')
    .argument('<wallet-id>')
    .argument('<name>')
    .action(async (id: string, name: string, _options: unknown, command: Command) => {
      const { coffer, json } = contextOf(command);
      const balance = await coffer.getBalance(id, name);
      if (json) writeJson(balance);
      else {
        write(
          fields([
            ['name', balance.name],
            ['expires', balance.expiresAt ?? '-'],
            ['priority', String(balance.priority)],
            ['overdraft', balance.overdraft ? amounts(balance.overdraft) : '-'],
            ['amounts', amounts(balance.assets)],
          ]),
        );
      }
    });
}

function transactionsCommand(program: Command): void {
  const transactions = program.command('transactions').description('the ledger transactions wallets made');
  pageOptions(
    transactions
      .command('list')
      .description('list transactions, newest first')
      .option('--wallet <wallet-id>', "only those touching this wallet's accounts"),
  ).action(async (options: ListOptions & { wallet?: string }, command: Command) => {
    const { coffer, json } = contextOf(command);
    const page = await fetchList((q: ListTransactionsQuery) => coffer.listTransactions(q), options.wallet !== undefined ? { walletID: options.wallet } : {}, options);
    if (json) writeJsonList(page);
    else write(pageText(page, ['ID', 'TIMESTAMP', 'POSTINGS', 'REFERENCE'], transactionRow, `coffer transactions list${options.wallet ? ` --wallet ${options.wallet}` : ''}`));
  });
}
