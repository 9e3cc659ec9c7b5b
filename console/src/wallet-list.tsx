/**
 * The wallet list: a page at a time in creation order, searched by exact name and by one
 * metadata key/value, each wallet with its main balance. The search and the cursor live in
 * the URL, so Back and a reload return to the same page.
 */
import type { ListWalletsQuery, Page, Wallet } from 'coffer/client';
import { useState } from 'preact/hooks';
import { navigate, walletHref, type Route } from './route.ts';
import { AssetAmounts, ErrorBox, formatInstant, useConsole, useLoad } from './shared.tsx';

export const WALLETS_PAGE_SIZE = 15;

type ListRoute = Extract<Route, { page: 'wallets' }>;

function queryOf(route: ListRoute): ListWalletsQuery {
  return {
    pageSize: WALLETS_PAGE_SIZE,
    expand: 'balances',
    ...(route.name !== '' ? { name: route.name } : {}),
    ...(route.metadataKey !== '' ? { metadata: { [route.metadataKey]: route.metadataValue } } : {}),
    ...(route.cursor !== '' ? { cursor: route.cursor } : {}),
  };
}

export function WalletList({ route }: { route: ListRoute }) {
  const { openAction } = useConsole();
  const query = queryOf(route);
  const wallets = useLoad((coffer) => coffer.listWallets(query), JSON.stringify(query));
  const searching = route.name !== '' || route.metadataKey !== '';
  return (
    <section aria-labelledby="wallets-title">
      <div class="title-row">
        <h1 id="wallets-title">Wallets</h1>
        <button type="button" class="primary" onClick={() => openAction('createWallet', {})}>
          Create wallet
        </button>
      </div>
      <SearchForm route={route} />
      {wallets.state === 'loading' ? <p aria-live="polite">Loading…</p> : null}
      {wallets.state === 'error' ? <ErrorBox failure={wallets.failure} title="The wallets could not be listed" /> : null}
      {wallets.state === 'ok' ? <WalletTable page={wallets.value} route={route} searching={searching} /> : null}
    </section>
  );
}

function SearchForm({ route }: { route: ListRoute }) {
  const [name, setName] = useState(route.name);
  const [key, setKey] = useState(route.metadataKey);
  const [value, setValue] = useState(route.metadataValue);
  const search = (event: Event) => {
    event.preventDefault();
    navigate({ page: 'wallets', name: name.trim(), metadataKey: key.trim(), metadataValue: value.trim(), cursor: '' });
  };
  const clear = () => {
    setName('');
    setKey('');
    setValue('');
    navigate({ page: 'wallets', name: '', metadataKey: '', metadataValue: '', cursor: '' });
  };
  return (
    <form class="search" role="search" aria-label="Search wallets" onSubmit={search}>
      <div class="field">
        <label for="search-name">Name (exact)</label>
        <input id="search-name" type="text" autoComplete="off" value={name} onInput={(event) => setName(event.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="search-key">Metadata key</label>
        <input id="search-key" type="text" autoComplete="off" value={key} onInput={(event) => setKey(event.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="search-value">Metadata value</label>
        <input id="search-value" type="text" autoComplete="off" value={value} onInput={(event) => setValue(event.currentTarget.value)} />
      </div>
      <div class="buttons">
        <button type="submit">Search</button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}

function WalletTable({ page, route, searching }: { page: Page<Wallet>; route: ListRoute; searching: boolean }) {
  if (page.data.length === 0) return <p>{searching ? 'No wallet matches this search.' : 'No wallets yet.'}</p>;
  const to = (cursor: string | undefined) => () => navigate({ ...route, cursor: cursor ?? '' });
  return (
    <>
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Wallets table">
        <table class="wallets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Main balance</th>
              <th scope="col">Metadata</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {page.data.map((wallet) => (
              <tr key={wallet.id}>
                <td>
                  <a href={walletHref(wallet.id)}>{wallet.name === '' ? '(no name)' : wallet.name}</a>
                </td>
                <td>
                  <code class="id">{wallet.id}</code>
                </td>
                <td>
                  <AssetAmounts amounts={wallet.balances.main.assets} />
                </td>
                <td>
                  <Metadata metadata={wallet.metadata} />
                </td>
                <td>{formatInstant(wallet.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Wallet pages">
        <button type="button" disabled={page.previous === undefined} onClick={to(page.previous)}>
          Previous page
        </button>
        <button type="button" disabled={!page.hasMore || page.next === undefined} onClick={to(page.next)}>
          Next page
        </button>
      </nav>
    </>
  );
}

export function Metadata({ metadata }: { metadata: Readonly<Record<string, string>> }) {
  const entries = Object.entries(metadata);
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="metadata">
      {entries.map(([key, value]) => (
        <li key={key}>
          <code>{key}</code>={value}
        </li>
      ))}
    </ul>
  );
}
