/**
 * Where the operator is, kept in the URL's fragment (`#/wallets/{id}`, `#/wallets?name=…`):
 * a reload, a bookmark or a link pasted to a colleague opens the same page, and the server
 * has only one page to serve.
 */
export type Route =
  | { readonly page: 'wallets'; readonly name: string; readonly metadataKey: string; readonly metadataValue: string; readonly cursor: string }
  | { readonly page: 'wallet'; readonly id: string };

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2);
  const walletMatch = /^\/wallets\/(.+)$/.exec(path);
  if (walletMatch?.[1] !== undefined) {
    try {
      return { page: 'wallet', id: decodeURIComponent(walletMatch[1]) };
    } catch {
      return { page: 'wallet', id: walletMatch[1] };
    }
  }
  const params = new URLSearchParams(search);
  return {
    page: 'wallets',
    name: params.get('name') ?? '',
    metadataKey: params.get('key') ?? '',
    metadataValue: params.get('value') ?? '',
    cursor: params.get('cursor') ?? '',
  };
}

export function formatRoute(route: Route): string {
  if (route.page === 'wallet') return `#/wallets/${encodeURIComponent(route.id)}`;
  const params = new URLSearchParams();
  if (route.name !== '') params.set('name', route.name);
  if (route.metadataKey !== '') params.set('key', route.metadataKey);
  if (route.metadataKey !== '' && route.metadataValue !== '') params.set('value', route.metadataValue);
  if (route.cursor !== '') params.set('cursor', route.cursor);
  const search = params.toString();
  return `#/wallets${search === '' ? '' : `?${search}`}`;
}

export function walletHref(id: string): string {
  return formatRoute({ page: 'wallet', id });
}

export function navigate(route: Route): void {
  window.location.hash = formatRoute(route);
}
