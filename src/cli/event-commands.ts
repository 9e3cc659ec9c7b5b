/**
 * `coffer events tail`: follows the event feed (GET /events with long polls) in the
 * terminal, one line per event, or one JSON object per line with --json. It resumes after a
 * position with --after (the position of the last event a consumer handled).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { stringify } from 'lossless-json';
import type { CofferEvent, EventType } from '../client/index.ts';
import { EVENT_TYPES } from '../domain/events.ts';
import { contextOf } from './context.ts';
import { write } from './output.ts';

function typeArgument(value: string, previous: EventType[] = []): EventType[] {
  const types = value.split(',').filter((type) => type !== '');
  for (const type of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(type)) throw new InvalidArgumentError(`not an event type; one of ${EVENT_TYPES.join(', ')}`);
  }
  return [...previous, ...(types as EventType[])];
}

function positionArgument(value: string): bigint {
  if (!/^\d{1,18}$/.test(value)) throw new InvalidArgumentError('a position: a non-negative integer');
  return BigInt(value);
}

function countArgument(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('a positive integer');
  return Number(value);
}

/** What an event is about, in a few words: the wallet or hold, and the amount moved; for a webhook's event, the webhook and why. */
export function eventSummary(event: CofferEvent): string {
  const data = event.data as { wallet?: { id: string; status?: string }; walletID?: string; hold?: { id: string; walletID: string; remaining: bigint }; amount?: { asset: string; amount: bigint }; balance?: unknown; webhook?: { id: string; url: string; reason?: string } };
  const parts: string[] = [];
  if (data.webhook) parts.push(`webhook ${data.webhook.id} ${data.webhook.url}${data.webhook.reason ? `: ${data.webhook.reason}` : ''}`);
  if (data.wallet) parts.push(`wallet ${data.wallet.id}`);
  if (data.walletID) parts.push(`wallet ${data.walletID}`);
  if (data.hold) parts.push(`hold ${data.hold.id} remaining ${data.hold.remaining}`);
  if (data.amount) parts.push(`${data.amount.amount} ${data.amount.asset}`);
  if (typeof data.balance === 'string') parts.push(`balance ${data.balance}`);
  else if (data.balance && typeof data.balance === 'object') parts.push(`balance ${(data.balance as { name: string }).name}`);
  return parts.join(' ').replace(/\p{Cc}/gu, '?');
}

export function eventCommands(program: Command): void {
  const events = program.command('events').description('what changed, in commit order: follow the event feed');
  events
    .command('tail')
    .description('print every event after --after (default: from the first), then each new one as it commits, until interrupted')
    .option('--type <type>', 'only events of this type (repeatable, or comma-separated)', typeArgument)
    .option('--wallet <wallet-id>', "only this wallet's events")
    .option('--after <position>', 'start after this position (the last event you handled)', positionArgument)
    .option('--count <n>', 'stop after this many events', countArgument)
    .action(async (options: { type?: EventType[]; wallet?: string; after?: bigint; count?: number }, command: Command) => {
      const { coffer, json } = contextOf(command);
      const stop = new AbortController();
      let printed = 0;
      const query = {
        ...(options.type ? { type: options.type } : {}),
        ...(options.wallet !== undefined ? { walletID: options.wallet } : {}),
        after: options.after ?? 0n,
      };
      for await (const event of coffer.events(query, { signal: stop.signal })) {
        if (json) write(stringify(event) ?? 'null');
        else write(`${event.position}\t${event.occurredAt}\t${event.type}\t${eventSummary(event)}`);
        if (options.count !== undefined && ++printed >= options.count) break;
      }
    });
}
