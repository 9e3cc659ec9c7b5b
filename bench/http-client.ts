/**
 * What one webhook POST costs the sender and the receiver, in CPU: a keep-alive POST of an
 * event-sized JSON body to a minimal Node receiver (in a child process, answering 204), 4 at a
 * time (WEBHOOK_CONCURRENCY was 4 when this was written), REQUESTS times, with Coffer's own `send` (undici's `dispatch`
 * with a handler of its own, one shared timer for the deadlines), with undici's `request` (as
 * Coffer sent before: the answer a stream read through an async iterator) with a plain
 * AbortController or a per-request `AbortSignal.timeout`, and with node:http. Prints each client's CPU per request and the receiver's. Run: `node --import tsx bench/http-client.ts` (REQUESTS, default 20,000).
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Agent, request as undiciRequest } from 'undici';
import { send } from '../src/events/webhooks.ts';

const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const CONCURRENCY = 4;
const BODY = JSON.stringify({
  position: 123456,
  id: '01936c5e-7a10-7000-8000-000000000000',
  type: 'wallet.debited',
  occurredAt: '2026-12-01T00:00:00.000000Z',
  ledger: 'default',
  data: { walletID: '00000000-0000-4000-8000-000000000001', amount: { asset: 'USD/2', amount: 100 }, transaction: { id: 42, postings: [{ source: 'a', destination: 'b', amount: 100, asset: 'USD/2' }] } },
  cause: { requestId: 'r', idempotencyKey: 'k', clientId: null },
});

/** The receiver: counts requests and, after `REQUESTS`, prints its own CPU per request on stdout. */
const RECEIVER = `
const { createServer } = require('node:http');
let n = 0, t0;
const server = createServer((q, r) => q.resume().on('end', () => {
  if (n++ === 0) t0 = process.cpuUsage();
  r.writeHead(204).end();
  if (n === ${REQUESTS}) { const c = process.cpuUsage(t0); console.log(JSON.stringify({ micros: (c.user + c.system) / (n - 1) })); server.close(); server.closeAllConnections(); }
}));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

async function receiver(): Promise<{ port: number; cost: Promise<number> }> {
  const child = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    wake?.();
  });
  const next = async (): Promise<Record<string, number>> => {
    while (lines.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return JSON.parse(lines.shift()!);
  };
  const { port } = await next();
  return { port: port!, cost: next().then((line) => line.micros!) };
}

const sign = () => createHmac('sha256', 'a secret of 24 bytes....').update(BODY).digest('base64');

async function measure(name: string, post: (url: string) => Promise<void>): Promise<void> {
  const { port, cost } = await receiver();
  const url = `http://127.0.0.1:${port}/hook`;
  let sent = 0;
  const started = process.cpuUsage();
  const wall = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (sent < REQUESTS) {
        sent++;
        await post(url);
      }
    }),
  );
  const used = process.cpuUsage(started);
  console.log(
    `${name}: ${REQUESTS} POSTs in ${Math.round(performance.now() - wall)} ms; sender ${Math.round((used.user + used.system) / REQUESTS)} µs CPU per request, receiver ${Math.round(await cost)} µs`,
  );
}

const viaCoffer = async (url: string) => {
  const answer = await send(url, { 'webhook-signature': sign() }, BODY, true);
  if (answer.error !== null) throw new Error(answer.error);
};
const agent = new Agent({ headersTimeout: 10_000, bodyTimeout: 10_000 });
const viaUndici = async (url: string) => {
  const controller = new AbortController();
  const response = await undiciRequest(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'webhook-signature': sign() }, body: BODY, signal: controller.signal });
  for await (const chunk of response.body) void chunk;
};
const viaUndiciTimeoutSignal = async (url: string) => {
  const response = await undiciRequest(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'webhook-signature': sign() }, body: BODY, signal: AbortSignal.timeout(10_000) });
  for await (const chunk of response.body) void chunk;
};
const viaNodeHttp = (url: string) =>
  new Promise<void>((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY), 'webhook-signature': sign() }, signal: AbortSignal.timeout(10_000) },
      (response) => response.resume().on('end', resolve),
    );
    request.on('error', reject);
    request.end(BODY);
  });

console.log(`Node ${process.version}; ${CONCURRENCY} at a time, keep-alive`);
// Round 0 warms every client up (the first client measured in a cold process paid for its JIT
// and looked 20–30 µs dearer); it is printed but not to be compared. The order turns each round.
const clients: [string, (url: string) => Promise<void>][] = [
  ["Coffer's send (undici's dispatch)", viaCoffer],
  ["undici's request with an AbortController", viaUndici],
  ["undici's request with AbortSignal.timeout", viaUndiciTimeoutSignal],
  ['node:http', viaNodeHttp],
];
for (let round = 0; round <= 3; round++) {
  for (let i = 0; i < clients.length; i++) {
    const [name, post] = clients[(i + round) % clients.length]!;
    await measure(`${name}, round ${round}${round === 0 ? ' (warm-up)' : ''}`, post);
  }
}
await agent.close();
