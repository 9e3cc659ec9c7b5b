/**
 * Layers: every import under src/ points down. The table below is the rule, one row per layer
 * (a folder, or a file at the top of src/), naming what it may import besides itself; the
 * same table is in docs/architecture.md, and a test holds the two together. A new folder
 * under src/ fails here until it has a row.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const DOC = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));

interface Rule {
  /** What it may import of the project besides itself. */
  readonly may: readonly string[];
  /** Of those, the ones it may only import types from. */
  readonly typesOnly?: readonly string[];
}

const RULES: Readonly<Record<string, Rule>> = {
  domain: { may: [] },
  storage: { may: ['domain'] },
  ledger: { may: ['storage', 'domain'] },
  idempotency: { may: ['storage', 'domain'] },
  committer: { may: ['idempotency', 'ledger', 'storage', 'domain'] },
  wallets: { may: ['committer', 'ledger', 'storage', 'domain'], typesOnly: ['committer'] },
  'config.ts': { may: ['idempotency', 'domain'] },
  'metrics.ts': { may: ['storage', 'domain'] },
  events: { may: ['storage', 'domain'] },
  auth: { may: ['storage', 'domain'] },
  http: { may: ['wallets', 'committer', 'idempotency', 'auth', 'events', 'storage', 'domain', 'config.ts', 'metrics.ts'] },
  'server.ts': { may: ['http', 'idempotency', 'storage', 'domain', 'config.ts'] },
  client: { may: ['domain'] },
  cli: { may: ['client', 'server.ts', 'http', 'auth', 'storage', 'domain', 'config.ts'] },
  'main.ts': { may: ['cli'] },
};

/** The SQL drivers: only storage may load one (and domain loads no package at all). */
const DRIVERS = ['pg', '@electric-sql/pglite'];

interface Import {
  readonly file: string;
  readonly specifier: string;
  readonly typeOnly: boolean;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** Every import, re-export and dynamic import() of a file, whether it brings in types only. */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const typeOnly =
        clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      found.push({ file, specifier: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ file, specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      assert.ok(argument && ts.isStringLiteralLike(argument), `${relative(SRC, file)}: import() of a computed name cannot be checked`);
      found.push({ file, specifier: argument.text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The layer a path under src/ belongs to: its folder, or the file itself at the top. */
function layerOf(path: string): string {
  const inside = relative(SRC, path);
  assert.ok(!inside.startsWith('..'), `${path} is outside src/`);
  return inside.split(/[\\/]/)[0]!;
}

function isDriver(specifier: string): boolean {
  return DRIVERS.some((driver) => specifier === driver || specifier.startsWith(`${driver}/`));
}

/** Every violation of the table, as one line each. */
function violations(): string[] {
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const layer = layerOf(file);
    const rule = RULES[layer];
    if (rule === undefined) {
      problems.push(`${relative(SRC, file)}: layer ${layer} has no row in the table`);
      continue;
    }
    for (const { specifier, typeOnly } of importsOf(file)) {
      const where = `${relative(SRC, file)} imports ${specifier}`;
      if (!specifier.startsWith('.')) {
        if (layer === 'domain') problems.push(`${where}: domain imports no package`);
        else if (isDriver(specifier) && layer !== 'storage') problems.push(`${where}: only storage loads a SQL driver`);
        continue;
      }
      const target = resolve(dirname(file), specifier);
      if (relative(SRC, target).startsWith('..')) {
        problems.push(`${where}: outside src/`);
        continue;
      }
      const targetLayer = layerOf(target);
      if (targetLayer === layer) continue;
      if (!rule.may.includes(targetLayer)) problems.push(`${where}: ${layer} may not import ${targetLayer}`);
      else if (rule.typesOnly?.includes(targetLayer) && !typeOnly) problems.push(`${where}: ${layer} may import only types from ${targetLayer}`);
    }
  }
  return problems;
}

/** The table in docs/architecture.md: layer → what it may import, as written there. */
function documentedRules(): Map<string, string[]> {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf('\n## Layers\n');
  assert.ok(start >= 0, 'docs/architecture.md has a "## Layers" section');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  const rows = [...section.matchAll(/^\| `([\w.]+)` \| ([^|]*) \|/gm)];
  return new Map(rows.map(([, layer, cell]) => [layer!, [...cell!.matchAll(/`([\w.]+)`( \(types\))?/g)].map(([, name, types]) => name! + (types ?? ''))]));
}

describe('layers', () => {
  it('every import under src/ follows the table: arrows point down, drivers stay in storage', () => {
    assert.deepEqual(violations(), []);
  });

  it('the table finds what it is meant to: a file of each layer is parsed', () => {
    const layers = new Set(sourceFiles(SRC).map(layerOf));
    assert.deepEqual([...layers].sort(), Object.keys(RULES).sort());
    const imports = importsOf(join(SRC, 'wallets', 'debit.ts'));
    assert.ok(imports.some((i) => i.specifier === '../committer/command.ts' && i.typeOnly));
    assert.ok(imports.some((i) => i.specifier === '../domain/batch.ts' && !i.typeOnly));
  });

  it('docs/architecture.md shows the same table', () => {
    const expected = new Map(
      Object.entries(RULES).map(([layer, rule]) => [layer, rule.may.map((name) => name + (rule.typesOnly?.includes(name) ? ' (types)' : ''))]),
    );
    assert.deepEqual(documentedRules(), expected);
  });
});
