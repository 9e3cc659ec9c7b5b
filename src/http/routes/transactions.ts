/** The transaction list: newest first, optionally for one wallet (all of its accounts). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { TransactionFilter } from '../../storage/transactions.ts';
import { listTransactions } from '../../wallets/list-transactions.ts';
import { sendJson } from '../command.ts';
import type { RouteDeps } from '../deps.ts';
import { encodeCursor, optionalId, parsePageQuery, SEQUENCE_KEY, type QueryString } from '../query.ts';
import { cursorView, transactionView } from '../views.ts';
import { route } from '../operations.ts';

export function transactionRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const transactionFilter: z.ZodType<TransactionFilter> = z.object({ walletId: z.string().optional() });

  route<{ Querystring: QueryString }>(app, 'getTransactions', async (request, reply) => {
    const page = parsePageQuery(request.query, transactionFilter, SEQUENCE_KEY, () => {
      const walletId = optionalId(request.query, 'walletID');
      return walletId !== undefined ? { walletId } : {};
    });
    const transactions = await listTransactions(deps.query, page);
    return sendJson(reply, cursorView(transactions, page.pageSize, (t) => transactionView(deps.ledger, t), encodeCursor));
  });
}
