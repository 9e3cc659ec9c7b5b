/**
 * Derives the wire-contract facts Coffer's compatibility test checks (test/openapi.test.ts)
 * from the Formance Wallets v1 OpenAPI file: for each operation its method, path,
 * operationId, parameters (name and place), and the shapes of its JSON request and success
 * bodies (types, formats, required fields, properties, items, enums), plus ErrorResponse —
 * with every $ref resolved, and descriptions, examples, servers and security left out.
 * The result, test/fixtures/formance-wallets-v1-contract.json, lets the test run from a
 * clean clone without the reference file.
 *
 * Usage: node --import tsx scripts/reference-contract.ts ../shared/reference/formance-wallets-openapi.yaml
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

type Json = Record<string, unknown>;

const [source] = process.argv.slice(2);
if (!source) throw new Error('usage: reference-contract.ts <formance-wallets-openapi.yaml>');
const document = parseYaml(readFileSync(source, 'utf8')) as Json;

/** Schema keywords the compatibility comparison reads; nothing else is kept. */
const KEPT = ['type', 'format', 'nullable', 'required', 'enum', 'const'];

function resolve(value: unknown): Json {
  let current = value as Json;
  while (typeof current.$ref === 'string') {
    let target: unknown = document;
    for (const segment of current.$ref.replace(/^#\//, '').split('/')) target = (target as Json)[segment];
    current = target as Json;
  }
  return current;
}

function schema(value: unknown): Json {
  const resolved = resolve(value);
  const out: Json = {};
  for (const key of KEPT) if (resolved[key] !== undefined) out[key] = resolved[key];
  if (resolved.properties) {
    out.properties = Object.fromEntries(Object.entries(resolved.properties as Json).map(([name, property]) => [name, schema(property)]));
  }
  if (resolved.items) out.items = schema(resolved.items);
  if (typeof resolved.additionalProperties === 'object') out.additionalProperties = schema(resolved.additionalProperties);
  for (const key of ['allOf', 'oneOf', 'anyOf']) if (Array.isArray(resolved[key])) out[key] = (resolved[key] as unknown[]).map(schema);
  return out;
}

function body(holder: unknown): Json | undefined {
  if (holder === undefined) return undefined;
  const json = ((resolve(holder).content as Json | undefined)?.['application/json'] as Json | undefined)?.schema;
  return json === undefined ? { content: {} } : { content: { 'application/json': { schema: schema(json) } } };
}

const paths: Json = {};
for (const [path, item] of Object.entries(document.paths as Json)) {
  if (!path.startsWith('/')) continue;
  const pathItem = item as Json;
  const shared = ((pathItem.parameters as unknown[] | undefined) ?? []).map(resolve);
  const out: Json = {};
  for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
    const operation = pathItem[method] as Json | undefined;
    if (!operation) continue;
    const parameters = [...shared, ...((operation.parameters as unknown[] | undefined) ?? []).map(resolve)].map((p) => ({ name: p.name, in: p.in }));
    const responses: Json = {};
    for (const [status, response] of Object.entries(operation.responses as Json)) responses[status] = body(response) ?? {};
    out[method] = {
      operationId: operation.operationId,
      parameters,
      responses,
      ...(operation.requestBody !== undefined ? { requestBody: body(operation.requestBody) } : {}),
    };
  }
  paths[path] = out;
}

const contract = {
  source: 'Formance Wallets v1 OpenAPI (formancehq/wallets v2.2.0), reduced by scripts/reference-contract.ts',
  paths,
  components: { schemas: { ErrorResponse: schema({ $ref: '#/components/schemas/ErrorResponse' }) } },
};
writeFileSync(new URL('../test/fixtures/formance-wallets-v1-contract.json', import.meta.url), `${JSON.stringify(contract, null, 2)}\n`);
