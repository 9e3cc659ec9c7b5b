/**
 * The console's shell: a header (jump to a wallet by id, the unit toggle), the page the URL
 * names, and the one open action form. A call the server refuses with 401 switches to the
 * sign-in form; with authentication off the console never sees one.
 */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ACTIONS, type ActionKind, type Outcome } from './actions.ts';
import { ActionForm } from './action-form.tsx';
import { loadDraft, openDraft, type Draft } from './drafts.ts';
import { navigate, parseRoute, walletHref, type Route } from './route.ts';
import { needsSignIn, openSession, signIn, type Session } from './session.ts';
import { Console, ErrorBox, failureOf, type ConsoleContext, type Failure } from './shared.tsx';
import { WalletList } from './wallet-list.tsx';
import { WalletPage } from './wallet-page.tsx';

const RAW_KEY = 'coffer-console:raw';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return route;
}

export function App() {
  const [session, setSession] = useState(() => openSession());
  const route = useRoute();
  const [raw, setRaw] = useState(() => localStorage.getItem(RAW_KEY) === 'true');
  const [draft, setDraft] = useState<Draft | null>(loadDraft);
  const [version, setVersion] = useState(0);
  const [signInNeeded, setSignInNeeded] = useState(false);

  const report = useCallback((error: unknown) => {
    if (needsSignIn(error)) setSignInNeeded(true);
  }, []);
  const openAction = useCallback((kind: ActionKind, target: { walletId?: string; holdId?: string }) => {
    const initial = Object.fromEntries(ACTIONS[kind].fields.flatMap((field) => (field.initial === undefined ? [] : [[field.name, field.initial]])));
    const draft = openDraft(kind, target, initial);
    // Nothing to fill in (a void): straight to what will happen.
    setDraft(ACTIONS[kind].fields.length === 0 ? { ...draft, stage: 'review' } : draft);
  }, []);
  const context = useMemo<ConsoleContext>(() => ({ coffer: session.coffer, raw, openAction, version, report }), [session, raw, openAction, version, report]);

  const toggleRaw = (on: boolean) => {
    localStorage.setItem(RAW_KEY, String(on));
    setRaw(on);
  };
  const signedIn = (next: Session) => {
    setSession(next);
    setSignInNeeded(false);
    setVersion((n) => n + 1);
  };
  const closeAction = (outcome: Outcome | null) => {
    setDraft(null);
    if (outcome === null) return;
    setVersion((n) => n + 1);
    if (outcome.openWallet) navigate({ page: 'wallet', id: outcome.openWallet });
  };

  return (
    <Console.Provider value={context}>
      <Header raw={raw} onRaw={toggleRaw} />
      <main id="main">
        {signInNeeded ? (
          <SignInForm onSignedIn={signedIn} />
        ) : route.page === 'wallet' ? (
          <WalletPage key={route.id} id={route.id} />
        ) : (
          <WalletList route={route} />
        )}
      </main>
      {draft !== null && !signInNeeded ? <ActionForm key={`${draft.kind}:${draft.walletId ?? ''}:${draft.holdId ?? ''}`} draft={draft} onChange={setDraft} onClose={closeAction} /> : null}
    </Console.Provider>
  );
}

function Header({ raw, onRaw }: { raw: boolean; onRaw: (on: boolean) => void }) {
  const [id, setId] = useState('');
  const jump = (event: Event) => {
    event.preventDefault();
    const wanted = id.trim();
    if (wanted !== '') window.location.hash = walletHref(wanted);
  };
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <a class="brand" href="#/wallets">
        Coffer console
      </a>
      <nav aria-label="Main">
        <a href="#/wallets">Wallets</a>
      </nav>
      <form class="jump" role="search" aria-label="Open a wallet by id" onSubmit={jump}>
        <label for="jump-id">Wallet id</label>
        <input id="jump-id" type="text" autoComplete="off" spellcheck={false} value={id} onInput={(event) => setId(event.currentTarget.value)} />
        <button type="submit">Open</button>
      </form>
      <label class="raw-toggle">
        <input type="checkbox" checked={raw} onChange={(event) => onRaw(event.currentTarget.checked)} /> Raw minor units
      </label>
    </header>
  );
}

/**
 * The server asked for credentials (401): the operator signs in with an API client's id and
 * secret (OAuth 2.0 client credentials). They are checked against the token endpoint before
 * the console uses them, and kept in memory only.
 */
function SignInForm({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<Failure | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setFailure(null);
    signIn({ clientId: clientId.trim(), clientSecret })
      .then(onSignedIn)
      .catch((error: unknown) => setFailure(failureOf(error)))
      .finally(() => setBusy(false));
  };
  return (
    <section class="panel" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p>This Coffer server requires credentials for its API: sign in with an API client (<code>coffer clients create</code>).</p>
      <form class="sign-in" onSubmit={submit}>
        <label for="sign-in-id">Client id</label>
        <input id="sign-in-id" name="clientId" type="text" autoComplete="username" spellcheck={false} required value={clientId} onInput={(event) => setClientId(event.currentTarget.value)} />
        <label for="sign-in-secret">Client secret</label>
        <input id="sign-in-secret" name="clientSecret" type="password" autoComplete="current-password" required value={clientSecret} onInput={(event) => setClientSecret(event.currentTarget.value)} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {failure !== null ? <ErrorBox failure={failure} title="Sign-in failed" /> : null}
    </section>
  );
}
