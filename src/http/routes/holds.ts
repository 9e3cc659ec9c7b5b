/** Hold routes: list (by status too), get with amounts, patch its expiry, confirm, void. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HoldFilter } from '../../storage/holds.ts';
import { HOLD_STATUSES, type HoldStatus } from '../../domain/records.ts';
import { ClientError } from '../../domain/errors.ts';
import { updateHold } from '../../wallets/update-hold.ts';
import { getHold, listHolds } from '../../wallets/holds.ts';
import { canonicalUpdateHold } from '../canonical.ts';
import { idempotencyKey, noContent, notFound, parseBody, render, sendData, sendJson, sendRun } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import type { RouteDeps } from '../deps.ts';
import { encodeCursor, first, optionalId, parseMetadataFilter, parsePageQuery, SEQUENCE_KEY, type QueryString } from '../query.ts';
import { cursorView, expandedHoldView, holdView } from '../views.ts';
import { route } from '../operations.ts';

type HoldParams = { Params: { holdID: string } };

/** `status=` of the hold list: one of the hold statuses, else a 400. */
function holdStatusFilter(query: QueryString): HoldStatus | undefined {
  const status = first(query, 'status');
  if (status === undefined || status === '') return undefined;
  if (!(HOLD_STATUSES as readonly string[]).includes(status)) {
    throw new ClientError('VALIDATION', `status must be one of ${HOLD_STATUSES.join(', ')}, got ${JSON.stringify(status.slice(0, 32))}`);
  }
  return status as HoldStatus;
}

export function holdRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { schemas, run, query } = deps;
  const holdFilter: z.ZodType<HoldFilter> = z.object({
    walletId: z.string().optional(),
    metadata: schemas.metadata.optional(),
    status: z.enum(HOLD_STATUSES).optional(),
  });

  route<{ Querystring: QueryString }>(app, 'getHolds', async (request, reply) => {
    const page = parsePageQuery(request.query, holdFilter, SEQUENCE_KEY, () => {
      const walletId = optionalId(request.query, 'walletID');
      const metadata = parseMetadataFilter(request.query, deps.limits);
      const status = holdStatusFilter(request.query);
      return { ...(walletId !== undefined ? { walletId } : {}), ...(metadata ? { metadata } : {}), ...(status ? { status } : {}) };
    });
    // One instant for the filter and the statuses shown, so a page never contradicts its filter.
    const now = query.clock();
    const holds = await listHolds({ ...query, clock: () => now }, page);
    return sendJson(reply, cursorView(holds, page.pageSize, (hold) => holdView(hold, now), encodeCursor));
  });

  route<HoldParams>(app, 'getHold', async (request, reply) => {
    const hold = await getHold(query, request.params.holdID);
    if (!hold) notFound(`hold ${request.params.holdID}`);
    return sendData(reply, expandedHoldView(hold, query.clock()));
  });

  route<HoldParams>(app, 'updateHold', async (request, reply) => {
    const body = parseBody(schemas.updateHold, request.body);
    const holdId = request.params.holdID;
    const outcome = await run(idempotencyKey(request), {
      operation: 'updateHold',
      principal: request.principal,
      requestId: request.id,
      params: { holdID: holdId },
      body: canonicalUpdateHold(body),
      command: updateHold({ holdId, expiresAt: body.expiresAt }),
      render: (result) => render(result, noContent),
    });
    return sendRun(reply, outcome);
  });

  route<HoldParams>(app, 'confirmHold', async (request, reply) => {
    const command = COMMANDS.confirmHold(deps, { params: { holdID: request.params.holdID }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });

  // Void takes no body; one that is sent is ignored, as the reference does.
  route<HoldParams>(app, 'voidHold', async (request, reply) => {
    const command = COMMANDS.voidHold(deps, { params: { holdID: request.params.holdID }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });
}
