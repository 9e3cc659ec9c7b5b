/**
 * Upgrades. Migrations are forward-only; each says the oldest code that still runs on the
 * schema it leaves (an expand keeps the previous release's, a contract its own), and the
 * database keeps that with it. So:
 * - the previous release's schema (migrations 1–6, recorded without that column) with its data
 *   is served by this code: migrate records what each applied migration asks, applies nothing
 *   twice, and the data, keyed replays and invariants are as they were;
 * - a schema a newer release only expanded (a migration this code does not know that says
 *   this code still runs on it: a new nullable column, a new table) is served by this code,
 *   which migrates nothing — old processes keep serving, and restarting, during a rolling
 *   upgrade; one it contracted, or that says nothing, is refused (SchemaTooNew).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSchemaVersion, migrate, SchemaTooNew, SCHEMA_VERSION } from '../src/storage/migrations.ts';
import { eventsStatement } from '../src/storage/events.ts';
import { backends, expectStatus, startHarness, type Backend } from './support/harness.ts';

/** One database kept open across two apps (an "old" and a "new" process in turn). */
async function sharedBackend(backend: Backend): Promise<{ shared: Backend; drop: () => Promise<void> }> {
  const { db, drop } = await backend.open();
  const shared: Backend = { name: backend.name, open: async () => ({ db: { ...db, close: async () => {} }, drop: async () => {} }) };
  return { shared, drop: async () => { await db.close(); await drop(); } };
}

for (const backend of backends()) {
  describe(`upgrades [${backend.name}]`, () => {
    it("the previous release's schema and data → this code migrates it (records each migration's oldest code, applies nothing twice) and serves the same data", async () => {
      const { shared, drop } = await sharedBackend(backend);
      try {
        const old = await startHarness(shared);
        const id = expectStatus(await old.post('/wallets', { name: 'before' }, { 'idempotency-key': 'upgrade-wallet' }), 201).body.data.id;
        expectStatus(await old.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 900n } }, { 'idempotency-key': 'upgrade-credit' }), 204);
        const hold = expectStatus(await old.post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 100n }, pending: true }, { 'idempotency-key': 'upgrade-hold' }), 201);
        // What the previous release left: its migrations table had no oldest_code column.
        await old.db.exec('ALTER TABLE coffer_migrations DROP COLUMN oldest_code');
        await old.app.close();

        const upgraded = await startHarness(shared);
        try {
          assert.deepEqual(await migrate(upgraded.db), []);
          const recorded = await upgraded.db.query<{ version: number; oldest_code: number }>('SELECT version, oldest_code FROM coffer_migrations ORDER BY version');
          assert.equal(recorded.length, SCHEMA_VERSION);
          assert.ok(recorded.every((row) => row.oldest_code !== null && row.oldest_code <= row.version));
          assert.equal(expectStatus(await upgraded.get(`/wallets/${id}`), 200).body.data.balances.main.assets['USD/2'], 800n);
          const replay = await upgraded.post(`/wallets/${id}/debit`, { amount: { asset: 'USD/2', amount: 100n }, pending: true }, { 'idempotency-key': 'upgrade-hold' });
          assert.equal(replay.headers['idempotent-replayed'], 'true');
          assert.equal(replay.text, hold.text);
          expectStatus(await upgraded.post(`/holds/${hold.body.data.id}/confirm`, {}), 204);
          await upgraded.checkInvariants();
        } finally {
          await upgraded.app.close();
        }
      } finally {
        await drop();
      }
    });

    it('events an older release left without a feed position (its relay numbered them after commit) are numbered by migration 8, one transaction\'s together, before any new one', async () => {
      const { db, drop } = await backend.open();
      try {
        assert.deepEqual(await migrate(db, 7), [1, 2, 3, 4, 5, 6, 7]);
        const insert = (ids: string[], position: number | null) =>
          db.transaction(async (tx) => {
            for (const id of ids) {
              await tx.query(`INSERT INTO events (ledger, id, type, occurred_at, wallet_ids, data, cause, position) VALUES ('l', $1, 'wallet.created', now(), '{}', '{}', '{}', $2)`, [id, position]);
            }
          });
        await insert(['numbered'], 1);
        await insert(['t1-a', 't1-b'], null);
        await insert(['t2'], null);
        assert.deepEqual(await migrate(db, 8), [8]);
        const rows = await db.query<{ id: string; position: bigint }>('SELECT id, position FROM events ORDER BY position');
        assert.deepEqual(rows.map((row) => [row.id, BigInt(row.position)]), [['numbered', 1n], ['t1-a', 2n], ['t1-b', 3n], ['t2', 4n]]);
        const [top] = await db.query<{ position: bigint }>('SELECT position FROM event_feed_top');
        assert.equal(BigInt(top!.position), 4n, "the feed's top continues after them");
        await assert.rejects(insert(['late-old-code'], null), /null value in column "position"/, 'code that writes no position is refused, not served');
        const { sql, params } = eventsStatement('l', [{ id: 'new', type: 'wallet.created', occurredAt: 0n, walletIds: [], data: {}, transaction: null, cause: { requestId: null, idempotencyKey: null, clientId: null } }]);
        await db.query(sql, params);
        const [last] = await db.query<{ id: string; position: bigint }>('SELECT id, position FROM events ORDER BY position DESC LIMIT 1');
        assert.deepEqual([last!.id, BigInt(last!.position)], ['new', 5n], 'a new event takes the next position');
      } finally {
        await db.close();
        await drop();
      }
    });

    it('a newer release expanded the schema → this code still serves it and migrates nothing; a contract, or a migration that says nothing → SchemaTooNew', async () => {
      const { shared, drop } = await sharedBackend(backend);
      try {
        const h = await startHarness(shared);
        try {
          // What a next release's expand migration would do: a new table, a nullable column.
          await h.db.exec(`CREATE TABLE future_things (id text PRIMARY KEY);
            ALTER TABLE wallets ADD COLUMN future_note text;
            INSERT INTO coffer_migrations (version, name, oldest_code) VALUES (${SCHEMA_VERSION + 1}, 'a next release''s expand', ${SCHEMA_VERSION})`);
          assert.deepEqual(await migrate(h.db), [], 'nothing to apply, nothing refused');
          await checkSchemaVersion(h.db);
          const id = expectStatus(await h.post('/wallets', { name: 'during the rollout' }), 201).body.data.id;
          expectStatus(await h.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 5n } }), 204);
          await h.checkInvariants();

          await h.db.exec(`INSERT INTO coffer_migrations (version, name, oldest_code) VALUES (${SCHEMA_VERSION + 2}, 'its contract', ${SCHEMA_VERSION + 2})`);
          await assert.rejects(migrate(h.db), SchemaTooNew);
          await assert.rejects(checkSchemaVersion(h.db), SchemaTooNew);
          await h.db.exec(`UPDATE coffer_migrations SET oldest_code = NULL WHERE version = ${SCHEMA_VERSION + 2}`);
          await assert.rejects(migrate(h.db), SchemaTooNew);
        } finally {
          await h.app.close();
        }
      } finally {
        await drop();
      }
    });
  });
}
