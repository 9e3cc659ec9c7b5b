/**
 * The docs cannot rot: every shell block in README.md and docs/*.md is either run here or
 * named below with the test or CI step that runs it.
 *
 * - The README's walk-through runs as written (only its address is pointed at a fresh server
 *   on a free port), twice: the second run replays every keyed request and must print the
 *   same answers. The summary it documents and the replay header must appear in its output.
 * - Transcripts (`$ command` followed by the output it prints) run in the project folder;
 *   every output line they show must be printed.
 * - `curl` one-liners against the documented address run against the fresh server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startServer, type ServerProcess } from './support/server-process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DOCUMENTED = 'http://127.0.0.1:8080';

interface Block {
  readonly file: string;
  readonly heading: string;
  readonly lines: string[];
}

function shellBlocks(): Block[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
  const blocks: Block[] = [];
  for (const file of files) {
    let heading = '';
    let current: string[] | undefined;
    for (const line of readFileSync(join(ROOT, file), 'utf8').split('\n')) {
      if (current === undefined && line.startsWith('#')) heading = line;
      if (current === undefined && line === '```sh') current = [];
      else if (current !== undefined && line.startsWith('```')) {
        blocks.push({ file, heading, lines: current });
        current = undefined;
      } else current?.push(line);
    }
  }
  return blocks;
}

/**
 * Commands run elsewhere, not here: by CI itself, by another test, or a soak or benchmark
 * that is not part of CI (and says so where it is documented).
 */
const RUN_ELSEWHERE: readonly [RegExp, string][] = [
  [/^npm ci && npm (start|test)\b/, '.ci/run (npm ci, then npm test; the server is started by the tests)'],
  [/^(TEST_DATABASE_URL=\S+ )?npm test\b/, '.ci/run'],
  [/^bash \.ci\/run\b/, 'CI itself'],
  [/^npm ci && npm prune --omit=dev && npm start\b/, 'test/package.test.ts (a production install without development dependencies, then serve)'],
  [/^DATABASE_URL=postgres:\S+ npm (start|run verify)\b/, 'test/startup.test.ts, test/verify.test.ts (a server and verify on PostgreSQL)'],
  [/^FAILOVER_RUNS=\d+ TEST_DATABASE_URL=\S+ scripts\/failover-soak\.sh$/, 'a soak of test/failover.test.ts (CI runs it once)'],
  [/^(DATA_DIR|DATABASE_URL)=\S+ coffer (restore|verify)\b/, 'test/backup.test.ts (coffer restore into a new folder, then coffer verify; verify of a pg_restored database)'],
  [/^pg_autoctl (create (monitor|postgres)|run|show uri)\b/, 'test/support/pg-auto-failover.ts (test/failover.test.ts builds a monitor and two nodes with these commands on local ports, and uses show uri as DATABASE_URL)'],
  [/^pg_(dump|restore) /, 'test/backup.test.ts (pg_dump -Fc -n coffer of a serving database, pg_restore into another)'],
  [/^createdb -h 127\.0\.0\.1 -U postgres coffer$/, 'test/schema.test.ts (Coffer in a database of its own, freshPostgresDatabase: CREATE DATABASE)'],
  [/^npm run (verify|migrate)\b/, 'test/verify.test.ts, test/cli.test.ts'],
  [/^(\$ )?(export COFFER_URL=|coffer )/, 'test/cli.test.ts (every command; transcripts are illustrations of its output)'],
  [/^(\$ )?export COFFER_CLIENT_ID=/, 'test/auth-processes.test.ts (the CLI with COFFER_CLIENT_ID and COFFER_CLIENT_SECRET against a server with auth on)'],
  [/^HOST=0\.0\.0\.0 npm start\b/, 'test/auth-processes.test.ts (a server on a non-loopback HOST with AUTH unset requires tokens)'],
  [/^(FC_|CONCURRENCY_OPS=|OUTAGE_CYCLES=)/, 'soak runs of tests that CI runs at their default size'],
  [/^(BENCH_\w+=\S+ )*npm run bench\b/, 'the benchmark (not in CI; figures in docs/performance.md)'],
  [/^(LOAD_\w+=\S+ )*npm run bench:load\b/, "the growth benchmark's loader (not in CI; bench/populate.ts, which it runs, is run by test/explain.test.ts)"],
  [/^open http/, 'opens a browser on /docs or /console, which test/openapi.test.ts and test/console.test.ts serve and check'],
  [/^npx vite --config console\/vite\.config\.ts$/, "the console's live-reload server for development; its build is part of npm ci, which test/console.test.ts drives"],
];

function commandsOf(block: Block): string[] {
  // Continuation lines join their command; comments and output lines of transcripts go.
  const joined = block.lines.join('\n').replace(/\\\n\s*/g, ' ').split('\n');
  return joined.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

function run(script: string, env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe('docs', () => {
  let server: ServerProcess;
  let dataDir: string;
  const blocks = shellBlocks();
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'coffer-docs-'));
    server = await startServer({ DATA_DIR: dataDir });
  });
  after(async () => {
    await server.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the README walk-through runs as written, and a second run replays it', async () => {
    const walkThrough = blocks.find((block) => block.file === 'README.md' && block.heading.startsWith('## Walk-through'));
    assert.ok(walkThrough, 'README has a walk-through block');
    const script = `set -euo pipefail\n${walkThrough.lines.join('\n').replaceAll(DOCUMENTED, server.url)}`;
    const summary = walkThrough.lines.find((line) => line.startsWith('# {"data":{"balances"'))?.slice(2);
    assert.ok(summary, 'the walk-through documents the summary it prints');
    const outputs: string[] = [];
    for (const round of [1, 2]) {
      const { code, output } = await run(script);
      assert.equal(code, 0, `round ${round} failed:\n${output}`);
      assert.ok(output.includes(summary), `round ${round} prints the documented summary:\n${output}`);
      assert.match(output, /^Idempotent-Replayed: true\r?$/im, 'the repeated credit is a replay');
      assert.equal(output.match(/^204$/gm)?.length, 5, 'credit, confirm, freeze, unfreeze and the overdraft answer 204');
      assert.match(output, /"expiresAt":"2099-01-01T00:00:00Z","status":"open"/, 'the expiring hold');
      assert.match(output, /^\{"errorCode":"WALLET_FROZEN"/m, 'the frozen wallet refuses the debit');
      outputs.push(output);
    }
    // The second round is all replays: the same wallet, the same transactions.
    assert.equal(outputs[1], outputs[0]);
  });

  const transcripts = (postgres: boolean) => async () => {
    let checked = 0;
    for (const block of blocks) {
      if (!block.lines[0]?.startsWith('$ ') || /^\$ (export COFFER_URL=|coffer )/.test(block.lines[0])) continue;
      let command: string | undefined;
      let expected: string[] = [];
      const flush = async () => {
        if (command === undefined || command.includes('postgres://') !== postgres) return;
        const { output } = await run(command, { DATA_DIR: join(dataDir, 'transcripts') });
        for (const line of expected) assert.ok(output.includes(line), `${block.file}: \`${command}\` prints ${JSON.stringify(line)}; it printed:\n${output}`);
        checked++;
      };
      for (const line of block.lines) {
        if (line.startsWith('$ ')) {
          await flush();
          command = line.slice(2);
          expected = [];
        } else if (line.trim() !== '') expected.push(line);
      }
      await flush();
    }
    assert.ok(checked >= 1, `transcripts ran (${checked})`);
  };
  it('transcripts print the output they show', transcripts(false));
  it(
    'transcripts against PostgreSQL print the output they show',
    { skip: process.env.TEST_DATABASE_URL ? false : 'TEST_DATABASE_URL is not set: no PostgreSQL server to run them against' },
    transcripts(true),
  );

  it('curl one-liners against the documented address answer', async () => {
    let checked = 0;
    for (const block of blocks) {
      if (block.file === 'README.md' && block.heading.startsWith('## Walk-through')) continue;
      for (const command of commandsOf(block)) {
        if (!command.startsWith(`curl -s ${DOCUMENTED}`)) continue;
        const { code, output } = await run(`set -o pipefail; ${command.replaceAll(DOCUMENTED, server.url)}`);
        assert.equal(code, 0, `${block.file}: ${command}\n${output}`);
        assert.notEqual(output.trim(), '', `${block.file}: ${command} printed something`);
        checked++;
      }
    }
    assert.ok(checked >= 1);
  });

  it('every other shell command in the docs is run by a named test or CI step', () => {
    const unaccounted: string[] = [];
    for (const block of blocks) {
      if (block.file === 'README.md' && block.heading.startsWith('## Walk-through')) continue;
      const transcript = block.lines[0]?.startsWith('$ ') === true && !/^\$ (export COFFER_URL=|coffer )/.test(block.lines[0]);
      for (const command of commandsOf(block)) {
        if (transcript) continue;
        if (command.startsWith(`curl -s ${DOCUMENTED}`)) continue;
        if (block.lines.some((line) => line.startsWith('$ ')) && !command.startsWith('$ ')) continue; // a transcript's output
        if (!RUN_ELSEWHERE.some(([pattern]) => pattern.test(command))) unaccounted.push(`${block.file}: ${command}`);
      }
    }
    assert.deepEqual(unaccounted, [], 'commands in the docs that nothing runs');
  });
});
