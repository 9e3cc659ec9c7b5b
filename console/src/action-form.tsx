/**
 * The one open action form, in a modal dialog: edit → review (exactly what will move, and
 * the Idempotency-Key it goes under) → confirm → the outcome, or the API's errorCode and
 * message. The draft (values, stage, key) is saved on every change, so a reload reopens the
 * form as it was, with the same key (see drafts.ts).
 */
import type { ExpandedHold, Wallet } from 'coffer/client';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ACTIONS, type ActionContext, type Field, type Outcome, type Values } from './actions.ts';
import { editDraft, saveDraft, type Draft } from './drafts.ts';
import { isAsset, parseMajor } from './money.ts';
import { ErrorBox, failureOf, useConsole, type Failure } from './shared.tsx';

type Status = { readonly state: 'idle' } | { readonly state: 'sending' } | { readonly state: 'done'; readonly outcome: Outcome } | { readonly state: 'failed'; readonly failure: Failure };

interface Props {
  readonly draft: Draft;
  readonly onChange: (draft: Draft) => void;
  readonly onClose: (outcome: Outcome | null) => void;
}

/** The wallet and the hold the draft names, loaded when the form opens (or reopens after a reload). */
function useActionContext(draft: Draft): ActionContext | 'loading' | Failure {
  const { coffer, report } = useConsole();
  const [context, setContext] = useState<ActionContext | 'loading' | Failure>('loading');
  useEffect(() => {
    let live = true;
    const wallet: Promise<Wallet | undefined> = draft.walletId ? coffer.getWallet(draft.walletId) : Promise.resolve(undefined);
    const hold: Promise<ExpandedHold | undefined> = draft.holdId ? coffer.getHold(draft.holdId) : Promise.resolve(undefined);
    Promise.all([wallet, hold])
      .then(([w, h]) => live && setContext({ walletId: draft.walletId ?? h?.walletID, walletName: w?.name, hold: h }))
      .catch((error: unknown) => {
        report(error);
        if (live) setContext(failureOf(error));
      });
    return () => {
      live = false;
    };
  }, [draft.walletId, draft.holdId]);
  return context;
}

export function ActionForm({ draft, onChange, onClose }: Props) {
  const { coffer, report } = useConsole();
  const spec = ACTIONS[draft.kind];
  const dialog = useRef<HTMLDialogElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const inFlight = useRef(false);
  const [status, setStatus] = useState<Status>({ state: 'idle' });
  const context = useActionContext(draft);

  useLayoutEffect(() => {
    if (dialog.current?.open === false) dialog.current.showModal();
    heading.current?.focus();
  }, []);
  useEffect(() => saveDraft(status.state === 'done' ? null : draft), [draft, status.state]);

  const close = (outcome: Outcome | null) => {
    if (inFlight.current) return;
    saveDraft(null);
    dialog.current?.close();
    onClose(outcome);
  };

  const ready = typeof context === 'object' && !('code' in context);
  const checked = ready ? spec.plan(draft.values, context) : null;
  const problems = checked !== null && !checked.ok ? checked.problems : {};

  const setValue = (name: string, value: string) => {
    setStatus({ state: 'idle' });
    onChange(editDraft(draft, { ...draft.values, [name]: value }));
  };

  const review = (event: Event) => {
    event.preventDefault();
    if (checked?.ok) onChange({ ...draft, stage: 'review' });
  };

  /** Sends the request under the draft's key. A second click while one is out does nothing; a second send (retry, reload) replays. */
  const confirm = async () => {
    if (inFlight.current || !checked?.ok) return;
    inFlight.current = true;
    setStatus({ state: 'sending' });
    const sent = { ...draft, sent: true };
    saveDraft(sent);
    onChange(sent);
    try {
      const outcome = await checked.plan.run(coffer, draft.key);
      saveDraft(null);
      setStatus({ state: 'done', outcome });
    } catch (error) {
      report(error);
      setStatus({ state: 'failed', failure: failureOf(error) });
    } finally {
      inFlight.current = false;
    }
  };

  return (
    <dialog
      ref={dialog}
      class="action"
      aria-labelledby="action-title"
      onCancel={(event) => {
        event.preventDefault();
        if (status.state === 'done') close(status.outcome);
        else close(null);
      }}
    >
      <h2 id="action-title" tabIndex={-1} ref={heading}>
        {spec.title}
      </h2>
      {context === 'loading' ? <p>Loading…</p> : null}
      {typeof context === 'object' && 'code' in context ? <ErrorBox failure={context} title="Cannot open this form" /> : null}
      {ready && status.state === 'done' ? (
        <Done outcome={status.outcome} onClose={() => close(status.outcome)} />
      ) : ready && draft.stage === 'review' && checked?.ok ? (
        <section aria-label="Review">
          <p class="review-intro">Please check what will happen:</p>
          <ul class="review">
            {checked.plan.lines.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
          <p class="muted small">
            Idempotency-Key: <code data-testid="idempotency-key">{draft.key}</code>
          </p>
          {draft.sent && status.state === 'idle' ? (
            <p class="notice" role="status">
              This request was sent before, and its answer was not seen. Confirming sends it again under the same key: if it was applied, Coffer replays
              that outcome and nothing moves twice.
            </p>
          ) : null}
          {status.state === 'failed' ? <ErrorBox failure={status.failure} title={`${spec.title} failed`} /> : null}
          {status.state === 'failed' && status.failure.unknownOutcome ? (
            <p class="notice">It may or may not have been applied. Retry sends it again under the same Idempotency-Key, so it cannot apply twice.</p>
          ) : null}
          <div class="buttons">
            <button type="button" class="primary" disabled={status.state === 'sending'} onClick={() => void confirm()}>
              {status.state === 'sending' ? 'Sending…' : status.state === 'failed' && status.failure.unknownOutcome ? 'Retry' : `Confirm: ${spec.submitLabel}`}
            </button>
            {spec.fields.length > 0 ? (
              <button type="button" disabled={status.state === 'sending'} onClick={() => onChange({ ...draft, stage: 'edit' })}>
                Back to edit
              </button>
            ) : null}
            <button type="button" disabled={status.state === 'sending'} onClick={() => close(null)}>
              Cancel
            </button>
          </div>
        </section>
      ) : ready ? (
        <form onSubmit={review} noValidate>
          {context.hold ? <HoldLine hold={context.hold} /> : null}
          {spec.fields.map((field) => (
            <FieldInput key={field.name} field={field} values={draft.values} problem={problems[field.name] ?? problems[`${field.name}Id`]} asset={context.hold?.asset} onInput={setValue} />
          ))}
          {problems.hold ? <p class="problem">{problems.hold}</p> : null}
          <div class="buttons">
            <button type="submit" class="primary">
              Review
            </button>
            <button type="button" onClick={() => close(null)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="buttons">
          <button type="button" onClick={() => close(null)}>
            Close
          </button>
        </div>
      )}
    </dialog>
  );
}

function Done({ outcome, onClose }: { outcome: Outcome; onClose: () => void }) {
  const button = useRef<HTMLButtonElement>(null);
  // Focus moves with the render, before the outcome is painted: a key pressed once the outcome
  // shows goes to its button (with useEffect it could still go to the removed Confirm button).
  useLayoutEffect(() => button.current?.focus(), []);
  return (
    <div>
      <p class="success" role="status">
        {outcome.message}
      </p>
      <div class="buttons">
        <button type="button" class="primary" ref={button} onClick={onClose}>
          {outcome.openWallet ? 'Open the wallet' : 'Close'}
        </button>
      </div>
    </div>
  );
}

function HoldLine({ hold }: { hold: ExpandedHold }) {
  return (
    <p class="muted">
      Hold <code>{hold.id}</code>: {hold.remaining.toString()} of {hold.originalAmount.toString()} minor units of {hold.asset} remain.
    </p>
  );
}

interface FieldProps {
  readonly field: Field;
  readonly values: Values;
  readonly problem: string | undefined;
  /** The asset an amount is in, when the form has no asset field (a hold's). */
  readonly asset: string | undefined;
  readonly onInput: (name: string, value: string) => void;
}

function FieldInput({ field, values, problem, asset, onInput }: FieldProps) {
  const id = `field-${field.name}`;
  const value = values[field.name] ?? field.initial ?? '';
  const described = [field.hint ? `${id}-hint` : '', problem ? `${id}-problem` : '', field.kind === 'amount' ? `${id}-minor` : ''].filter(Boolean).join(' ') || undefined;
  const common = { id, name: field.name, 'aria-invalid': problem ? ('true' as const) : undefined, 'aria-describedby': described };
  if (field.kind === 'subject') return <SubjectInput field={field} values={values} problem={problem} onInput={onInput} />;
  return (
    <div class={`field${field.kind === 'checkbox' ? ' checkbox' : ''}`}>
      {field.kind === 'checkbox' ? (
        <input type="checkbox" {...common} checked={value === 'true'} onChange={(event) => onInput(field.name, String(event.currentTarget.checked))} />
      ) : null}
      <label for={id}>{field.label}</label>
      {field.kind === 'textarea' ? (
        <textarea {...common} rows={3} value={value} onInput={(event) => onInput(field.name, event.currentTarget.value)} />
      ) : field.kind === 'checkbox' ? null : field.kind === 'datetime' ? (
        <input type="datetime-local" {...common} value={value} onInput={(event) => onInput(field.name, event.currentTarget.value)} />
      ) : (
        <input
          type="text"
          {...common}
          value={value}
          inputMode={field.kind === 'amount' ? 'decimal' : undefined}
          autoComplete="off"
          spellcheck={false}
          onInput={(event) => onInput(field.name, event.currentTarget.value)}
        />
      )}
      {field.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {field.hint}
        </p>
      ) : null}
      {field.kind === 'amount' ? <MinorUnits id={`${id}-minor`} text={value} asset={values.asset ?? asset ?? ''} /> : null}
      {problem ? (
        <p class="problem" id={`${id}-problem`}>
          {problem}
        </p>
      ) : null}
    </div>
  );
}

/** Live, under an amount: what the typed major units are in minor units. */
function MinorUnits({ id, text, asset }: { id: string; text: string; asset: string }) {
  const parsed = text.trim() !== '' && isAsset(asset) ? parseMajor(text, asset) : null;
  return (
    <p class="hint" id={id} aria-live="polite">
      {parsed?.ok ? `= ${parsed.minor} minor units of ${asset}` : isAsset(asset) ? `in major units of ${asset}` : ''}
    </p>
  );
}

/** World, an account address, or a wallet (and balance): the source of a credit or the destination of a debit. */
function SubjectInput({ field, values, problem, onInput }: Omit<FieldProps, 'asset'>) {
  const type = values[`${field.name}Type`] ?? 'world';
  const id = `field-${field.name}`;
  return (
    <fieldset class="field subject">
      <legend>{field.label}</legend>
      <label for={`${id}Type`}>Kind</label>
      <select id={`${id}Type`} value={type} onChange={(event) => onInput(`${field.name}Type`, event.currentTarget.value)}>
        <option value="world">world (outside the ledger)</option>
        <option value="WALLET">a wallet</option>
        <option value="ACCOUNT">a ledger account</option>
      </select>
      {type === 'world' ? null : (
        <>
          <label for={`${id}Id`}>{type === 'WALLET' ? 'Wallet id' : 'Account address'}</label>
          <input
            id={`${id}Id`}
            type="text"
            autoComplete="off"
            value={values[`${field.name}Id`] ?? ''}
            aria-invalid={problem ? 'true' : undefined}
            onInput={(event) => onInput(`${field.name}Id`, event.currentTarget.value)}
          />
        </>
      )}
      {type === 'WALLET' ? (
        <>
          <label for={`${id}Balance`}>Balance (empty: main)</label>
          <input id={`${id}Balance`} type="text" autoComplete="off" value={values[`${field.name}Balance`] ?? ''} onInput={(event) => onInput(`${field.name}Balance`, event.currentTarget.value)} />
        </>
      ) : null}
      {problem ? <p class="problem">{problem}</p> : null}
    </fieldset>
  );
}
