/** Balance routes: list, create, get one with amounts, patch. Debit and credit live in money.ts. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BALANCE_NAME_PATTERN } from '../../domain/balance.ts';
import type { BalanceFilter } from '../../storage/balances.ts';
import { updateBalance } from '../../wallets/update-balance.ts';
import { getBalance } from '../../wallets/get-balance.ts';
import { listBalances } from '../../wallets/list-balances.ts';
import { canonicalUpdateBalance } from '../canonical.ts';
import { idempotencyKey, noContent, notFound, parseBody, render, sendData, sendJson, sendRun } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import type { RouteDeps } from '../deps.ts';
import { encodeCursor, parsePageQuery, type QueryString } from '../query.ts';
import { balanceView, balanceWithAssetsView, cursorView } from '../views.ts';
import { route } from '../operations.ts';

export function balanceRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { schemas, run, query } = deps;
  const balanceFilter: z.ZodType<BalanceFilter> = z.object({ walletId: z.string() });

  route<{ Params: { id: string }; Querystring: QueryString }>(app, 'listBalances', async (request, reply) => {
    // The wallet in the path wins over the one a cursor carries.
    const page = parsePageQuery(request.query, balanceFilter, BALANCE_NAME_PATTERN, () => ({ walletId: request.params.id }));
    const balances = await listBalances(query, { ...page, filter: { walletId: request.params.id } });
    if (!balances) notFound(`wallet ${request.params.id}`);
    return sendJson(reply, cursorView(balances, page.pageSize, balanceView, encodeCursor));
  });

  route<{ Params: { id: string } }>(app, 'createBalance', async (request, reply) => {
    const command = COMMANDS.createBalance(deps, { params: { id: request.params.id }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });

  route<{ Params: { id: string; balanceName: string } }>(app, 'updateBalance', async (request, reply) => {
    const body = parseBody(schemas.updateBalance, request.body);
    const { id: walletId, balanceName } = request.params;
    const outcome = await run(idempotencyKey(request), {
      operation: 'updateBalance',
      principal: request.principal,
      requestId: request.id,
      params: { id: walletId, balanceName },
      body: canonicalUpdateBalance(body),
      command: updateBalance({
        walletId,
        name: balanceName,
        overdraft: new Map(Object.entries(body.overdraft ?? {})),
        ...(body.priority !== undefined ? { priority: body.priority } : {}),
        ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt } : {}),
      }),
      render: (result) => render(result, noContent),
    });
    return sendRun(reply, outcome);
  });

  route<{ Params: { id: string; balanceName: string } }>(app, 'getBalance', async (request, reply) => {
    const balance = await getBalance(query, request.params.id, request.params.balanceName);
    if (!balance) notFound(`balance ${request.params.balanceName} of wallet ${request.params.id}`);
    return sendData(reply, balanceWithAssetsView(balance));
  });
}
