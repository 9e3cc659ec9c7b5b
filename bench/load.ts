/**
 * The load generator, run as its own process by bench/run.ts so it does not share the
 * server's event loop: autocannon with keep-alive connections for a fixed duration, every
 * mutation with its own Idempotency-Key. Prints one JSON result on stdout.
 *
 * Usage: node --import tsx bench/load.ts <scenario> <url> <connections> <seconds> <wallets.json>
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

type Scenario = 'debit-uniform' | 'debit-hot' | 'pending-confirm' | 'create-wallet' | 'get-wallet';

const [scenario, url, connectionsText, secondsText, walletsFile] = process.argv.slice(2) as [Scenario, string, string, string, string];
const wallets = JSON.parse(readFileSync(walletsFile, 'utf8')) as { uniform: string[]; hot: string };
const run = randomUUID().slice(0, 8);
let sequence = 0;
const nextKey = () => `${run}-${sequence++}`;
const pick = () => wallets.uniform[Math.floor(Math.random() * wallets.uniform.length)]!;
const debitBody = '{"amount":{"asset":"USD/2","amount":1}}';
const json = { 'content-type': 'application/json' };

type Request = autocannon.Request;
/** autocannon's per-connection context: the pending debit's hold id travels to the confirm. */
type Context = { hold?: string };

function requests(): Request[] {
  switch (scenario) {
    case 'debit-uniform':
    case 'debit-hot':
      return [
        {
          method: 'POST',
          setupRequest: (request: Request) => ({
            ...request,
            path: `/wallets/${scenario === 'debit-hot' ? wallets.hot : pick()}/debit`,
            headers: { ...json, 'idempotency-key': nextKey() },
            body: debitBody,
          }),
        },
      ];
    case 'pending-confirm':
      return [
        {
          method: 'POST',
          setupRequest: (request: Request) => ({
            ...request,
            path: `/wallets/${pick()}/debit`,
            headers: { ...json, 'idempotency-key': nextKey() },
            body: '{"amount":{"asset":"USD/2","amount":1},"pending":true}',
          }),
          onResponse: (status: number, body: string, context: object) => {
            if (status === 201) (context as Context).hold = (JSON.parse(body) as { data: { id: string } }).data.id;
          },
        },
        {
          method: 'POST',
          setupRequest: (request: Request, context: object) => ({
            ...request,
            path: `/holds/${(context as Context).hold}/confirm`,
            headers: { 'idempotency-key': nextKey() },
          }),
        },
      ];
    case 'create-wallet':
      return [
        {
          method: 'POST',
          setupRequest: (request: Request) => ({ ...request, path: '/wallets', headers: { ...json, 'idempotency-key': nextKey() }, body: '{"name":"bench"}' }),
        },
      ];
    case 'get-wallet':
      return [{ method: 'GET', setupRequest: (request: Request) => ({ ...request, path: `/wallets/${pick()}` }) }];
  }
}

const result = await autocannon({
  url,
  connections: Number(connectionsText),
  duration: Number(secondsText),
  pipelining: 1,
  requests: requests(),
});

// A pending-confirm operation is two requests.
const requestsPerOperation = scenario === 'pending-confirm' ? 2 : 1;
process.stdout.write(
  JSON.stringify({
    scenario,
    requests: result.requests.total,
    operationsPerSecond: result.requests.total / requestsPerOperation / Number(secondsText),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    non2xx: result.non2xx,
  }) + '\n',
);
