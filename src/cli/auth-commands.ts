/**
 * `coffer clients create|list|revoke|rotate-secret` and `coffer keys rotate|list`: API
 * clients and token signing keys, managed directly on the configured database, like
 * `migrate` (which they run first). So the first client needs no running server: on the
 * embedded default, before the first start (or while the server is stopped: one process holds
 * a PGlite folder); on PostgreSQL, at any time. The same operations exist over HTTP under the
 * `admin` scope. A secret is printed once, by `create` and `rotate-secret`, and never again.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { ConfigError } from '../domain/errors.ts';
import { parseScopes, SCOPES } from '../domain/principal.ts';
import { instantFromDate } from '../domain/time.ts';
import type { Database } from '../storage/database.ts';
import { fields, table, write, writeJson } from './output.ts';

/** Opens and migrates the configured database, runs `body`, closes it. */
async function withDatabase<T>(body: (db: Database) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const [{ databaseSetting, openDatabase }, { migrate, SchemaTooNew }] = await Promise.all([import('../storage/open.ts'), import('../storage/migrations.ts')]);
  const db = await openDatabase(config);
  try {
    await migrate(db);
    return await body(db);
  } catch (error) {
    throw error instanceof SchemaTooNew ? new ConfigError(`${databaseSetting(config)}: ${error.message}`) : error;
  } finally {
    await db.close();
  }
}

function json(command: Command): boolean {
  return command.optsWithGlobals<{ json?: boolean }>().json === true;
}

const now = () => instantFromDate(new Date());

function scopesArgument(text: string) {
  const scopes = parseScopes(text);
  if (scopes === null) throw new ConfigError(`--scopes must be space-separated scopes of: ${SCOPES.join(', ')}; got ${JSON.stringify(text)}`);
  return scopes;
}

type ClientView = ReturnType<typeof import('../http/routes/auth.ts').clientView>;

function clientText(client: ClientView & { clientSecret?: string }): string {
  const lines: [string, string][] = [
    ['clientId', client.clientId],
    ...(client.clientSecret !== undefined ? ([['clientSecret', client.clientSecret]] as [string, string][]) : []),
    ['name', client.name],
    ['scopes', client.scopes.join(' ')],
    ['created', client.createdAt],
    ['secret rotated', client.secretRotatedAt ?? '-'],
    ['revoked', client.revokedAt ?? '-'],
  ];
  const text = fields(lines);
  return client.clientSecret === undefined ? text : `${text}\n\nThe secret is shown this once: Coffer keeps only a hash of it.`;
}

/**
 * A client with its secret: with --json the envelope, and the client's fields at the top
 * level too (`clientId`, `clientSecret`, `name`, `scopes`), so a script reads them either way.
 */
function writeClientWithSecret(command: Command, view: ClientView & { clientSecret: string }): void {
  if (!json(command)) return write(clientText(view));
  write(JSON.stringify({ ...view, data: view, idempotencyKey: null }, null, 2));
}

function clientsCommand(program: Command): void {
  const clients = program.command('clients').description('API clients (auth): create, list, revoke, rotate-secret, on the configured database');
  clients
    .command('create')
    .description('create an API client and print its clientId and clientSecret (the secret is shown this once)')
    .requiredOption('--name <name>', 'what the client is, for people: 1 to 128 printable characters')
    .requiredOption('--scopes <scopes>', `space-separated, of: ${SCOPES.join(', ')}`, scopesArgument)
    .action(async (options: { name: string; scopes: ReturnType<typeof scopesArgument> }, command: Command) => {
      const [{ createClient, CLIENT_NAME_PATTERN }, { clientWithSecretView }] = await Promise.all([import('../auth/clients.ts'), import('../http/routes/auth.ts')]);
      if (!CLIENT_NAME_PATTERN.test(options.name)) throw new ConfigError('--name must be 1 to 128 printable ASCII characters');
      const created = await withDatabase((db) => createClient(db, options.name, options.scopes, now()));
      writeClientWithSecret(command, clientWithSecretView(created));
    });
  clients
    .command('list')
    .description('list API clients, revoked ones included (never their secrets)')
    .action(async (_options, command: Command) => {
      const [{ clientList }, { clientView }] = await Promise.all([import('../auth/clients.ts'), import('../http/routes/auth.ts')]);
      const views = (await withDatabase((db) => clientList(db))).map(clientView);
      if (json(command)) return writeJson(views);
      write(table(['CLIENT ID', 'NAME', 'SCOPES', 'CREATED', 'REVOKED'], views.map((c) => [c.clientId, c.name, c.scopes.join(' '), c.createdAt, c.revokedAt ?? '-'])));
    });
  clients
    .command('revoke <clientId>')
    .description('revoke an API client: no new tokens, and its tokens stop working within a second')
    .action(async (clientId: string, _options, command: Command) => {
      const [{ revoke }, { clientView }] = await Promise.all([import('../auth/clients.ts'), import('../http/routes/auth.ts')]);
      const client = await withDatabase((db) => revoke(db, clientId, now()));
      if (client === null) throw new ConfigError(`no client ${clientId}`);
      if (json(command)) return writeJson(clientView(client));
      write(`revoked client ${client.id} (${client.name})`);
    });
  clients
    .command('rotate-secret <clientId>')
    .description("replace a client's secret and print the new one; the old secret and its tokens stop working")
    .action(async (clientId: string, _options, command: Command) => {
      const [{ rotateSecret }, { clientWithSecretView }] = await Promise.all([import('../auth/clients.ts'), import('../http/routes/auth.ts')]);
      const rotated = await withDatabase((db) => rotateSecret(db, clientId, now()));
      if (rotated === null) throw new ConfigError(`no live client ${clientId}`);
      writeClientWithSecret(command, clientWithSecretView(rotated));
    });
}

function keysCommand(program: Command): void {
  const keys = program.command('keys').description('token signing keys (auth): rotate, list, on the configured database');
  keys
    .command('rotate')
    .description('add a signing key: new tokens carry its kid, tokens signed before keep working until they expire')
    .action(async (_options, command: Command) => {
      const [{ rotateSigningKey }, { listSigningKeys }, { signingKeyView }] = await Promise.all([
        import('../auth/keys.ts'),
        import('../storage/signing-keys.ts'),
        import('../http/routes/auth.ts'),
      ]);
      const key = await withDatabase(async (db) => {
        const { kid } = await rotateSigningKey(db, now());
        return (await listSigningKeys(db)).find((candidate) => candidate.kid === kid)!;
      });
      if (json(command)) return writeJson(signingKeyView(key));
      write(`new signing key ${key.kid}; servers sign with it from their next token (within a second)`);
    });
  keys
    .command('list')
    .description('list signing keys, newest first (never their private parts)')
    .action(async (_options, command: Command) => {
      const [{ listSigningKeys }, { signingKeyView }] = await Promise.all([import('../storage/signing-keys.ts'), import('../http/routes/auth.ts')]);
      const views = (await withDatabase((db) => listSigningKeys(db))).map(signingKeyView);
      if (json(command)) return writeJson(views);
      write(views.length === 0 ? '(none: the first token creates one)' : table(['KID', 'ALGORITHM', 'CREATED', 'RETIRED'], views.map((k) => [k.kid, k.algorithm, k.createdAt, k.retiredAt ?? '-'])));
    });
}

export function authCommands(program: Command): void {
  clientsCommand(program);
  keysCommand(program);
}
