/**
 * DATABASE_SCHEMA: Coffer keeps its tables in a schema of its own (`coffer` when unset), so it
 * can share a database with another application's tables; an install from before the setting,
 * with its tables in `public`, keeps working unchanged; two schemas are two independent
 * Coffers in one database.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { migrate, SCHEMA_VERSION } from '../src/storage/migrations.ts';
import { openDatabase, type OpenOptions } from '../src/storage/open.ts';
import { expectStatus, freshPostgresDatabase, postgresSkipped, startHarness, type Harness } from './support/harness.ts';

const serverUrl = process.env.TEST_DATABASE_URL;

function options(url: string, databaseSchema?: string): OpenOptions {
  return { databaseUrl: url, dataDir: '', poolSize: 4, statementTimeoutMs: 10_000, ...(databaseSchema !== undefined ? { databaseSchema } : {}) };
}

/** The app over what openDatabase opens with these settings, migrated. */
async function appOver(url: string, databaseSchema?: string, progress: string[] = []): Promise<Harness> {
  return startHarness({ name: 'postgres', open: async () => ({ db: await openDatabase(options(url, databaseSchema), (line) => progress.push(line)), drop: async () => {} }) });
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function tablesIn(url: string, schema: string): Promise<string[]> {
  const rows = await sql<{ name: string }>(url, `SELECT tablename AS name FROM pg_tables WHERE schemaname = '${schema}' ORDER BY 1`);
  return rows.map((row) => row.name);
}

if (serverUrl) {
  describe('DATABASE_SCHEMA [postgres]', () => {
    it("unset → Coffer's tables in the schema coffer, beside another application's tables of the same names in public, which stay untouched", async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        await sql(fresh.url, `CREATE TABLE accounts (id int PRIMARY KEY, owner text); INSERT INTO accounts VALUES (1, 'theirs');
          CREATE TABLE wallets (colour text); INSERT INTO wallets VALUES ('green')`);
        const h = await appOver(fresh.url);
        try {
          assert.equal(h.db.schema, 'coffer');
          const id = expectStatus(await h.post('/wallets', { name: 'ours' }), 201).body.data.id;
          expectStatus(await h.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 100n } }), 204);
          await h.checkInvariants();
        } finally {
          await h.close();
        }
        assert.deepEqual(await tablesIn(fresh.url, 'public'), ['accounts', 'wallets']);
        assert.deepEqual(await sql(fresh.url, 'SELECT * FROM public.accounts'), [{ id: 1, owner: 'theirs' }]);
        assert.deepEqual(await sql(fresh.url, 'SELECT * FROM public.wallets'), [{ colour: 'green' }]);
        assert.ok((await tablesIn(fresh.url, 'coffer')).includes('coffer_migrations'));
        const [{ count }] = await sql<{ count: string }>(fresh.url, "SELECT count(*) FROM coffer.wallets WHERE name = 'ours'") as [{ count: string }];
        assert.equal(count, '1');
      } finally {
        await fresh.drop();
      }
    });

    it('an install from before the setting (tables in public) → unset keeps using public: same data, nothing migrated twice, no coffer schema made', async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        // What every Coffer before DATABASE_SCHEMA did: its tables in public.
        const before = await appOver(fresh.url, 'public');
        const id = expectStatus(await before.post('/wallets', { name: 'old' }, { 'idempotency-key': 'old-wallet' }), 201).body.data.id;
        expectStatus(await before.post(`/wallets/${id}/credit`, { amount: { asset: 'USD/2', amount: 700n } }), 204);
        await before.close();

        const progress: string[] = [];
        const after = await appOver(fresh.url, undefined, progress);
        try {
          assert.equal(after.db.schema, 'public');
          assert.ok(progress.some((line) => /DATABASE_SCHEMA is unset .* using public/.test(line)), progress.join('\n'));
          assert.deepEqual(await migrate(after.db), []);
          assert.equal(expectStatus(await after.get(`/wallets/${id}`), 200).body.data.balances.main.assets['USD/2'], 700n);
          const replay = await after.post('/wallets', { name: 'old' }, { 'idempotency-key': 'old-wallet' });
          assert.equal(replay.headers['idempotent-replayed'], 'true');
        } finally {
          await after.close();
        }
        assert.deepEqual(await sql(fresh.url, "SELECT nspname FROM pg_namespace WHERE nspname = 'coffer'"), []);
        const [{ version }] = (await sql<{ version: number }>(fresh.url, 'SELECT max(version) AS version FROM public.coffer_migrations')) as [{ version: number }];
        assert.equal(version, SCHEMA_VERSION);
      } finally {
        await fresh.drop();
      }
    });

    it('two schemas in one database → two independent Coffers; an explicit schema ignores the tables in public', async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      try {
        const legacy = await appOver(fresh.url, 'public');
        expectStatus(await legacy.post('/wallets', { name: 'in-public' }), 201);
        await legacy.close();
        const east = await appOver(fresh.url, 'coffer_east');
        const west = await appOver(fresh.url, 'coffer_west');
        try {
          expectStatus(await east.post('/wallets', { name: 'east' }), 201);
          const names = async (h: Harness) => (expectStatus(await h.get('/wallets'), 200).body.cursor.data as { name: string }[]).map((w) => w.name);
          assert.deepEqual(await names(east), ['east']);
          assert.deepEqual(await names(west), []);
        } finally {
          await east.close();
          await west.close();
        }
      } finally {
        await fresh.drop();
      }
    });

    it('a role that may not create schemas runs in a schema an administrator made for it', async () => {
      const fresh = await freshPostgresDatabase(serverUrl);
      const role = `coffer_app_${process.pid}`;
      try {
        const database = new URL(fresh.url).pathname.slice(1);
        await sql(fresh.url, `CREATE ROLE ${role} LOGIN; REVOKE CREATE ON DATABASE ${database} FROM PUBLIC;
          CREATE SCHEMA coffer AUTHORIZATION ${role}`);
        const url = new URL(fresh.url);
        url.username = role;
        const h = await appOver(url.toString());
        try {
          assert.equal(h.db.schema, 'coffer');
          expectStatus(await h.post('/wallets', { name: 'least-privilege' }), 201);
        } finally {
          await h.close();
        }
      } finally {
        await fresh.drop();
        await sql(serverUrl, `DROP ROLE IF EXISTS ${role}`);
      }
    });
  });
} else {
  postgresSkipped('DATABASE_SCHEMA [postgres]');
}
