/** Ledger transactions, newest first; for a wallet, those touching any of its accounts. */
import type { Transaction } from '../domain/records.ts';
import type { Page, PageQuery } from '../storage/sql.ts';
import { listTransactions as listTransactionRows, type TransactionFilter } from '../storage/transactions.ts';
import type { QueryContext } from './query-context.ts';

export function listTransactions(context: QueryContext, query: PageQuery<TransactionFilter>): Promise<Page<Transaction, TransactionFilter>> {
  return listTransactionRows(context.db, context.ledger, query);
}
