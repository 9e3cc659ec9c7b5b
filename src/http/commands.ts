/**
 * The committer `Command` of every mutation that `POST /bulk` can carry, built from a parsed
 * request: its path parameters and its JSON body. The single routes (money.ts, wallets.ts,
 * balances.ts, holds.ts) and the bulk route (bulk.ts) build their commands here, so one
 * operation is the same command — the same validation, canonical form, fingerprint, use case
 * and rendered answer — whichever way it arrives.
 */
import type { Principal } from '../domain/principal.ts';
import type { Command } from '../committer/committer.ts';
import { confirmHold } from '../wallets/confirm-hold.ts';
import { createBalance } from '../wallets/create-balance.ts';
import { createWallet } from '../wallets/create-wallet.ts';
import { credit } from '../wallets/credit.ts';
import { debit, DEFAULT_DESTINATION } from '../wallets/debit.ts';
import { updateWallet } from '../wallets/update-wallet.ts';
import { voidHold } from '../wallets/void-hold.ts';
import {
  canonicalConfirmHold,
  canonicalCreateBalance,
  canonicalCreateWallet,
  canonicalCredit,
  canonicalDebit,
  canonicalUpdateWallet,
  canonicalVoidHold,
} from './canonical.ts';
import { created, noContent, parseBody, render } from './command.ts';
import type { RouteDeps } from './deps.ts';
import { balanceView, holdView, walletView } from './views.ts';

/** The mutations a bulk request may carry, by the operation id of their single route. */
export type BulkOperation = 'createWallet' | 'updateWallet' | 'createBalance' | 'creditWallet' | 'debitWallet' | 'confirmHold' | 'voidHold';

/** What a command is built from: the request's path parameters (`id` or `holdID`), its body (undefined = none), its client and its request id (named by the events it causes). */
export interface CommandRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly principal: Principal | null;
  readonly requestId?: string;
}

/** A new balance's limits: an asset at 0 has none. */
function limitsOf(overdraft: Readonly<Record<string, bigint>> | undefined): Map<string, bigint> {
  return new Map(Object.entries(overdraft ?? {}).filter(([, limit]) => limit !== 0n));
}

type Builder = (deps: RouteDeps, request: CommandRequest) => Command<unknown>;

function walletId(request: CommandRequest): string {
  return request.params.id!;
}

function holdId(request: CommandRequest): string {
  return request.params.holdID!;
}

/**
 * Each builder validates the body (a `ClientError` VALIDATION, nothing run) and returns the
 * command. Types are erased to `Command<unknown>`: the committer's queue erases them anyway.
 */
export const COMMANDS: Record<BulkOperation, Builder> = {
  createWallet: (deps, request) => {
    const body = parseBody(deps.schemas.createWallet, request.body, {});
    return erase({
      operation: 'createWallet',
      principal: request.principal,
      requestId: request.requestId,
      params: {},
      body: canonicalCreateWallet(body),
      command: createWallet(body),
      render: (result) => render(result, (wallet) => created(walletView(deps.ledger, wallet, new Map()))),
    });
  },
  updateWallet: (deps, request) => {
    const body = parseBody(deps.schemas.updateWallet, request.body);
    const id = walletId(request);
    return erase({
      operation: 'updateWallet',
      principal: request.principal,
      requestId: request.requestId,
      params: { id },
      body: canonicalUpdateWallet(body),
      command: updateWallet({ walletId: id, metadata: body.metadata ?? {}, status: body.status }),
      render: (result) => render(result, noContent),
    });
  },
  createBalance: (deps, request) => {
    const body = parseBody(deps.schemas.createBalance, request.body);
    const id = walletId(request);
    return erase({
      operation: 'createBalance',
      principal: request.principal,
      requestId: request.requestId,
      params: { id },
      body: canonicalCreateBalance(body),
      command: createBalance({
        walletId: id,
        balance: { name: body.name, expiresAt: body.expiresAt, priority: body.priority },
        overdraft: limitsOf(body.overdraft),
      }),
      render: (result) => render(result, ({ balance, overdraft }) => created(balanceView({ ...balance, overdraft }))),
    });
  },
  creditWallet: (deps, request) => {
    const body = parseBody(deps.schemas.credit, request.body);
    const id = walletId(request);
    return erase({
      operation: 'creditWallet',
      principal: request.principal,
      requestId: request.requestId,
      params: { id },
      body: canonicalCredit(body),
      command: credit({ ...body, walletId: id }),
      render: (result) => render(result, noContent),
    });
  },
  debitWallet: (deps, request) => {
    const body = parseBody(deps.schemas.debit, request.body);
    const id = walletId(request);
    return erase({
      operation: 'debitWallet',
      principal: request.principal,
      requestId: request.requestId,
      params: { id },
      body: canonicalDebit(body),
      command: debit({ ...body, walletId: id, destination: body.destination ?? DEFAULT_DESTINATION, holdTtl: deps.holdTtl }),
      // A new hold is seen at the batch's clock, its creation instant.
      render: (result) => render(result, ({ hold }) => (hold ? created(holdView(hold, hold.createdAt)) : noContent())),
    });
  },
  confirmHold: (deps, request) => {
    const body = parseBody(deps.schemas.confirmHold, request.body, {});
    const id = holdId(request);
    return erase({
      operation: 'confirmHold',
      principal: request.principal,
      requestId: request.requestId,
      params: { holdID: id },
      body: canonicalConfirmHold(body),
      command: confirmHold({ holdId: id, amount: body.amount, final: body.final }),
      render: (result) => render(result, noContent),
    });
  },
  // Void takes no body; one that is sent is ignored, as the reference does.
  voidHold: (_deps, request) => {
    const id = holdId(request);
    return erase({
      operation: 'voidHold',
      principal: request.principal,
      requestId: request.requestId,
      params: { holdID: id },
      body: canonicalVoidHold(),
      command: voidHold({ holdId: id }),
      render: (result) => render(result, noContent),
    });
  },
};

function erase<Value>(command: Command<Value>): Command<unknown> {
  return command as unknown as Command<unknown>;
}
