/**
 * Pieces every page uses: the console's context (the client, the unit display), amounts,
 * error boxes, and a hook that loads from the API and can reload.
 */
import { CofferConnectionError, CofferError, type Coffer } from 'coffer/client';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { ActionKind } from './actions.ts';
import { currencyOf, formatMajor } from './money.ts';

export interface ConsoleContext {
  readonly coffer: Coffer;
  /** Show amounts as raw minor units instead of major units. */
  readonly raw: boolean;
  /** Opens an action form (app.tsx owns the one open form). */
  readonly openAction: (kind: ActionKind, target: { walletId?: string; holdId?: string }) => void;
  /** Bumped after every action that succeeded: pages load again. */
  readonly version: number;
  /** Any call's failure goes through here: a 401 turns into the sign-in screen. */
  readonly report: (error: unknown) => void;
}

export const Console = createContext<ConsoleContext | null>(null);

export function useConsole(): ConsoleContext {
  const context = useContext(Console);
  if (context === null) throw new Error('useConsole outside <Console.Provider>');
  return context;
}

/** An amount in major units (or minor, with the raw toggle on); the other form is in its title. */
export function Amount({ minor, asset }: { minor: bigint; asset: string }) {
  const { raw } = useConsole();
  const major = `${formatMajor(minor, asset)} ${currencyOf(asset)}`;
  const rawText = `${minor} ${asset}`;
  return (
    <data class="amount" value={minor.toString()} title={raw ? major : `${minor} minor units of ${asset}`}>
      {raw ? rawText : major}
    </data>
  );
}

/** An amount per asset (`{ 'USD/2': 100n }`), or a dash when there is none. */
export function AssetAmounts({ amounts }: { amounts: Readonly<Record<string, bigint>> }) {
  const entries = Object.entries(amounts);
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="amounts">
      {entries.map(([asset, minor]) => (
        <li key={asset}>
          <Amount minor={minor} asset={asset} />
        </li>
      ))}
    </ul>
  );
}

export interface Failure {
  readonly code: string;
  readonly message: string;
  readonly requestId?: string;
  /** No answer (or 5xx): the request may or may not have been applied; a retry under the same key is safe. */
  readonly unknownOutcome: boolean;
}

/** A thrown error, as the operator should read it: the API's errorCode and message when it answered. */
export function failureOf(error: unknown): Failure {
  if (error instanceof CofferError) {
    return { code: error.errorCode, message: error.errorMessage, requestId: error.requestId, unknownOutcome: error.status >= 500 };
  }
  if (error instanceof CofferConnectionError) return { code: 'NO_ANSWER', message: error.message, unknownOutcome: true };
  return { code: 'ERROR', message: error instanceof Error ? error.message : String(error), unknownOutcome: true };
}

export function ErrorBox({ failure, title }: { failure: Failure; title?: string }) {
  return (
    <div class="error" role="alert">
      {title ? <p class="error-title">{title}</p> : null}
      <p>
        <code class="error-code">{failure.code}</code> {failure.message}
      </p>
      {failure.requestId ? <p class="muted small">Request id: {failure.requestId}</p> : null}
    </div>
  );
}

export type Loaded<T> = { readonly state: 'loading' } | { readonly state: 'ok'; readonly value: T } | { readonly state: 'error'; readonly failure: Failure };

/** Loads `load()` when `key` or the console's version changes; a newer load wins over an older one still running. */
export function useLoad<T>(load: (coffer: Coffer) => Promise<T>, key: string): Loaded<T> {
  const { coffer, version, report } = useConsole();
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const latest = useRef(0);
  const run = useCallback(load, [key]);
  useEffect(() => {
    const ticket = ++latest.current;
    const controller = new AbortController();
    run(coffer)
      .then((value) => ticket === latest.current && setLoaded({ state: 'ok', value }))
      .catch((error: unknown) => {
        if (controller.signal.aborted || ticket !== latest.current) return;
        report(error);
        setLoaded({ state: 'error', failure: failureOf(error) });
      });
    return () => controller.abort();
  }, [run, version]);
  return loaded;
}

export function formatInstant(value: string | null): string {
  if (value === null) return 'never';
  return value.replace('T', ' ').replace(/\.\d+/, '').replace('Z', ' UTC');
}

export function isExpired(expiresAt: string | null, now: number = Date.now()): boolean {
  return expiresAt !== null && Date.parse(expiresAt) <= now;
}
