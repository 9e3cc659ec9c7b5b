/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), installed
 * into a scratch project with production dependencies only (no tsx, no TypeScript). Plain
 * Node imports `coffer/client` by name; a .ts file typechecks against its declarations; the
 * packed `coffer` bin answers --help and serves on a new data folder, which the client uses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer, type ServerProcess } from './support/server-process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
/** npm and tsc on a shared, loaded machine: minutes, not seconds. */
const SLOW = { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 };

interface PackedFile {
  readonly path: string;
}

describe('the packed package', { timeout: 600_000 }, () => {
  let scratch = '';
  let app = '';
  let files: readonly string[] = [];
  let server: ServerProcess | undefined;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'coffer-package-'));
    // `npm pack` runs `prepare`: dist/ is built from the sources under test.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: ROOT, ...SLOW });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string; files: PackedFile[] }];
    files = info.files.map((file) => file.path);
    app = join(scratch, 'app');
    await run('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    // The local cache has every dependency after the repository's own `npm ci`.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', join(scratch, info.filename)], { cwd: app, ...SLOW });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    rmSync(scratch, { recursive: true, force: true });
  });

  it('holds dist, the bin and the README, and no sources, tests or tsx', () => {
    assert.ok(files.includes('dist/main.js') && files.includes('dist/client/index.js') && files.includes('dist/client/index.d.ts'));
    assert.ok(files.includes('dist/storage/pglite-initdb.mjs'), 'the initdb script the server spawns');
    assert.ok(files.includes('bin/coffer.js') && files.includes('README.md'));
    assert.deepEqual(
      files.filter((path) => !/^(dist\/|bin\/coffer\.js$|README\.md$|package\.json$)/.test(path)),
      [],
    );
    assert.equal(existsSync(join(app, 'node_modules', 'tsx')), false, 'tsx is a development dependency');
  });

  it('`coffer --help` from the packed bin', async () => {
    const help = await run(join(app, 'node_modules', '.bin', 'coffer'), ['--help'], SLOW);
    assert.match(help.stdout, /^Usage: coffer/);
  });

  it('serves from the packed bin, and plain Node imports `coffer/client` by name', async () => {
    server = await startServer({ DATABASE_URL: '', DATA_DIR: join(scratch, 'data') }, 180_000, [join(app, 'node_modules', 'coffer', 'bin', 'coffer.js'), 'serve']);
    writeFileSync(
      join(app, 'client.js'),
      `import { Coffer, CofferError } from 'coffer/client';
const coffer = new Coffer({ url: process.argv[2] });
const created = await coffer.createWallet({ name: 'packed' });
const wallet = await coffer.getWallet(created.id);
let missing = '';
try { await coffer.getWallet('00000000-0000-0000-0000-000000000000'); } catch (error) { missing = error instanceof CofferError ? error.errorCode : String(error); }
console.log(JSON.stringify({ name: wallet.name, main: typeof wallet.balances.main.priority, missing }));
`,
    );
    const out = await run(process.execPath, ['client.js', server.url], { cwd: app, ...SLOW });
    assert.deepEqual(JSON.parse(out.stdout), { name: 'packed', main: 'bigint', missing: 'NOT_FOUND' });
  });

  it('its declarations type a TypeScript user', async () => {
    writeFileSync(
      join(app, 'check.ts'),
      `import { Coffer, type Wallet } from 'coffer/client';
const coffer = new Coffer({ url: 'http://127.0.0.1:1', retries: 0 });
export const wallet: Promise<Wallet> = coffer.createWallet({ name: 'typed' });
// @ts-expect-error a wallet's name is a string
export const wrong: Promise<Wallet> = coffer.createWallet({ name: 42 });
`,
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node', 'check.ts'];
    await run(process.execPath, [tsc, ...args], { cwd: app, ...SLOW }).catch((error: { stdout: string }) => assert.fail(`tsc: ${error.stdout}`));
  });
});
