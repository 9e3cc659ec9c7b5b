/** Hold routes: list, get with amounts, confirm, void. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HoldFilter } from '../../storage/holds.ts';
import { confirmHold } from '../../wallets/confirm-hold.ts';
import { getHold, listHolds } from '../../wallets/holds.ts';
import { voidHold } from '../../wallets/void-hold.ts';
import { canonicalConfirmHold, canonicalVoidHold } from '../canonical.ts';
import { idempotencyKey, noContent, notFound, parseBody, render, sendData, sendJson, sendRun } from '../command.ts';
import type { RouteDeps } from '../deps.ts';
import { encodeCursor, optionalId, parseMetadataFilter, parsePageQuery, SEQUENCE_KEY, type QueryString } from '../query.ts';
import { cursorView, expandedHoldView, holdView } from '../views.ts';
import { route } from '../operations.ts';

type HoldParams = { Params: { holdID: string } };

export function holdRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { schemas, run, query } = deps;
  const holdFilter: z.ZodType<HoldFilter> = z.object({ walletId: z.string().optional(), metadata: schemas.metadata.optional() });

  route<{ Querystring: QueryString }>(app, 'getHolds', async (request, reply) => {
    const page = parsePageQuery(request.query, holdFilter, SEQUENCE_KEY, () => {
      const walletId = optionalId(request.query, 'walletID');
      const metadata = parseMetadataFilter(request.query, deps.limits);
      return { ...(walletId !== undefined ? { walletId } : {}), ...(metadata ? { metadata } : {}) };
    });
    const holds = await listHolds(query, page);
    return sendJson(reply, cursorView(holds, page.pageSize, holdView, encodeCursor));
  });

  route<HoldParams>(app, 'getHold', async (request, reply) => {
    const hold = await getHold(query, request.params.holdID);
    if (!hold) notFound(`hold ${request.params.holdID}`);
    return sendData(reply, expandedHoldView(hold));
  });

  route<HoldParams>(app, 'confirmHold', async (request, reply) => {
    const body = parseBody(schemas.confirmHold, request.body, {});
    const holdId = request.params.holdID;
    const outcome = await run(idempotencyKey(request), {
      operation: 'confirmHold',
      principal: request.principal,
      params: { holdID: holdId },
      body: canonicalConfirmHold(body),
      command: confirmHold({ holdId, amount: body.amount, final: body.final }),
      render: (result) => render(result, noContent),
    });
    return sendRun(reply, outcome);
  });

  // Void takes no body; one that is sent is ignored, as the reference does.
  route<HoldParams>(app, 'voidHold', async (request, reply) => {
    const holdId = request.params.holdID;
    const outcome = await run(idempotencyKey(request), {
      operation: 'voidHold',
      principal: request.principal,
      params: { holdID: holdId },
      body: canonicalVoidHold(),
      command: voidHold({ holdId }),
      render: (result) => render(result, noContent),
    });
    return sendRun(reply, outcome);
  });
}
