/** Money-moving routes on a wallet: debit (immediate → 204, pending → 201 with the hold) and credit. */
import type { FastifyInstance } from 'fastify';
import { credit } from '../../wallets/credit.ts';
import { debit, DEFAULT_DESTINATION } from '../../wallets/debit.ts';
import { canonicalCredit, canonicalDebit } from '../canonical.ts';
import { created, idempotencyKey, noContent, parseBody, render, sendRun } from '../command.ts';
import type { RouteDeps } from '../deps.ts';
import { holdView } from '../views.ts';
import { route } from '../operations.ts';

export function moneyRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { schemas, run } = deps;

  route<{ Params: { id: string } }>(app, 'debitWallet', async (request, reply) => {
    const body = parseBody(schemas.debit, request.body);
    const walletId = request.params.id;
    const outcome = await run(idempotencyKey(request), {
      operation: 'debitWallet',
      principal: request.principal,
      requestId: request.id,
      params: { id: walletId },
      body: canonicalDebit(body),
      command: debit({ ...body, walletId, destination: body.destination ?? DEFAULT_DESTINATION, holdTtl: deps.holdTtl }),
      // A new hold is seen at the batch's clock, its creation instant.
      render: (result) => render(result, ({ hold }) => (hold ? created(holdView(hold, hold.createdAt)) : noContent())),
    });
    return sendRun(reply, outcome);
  });

  route<{ Params: { id: string } }>(app, 'creditWallet', async (request, reply) => {
    const body = parseBody(schemas.credit, request.body);
    const walletId = request.params.id;
    const outcome = await run(idempotencyKey(request), {
      operation: 'creditWallet',
      principal: request.principal,
      requestId: request.id,
      params: { id: walletId },
      body: canonicalCredit(body),
      command: credit({ ...body, walletId }),
      render: (result) => render(result, noContent),
    });
    return sendRun(reply, outcome);
  });
}
