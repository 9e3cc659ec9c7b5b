/**
 * What an operator can do, one entry per action: its fields, and `plan`, which checks what
 * was typed and returns either the problems (per field) or exactly what will move, in words,
 * with the call that moves it. The form shows the words for confirmation and makes the call
 * only then, through the typed client, with the form's Idempotency-Key.
 */
import type { Coffer, ExpandedHold, Subject } from 'coffer/client';
import { currencyOf, formatMajor, isAsset, parseMajor } from './money.ts';

export type ActionKind = 'createWallet' | 'createBalance' | 'credit' | 'debit' | 'pendingDebit' | 'confirm' | 'void';

export type Values = Readonly<Record<string, string>>;

/** What an action is about: the wallet on screen, and the hold for confirm and void. */
export interface ActionContext {
  readonly walletId?: string;
  readonly walletName?: string;
  readonly hold?: ExpandedHold;
}

export interface Outcome {
  readonly message: string;
  /** A wallet to open afterwards (the one just created). */
  readonly openWallet?: string;
}

export interface Plan {
  /** What will happen, one statement per line, amounts in major and minor units. */
  readonly lines: readonly string[];
  readonly run: (coffer: Coffer, idempotencyKey: string) => Promise<Outcome>;
}

export type Checked = { readonly ok: true; readonly plan: Plan } | { readonly ok: false; readonly problems: Readonly<Record<string, string>> };

export type FieldKind = 'text' | 'amount' | 'asset' | 'checkbox' | 'datetime' | 'textarea' | 'subject';

export interface Field {
  readonly name: string;
  readonly label: string;
  readonly kind: FieldKind;
  readonly hint?: string;
  readonly initial?: string;
}

export interface ActionSpec {
  readonly title: string;
  readonly fields: readonly Field[];
  readonly submitLabel: string;
  readonly plan: (values: Values, context: ActionContext) => Checked;
}

const BALANCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const INTEGER = /^-?\d{1,20}$/;

/** `12.50 USD (1250 minor units of USD/2)`: what an amount is, both ways. */
export function describeAmount(minor: bigint, asset: string): string {
  return `${formatMajor(minor, asset)} ${currencyOf(asset)} (${minor} minor units of ${asset})`;
}

function describeSubject(subject: Subject | undefined, fallback: string): string {
  if (subject === undefined) return fallback;
  if (subject.type === 'ACCOUNT') return `account ${subject.identifier}`;
  return `wallet ${subject.identifier}, balance ${subject.balance ?? 'main'}`;
}

function walletLabel(context: ActionContext): string {
  return context.walletName ? `wallet "${context.walletName}" (${context.walletId})` : `wallet ${context.walletId}`;
}

/** `key=value` per line → metadata; a line without `=` is a problem. */
function parseMetadata(text: string): { ok: true; metadata: Record<string, string> } | { ok: false; reason: string } {
  const metadata: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const at = line.indexOf('=');
    if (at <= 0) return { ok: false, reason: `"${line}" is not key=value` };
    metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { ok: true, metadata };
}

/** The amount and asset fields of a money action, or their problems. */
function amountOf(values: Values, problems: Record<string, string>): { asset: string; minor: bigint } | undefined {
  const asset = (values.asset ?? '').trim();
  if (!isAsset(asset)) {
    problems.asset = 'an asset like USD/2 (code, then its decimals after the slash)';
    return undefined;
  }
  const parsed = parseMajor(values.amount ?? '', asset);
  if (!parsed.ok) {
    problems.amount = parsed.reason;
    return undefined;
  }
  return { asset, minor: parsed.minor };
}

/** A subject field: `world` (the outside), an account address, or a wallet id with an optional balance. */
function subjectOf(values: Values, prefix: string, problems: Record<string, string>): Subject | undefined | null {
  const type = values[`${prefix}Type`] ?? 'world';
  const identifier = (values[`${prefix}Id`] ?? '').trim();
  if (type === 'world') return undefined;
  if (identifier === '') {
    problems[`${prefix}Id`] = type === 'ACCOUNT' ? 'the account address' : 'the wallet id';
    return null;
  }
  if (type === 'ACCOUNT') return { type: 'ACCOUNT', identifier };
  const balance = (values[`${prefix}Balance`] ?? '').trim();
  return balance === '' ? { type: 'WALLET', identifier } : { type: 'WALLET', identifier, balance };
}

/** The amount checks above keep a confirmation within what remains: a negative rest is a bug here. */
function assertNonNegative(amount: bigint): void {
  if (amount < 0n) throw new Error(`a confirmation past what the hold has left (${amount})`);
}

function checked(problems: Record<string, string>, plan: () => Plan): Checked {
  return Object.keys(problems).length > 0 ? { ok: false, problems } : { ok: true, plan: plan() };
}

const createWallet: ActionSpec = {
  title: 'Create a wallet',
  submitLabel: 'Create wallet',
  fields: [
    { name: 'name', label: 'Name', kind: 'text' },
    { name: 'metadata', label: 'Metadata', kind: 'textarea', hint: 'key=value, one per line' },
  ],
  plan(values) {
    const problems: Record<string, string> = {};
    const name = (values.name ?? '').trim();
    const metadata = parseMetadata(values.metadata ?? '');
    if (!metadata.ok) problems.metadata = metadata.reason;
    return checked(problems, () => {
      const pairs = metadata.ok ? Object.entries(metadata.metadata) : [];
      return {
        lines: [
          `Create a wallet named "${name}".`,
          pairs.length === 0 ? 'No metadata.' : `Metadata: ${pairs.map(([key, value]) => `${key}=${value}`).join(', ')}.`,
          'No money moves.',
        ],
        run: async (coffer, idempotencyKey) => {
          const wallet = await coffer.createWallet({ name, ...(metadata.ok ? { metadata: metadata.metadata } : {}) }, { idempotencyKey });
          return { message: `Wallet "${wallet.name}" created: ${wallet.id}.`, openWallet: wallet.id };
        },
      };
    });
  },
};

const createBalance: ActionSpec = {
  title: 'Create a balance',
  submitLabel: 'Create balance',
  fields: [
    { name: 'name', label: 'Balance name', kind: 'text', hint: 'letters, digits, - and _' },
    { name: 'priority', label: 'Priority', kind: 'text', initial: '0', hint: 'lower is spent first by a * debit' },
    { name: 'expiresAt', label: 'Expires at (UTC)', kind: 'datetime', hint: 'empty: never' },
  ],
  plan(values, context) {
    const problems: Record<string, string> = {};
    const name = (values.name ?? '').trim();
    if (!BALANCE_NAME.test(name)) problems.name = 'letters, digits, - and _ (1 to 64)';
    const priorityText = (values.priority ?? '').trim() || '0';
    if (!INTEGER.test(priorityText)) problems.priority = 'a whole number';
    const expiresText = (values.expiresAt ?? '').trim();
    // A datetime-local value has no zone: the label says UTC, and it is read as UTC.
    const expiresAt = expiresText === '' ? null : `${expiresText.length === 16 ? `${expiresText}:00` : expiresText}Z`;
    if (expiresAt !== null && Number.isNaN(Date.parse(expiresAt))) problems.expiresAt = 'a date and time';
    return checked(problems, () => ({
      lines: [
        `Create balance "${name}" in ${walletLabel(context)}.`,
        `Priority ${priorityText}; ${expiresAt === null ? 'never expires' : `expires at ${expiresAt}`}.`,
        'No money moves.',
      ],
      run: async (coffer, idempotencyKey) => {
        await coffer.createBalance(context.walletId ?? '', { name, priority: BigInt(priorityText), expiresAt }, { idempotencyKey });
        return { message: `Balance "${name}" created.` };
      },
    }));
  },
};

const credit: ActionSpec = {
  title: 'Credit',
  submitLabel: 'Credit',
  fields: [
    { name: 'asset', label: 'Asset', kind: 'asset', initial: 'USD/2' },
    { name: 'amount', label: 'Amount', kind: 'amount' },
    { name: 'balance', label: 'To balance', kind: 'text', initial: 'main' },
    { name: 'source', label: 'From', kind: 'subject' },
    { name: 'reference', label: 'Reference (optional, unique)', kind: 'text' },
  ],
  plan(values, context) {
    const problems: Record<string, string> = {};
    const amount = amountOf(values, problems);
    const balance = (values.balance ?? '').trim() || 'main';
    if (!BALANCE_NAME.test(balance)) problems.balance = 'a balance name';
    const source = subjectOf(values, 'source', problems);
    const reference = (values.reference ?? '').trim();
    return checked(problems, () => {
      const { asset, minor } = amount!;
      return {
        lines: [
          `Credit ${describeAmount(minor, asset)}`,
          `to ${walletLabel(context)}, balance ${balance},`,
          `from ${describeSubject(source ?? undefined, 'world (money entering the ledger)')}.`,
          ...(reference === '' ? [] : [`Reference: ${reference}.`]),
        ],
        run: async (coffer, idempotencyKey) => {
          await coffer.credit(
            context.walletId ?? '',
            { amount: { asset, amount: minor }, balance, ...(source ? { sources: [source] } : {}), ...(reference ? { reference } : {}) },
            { idempotencyKey },
          );
          return { message: `Credited ${describeAmount(minor, asset)}.` };
        },
      };
    });
  },
};

function debitSpec(pending: boolean): ActionSpec {
  return {
    title: pending ? 'Pending debit (hold)' : 'Debit',
    submitLabel: pending ? 'Put on hold' : 'Debit',
    fields: [
      { name: 'asset', label: 'Asset', kind: 'asset', initial: 'USD/2' },
      { name: 'amount', label: 'Amount', kind: 'amount' },
      { name: 'balances', label: 'From balances', kind: 'text', initial: 'main', hint: 'comma-separated, in spending order; * = all, expiring first' },
      { name: 'destination', label: 'To', kind: 'subject' },
      { name: 'description', label: 'Description (optional)', kind: 'text' },
    ],
    plan(values, context) {
      const problems: Record<string, string> = {};
      const amount = amountOf(values, problems);
      const balances = (values.balances ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
      if (balances.length === 0) balances.push('main');
      const bad = balances.find((name) => name !== '*' && !BALANCE_NAME.test(name));
      if (bad !== undefined) problems.balances = `"${bad}" is not a balance name`;
      const destination = subjectOf(values, 'destination', problems);
      const description = (values.description ?? '').trim();
      return checked(problems, () => {
        const { asset, minor } = amount!;
        const sources = balances.join(', ');
        return {
          lines: [
            pending ? `Put ${describeAmount(minor, asset)} on hold` : `Debit ${describeAmount(minor, asset)}`,
            `from ${walletLabel(context)}, balance${balances.length > 1 || sources === '*' ? 's' : ''} ${sources === '*' ? '* (all, expiring first)' : sources},`,
            `${pending ? 'to be sent on confirmation to' : 'to'} ${describeSubject(destination ?? undefined, 'world (money leaving the ledger)')}.`,
            ...(description === '' ? [] : [`Description: ${description}.`]),
          ],
          run: async (coffer, idempotencyKey) => {
            const hold = await coffer.debit(
              context.walletId ?? '',
              { amount: { asset, amount: minor }, pending, balances, ...(destination ? { destination } : {}), ...(description ? { description } : {}) },
              { idempotencyKey },
            );
            return { message: hold ? `Hold ${hold.id} created for ${describeAmount(minor, asset)}.` : `Debited ${describeAmount(minor, asset)}.` };
          },
        };
      });
    },
  };
}

const confirm: ActionSpec = {
  title: 'Confirm a hold',
  submitLabel: 'Confirm hold',
  fields: [
    { name: 'amount', label: 'Amount', kind: 'amount', hint: 'empty: all that remains' },
    { name: 'final', label: 'Final: return the rest to main', kind: 'checkbox' },
  ],
  plan(values, context) {
    const problems: Record<string, string> = {};
    const hold = context.hold;
    if (hold === undefined) return { ok: false, problems: { amount: 'no hold chosen' } };
    const text = (values.amount ?? '').trim();
    let minor = hold.remaining;
    if (text !== '') {
      const parsed = parseMajor(text, hold.asset);
      if (!parsed.ok) problems.amount = parsed.reason;
      else if (parsed.minor > hold.remaining) problems.amount = `more than the hold has left (${describeAmount(hold.remaining, hold.asset)})`;
      else minor = parsed.minor;
    }
    const final = values.final === 'true';
    return checked(problems, () => {
      const rest = hold.remaining - minor;
      assertNonNegative(rest);
      return {
        lines: [
          `Send ${describeAmount(minor, hold.asset)} of hold ${hold.id}`,
          `to ${describeSubject(hold.destination, 'world')}.`,
          final
            ? `Final: the rest, ${describeAmount(rest, hold.asset)}, returns to the wallet's main balance and the hold closes.`
            : `The hold keeps ${describeAmount(rest, hold.asset)}.`,
        ],
        run: async (coffer, idempotencyKey) => {
          await coffer.confirmHold(hold.id, { ...(text === '' ? {} : { amount: minor }), final }, { idempotencyKey });
          return { message: `Hold ${hold.id}: ${describeAmount(minor, hold.asset)} confirmed.` };
        },
      };
    });
  },
};

const voidHold: ActionSpec = {
  title: 'Void a hold',
  submitLabel: 'Void hold',
  fields: [],
  plan(_values, context) {
    const hold = context.hold;
    if (hold === undefined) return { ok: false, problems: { hold: 'no hold chosen' } };
    return {
      ok: true,
      plan: {
        lines: [`Void hold ${hold.id}: its remaining ${describeAmount(hold.remaining, hold.asset)} returns to the balances it came from.`],
        run: async (coffer, idempotencyKey) => {
          await coffer.voidHold(hold.id, { idempotencyKey });
          return { message: `Hold ${hold.id} voided.` };
        },
      },
    };
  },
};

export const ACTIONS: Readonly<Record<ActionKind, ActionSpec>> = {
  createWallet,
  createBalance,
  credit,
  debit: debitSpec(false),
  pendingDebit: debitSpec(true),
  confirm,
  void: voidHold,
};
