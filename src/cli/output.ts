/**
 * What the CLI prints: aligned tables and key/value lists for people, one JSON value (exact
 * integers, no float) for scripts with --json. Text that came from the server (names,
 * metadata) has its control characters replaced, so a wallet name cannot drive the terminal.
 */
import { stringify } from 'lossless-json';
import type { AssetAmounts, Metadata, Page, Subject } from '../client/index.ts';

export function write(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function writeJsonValue(value: unknown): void {
  write(stringify(value, null, 2) ?? 'null');
}

/**
 * What every command prints with --json: one object, the same envelope everywhere.
 * `data` is the resource the server answered (null for a 204: credit, an immediate debit,
 * confirm, void); `idempotencyKey` is the key the command sent (null for a read); a list
 * adds `next`, the cursor of the following page (null on the last page and with --all).
 */
export interface JsonEnvelope {
  readonly data: unknown;
  readonly idempotencyKey: string | null;
  readonly next?: string | null;
}

/** A single answer: the resource (or null for a 204), and the idempotency key sent, if any. */
export function writeJson(data: unknown, idempotencyKey: string | null = null): void {
  writeJsonValue({ data: data ?? null, idempotencyKey } satisfies JsonEnvelope);
}

/** A list: its items, and the cursor for the next page (null when there is none). */
export function writeJsonList<Item>(page: Page<Item>): void {
  writeJsonValue({ data: page.data, idempotencyKey: null, next: page.hasMore && page.next !== undefined ? page.next : null } satisfies JsonEnvelope);
}

function clean(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers, ...rows].map((row) => row.map(clean));
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `label  value` lines, labels aligned. */
export function fields(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([label]) => label.length));
  return entries.map(([label, value]) => `${label.padEnd(width)}  ${clean(value)}`).join('\n');
}

export function amounts(assets: AssetAmounts): string {
  const entries = Object.entries(assets);
  return entries.length === 0 ? '-' : entries.map(([asset, amount]) => `${amount} ${asset}`).join(', ');
}

export function metadataText(metadata: Metadata): string {
  const entries = Object.entries(metadata);
  return entries.length === 0 ? '-' : entries.map(([key, value]) => `${key}=${value}`).join(', ');
}

export function subjectText(subject: Subject): string {
  if (subject.type === 'ACCOUNT') return subject.identifier === 'world' ? 'world' : `account:${subject.identifier}`;
  return subject.balance === undefined ? `wallet:${subject.identifier}` : `wallet:${subject.identifier}:${subject.balance}`;
}

/** A table of one page, and how to ask for the next one. */
export function pageText<Item>(page: Page<Item>, headers: readonly string[], row: (item: Item) => readonly string[], again: string): string {
  // A page filtered here (holds list --open) can be empty and still have a next one.
  const lines = [page.data.length === 0 ? '(none)' : table(headers, page.data.map(row))];
  if (page.hasMore && page.next !== undefined) lines.push('', `more: ${again} --cursor ${page.next}`);
  return lines.join('\n');
}
