/**
 * Schema migrations, applied in order at start-up and by `npm run migrate`. They run in one
 * transaction under an advisory lock, so two processes starting at once against one
 * PostgreSQL apply each migration exactly once. The SQL runs unchanged on PostgreSQL 15
 * and on PGlite (PostgreSQL 18).
 */
import { ConfigError } from '../domain/errors.ts';
import type { Database, Queryable } from './database.ts';

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /**
   * The oldest code (by its SCHEMA_VERSION) that still runs correctly once this migration is
   * applied. An *expand* migration (a new table, a nullable column or one with a default, an
   * index) keeps the previous release's: old and new processes serve side by side during a
   * rolling upgrade. A *contract* migration (a drop, a rename, a tighter constraint, a meaning
   * old code would not keep up) names its own version, and ships a release after the expand
   * it finishes. Stored with the migration, so that code older than the schema can tell
   * whether it may serve it (`refuseNewer`).
   */
  readonly oldestCode: number;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    oldestCode: 1,
    name: 'ledger and wallets',
    sql: `
      -- The chart of accounts: every address that ever held a volume, and the wallet it
      -- belongs to (main, named balances and holds), so a wallet's transactions can be found.
      CREATE TABLE accounts (
        ledger     text NOT NULL,
        address    text NOT NULL,
        wallet_id  text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ledger, address)
      );
      CREATE INDEX accounts_by_wallet ON accounts (ledger, wallet_id) WHERE wallet_id IS NOT NULL;

      -- Balance = input - output. 'world' has no row: it is unbounded, derived from postings,
      -- and never locked. Every other account is kept at or above zero by the database too.
      CREATE TABLE volumes (
        ledger  text    NOT NULL,
        address text    NOT NULL,
        asset   text    NOT NULL,
        input   numeric NOT NULL DEFAULT 0 CHECK (input >= 0),
        output  numeric NOT NULL DEFAULT 0 CHECK (output >= 0),
        PRIMARY KEY (ledger, address, asset),
        CONSTRAINT volumes_not_negative CHECK (input >= output)
      );

      CREATE SEQUENCE transaction_ids AS bigint;
      CREATE TABLE transactions (
        ledger      text        NOT NULL,
        id          bigint      NOT NULL,
        timestamp   timestamptz NOT NULL,
        reference   text,
        metadata    jsonb       NOT NULL DEFAULT '{}',
        inserted_at timestamptz NOT NULL,
        PRIMARY KEY (ledger, id)
      );
      CREATE UNIQUE INDEX transactions_reference ON transactions (ledger, reference) WHERE reference IS NOT NULL;

      CREATE TABLE postings (
        ledger         text    NOT NULL,
        transaction_id bigint  NOT NULL,
        position       integer NOT NULL,
        source         text    NOT NULL,
        destination    text    NOT NULL,
        asset          text    NOT NULL,
        amount         numeric NOT NULL CHECK (amount >= 0),
        PRIMARY KEY (ledger, transaction_id, position)
      );
      CREATE INDEX postings_by_source ON postings (ledger, source, transaction_id);
      CREATE INDEX postings_by_destination ON postings (ledger, destination, transaction_id);

      CREATE TABLE wallets (
        ledger     text        NOT NULL,
        id         text        NOT NULL,
        seq        bigint      GENERATED ALWAYS AS IDENTITY,
        name       text        NOT NULL,
        metadata   jsonb       NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        PRIMARY KEY (ledger, id)
      );
      CREATE UNIQUE INDEX wallets_by_seq ON wallets (ledger, seq);
      CREATE INDEX wallets_by_name ON wallets (ledger, name, seq);
      CREATE INDEX wallets_by_metadata ON wallets USING gin (metadata jsonb_path_ops);

      CREATE TABLE balances (
        ledger     text        NOT NULL,
        wallet_id  text        NOT NULL,
        name       text        NOT NULL,
        expires_at timestamptz,
        priority   bigint      NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (ledger, wallet_id, name),
        FOREIGN KEY (ledger, wallet_id) REFERENCES wallets (ledger, id)
      );

      -- A hold's 'remaining' mirrors its account's balance (an invariant the tests check);
      -- 'sources' is the per-source breakdown of the funding postings, for an exact void.
      CREATE TABLE holds (
        ledger              text        NOT NULL,
        id                  text        NOT NULL,
        seq                 bigint      GENERATED ALWAYS AS IDENTITY,
        wallet_id           text        NOT NULL,
        asset               text        NOT NULL,
        original_amount     numeric     NOT NULL,
        remaining           numeric     NOT NULL CHECK (remaining >= 0),
        destination         jsonb       NOT NULL,
        destination_address text        NOT NULL,
        description         text        NOT NULL DEFAULT '',
        metadata            jsonb       NOT NULL DEFAULT '{}',
        sources             jsonb       NOT NULL,
        created_at          timestamptz NOT NULL,
        PRIMARY KEY (ledger, id),
        FOREIGN KEY (ledger, wallet_id) REFERENCES wallets (ledger, id)
      );
      CREATE UNIQUE INDEX holds_by_seq ON holds (ledger, seq);
      CREATE INDEX holds_by_wallet ON holds (ledger, wallet_id, seq);
      CREATE INDEX holds_by_metadata ON holds USING gin (metadata jsonb_path_ops);

      -- The outcome of every keyed command, committed with its effects.
      CREATE TABLE idempotency_keys (
        ledger      text        NOT NULL,
        key         text        NOT NULL,
        operation   text        NOT NULL,
        fingerprint text        NOT NULL,
        status      integer,
        response    text,
        created_at  timestamptz NOT NULL,
        PRIMARY KEY (ledger, key)
      );
      CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    `,
  },
  {
    version: 2,
    oldestCode: 1,
    name: 'room on idempotency key pages for the outcome',
    // A key's row is inserted by the claim and updated with the outcome in the same
    // transaction. With free room on its page the update is HOT (no new index entries): 93%
    // of them under the uniform debit load, against 56% with the default fill of 100%.
    sql: `
      ALTER TABLE idempotency_keys SET (fillfactor = 80);
    `,
  },
  {
    version: 3,
    oldestCode: 1,
    name: "postings indexed by account, world's left out",
    // Postings are looked up by account only for a wallet's transactions, and 'world' is no
    // wallet's account; most postings have 'world' on one side, so leaving it out of the two
    // indexes saves an index entry on nearly every transaction. Queries that use the indexes
    // say "<> 'world'" so that PostgreSQL may (src/storage/transactions.ts).
    sql: `
      DROP INDEX postings_by_source;
      DROP INDEX postings_by_destination;
      CREATE INDEX postings_by_source ON postings (ledger, source, transaction_id) WHERE source <> 'world';
      CREATE INDEX postings_by_destination ON postings (ledger, destination, transaction_id) WHERE destination <> 'world';
    `,
  },
  {
    version: 4,
    // Code before it wrote the account rows this migration repairs, without their wallet.
    oldestCode: 4,
    name: 'account rows owned by the wallet their address names',
    // Before this, an account row first created by a hold's confirm (its destination, a
    // wallet balance no posting had touched yet) was written without its wallet, and no later
    // insert corrected it: the wallet's transaction list missed that account for good. This
    // sets every row's wallet from its address, as domain/chart.ts accountOwner reads it: a
    // hold's account is its hold's wallet's; 'wallets:{walletId}:{balance}' is walletId's
    // (balance names have no ':', so the wallet id runs to the last one); any other
    // address is no wallet's. 'wallets:holds:…' is tested first: it is no wallet 'holds'.
    sql: `
      UPDATE accounts AS a SET wallet_id = h.wallet_id
      FROM holds h
      WHERE h.ledger = a.ledger AND a.address = 'wallets:holds:' || h.id AND a.wallet_id IS DISTINCT FROM h.wallet_id;
      UPDATE accounts SET wallet_id = substring(address FROM '^wallets:(.+):[^:]*$')
      WHERE address NOT LIKE 'wallets:holds:%' AND wallet_id IS DISTINCT FROM substring(address FROM '^wallets:(.+):[^:]*$');
    `,
  },
  {
    version: 5,
    oldestCode: 4,
    name: 'API clients, signing keys, and who created what',
    // Auth (src/auth): API clients with a slow hash of their secret, never the secret; the
    // token signing keys (the newest signs, every one kept verifies until pruned); and the
    // client that created each wallet, balance, hold and transaction (null: auth was off).
    // Adding a nullable column without a default rewrites nothing, however big the table.
    sql: `
      CREATE TABLE auth_clients (
        id                text        PRIMARY KEY,
        name              text        NOT NULL,
        scopes            text[]      NOT NULL,
        secret_hash       text        NOT NULL,
        -- Bumped by every rotation of the secret: tokens carry it, so those minted with the
        -- old secret stop working with it.
        secret_generation integer     NOT NULL DEFAULT 1,
        created_at        timestamptz NOT NULL,
        secret_rotated_at timestamptz,
        revoked_at        timestamptz
      );
      CREATE TABLE auth_signing_keys (
        kid         text        PRIMARY KEY,
        algorithm   text        NOT NULL,
        private_jwk jsonb       NOT NULL,
        public_jwk  jsonb       NOT NULL,
        created_at  timestamptz NOT NULL,
        retired_at  timestamptz
      );
      ALTER TABLE wallets ADD COLUMN created_by text;
      ALTER TABLE balances ADD COLUMN created_by text;
      ALTER TABLE holds ADD COLUMN created_by text;
      ALTER TABLE transactions ADD COLUMN created_by text;
    `,
  },
  {
    version: 6,
    oldestCode: 6,
    name: 'hold expiry, wallet status, overdraft limits',
    // Holds: an expiry, a status, and the lease a sweeper takes on a due hold
    // (storage/holds.ts claimDueHolds). Holds closed before this migration get the status
    // their last settling transaction shows: 'confirmed' when it paid the destination,
    // 'voided' when it only refunded the sources.
    //
    // Wallets: a status, its last change (the wallet view shows it) and every change in
    // wallet_status_changes, written in the transaction that made it: the audit trail.
    //
    // Volumes: an overdraft limit per (account, asset); the database's own check becomes
    // "no balance below minus its limit" (was "never below zero").
    sql: `
      ALTER TABLE holds
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN status text NOT NULL DEFAULT 'open' CONSTRAINT holds_status CHECK (status IN ('open', 'confirmed', 'voided', 'expired')),
        ADD COLUMN sweep_lease_until timestamptz;
      UPDATE holds AS h SET status = CASE WHEN EXISTS (
          SELECT 1 FROM postings p
          WHERE p.ledger = h.ledger AND p.source = 'wallets:holds:' || h.id AND p.destination = h.destination_address
            AND p.transaction_id = (SELECT max(q.transaction_id) FROM postings q WHERE q.ledger = h.ledger AND q.source = 'wallets:holds:' || h.id)
        ) THEN 'confirmed' ELSE 'voided' END
      WHERE h.remaining = 0 AND h.original_amount > 0;
      CREATE INDEX holds_due ON holds (ledger, expires_at) WHERE status = 'open' AND expires_at IS NOT NULL;
      CREATE INDEX holds_by_status ON holds (ledger, status, seq);

      ALTER TABLE wallets
        ADD COLUMN status text NOT NULL DEFAULT 'active' CONSTRAINT wallets_status CHECK (status IN ('active', 'frozen', 'closed')),
        ADD COLUMN status_changed_at timestamptz,
        ADD COLUMN status_changed_by text;
      CREATE TABLE wallet_status_changes (
        ledger          text        NOT NULL,
        seq             bigint      GENERATED ALWAYS AS IDENTITY,
        wallet_id       text        NOT NULL,
        previous_status text        NOT NULL,
        status          text        NOT NULL,
        changed_at      timestamptz NOT NULL,
        changed_by      text,
        PRIMARY KEY (ledger, seq),
        FOREIGN KEY (ledger, wallet_id) REFERENCES wallets (ledger, id)
      );
      CREATE INDEX wallet_status_changes_by_wallet ON wallet_status_changes (ledger, wallet_id, seq);

      ALTER TABLE volumes
        ADD COLUMN overdraft numeric NOT NULL DEFAULT 0 CONSTRAINT volumes_overdraft_not_negative CHECK (overdraft >= 0);
      ALTER TABLE volumes DROP CONSTRAINT volumes_not_negative;
      ALTER TABLE volumes ADD CONSTRAINT volumes_within_overdraft CHECK (input - output + overdraft >= 0);
    `,
  },
  {
    version: 7,
    name: 'events outbox and webhooks',
    // Code from before the outbox would change state without writing its events, and a feed
    // that misses changes breaks its promise: no older code runs on this schema (an upgrade to
    // it stops the old processes before starting the new ones; docs/deployment.md).
    oldestCode: 7,
    // The outbox (docs/events.md): every state change writes its events in the transaction
    // that makes it. `seq` is taken when the row is inserted, before commit, so it is not
    // the order in which rows become visible; `position`, the feed's order, was given after
    // commit by one relay at a time (until migration 8 moved it into the writing
    // transaction), which made the positioned rows any reader can see always a gapless
    // prefix 1..n. `tx`, the writing transaction, kept one transaction's events together.
    sql: `
      CREATE TABLE events (
        seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        position    bigint,
        ledger      text        NOT NULL,
        id          text        NOT NULL,
        type        text        NOT NULL,
        occurred_at timestamptz NOT NULL,
        wallet_ids  text[]      NOT NULL,
        data        jsonb       NOT NULL,
        cause       jsonb       NOT NULL,
        tx          xid8        NOT NULL DEFAULT pg_current_xact_id()
      );
      CREATE UNIQUE INDEX events_by_id ON events (id);
      CREATE UNIQUE INDEX events_by_position ON events (position);
      CREATE INDEX events_feed ON events (ledger, position) WHERE position IS NOT NULL;
      CREATE INDEX events_unpositioned ON events (seq) WHERE position IS NULL;
      CREATE INDEX events_by_wallet ON events USING gin (wallet_ids);

      -- Webhooks (events/webhooks.ts): endpoints, one delivery row per (endpoint, event) to
      -- send — fanned out from the feed after the endpoint's \`feed_position\` — leased by one
      -- process at a time, and every attempt kept for GET /webhooks/{id}/attempts.
      CREATE TABLE webhook_endpoints (
        id                    text        PRIMARY KEY,
        ledger                text        NOT NULL,
        url                   text        NOT NULL,
        event_types           text[]      NOT NULL,
        description           text        NOT NULL,
        secret                text        NOT NULL,
        previous_secret       text,
        previous_secret_until timestamptz,
        enabled               boolean     NOT NULL,
        disabled_reason       text,
        created_at            timestamptz NOT NULL,
        feed_position         bigint      NOT NULL
      );
      CREATE TABLE webhook_deliveries (
        id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_seq       bigint      REFERENCES events (seq),
        -- A test delivery (POST /webhooks/{id}/test) carries its own event, in no feed.
        test_event_id   text,
        test_body       text,
        status          text        NOT NULL CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        integer     NOT NULL DEFAULT 0,
        created_at      timestamptz NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        lease_until     timestamptz
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
      CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
      CREATE TABLE webhook_attempts (
        id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        delivery_id     bigint      NOT NULL,
        event_id        text        NOT NULL,
        attempted_at    timestamptz NOT NULL,
        status_code     integer,
        latency_ms      integer     NOT NULL,
        error           text,
        response_body   text,
        next_attempt_at timestamptz
      );
      CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);

      -- Publishers that walk the feed (NATS, events/nats.ts): how far each got, and which
      -- process holds it (a lease, so one publishes at a time and a dead one's lapses).
      CREATE TABLE event_publishers (
        name        text        PRIMARY KEY,
        position    bigint      NOT NULL,
        owner       text,
        lease_until timestamptz
      );
    `,
  },
  {
    version: 8,
    name: 'feed positions given by the writing transaction',
    // Until now a relay gave committed events their positions after commit, an UPDATE that
    // rewrote each event's row and every index of it. Now the transaction that writes
    // events takes their positions from `event_feed_top`, whose one row it updates in the
    // statement that inserts them: the row's lock is held until that transaction's commit is
    // visible, so positions are given in commit order (storage/events.ts). Code from before
    // would insert events with no position, which this schema refuses (NOT NULL): no older
    // code runs on it. What an older release left unnumbered is numbered here, as its relay
    // would have, while no process writes (the migration lock; an upgrade stops the old ones).
    oldestCode: 8,
    sql: `
      WITH due AS (
        SELECT seq, row_number() OVER (ORDER BY first, seq) AS n
        FROM (SELECT seq, min(seq) OVER (PARTITION BY tx) AS first FROM events WHERE position IS NULL) AS d
      ), base AS (
        SELECT coalesce(max(position), 0) AS p FROM events
      )
      UPDATE events AS e SET position = base.p + due.n FROM due, base WHERE e.seq = due.seq;
      ALTER TABLE events ALTER COLUMN position SET NOT NULL;
      DROP INDEX events_unpositioned;
      -- Updated by every commit that writes events: room on its page for new versions, so
      -- each update stays on the page (HOT) and the old ones are pruned there.
      CREATE TABLE event_feed_top (
        singleton boolean PRIMARY KEY DEFAULT true CONSTRAINT event_feed_top_singleton CHECK (singleton),
        position  bigint  NOT NULL
      ) WITH (fillfactor = 10);
      -- A publisher's ledger, so its lag counts its own ledger's events (metrics.ts).
      ALTER TABLE event_publishers ADD COLUMN ledger text;
      INSERT INTO event_feed_top (position) SELECT coalesce(max(position), 0) FROM events;
    `,
  },
  {
    version: 9,
    name: 'due webhook deliveries by endpoint',
    // A claim takes each endpoint's due deliveries in turn, as many as the endpoint has free
    // sending slots (storage/webhooks.ts claimDeliveries): by endpoint, then due time. The
    // index by due time alone made a claim walk every pending delivery of an endpoint whose
    // slots were all taken to find none — the whole backlog, on each turn. Older code claims
    // as it did, from this index or a scan of pending rows: it still runs on this schema.
    oldestCode: 8,
    sql: `
      CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';
      DROP INDEX webhook_deliveries_due;
    `,
  },
  {
    version: 10,
    name: 'webhook rows without foreign keys',
    // Every delivery row's foreign keys (its event, its endpoint) and every attempt row's (its
    // endpoint) ran a trigger per row that locked the row referred to: the fan-out locked each
    // event it made a delivery of (a write to the events' pages, and WAL), and recording a
    // batch of answers spent most of its time in the endpoint's checks (pg_stat_statements
    // under the events bench: 0.85 ms a statement of five). A delivery is made from an event
    // read in the same statement, and events are never deleted; an endpoint's deliveries and
    // attempts are deleted with it by deleteEndpoint (storage/webhooks.ts) instead of by
    // cascade. Older code still runs on this schema: an endpoint it deletes leaves its rows
    // behind, which nothing reads (a claim, the backlog metric and every listing go through
    // the endpoint). Dropping a foreign key locks both its tables for the moment it takes
    // (events included), like the ALTERs of migration 8.
    oldestCode: 9,
    sql: `
      ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_seq_fkey;
      ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey;
      ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_endpoint_id_fkey;
    `,
  },
  {
    version: 11,
    name: 'room on webhook delivery pages for their leases',
    // A claim writes each delivery's lease (lease_until, attempts: in no index). With the
    // delivery's page full, the new row version went to another page with an entry in each of
    // the table's three indexes; with room left on the page it stays there (HOT) with none.
    // Pages written from now on keep 30 % free; earlier ones stay as they are. A delivered
    // delivery is now deleted (storage/webhooks.ts recordDelivered) instead of marked
    // 'delivered'; older code, which marks it, still runs on this schema. Rows marked so
    // before (or by older code) stay until their endpoint is deleted; nothing reads them.
    oldestCode: 9,
    sql: `
      ALTER TABLE webhook_deliveries SET (fillfactor = 70);
    `,
  },
];

/** An arbitrary constant naming Coffer's migration lock among the server's advisory locks. */
const MIGRATION_LOCK = 7_140_523_911;

/** The newest migration this code knows. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((migration) => migration.version));

/**
 * The database was migrated by a newer Coffer past what this code can serve: a migration this
 * code does not know was applied and it is not an expand this code's version survives.
 */
export class SchemaTooNew extends Error {
  constructor(readonly version: number) {
    super(`the database's schema is at version ${version}, newer than this Coffer's ${SCHEMA_VERSION}: a newer Coffer migrated it; run that version or a later one`);
    this.name = 'SchemaTooNew';
  }
}

interface Applied {
  readonly version: number;
  /** The oldest code that runs on the schema with this migration; null: not recorded (a contract, to be safe). */
  readonly oldestCode: number | null;
}

/**
 * Throws SchemaTooNew unless this code can serve a schema with `applied`: every migration
 * newer than SCHEMA_VERSION must say that code this old still runs on it (an expand, applied
 * by a newer release during a rolling upgrade). This code then migrates nothing.
 */
function refuseNewer(applied: readonly Applied[]): void {
  const unknown = applied.filter((migration) => migration.version > SCHEMA_VERSION);
  if (unknown.every((migration) => migration.oldestCode !== null && migration.oldestCode <= SCHEMA_VERSION)) return;
  throw new SchemaTooNew(Math.max(...unknown.map((migration) => migration.version)));
}

async function appliedMigrations(db: Queryable, withOldestCode: boolean): Promise<Applied[]> {
  const rows = await db.query<{ version: number; oldest_code: number | null }>(
    `SELECT version, ${withOldestCode ? 'oldest_code' : 'NULL::integer AS oldest_code'} FROM coffer_migrations`,
  );
  return rows.map((row) => ({ version: Number(row.version), oldestCode: row.oldest_code === null ? null : Number(row.oldest_code) }));
}

/** Checks, without changing anything, that this code knows the database's schema (for verify). */
export async function checkSchemaVersion(db: Database): Promise<void> {
  const [table] = await db.query<{ name: string | null; oldest: boolean }>(
    `SELECT to_regclass('coffer_migrations')::text AS name,
       EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'coffer_migrations' AND column_name = 'oldest_code') AS oldest`,
  );
  if (!table?.name) return;
  refuseNewer(await appliedMigrations(db, table.oldest));
}

/**
 * Creates Coffer's schema (DATABASE_SCHEMA) when it does not exist yet. Only then: a role
 * without CREATE on the database can run Coffer in a schema an administrator made for it,
 * and `CREATE SCHEMA IF NOT EXISTS` checks that privilege even when the schema exists.
 */
async function createSchema(tx: Queryable, schema: string): Promise<void> {
  const [current] = await tx.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  if (current?.schema != null) return;
  // A validated identifier (config.ts): lower case letters, digits and _, never quoted wrongly.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`not a schema name: ${JSON.stringify(schema)}`);
  await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
}

/**
 * The session must be in Coffer's schema: a search_path replaced on the way (a pooler that
 * drops startup options, a server-side setting that wins) would put a second, empty ledger
 * in another schema while other processes use the first.
 */
async function checkSchema(tx: Queryable, schema: string): Promise<void> {
  const [current] = await tx.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  if (current?.schema !== schema) {
    throw new ConfigError(
      `the database session's schema is ${JSON.stringify(current?.schema ?? null)}, not DATABASE_SCHEMA's ${JSON.stringify(schema)}: something between Coffer and PostgreSQL replaced its search_path (a pooler that drops startup options?); Coffer will not write elsewhere`,
    );
  }
}

/** Applies the migrations not yet applied, in order — those up to version `upTo` only, when given (tests build an older release's schema with it). */
export async function migrate(db: Database, upTo = SCHEMA_VERSION): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await createSchema(tx, db.schema);
    await checkSchema(tx, db.schema);
    await tx.exec(`CREATE TABLE IF NOT EXISTS coffer_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    // The migration machinery's own column (not a numbered migration): what each applied
    // migration asks of the code that serves the schema. Filled in for those applied before it.
    await tx.exec('ALTER TABLE coffer_migrations ADD COLUMN IF NOT EXISTS oldest_code integer');
    const applied = await appliedMigrations(tx, true);
    refuseNewer(applied);
    const versions = new Set(applied.map((migration) => migration.version));
    const done: number[] = [];
    for (const migration of MIGRATIONS) {
      if (versions.has(migration.version) || migration.version > upTo) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO coffer_migrations (version, name, oldest_code) VALUES ($1, $2, $3)', [migration.version, migration.name, migration.oldestCode]);
      done.push(migration.version);
    }
    for (const migration of MIGRATIONS) {
      if (versions.has(migration.version)) await tx.query('UPDATE coffer_migrations SET oldest_code = $2 WHERE version = $1 AND oldest_code IS NULL', [migration.version, migration.oldestCode]);
    }
    return done;
  });
}
