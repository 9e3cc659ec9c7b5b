/** Money-moving routes on a wallet: debit (immediate → 204, pending → 201 with the hold) and credit. */
import type { FastifyInstance } from 'fastify';
import { idempotencyKey, sendRun } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import type { RouteDeps } from '../deps.ts';
import { route } from '../operations.ts';

export function moneyRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { run } = deps;

  route<{ Params: { id: string } }>(app, 'debitWallet', async (request, reply) => {
    const command = COMMANDS.debitWallet(deps, { params: { id: request.params.id }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });

  route<{ Params: { id: string } }>(app, 'creditWallet', async (request, reply) => {
    const command = COMMANDS.creditWallet(deps, { params: { id: request.params.id }, body: request.body, principal: request.principal, requestId: request.id });
    return sendRun(reply, await run(idempotencyKey(request), command));
  });
}
