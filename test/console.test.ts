/**
 * The operator console (/console), end to end: a real Coffer process on PGlite serving the
 * built console, driven in headless Chromium (Debian's `chromium`, through playwright-core)
 * as an operator would, and checked through the API with the typed client. The console
 * speaks only the public API, so one backend is enough here: the API's behaviour on both
 * backends is the rest of the suite's business.
 *
 * Also: the console's files are served by Coffer alone, under a strict Content-Security-
 * Policy, hostile paths get the JSON 404, an accessibility check (axe) finds nothing serious
 * or critical at 1280 and 390 px, and the screenshots in README come from here.
 */
import AxeBuilder from '@axe-core/playwright';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { build } from 'vite';
import { Coffer } from '../src/client/index.ts';
import { launchChromium } from './support/browser.ts';
import { runCommand, startServer, type ServerProcess } from './support/server-process.ts';

const IMAGES = new URL('../docs/images/', import.meta.url);
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };

let server: ServerProcess;
let dataDir: string;
let browser: Browser;
let coffer: Coffer;

before(async () => {
  // The console as its sources say now (the server serves dist/console): a stale build would
  // test old code. Vite takes about a second.
  await build({ configFile: fileURLToPath(new URL('../console/vite.config.ts', import.meta.url)) });
  dataDir = mkdtempSync(join(tmpdir(), 'coffer-console-'));
  [server, browser] = await Promise.all([startServer({ DATA_DIR: dataDir }), launchChromium()]);
  coffer = new Coffer({ url: server.url, retries: 0 });
});

after(async () => {
  await browser?.close();
  await server?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

/** A page of the console in a fresh browser context (its own storage), failing the test on a page error or a CSP report. */
async function openConsole(viewport = WIDE, hash = '#/wallets', base = server.url): Promise<{ page: Page; context: BrowserContext; problems: string[] }> {
  const context = await browser.newContext({ viewport });
  // Everything here answers in well under a second: a missing element fails in seconds, not 30.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith('data:')) problems.push(`request outside Coffer: ${request.url()}`);
  });
  await page.goto(`${base}/console/${hash}`);
  return { page, context, problems };
}

async function mainBalance(walletId: string): Promise<bigint> {
  return (await coffer.getWallet(walletId)).balances.main.assets['USD/2'] ?? 0n;
}

/** Fills the open action form's fields by label, reviews, and returns the review's Idempotency-Key. */
async function fillAndReview(page: Page, fields: Record<string, string>): Promise<string> {
  const dialog = page.getByRole('dialog');
  for (const [label, value] of Object.entries(fields)) await dialog.getByLabel(label, { exact: true }).fill(value);
  await dialog.getByRole('button', { name: 'Review' }).click();
  return (await dialog.getByTestId('idempotency-key').textContent()) ?? '';
}

async function finish(page: Page): Promise<string> {
  const dialog = page.getByRole('dialog');
  const message = (await dialog.getByRole('status').textContent()) ?? '';
  await dialog.getByRole('button', { name: /^(Close|Open the wallet)$/ }).click();
  await dialog.waitFor({ state: 'detached' });
  return message;
}

/** The POSTs the page sends to one kind of route, with their Idempotency-Keys. */
function recordPosts(page: Page, pathEnd: RegExp): string[] {
  const keys: string[] = [];
  page.on('request', (request: Request) => {
    if (request.method() === 'POST' && pathEnd.test(new URL(request.url()).pathname)) keys.push(request.headers()['idempotency-key'] ?? '');
  });
  return keys;
}

function summaryCard(page: Page, title: string) {
  return page.locator(`[data-summary="${title}"]`);
}

async function axeProblems(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}

describe('console: served by Coffer', () => {
  it('GET /console: the page and its files come from Coffer only, under a strict CSP with no inline code', async () => {
    const page = await fetch(`${server.url}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const policy = page.headers.get('content-security-policy') ?? '';
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, /script-src 'self'(;|$)/);
    assert.match(policy, /style-src 'self'(;|$)/);
    assert.match(policy, /connect-src 'self'(;|$)/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|\*|https?:/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /<style|style="/, 'no inline style');
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, source]) => source!).filter((source) => source !== 'data:,');
    assert.ok(sources.length >= 2, 'a script and a stylesheet');
    for (const source of sources) {
      assert.match(source, /^\/console\/assets\//, `${source} is served by Coffer`);
      const asset = await fetch(`${server.url}${source}`);
      assert.equal(asset.status, 200, source);
      assert.match(asset.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    }
    assert.equal((await fetch(`${server.url}/console/`)).status, 200);
    assert.equal((await fetch(`${server.url}/console/index.html`)).status, 200);
  });

  it('hostile and unknown paths under /console: the JSON 404, nothing from outside the build', async () => {
    const paths = [
      '/console/assets/missing.js',
      '/console/../package.json',
      '/console/%2e%2e/package.json',
      '/console/assets/..%2F..%2F..%2Fpackage.json',
      '/console/assets/%2e%2e%2f%2e%2e%2fmain.js',
      '/console/.env',
      '/console/assets/.hidden',
      '/console/vite.config.ts',
      '/console/src/main.tsx',
      '/console/assets/%00.js',
      '/api/wallets/console',
    ];
    for (const path of paths) {
      const answer = await fetch(`${server.url}${path}`);
      assert.ok(answer.status === 404 || answer.status === 400, `${path}: ${answer.status}`);
      const body = (await answer.json()) as { errorCode: string };
      assert.ok(body.errorCode === 'NOT_FOUND' || body.errorCode === 'VALIDATION', `${path}: ${body.errorCode}`);
    }
    const post = await fetch(`${server.url}/console`, { method: 'POST' });
    assert.equal(post.status, 404);
  });

  it('is a page of the UI, not an API operation: not in the OpenAPI document', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(Object.keys(document.paths).length > 0);
    assert.ok(!Object.keys(document.paths).some((path) => path.startsWith('/console')));
  });
});

describe('console: an operator at work', () => {
  let walletId = '';

  it('creates a wallet through the form and lands on its page', async () => {
    const { page, context, problems } = await openConsole();
    try {
      await page.getByRole('heading', { name: 'Wallets' }).waitFor();
      await page.getByText('No wallets yet.').waitFor();
      await page.getByRole('button', { name: 'Create wallet' }).click();
      await fillAndReview(page, { Name: 'alice', Metadata: 'tier=gold\nregion=eu' });
      const review = await page.getByRole('dialog').locator('.review').textContent();
      assert.match(review ?? '', /Create a wallet named "alice"/);
      assert.match(review ?? '', /tier=gold, region=eu/);
      await page.getByRole('button', { name: 'Confirm: Create wallet' }).click();
      assert.match(await finish(page), /Wallet "alice" created/);
      await page.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      walletId = decodeURIComponent(new URL(page.url()).hash.replace('#/wallets/', ''));
      const wallet = await coffer.getWallet(walletId);
      assert.equal(wallet.name, 'alice');
      assert.deepEqual(wallet.metadata, { tier: 'gold', region: 'eu' });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('credit: a double-clicked confirm moves the money once, under one Idempotency-Key', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      const keys = recordPosts(page, /\/credit$/);
      await page.getByRole('button', { name: 'Credit', exact: true }).click();
      const key = await fillAndReview(page, { Amount: '100.00' });
      const review = (await page.getByRole('dialog').locator('.review').textContent()) ?? '';
      assert.match(review, /Credit 100\.00 USD \(10000 minor units of USD\/2\)/);
      await page.getByRole('button', { name: 'Confirm: Credit' }).dblclick();
      assert.match(await finish(page), /Credited 100\.00 USD/);
      assert.equal(await mainBalance(walletId), 10000n);
      assert.ok(keys.length >= 1);
      assert.deepEqual(new Set(keys), new Set([key]), 'every credit request carried the form key');
      const transactions = await coffer.listTransactions({ walletID: walletId });
      assert.equal(transactions.data.length, 1, 'one transaction');
      await summaryCard(page, 'Available').getByText('100.00 USD').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('pending debit, partial confirm, void: the holds and the summary update after each', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      await page.getByRole('button', { name: 'Pending debit' }).click();
      await fillAndReview(page, { Amount: '30', 'Description (optional)': 'order 17' });
      assert.match((await page.getByRole('dialog').locator('.review').textContent()) ?? '', /Put 30\.00 USD \(3000 minor units of USD\/2\) on hold/);
      await page.getByRole('button', { name: 'Confirm: Put on hold' }).click();
      const created = await finish(page);
      const holdId = /Hold (\S+) created/.exec(created)?.[1] ?? '';
      assert.ok(holdId !== '', created);
      await summaryCard(page, 'On hold').getByText('30.00 USD').waitFor();
      await summaryCard(page, 'Available').getByText('70.00 USD').waitFor();
      const openRow = page.locator(`table[data-holds="open"] tr[data-hold="${holdId}"]`);
      await openRow.getByText('30.00 USD').first().waitFor();

      await openRow.getByRole('button', { name: `Confirm hold ${holdId}` }).click();
      await fillAndReview(page, { Amount: '10.00' });
      const review = (await page.getByRole('dialog').locator('.review').textContent()) ?? '';
      assert.match(review, /Send 10\.00 USD \(1000 minor units of USD\/2\) of hold/);
      assert.match(review, /The hold keeps 20\.00 USD/);
      await page.getByRole('button', { name: 'Confirm: Confirm hold' }).click();
      assert.match(await finish(page), /10\.00 USD \(1000 minor units of USD\/2\) confirmed/);
      await summaryCard(page, 'On hold').getByText('20.00 USD').waitFor();
      await summaryCard(page, 'Available').getByText('70.00 USD').waitFor();
      assert.equal((await coffer.getHold(holdId)).remaining, 2000n);

      await openRow.getByRole('button', { name: `Void hold ${holdId}` }).click();
      assert.match((await page.getByRole('dialog').locator('.review').textContent()) ?? '', /remaining 20\.00 USD .* returns/);
      await page.getByRole('button', { name: 'Confirm: Void hold' }).click();
      assert.match(await finish(page), /voided/);
      await summaryCard(page, 'Available').getByText('90.00 USD').waitFor();
      await summaryCard(page, 'On hold').getByText('0.00 USD').waitFor();
      await page.locator(`table[data-holds="closed"] tr[data-hold="${holdId}"]`).waitFor();
      assert.equal(await openRow.count(), 0);
      assert.equal(await mainBalance(walletId), 9000n);

      // The transactions, newest first, each expandable to its postings.
      const items = page.locator('ul.transactions > li');
      assert.equal(await items.count(), 4, 'credit, hold, confirm, void');
      const ids = await items.evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-transaction'))));
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
      await items.first().locator('summary').click();
      const postings = items.first().locator('table.postings tbody tr');
      assert.ok((await postings.count()) >= 1);
      assert.match((await postings.first().textContent()) ?? '', /wallets:holds:/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('create a balance, credit it, debit it at once: the balances table and the API agree', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      await page.getByRole('button', { name: 'Create balance' }).click();
      await fillAndReview(page, { 'Balance name': 'promo', Priority: '1' });
      assert.match((await page.getByRole('dialog').locator('.review').textContent()) ?? '', /Create balance "promo" in wallet "alice".*Priority 1; never expires/);
      await page.getByRole('button', { name: 'Confirm: Create balance' }).click();
      assert.match(await finish(page), /Balance "promo" created/);

      await page.getByRole('button', { name: 'Credit', exact: true }).click();
      await fillAndReview(page, { Amount: '10', 'To balance': 'promo' });
      await page.getByRole('button', { name: 'Confirm: Credit' }).click();
      await finish(page);
      await page.getByRole('button', { name: 'Debit', exact: true }).click();
      await fillAndReview(page, { Amount: '4.00', 'From balances': 'promo' });
      assert.match((await page.getByRole('dialog').locator('.review').textContent()) ?? '', /Debit 4\.00 USD \(400 minor units of USD\/2\).*balance promo.*to world/);
      await page.getByRole('button', { name: 'Confirm: Debit' }).click();
      assert.match(await finish(page), /Debited 4\.00 USD/);

      const promo = await coffer.getBalance(walletId, 'promo');
      assert.equal(promo.priority, 1n);
      assert.deepEqual(promo.assets, { 'USD/2': 600n });
      const row = page.locator('section[aria-labelledby="balances-title"] tbody tr', { hasText: 'promo' });
      await row.getByText('6.00 USD').waitFor();
      assert.match((await row.textContent()) ?? '', /promo1never/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('an API refusal is shown with its errorCode and message, and nothing moves', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      const before = await mainBalance(walletId);
      await page.getByRole('button', { name: 'Debit', exact: true }).click();
      await fillAndReview(page, { Amount: '1000.00' });
      await page.getByRole('button', { name: 'Confirm: Debit' }).click();
      const alert = page.getByRole('dialog').getByRole('alert');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /INSUFFICIENT_FUND/);
      assert.match((await alert.locator('.error-code').textContent()) ?? '', /^INSUFFICIENT_FUND$/);
      assert.equal(await mainBalance(walletId), before);
      // A form that does not parse never reaches the API: the problem is shown at the field.
      await page.getByRole('button', { name: 'Back to edit' }).click();
      await page.getByRole('dialog').getByLabel('Amount', { exact: true }).fill('1.005');
      await page.getByRole('dialog').getByRole('button', { name: 'Review' }).click();
      await page.getByRole('dialog').getByText('USD/2 has 2 decimals at most').waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('a lost answer: the client retries under the same key and Coffer replays; the money moved once', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      const before = await mainBalance(walletId);
      const keys = recordPosts(page, /\/credit$/);
      let applied = 0;
      await page.route(
        '**/api/wallets/wallets/*/credit',
        async (route) => {
          await route.fetch(); // Coffer applies the credit...
          applied++;
          await route.abort('connectionreset'); // ...and its answer never reaches the page.
        },
        { times: 1 },
      );
      await page.getByRole('button', { name: 'Credit', exact: true }).click();
      await fillAndReview(page, { Amount: '5' });
      await page.getByRole('button', { name: 'Confirm: Credit' }).click();
      assert.match(await finish(page), /Credited 5\.00 USD/);
      assert.equal(applied, 1);
      assert.equal(keys.length, 2, 'the first attempt and the retry');
      assert.equal(new Set(keys).size, 1, 'under one key');
      assert.equal(await mainBalance(walletId), before + 500n);
      assert.deepEqual(problems.filter((problem) => !/ERR_CONNECTION_RESET|net::/.test(problem)), []);
    } finally {
      await context.close();
    }
  });

  it('a reload while the request is out: the form comes back with its key, and confirming again replays', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      const before = await mainBalance(walletId);
      let appliedResolve = () => {};
      const appliedOnServer = new Promise<void>((resolve) => (appliedResolve = resolve));
      await page.route(
        '**/api/wallets/wallets/*/credit',
        async (route) => {
          await route.fetch();
          appliedResolve(); // applied on the server; the page reloads before it hears back
        },
        { times: 1 },
      );
      await page.getByRole('button', { name: 'Credit', exact: true }).click();
      const key = await fillAndReview(page, { Amount: '2.50' });
      await page.getByRole('button', { name: 'Confirm: Credit' }).click();
      await appliedOnServer;
      assert.equal(await mainBalance(walletId), before + 250n);
      await page.reload(); // the credit's answer is still held back by the route: the page never sees it
      const dialog = page.getByRole('dialog');
      await dialog.getByText('This request was sent before').waitFor();
      assert.equal(await dialog.getByTestId('idempotency-key').textContent(), key);
      const keys = recordPosts(page, /\/credit$/);
      await dialog.getByRole('button', { name: 'Confirm: Credit' }).click();
      assert.match(await finish(page), /Credited 2\.50 USD/);
      assert.deepEqual(keys, [key]);
      assert.equal(await mainBalance(walletId), before + 250n, 'replayed, not applied twice');
      assert.deepEqual(problems.filter((problem) => !/net::|Failed to fetch/.test(problem)), []);
    } finally {
      await context.close();
    }
  });

  it('keyboard only: reach the credit action, fill the form, review and confirm', async () => {
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${walletId}`);
    try {
      const before = await mainBalance(walletId);
      await page.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
      let reached = false;
      for (let presses = 0; presses < 30 && !reached; presses++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.textContent === 'Credit');
      }
      assert.ok(reached, 'the Credit button is reachable with Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').waitFor();
      // The dialog takes the focus once it is open (not before its first Tab, on a slow
      // machine); from there Tab walks to the amount field.
      await page.waitForFunction(() => document.querySelector('dialog[open]')?.contains(document.activeElement) === true);
      for (let presses = 0; presses < 10; presses++) {
        if (await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'amount')) break;
        await page.keyboard.press('Tab');
      }
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name), 'amount');
      await page.keyboard.type('0.25');
      await page.keyboard.press('Enter'); // submits the form: Review
      await page.getByRole('dialog').locator('.review').waitFor();
      const confirm = page.getByRole('button', { name: 'Confirm: Credit' });
      for (let presses = 0; presses < 10 && !(await confirm.evaluate((node) => node === document.activeElement)); presses++) await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').getByRole('status').waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Close', 'the outcome shows with Close focused');
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
      assert.equal(await mainBalance(walletId), before + 25n);
      // Escape closes a form without sending anything.
      await page.getByRole('button', { name: 'Debit', exact: true }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').waitFor();
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('amounts show in major units from the asset precision, exactly at any size, and as raw minor units with the toggle', async () => {
    const wallet = await coffer.createWallet({ name: 'precise' });
    await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 12345678901234567890123n } });
    await coffer.credit(wallet.id, { amount: { asset: 'BTC/8', amount: 5n } });
    await coffer.credit(wallet.id, { amount: { asset: 'JPY', amount: 1500n } });
    const { page, context, problems } = await openConsole(WIDE, `#/wallets/${wallet.id}`);
    try {
      const available = summaryCard(page, 'Available');
      await available.getByText('123456789012345678901.23 USD').waitFor();
      await available.getByText('0.00000005 BTC').waitFor();
      await available.getByText('1500 JPY').waitFor();
      await page.getByLabel('Raw minor units').check();
      await available.getByText('12345678901234567890123 USD/2').waitFor();
      await available.getByText('5 BTC/8').waitFor();
      await page.getByLabel('Raw minor units').uncheck();
      await available.getByText('123456789012345678901.23 USD').waitFor();
      // An amount typed in major units is shown in minor units before it is sent.
      await page.getByRole('button', { name: 'Debit', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Asset', { exact: true }).fill('BTC/8');
      await dialog.getByLabel('Amount', { exact: true }).fill('0.00000003');
      await dialog.getByText('= 3 minor units of BTC/8').waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('console: finding wallets', () => {
  before(async () => {
    // Enough wallets for two pages of the list (15 a page), two of them tagged.
    for (let index = 0; index < 16; index++) {
      await coffer.createWallet({ name: `customer-${String(index).padStart(2, '0')}`, metadata: { segment: index % 8 === 0 ? 'vip' : 'retail' } });
    }
  });

  it('lists a page at a time, searches by name and by metadata, and jumps by id', async () => {
    const { page, context, problems } = await openConsole();
    try {
      const total = (await coffer.listWallets({ pageSize: 100 })).data.length;
      assert.ok(total > 15 && total <= 30, `${total} wallets: two pages`);
      const rows = page.locator('table.wallets tbody tr');
      await rows.first().waitFor();
      assert.equal(await rows.count(), 15);
      await page.getByRole('button', { name: 'Next page' }).click();
      await page.getByRole('button', { name: 'Previous page' }).and(page.locator(':enabled')).waitFor();
      await page.waitForFunction((rest) => document.querySelectorAll('table.wallets tbody tr').length === rest, total - 15);
      assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
      await page.getByRole('button', { name: 'Previous page' }).click();
      await page.waitForFunction(() => document.querySelectorAll('table.wallets tbody tr').length === 15);

      await page.getByLabel('Metadata key').fill('segment');
      await page.getByLabel('Metadata value').fill('vip');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.waitForFunction(() => document.querySelectorAll('table.wallets tbody tr').length === 2);
      assert.deepEqual(await rows.locator('td:first-child').allTextContents(), ['customer-00', 'customer-08']);

      await page.getByRole('button', { name: 'Clear' }).click();
      await page.getByLabel('Name (exact)').fill('alice');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.waitForFunction(() => document.querySelectorAll('table.wallets tbody tr').length === 1);
      assert.equal(await rows.first().locator('td:first-child').textContent(), 'alice');

      const target = (await coffer.listWallets({ name: 'customer-03' })).data[0]!;
      await page.getByLabel('Wallet id').fill(target.id);
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByRole('heading', { name: 'customer-03', level: 1 }).waitFor();

      await page.getByLabel('Wallet id').fill('no-such-wallet');
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByRole('alert').getByText('NOT_FOUND').waitFor();
      assert.deepEqual(problems.filter((problem) => !/404/.test(problem)), []);
    } finally {
      await context.close();
    }
  });
});

/** A wallet with something in every part of its page: named balances (one expired), an open and a closed hold. */
async function showcaseWallet(): Promise<string> {
  const day = 24 * 60 * 60 * 1000;
  const wallet = await coffer.createWallet({ name: 'acme-store', metadata: { customer: '4711', plan: 'business' } });
  await coffer.createBalance(wallet.id, { name: 'promo', priority: 1n, expiresAt: new Date(Date.now() + 30 * day) });
  await coffer.createBalance(wallet.id, { name: 'gift', priority: 2n, expiresAt: new Date(Date.now() - day) });
  await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 125_000n } });
  await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 2_000n }, balance: 'promo' });
  await coffer.credit(wallet.id, { amount: { asset: 'USD/2', amount: 500n }, balance: 'gift' });
  await coffer.credit(wallet.id, { amount: { asset: 'EUR/2', amount: 9_900n } });
  const settled = await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 1_200n }, pending: true, description: 'order 1041' });
  await coffer.confirmHold(settled.id, { amount: 1_000n, final: true });
  await coffer.debit(wallet.id, { amount: { asset: 'USD/2', amount: 4_500n }, pending: true, balances: ['*'], description: 'order 1042' });
  return wallet.id;
}

describe('console: accessible and readable at 1280 and 390 px', () => {
  for (const [label, viewport] of [
    ['1280 px', WIDE],
    ['390 px', NARROW],
  ] as const) {
    it(`${label}: axe finds nothing serious or critical on the list, a wallet and an open form; nothing overflows the page`, async () => {
      const alice = (await coffer.listWallets({ name: 'alice' })).data[0]!;
      const { page, context, problems } = await openConsole(viewport);
      try {
        await page.locator('table.wallets tbody tr').first().waitFor();
        assert.deepEqual(await axeProblems(page), [], 'wallet list');
        const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok((await overflow()) <= 0, `list overflows by ${await overflow()} px`);
        await page.goto(`${server.url}/console/#/wallets/${alice.id}`);
        await page.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
        await page.locator('ul.transactions > li').first().waitFor();
        assert.deepEqual(await axeProblems(page), [], 'wallet page');
        assert.ok((await overflow()) <= 0, `wallet page overflows by ${await overflow()} px`);
        await page.getByRole('button', { name: 'Credit', exact: true }).click();
        await page.getByRole('dialog').getByLabel('Amount', { exact: true }).fill('1');
        assert.deepEqual(await axeProblems(page), [], 'credit form');
        await page.getByRole('dialog').getByRole('button', { name: 'Review' }).click();
        assert.deepEqual(await axeProblems(page), [], 'credit review');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });
  }

  it('screenshots for README: the wallet list and a wallet page, from the running console', async () => {
    const shop = await showcaseWallet();
    mkdirSync(IMAGES, { recursive: true });
    const { page, context } = await openConsole(WIDE);
    try {
      await page.locator('table.wallets tbody tr').first().waitFor();
      const list = await page.screenshot({ fullPage: false });
      await page.goto(`${server.url}/console/#/wallets/${shop}`);
      await page.locator('ul.transactions > li').first().waitFor();
      await page.locator('table[data-holds="open"]').waitFor();
      await page.locator('ul.transactions > li').first().locator('summary').click();
      const wallet = await page.screenshot({ fullPage: true });
      for (const [name, png] of [
        ['console-wallets.png', list],
        ['console-wallet.png', wallet],
      ] as const) {
        assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${name} is a PNG`);
        assert.ok(png.readUInt32BE(16) === WIDE.width, `${name} is ${WIDE.width} px wide`);
        writeFileSync(new URL(name, IMAGES), png);
      }
    } finally {
      await context.close();
    }
  });
});

describe('console: signing in when auth is on', () => {
  let secured: ServerProcess;
  let securedDir: string;
  let client: { clientId: string; clientSecret: string };

  before(async () => {
    securedDir = mkdtempSync(join(tmpdir(), 'coffer-console-auth-'));
    // The CLI creates the client on the embedded database before the server opens it.
    const created = await runCommand(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'clients', 'create', '--name', 'operator', '--scopes', 'wallets:read wallets:write', '--json'], { ...process.env, DATA_DIR: securedDir });
    assert.equal(created.code, 0, created.stderr);
    client = JSON.parse(created.stdout) as { clientId: string; clientSecret: string };
    secured = await startServer({ DATA_DIR: securedDir, AUTH: 'required' });
  });

  after(async () => {
    await secured?.kill('SIGTERM');
    rmSync(securedDir, { recursive: true, force: true });
  });

  it('shows the sign-in form on 401, refuses a wrong secret with its code, and after signing in lists wallets and credits one', async () => {
    const operator = new Coffer({ url: secured.url, retries: 0, clientId: client.clientId, clientSecret: client.clientSecret });
    const wallet = await operator.createWallet({ name: 'bob' });
    const { page, context, problems } = await openConsole(WIDE, '#/wallets', secured.url);
    try {
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
      assert.deepEqual(await axeProblems(page), []);
      await page.getByLabel('Client id').fill(client.clientId);
      await page.getByLabel('Client secret').fill(`${client.clientSecret}x`);
      await page.getByLabel('Client secret').press('Enter');
      const refusal = page.getByRole('alert');
      await refusal.waitFor();
      assert.match((await refusal.textContent()) ?? '', /Sign-in failed.*UNAUTHORIZED/);

      await page.getByLabel('Client secret').fill(client.clientSecret);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Wallets', level: 1 }).waitFor();
      await page.locator('table.wallets tbody tr', { hasText: 'bob' }).waitFor();

      await page.evaluate((id) => (window.location.hash = `#/wallets/${encodeURIComponent(id)}`), wallet.id);
      await page.getByRole('heading', { name: 'bob', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Credit', exact: true }).click();
      await fillAndReview(page, { Amount: '5.00' });
      await page.getByRole('button', { name: 'Confirm: Credit' }).click();
      await finish(page);
      assert.equal((await operator.getWallet(wallet.id)).balances.main.assets['USD/2'], 500n);
      // Nothing of the credentials is kept where a reload or another tab could read it.
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      assert.ok(!stored.includes(client.clientSecret), 'the secret is not in web storage');
      assert.deepEqual(problems.filter((problem) => !/401/.test(problem)), []);
    } finally {
      await context.close();
    }
  });
});
