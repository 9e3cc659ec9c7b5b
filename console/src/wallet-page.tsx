/**
 * One wallet: why its balance is what it is. The summary (available, on hold, expirable,
 * expired), every balance with its amounts, the holds open and closed, and the transactions
 * that touched it, newest first, each expandable to its postings. The actions open the form
 * (action-form.tsx); after one succeeds, everything here loads again.
 */
import type { ExpandedHold, Page, Summary, Transaction, Wallet } from 'coffer/client';
import { useState } from 'preact/hooks';
import { Metadata } from './wallet-list.tsx';
import { Amount, AssetAmounts, ErrorBox, formatInstant, isExpired, useConsole, useLoad } from './shared.tsx';

const HOLDS_PAGE_SIZE = 50;
const TRANSACTIONS_PAGE_SIZE = 10;

export function WalletPage({ id }: { id: string }) {
  const { openAction } = useConsole();
  const wallet = useLoad(async (coffer) => {
    const [w, summary] = await Promise.all([coffer.getWallet(id), coffer.walletSummary(id)]);
    return { wallet: w, summary };
  }, id);
  if (wallet.state === 'loading') return <p aria-live="polite">Loading…</p>;
  if (wallet.state === 'error') {
    return (
      <section aria-labelledby="wallet-title">
        <h1 id="wallet-title">Wallet {id}</h1>
        <ErrorBox failure={wallet.failure} title="This wallet could not be loaded" />
        <p>
          <a href="#/wallets">Back to the wallets</a>
        </p>
      </section>
    );
  }
  const act = (kind: 'credit' | 'debit' | 'pendingDebit' | 'createBalance') => () => openAction(kind, { walletId: id });
  return (
    <article aria-labelledby="wallet-title">
      <WalletHeader wallet={wallet.value.wallet} />
      <div class="actions" role="group" aria-label="Wallet actions">
        <button type="button" class="primary" onClick={act('credit')}>
          Credit
        </button>
        <button type="button" onClick={act('debit')}>
          Debit
        </button>
        <button type="button" onClick={act('pendingDebit')}>
          Pending debit
        </button>
        <button type="button" onClick={act('createBalance')}>
          Create balance
        </button>
      </div>
      <SummaryView summary={wallet.value.summary} />
      <BalancesView summary={wallet.value.summary} />
      <HoldsView walletId={id} />
      <TransactionsView walletId={id} />
    </article>
  );
}

function WalletHeader({ wallet }: { wallet: Wallet }) {
  return (
    <header class="wallet-header">
      <p class="crumbs">
        <a href="#/wallets">Wallets</a> /
      </p>
      <h1 id="wallet-title">{wallet.name === '' ? '(no name)' : wallet.name}</h1>
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <code class="id">{wallet.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>{formatInstant(wallet.createdAt)}</dd>
        <dt>Ledger</dt>
        <dd>{wallet.ledger}</dd>
        <dt>Metadata</dt>
        <dd>
          <Metadata metadata={wallet.metadata} />
        </dd>
      </dl>
    </header>
  );
}

function SummaryView({ summary }: { summary: Summary }) {
  const cards: [string, string, Record<string, bigint>][] = [
    ['Available', 'spendable now: every balance that has not expired', summary.availableFunds],
    ['On hold', 'reserved by open holds', summary.holdFunds],
    ['Expirable', 'in balances that will expire', summary.expirableFunds],
    ['Expired', 'in balances past their expiry: never spent', summary.expiredFunds],
  ];
  return (
    <section aria-labelledby="summary-title">
      <h2 id="summary-title">Summary</h2>
      <div class="cards">
        {cards.map(([title, hint, amounts]) => (
          <div class="card" key={title} data-summary={title}>
            <h3>{title}</h3>
            <AssetAmounts amounts={amounts} />
            <p class="hint">{hint}</p>
          </div>
        ))}
      </div>
    </section>
  );
}

function BalancesView({ summary }: { summary: Summary }) {
  return (
    <section aria-labelledby="balances-title">
      <h2 id="balances-title">Balances</h2>
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Balances table">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Priority</th>
              <th scope="col">Expires</th>
              <th scope="col">Amounts</th>
            </tr>
          </thead>
          <tbody>
            {summary.balances.map((balance) => (
              <tr key={balance.name} class={isExpired(balance.expiresAt) ? 'expired' : undefined}>
                <td>
                  {balance.name}
                  {isExpired(balance.expiresAt) ? <span class="badge">expired</span> : null}
                </td>
                <td>{balance.priority.toString()}</td>
                <td>{formatInstant(balance.expiresAt)}</td>
                <td>
                  <AssetAmounts amounts={balance.assets} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function HoldsView({ walletId }: { walletId: string }) {
  const holds = useLoad(async (coffer) => {
    const page = await coffer.listHolds({ walletID: walletId, pageSize: HOLDS_PAGE_SIZE });
    const expanded = await Promise.all(page.data.map((hold) => coffer.getHold(hold.id)));
    return { expanded, hasMore: page.hasMore };
  }, walletId);
  if (holds.state === 'loading') return <p aria-live="polite">Loading holds…</p>;
  if (holds.state === 'error') return <ErrorBox failure={holds.failure} title="The holds could not be loaded" />;
  // Open: still confirmable or voidable (a hold past its expiresAt shows as expired, even before the sweeper runs).
  const open = holds.value.expanded.filter((hold) => hold.status === 'open');
  const closed = holds.value.expanded.filter((hold) => hold.status !== 'open');
  return (
    <section aria-labelledby="holds-title">
      <h2 id="holds-title">Holds</h2>
      {holds.value.hasMore ? <p class="notice">Showing the first {HOLDS_PAGE_SIZE} holds of this wallet.</p> : null}
      <HoldTable title="Open holds" holds={open} open />
      <HoldTable title="Closed holds" holds={closed} open={false} />
    </section>
  );
}

function HoldTable({ title, holds, open }: { title: string; holds: ExpandedHold[]; open: boolean }) {
  const { openAction } = useConsole();
  const id = open ? 'holds-open' : 'holds-closed';
  return (
    <>
      <h3 id={id}>
        {title} ({holds.length})
      </h3>
      {holds.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <div class="table-scroll" tabIndex={0} role="region" aria-labelledby={id}>
          <table data-holds={open ? 'open' : 'closed'}>
            <thead>
              <tr>
                <th scope="col">Hold</th>
                <th scope="col">Remaining</th>
                <th scope="col">Original</th>
                <th scope="col">To</th>
                <th scope="col">Description</th>
                {open ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {holds.map((hold) => (
                <tr key={hold.id} data-hold={hold.id}>
                  <td>
                    <code class="id">{hold.id}</code>
                  </td>
                  <td>
                    <Amount minor={hold.remaining} asset={hold.asset} />
                  </td>
                  <td>
                    <Amount minor={hold.originalAmount} asset={hold.asset} />
                  </td>
                  <td>{hold.destination.type === 'ACCOUNT' ? hold.destination.identifier : `wallet ${hold.destination.identifier} / ${hold.destination.balance ?? 'main'}`}</td>
                  <td>{hold.description === '' ? <span class="muted">—</span> : hold.description}</td>
                  {open ? (
                    <td class="row-actions">
                      <button type="button" aria-label={`Confirm hold ${hold.id}`} onClick={() => openAction('confirm', { walletId: hold.walletID, holdId: hold.id })}>
                        Confirm
                      </button>
                      <button type="button" aria-label={`Void hold ${hold.id}`} onClick={() => openAction('void', { walletId: hold.walletID, holdId: hold.id })}>
                        Void
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function TransactionsView({ walletId }: { walletId: string }) {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const page = useLoad(
    (coffer) => coffer.listTransactions({ walletID: walletId, pageSize: TRANSACTIONS_PAGE_SIZE, ...(cursor ? { cursor } : {}) }),
    `${walletId}:${cursor ?? ''}`,
  );
  return (
    <section aria-labelledby="transactions-title">
      <h2 id="transactions-title">Transactions</h2>
      <p class="hint">Newest first. Open one to see its postings.</p>
      {page.state === 'loading' ? <p aria-live="polite">Loading transactions…</p> : null}
      {page.state === 'error' ? <ErrorBox failure={page.failure} title="The transactions could not be loaded" /> : null}
      {page.state === 'ok' ? <TransactionList page={page.value} /> : null}
      {page.state === 'ok' ? (
        <nav class="pager" aria-label="Transaction pages">
          <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            Newer
          </button>
          <button type="button" disabled={!page.value.hasMore || page.value.next === undefined} onClick={() => setCursors([...cursors, page.value.next ?? ''])}>
            Older
          </button>
        </nav>
      ) : null}
    </section>
  );
}

function TransactionList({ page }: { page: Page<Transaction> }) {
  if (page.data.length === 0) return <p class="muted">No transactions yet.</p>;
  return (
    <ul class="transactions">
      {page.data.map((transaction) => (
        <li key={transaction.id.toString()} data-transaction={transaction.id.toString()}>
          <details>
            <summary>
              <span class="tx-id">#{transaction.id.toString()}</span> <span>{formatInstant(transaction.timestamp)}</span>{' '}
              <span class="muted">
                {transaction.postings.length} posting{transaction.postings.length === 1 ? '' : 's'}
                {transaction.reference ? `, reference ${transaction.reference}` : ''}
              </span>
            </summary>
            <div class="table-scroll" tabIndex={0} role="region" aria-label={`Postings of transaction ${transaction.id}`}>
              <table class="postings">
                <thead>
                  <tr>
                    <th scope="col">From</th>
                    <th scope="col">To</th>
                    <th scope="col">Amount</th>
                  </tr>
                </thead>
                <tbody>
                  {transaction.postings.map((posting, index) => (
                    <tr key={index}>
                      <td>
                        <code>{posting.source}</code>
                      </td>
                      <td>
                        <code>{posting.destination}</code>
                      </td>
                      <td>
                        <Amount minor={posting.amount} asset={posting.asset} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {Object.keys(transaction.metadata).length > 0 ? <Metadata metadata={transaction.metadata} /> : null}
          </details>
        </li>
      ))}
    </ul>
  );
}
