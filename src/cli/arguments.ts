/**
 * Parsers for the CLI's arguments and options. A value that cannot be right is a usage
 * error (exit code 2) here, before anything is sent; the server still checks everything.
 */
import { InvalidArgumentError } from 'commander';
import type { Metadata, Subject } from '../client/index.ts';

/** An amount of minor units: digits only, so a float or a decimal point never sneaks in. */
export function amountArgument(text: string): bigint {
  if (!/^\d{1,60}$/.test(text)) throw new InvalidArgumentError('an amount is an integer of minor units, e.g. 10000 for 100.00 USD/2');
  return BigInt(text);
}

export function priorityArgument(text: string): bigint {
  if (!/^-?\d{1,19}$/.test(text)) throw new InvalidArgumentError('a priority is an integer');
  return BigInt(text);
}

export function pageSizeArgument(text: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('a page size is an integer from 1 to 100');
  return Number(text);
}

/** `--metadata key=value`, repeatable: collects into one object. */
export function metadataEntry(text: string, previous: Metadata | undefined): Metadata {
  const split = text.indexOf('=');
  if (split < 1) throw new InvalidArgumentError('metadata is key=value');
  return { ...previous, [text.slice(0, split)]: text.slice(split + 1) };
}

export function collect(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), text];
}

/** `world`, `account:<address>`, `wallet:<id>` or `wallet:<id>:<balance>`. */
export function subjectArgument(text: string): Subject {
  if (text === 'world') return { type: 'ACCOUNT', identifier: 'world' };
  if (text.startsWith('account:') && text.length > 'account:'.length) return { type: 'ACCOUNT', identifier: text.slice('account:'.length) };
  const wallet = /^wallet:([^:]+)(?::([^:]+))?$/.exec(text);
  if (wallet) return wallet[2] === undefined ? { type: 'WALLET', identifier: wallet[1]! } : { type: 'WALLET', identifier: wallet[1]!, balance: wallet[2] };
  throw new InvalidArgumentError('a subject is world, account:<address>, wallet:<id> or wallet:<id>:<balance>');
}

export function collectSubject(text: string, previous: Subject[] | undefined): Subject[] {
  return [...(previous ?? []), subjectArgument(text)];
}

/** `--overdraft USD/2=5000`, repeatable: an overdraft limit per asset (0 removes one). */
export function overdraftEntry(text: string, previous: Record<string, bigint> | undefined): Record<string, bigint> {
  const split = text.lastIndexOf('=');
  const limit = text.slice(split + 1);
  if (split < 1 || !/^\d{1,60}$/.test(limit)) throw new InvalidArgumentError('an overdraft is <asset>=<limit in minor units>, e.g. USD/2=5000');
  return { ...previous, [text.slice(0, split)]: BigInt(limit) };
}

const HOLD_STATUSES = ['open', 'confirmed', 'voided', 'expired'];

export function holdStatusArgument(text: string): 'open' | 'confirmed' | 'voided' | 'expired' {
  if (!HOLD_STATUSES.includes(text)) throw new InvalidArgumentError(`a hold status is one of ${HOLD_STATUSES.join(', ')}`);
  return text as 'open' | 'confirmed' | 'voided' | 'expired';
}
