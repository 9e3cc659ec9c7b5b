/**
 * Patch a balance: its overdraft limits (per asset; 0 removes one; assets not named keep
 * theirs), its priority, its expiry (null removes it). `main` takes only overdraft: it never
 * expires and is always spent last. A limit is refused (VALIDATION) when the balance is
 * already further below zero than it allows; the check and the change are made on the
 * locked volume row, in the batch's order, like any funds check. A closed wallet's balances
 * cannot change (WALLET_CLOSED).
 */
import { balanceAddress, MAIN } from '../domain/chart.ts';
import { expectLock } from '../domain/batch.ts';
import { ok, refused } from '../domain/errors.ts';
import type { Instant } from '../domain/time.ts';
import { changeRefusal } from '../domain/wallet-status.ts';
import type { WalletCommand } from '../committer/command.ts';
import { balanceChanged } from './events.ts';

export interface UpdateBalanceInput {
  readonly walletId: string;
  readonly name: string;
  readonly overdraft: ReadonlyMap<string, bigint>;
  readonly priority?: bigint;
  /** undefined = unchanged; null = no expiry. */
  readonly expiresAt?: Instant | null;
}

export function updateBalance(input: UpdateBalanceInput): WalletCommand<null> {
  const address = balanceAddress(input.walletId, input.name);
  const assets = [...input.overdraft.keys()];
  return {
    reads: (reads) => {
      reads.wallets.add(input.walletId);
      // A balance named in the path always exists before this command can succeed; its rows
      // may not yet (no asset moved), and are created after planning.
      for (const asset of assets) expectLock(reads, { address, asset });
    },
    plan: (snapshot) => {
      const wallet = snapshot.wallets.get(input.walletId);
      const balance = snapshot.balances.get(input.walletId)?.get(input.name);
      if (!wallet || !balance) return refused('NOT_FOUND', `balance ${input.name} of wallet ${input.walletId} not found`);
      const closed = changeRefusal(wallet.id, wallet.status);
      if (closed) return { ok: false, refusal: closed };
      if (input.name === MAIN && (input.priority !== undefined || input.expiresAt !== undefined)) {
        return refused('VALIDATION', 'main has no expiry or priority: it never expires and is spent last; only its overdraft can change');
      }
      return ok({
        locks: assets.map((asset) => ({ address, asset })),
        apply: (effects) => {
          const refusal = changeRefusal(wallet.id, effects.walletStatus(wallet.id)!);
          if (refusal) return { ok: false, refusal };
          for (const [asset, limit] of input.overdraft) {
            const current = effects.journal.balance(address, asset);
            if (current < -limit) {
              return refused('VALIDATION', `balance ${input.name} is at ${current} ${asset}: an overdraft limit of ${limit} would leave it beyond its limit`);
            }
          }
          for (const [asset, limit] of input.overdraft) effects.setOverdraft(address, asset, limit);
          if (input.priority !== undefined || input.expiresAt !== undefined) {
            // An earlier patch of this balance in the batch is the base: its other field stays.
            const base = effects.balancePatches.get(`${wallet.id}\u0000${input.name}`) ?? balance;
            effects.patchBalance({
              walletId: wallet.id,
              name: input.name,
              priority: input.priority ?? base.priority,
              expiresAt: input.expiresAt !== undefined ? input.expiresAt : base.expiresAt,
            });
          }
          // The balance as patched; `overdraft` shows the limits this patch set.
          const patched = effects.balancePatches.get(`${wallet.id}\u0000${input.name}`) ?? balance;
          balanceChanged(effects, 'balance.updated', wallet.id, { ...balance, expiresAt: patched.expiresAt, priority: patched.priority, overdraft: input.overdraft });
          return ok(null);
        },
      });
    },
  };
}
