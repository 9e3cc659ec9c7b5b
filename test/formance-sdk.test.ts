/**
 * The official Formance SDK, configured with nothing but `security: {clientID, clientSecret}`
 * and Coffer's URL, runs a whole wallets flow against a server with auth required: it fetches
 * its token from /api/auth/oauth/token (its default token URL) by itself, with the scope each
 * operation declares, and every call carries it. Both backends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SDK } from '@formance/formance-sdk';
import { backends, postgresSkipped, startHarness, type Harness } from './support/harness.ts';
import { AUTH_ON, LogCapture, makeClient } from './support/auth.ts';

for (const backend of backends()) {
  describe(`Formance SDK with client credentials [${backend.name}]`, () => {
    let h: Harness;
    let url: string;
    const logs = new LogCapture();
    /** The paths of the token requests the server saw, from its request log. */
    const tokenRequests = () =>
      logs.lines
        .map((line) => JSON.parse(line) as { msg?: string; req?: { url?: string } })
        .filter((line) => line.msg === 'incoming request' && String(line.req?.url).includes('oauth/token'))
        .map((line) => String(line.req?.url));
    before(async () => {
      h = await startHarness(backend, 'test-ledger', { auth: AUTH_ON, logger: { level: 'info', stream: logs.stream } });
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      const address = h.app.server.address();
      assert.ok(address && typeof address === 'object');
      url = `http://127.0.0.1:${address.port}`;
    });
    after(async () => h.close());

    it('create, credit, pending debit, confirm, summary', async () => {
      const client = await makeClient(h, ['wallets:read', 'wallets:write'], 'formance sdk');
      const sdk = new SDK({ serverURL: url, security: { clientID: client.clientId, clientSecret: client.clientSecret } });
      const wallets = sdk.wallets.v1;
      const created = await wallets.createWallet({ createWalletRequest: { name: 'sdk', metadata: { via: 'formance-sdk' } } });
      const walletId = created.createWalletResponse!.data.id;
      assert.equal(created.createWalletResponse!.data.name, 'sdk');
      await wallets.creditWallet({ id: walletId, creditWalletRequest: { amount: { asset: 'USD/2', amount: 10_000n }, metadata: {} } });
      const debited = await wallets.debitWallet({ id: walletId, debitWalletRequest: { amount: { asset: 'USD/2', amount: 2_500n }, pending: true, metadata: {} } });
      const holdId = debited.debitWalletResponse!.data.id;
      await wallets.confirmHold({ holdId, confirmHoldRequest: { amount: 2_000n, final: true } });
      const summary = (await wallets.getWalletSummary({ id: walletId })).getWalletSummaryResponse!.data;
      assert.equal(summary.availableFunds['USD/2'], 8_000n);
      assert.equal(summary.holdFunds['USD/2'], 0n);
      // It used its default token URL, relative to the server URL's origin, once per scope it needed.
      const paths = tokenRequests();
      assert.ok(paths.length >= 1 && paths.every((path) => path === '/api/auth/oauth/token'), paths.join(', '));
      const wallet = (await h.db.query<{ created_by: string }>('SELECT created_by FROM wallets WHERE id = $1', [walletId]))[0];
      assert.equal(wallet?.created_by, client.clientId);
    });

    it('without credentials the SDK gets 401 with errorCode UNAUTHORIZED', async () => {
      const sdk = new SDK({ serverURL: url });
      // The SDK's error enum is Formance's (VALIDATION, INTERNAL_ERROR, …): it reports a code outside
      // it as a response it could not validate, with the status and body intact.
      await assert.rejects(sdk.wallets.v1.listWallets({}), (error: { statusCode?: number; body?: string }) => {
        assert.equal(error.statusCode, 401);
        assert.equal(JSON.parse(String(error.body)).errorCode, 'UNAUTHORIZED');
        return true;
      });
    });
  });
  if (backend.name === 'pglite' && !process.env.TEST_DATABASE_URL) postgresSkipped('Formance SDK with client credentials [postgres]');
}
