/**
 * The ledger's invariants, checked over a whole database: by the tests after every
 * scenario and by `coffer verify`. Each query returns the rows that break a rule.
 * 1. For every asset, all balances sum to zero ('world' derived from its postings).
 * 2. Every volume row equals the sum of its account's postings.
 * 3. No account is below minus its overdraft limit (0 unless set); only 'world' is unbounded.
 * 4. A hold's remaining equals its account's balance, and never exceeds its original amount.
 * 5. Every account row belongs to the wallet its address names (domain/chart.ts
 *    accountOwner): `wallets:{id}:{balance}` to wallet id, a hold's account to the hold's
 *    wallet, any other address to none. A wallet's transaction list finds its postings
 *    through these rows, so a wrong one hides movements.
 * 6. A wallet's status is the one its last recorded change set (active when it has none),
 *    and a closed wallet holds nothing: every account of it (balances, holds) is at zero.
 */
import type { Queryable } from './database.ts';

export interface Violation {
  readonly rule: 'sum-per-asset' | 'volumes-match-postings' | 'within-overdraft' | 'hold-remaining' | 'account-wallet' | 'wallet-status';
  readonly detail: string;
}

export async function findViolations(q: Queryable): Promise<Violation[]> {
  const violations: Violation[] = [];
  const sums = await q.query<{ ledger: string; asset: string; total: string }>(
    `WITH world AS (
       SELECT ledger, asset, sum(CASE WHEN destination = 'world' THEN amount ELSE 0 END)
                           - sum(CASE WHEN source = 'world' THEN amount ELSE 0 END) AS balance
       FROM postings WHERE source = 'world' OR destination = 'world' GROUP BY ledger, asset
     ), accounts AS (
       SELECT ledger, asset, sum(input - output) AS balance FROM volumes GROUP BY ledger, asset
     )
     SELECT coalesce(w.ledger, a.ledger) AS ledger, coalesce(w.asset, a.asset) AS asset,
            (coalesce(w.balance, 0) + coalesce(a.balance, 0))::text AS total
     FROM world w FULL JOIN accounts a ON a.ledger = w.ledger AND a.asset = w.asset
     WHERE coalesce(w.balance, 0) + coalesce(a.balance, 0) <> 0`,
  );
  for (const row of sums) violations.push({ rule: 'sum-per-asset', detail: `ledger ${row.ledger} asset ${row.asset}: balances sum to ${row.total}` });

  const mismatched = await q.query<{ ledger: string; address: string; asset: string; input: string; output: string; posted_in: string; posted_out: string }>(
    `WITH posted AS (
       SELECT ledger, address, asset, sum(input) AS input, sum(output) AS output FROM (
         SELECT ledger, destination AS address, asset, amount AS input, 0 AS output FROM postings
         UNION ALL
         SELECT ledger, source AS address, asset, 0 AS input, amount AS output FROM postings
       ) moves WHERE address <> 'world' GROUP BY ledger, address, asset
     )
     SELECT coalesce(v.ledger, p.ledger) AS ledger, coalesce(v.address, p.address) AS address, coalesce(v.asset, p.asset) AS asset,
            coalesce(v.input, 0)::text AS input, coalesce(v.output, 0)::text AS output,
            coalesce(p.input, 0)::text AS posted_in, coalesce(p.output, 0)::text AS posted_out
     FROM volumes v FULL JOIN posted p ON p.ledger = v.ledger AND p.address = v.address AND p.asset = v.asset
     WHERE coalesce(v.input, 0) <> coalesce(p.input, 0) OR coalesce(v.output, 0) <> coalesce(p.output, 0)`,
  );
  for (const row of mismatched) {
    violations.push({
      rule: 'volumes-match-postings',
      detail: `${row.ledger} ${row.address} ${row.asset}: volumes in ${row.input} out ${row.output}, postings in ${row.posted_in} out ${row.posted_out}`,
    });
  }

  const overdrawn = await q.query<{ ledger: string; address: string; asset: string; balance: string; overdraft: string }>(
    `SELECT ledger, address, asset, (input - output)::text AS balance, overdraft::text AS overdraft FROM volumes
     WHERE (input - output < -overdraft OR overdraft < 0) AND address <> 'world'`,
  );
  for (const row of overdrawn) {
    violations.push({ rule: 'within-overdraft', detail: `${row.ledger} ${row.address} ${row.asset}: balance ${row.balance}, overdraft limit ${row.overdraft}` });
  }

  const holds = await q.query<{ ledger: string; id: string; remaining: string; balance: string; original_amount: string }>(
    `SELECT h.ledger, h.id, h.remaining::text AS remaining, h.original_amount::text AS original_amount,
            coalesce(v.input - v.output, 0)::text AS balance
     FROM holds h LEFT JOIN volumes v ON v.ledger = h.ledger AND v.address = 'wallets:holds:' || h.id AND v.asset = h.asset
     WHERE h.remaining <> coalesce(v.input - v.output, 0) OR h.remaining > h.original_amount`,
  );
  for (const row of holds) {
    violations.push({
      rule: 'hold-remaining',
      detail: `${row.ledger} hold ${row.id}: remaining ${row.remaining}, account balance ${row.balance}, original ${row.original_amount}`,
    });
  }

  // The same reading of an address as migration 4's; a hold account whose hold is missing
  // has no owner to compare with and is reported too.
  const owners = await q.query<{ ledger: string; address: string; wallet_id: string | null; owner: string | null }>(
    `SELECT a.ledger, a.address, a.wallet_id, o.owner
     FROM accounts a
     LEFT JOIN holds h ON h.ledger = a.ledger AND a.address = 'wallets:holds:' || h.id
     CROSS JOIN LATERAL (SELECT CASE WHEN a.address LIKE 'wallets:holds:%' THEN h.wallet_id
                                     ELSE substring(a.address FROM '^wallets:(.+):[^:]*$') END AS owner) o
     WHERE a.wallet_id IS DISTINCT FROM o.owner OR (a.address LIKE 'wallets:holds:%' AND h.id IS NULL)
     ORDER BY a.ledger, a.address`,
  );
  for (const row of owners) {
    violations.push({
      rule: 'account-wallet',
      detail: `${row.ledger} ${row.address}: wallet ${row.wallet_id ?? 'none'}, its address names ${row.owner ?? 'none'}`,
    });
  }

  const statuses = await q.query<{ ledger: string; id: string; status: string; recorded: string | null; held: string | null }>(
    `SELECT w.ledger, w.id, w.status, c.status AS recorded,
       (SELECT string_agg(v.address || ' ' || v.asset || ' ' || (v.input - v.output)::text, ', ' ORDER BY v.address, v.asset)
        FROM accounts a JOIN volumes v ON v.ledger = a.ledger AND v.address = a.address
        WHERE w.status = 'closed' AND a.ledger = w.ledger AND a.wallet_id = w.id AND v.input <> v.output) AS held
     FROM wallets w
     LEFT JOIN LATERAL (SELECT status FROM wallet_status_changes s WHERE s.ledger = w.ledger AND s.wallet_id = w.id ORDER BY s.seq DESC LIMIT 1) c ON true
     WHERE w.status <> coalesce(c.status, 'active')
        OR (w.status = 'closed' AND EXISTS (SELECT 1 FROM accounts a JOIN volumes v ON v.ledger = a.ledger AND v.address = a.address
                                            WHERE a.ledger = w.ledger AND a.wallet_id = w.id AND v.input <> v.output))
     ORDER BY w.ledger, w.id`,
  );
  for (const row of statuses) {
    const detail = row.held !== null ? `closed but holds ${row.held}` : `status ${row.status}, its last recorded change says ${row.recorded ?? 'active (none)'}`;
    violations.push({ rule: 'wallet-status', detail: `${row.ledger} wallet ${row.id}: ${detail}` });
  }
  return violations;
}
