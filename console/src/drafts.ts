/**
 * The open action form, kept in sessionStorage (this tab only) with its Idempotency-Key.
 * The key is made when the form opens and names the one request the form will send: a
 * double click, the client's own retries, a "Retry" after no answer, or a reload of the page
 * (which reopens the form with the same key and values) all send it again under that key,
 * and Coffer replays the first outcome instead of moving money twice. Only when the operator
 * changes what the request says after it was sent does the form take a new key: that is a
 * new request (the old key with other values would be refused as a CONFLICT).
 */
import { v7 as uuidv7 } from 'uuid';
import type { ActionKind, Values } from './actions.ts';

export interface Draft {
  readonly kind: ActionKind;
  readonly walletId?: string;
  readonly holdId?: string;
  readonly key: string;
  readonly values: Values;
  /** Review: the operator saw what will move and has yet to confirm it. */
  readonly stage: 'edit' | 'review';
  /** The request went out under this key at least once. */
  readonly sent: boolean;
}

const STORAGE_KEY = 'coffer-console:draft';

/** uuid's v7 draws from crypto.getRandomValues, which (unlike crypto.randomUUID) plain http pages have too. */
export function newIdempotencyKey(): string {
  return uuidv7();
}

export function openDraft(kind: ActionKind, target: { walletId?: string; holdId?: string }, values: Values): Draft {
  return { kind, ...target, key: newIdempotencyKey(), values, stage: 'edit', sent: false };
}

/** The values changed: same key until the request was sent, a new one after. */
export function editDraft(draft: Draft, values: Values): Draft {
  return { ...draft, values, stage: 'edit', ...(draft.sent ? { key: newIdempotencyKey(), sent: false } : {}) };
}

export function saveDraft(draft: Draft | null): void {
  try {
    if (draft === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, JSON.stringify(draft));
  } catch {
    // Storage full or disabled: the form still works, it just does not survive a reload.
  }
}

export function loadDraft(): Draft | null {
  try {
    const text = sessionStorage.getItem(STORAGE_KEY);
    if (text === null) return null;
    const draft = JSON.parse(text) as Draft;
    return typeof draft.key === 'string' && typeof draft.kind === 'string' ? draft : null;
  } catch {
    return null;
  }
}
