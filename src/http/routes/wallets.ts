/** Wallet routes: list, create, get, patch, summary. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getWallet } from '../../wallets/get-wallet.ts';
import { listWallets } from '../../wallets/list-wallets.ts';
import { walletSummary } from '../../wallets/wallet-summary.ts';
import type { WalletFilter } from '../../storage/wallets.ts';
import { idempotencyKey, notFound, sendData, sendJson, sendRun } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import type { RouteDeps } from '../deps.ts';
import { encodeCursor, first, parseMetadataFilter, parsePageQuery, SEQUENCE_KEY, type QueryString } from '../query.ts';
import { cursorView, summaryView, walletView } from '../views.ts';
import { route } from '../operations.ts';

type WalletParams = { Params: { id: string } };

export function walletRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { ledger, schemas, run, query } = deps;
  const walletFilter: z.ZodType<WalletFilter> = z.object({ name: z.string().optional(), metadata: schemas.metadata.optional() });

  route<{ Querystring: QueryString }>(app, 'listWallets', async (request, reply) => {
    const page = parsePageQuery(request.query, walletFilter, SEQUENCE_KEY, () => {
      const name = first(request.query, 'name');
      const metadata = parseMetadataFilter(request.query, deps.limits);
      return { ...(name !== undefined ? { name } : {}), ...(metadata ? { metadata } : {}) };
    });
    const expand = first(request.query, 'expand') === 'balances';
    const wallets = await listWallets(query, page, expand);
    return sendJson(reply, cursorView(wallets, page.pageSize, (w) => walletView(ledger, w.wallet, w.mainAssets), encodeCursor));
  });

  route(app, 'createWallet', async (request, reply) => {
    const command = COMMANDS.createWallet(deps, { params: {}, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });

  route<WalletParams>(app, 'getWallet', async (request, reply) => {
    const found = await getWallet(query, request.params.id);
    if (!found) notFound(`wallet ${request.params.id}`);
    return sendData(reply, walletView(ledger, found.wallet, found.mainAssets));
  });

  route<WalletParams>(app, 'updateWallet', async (request, reply) => {
    const command = COMMANDS.updateWallet(deps, { params: { id: request.params.id }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });

  route<WalletParams>(app, 'getWalletSummary', async (request, reply) => {
    const summary = await walletSummary(query, request.params.id);
    if (!summary) notFound(`wallet ${request.params.id}`);
    return sendData(reply, summaryView(summary));
  });
}
