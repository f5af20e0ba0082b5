#!/usr/bin/env node
/*
 * Extracts from Argo CD's published API document (assets/swagger.json in the argo-cd
 * repository) the schema facts of the types the Argo CD test server answers with: for each
 * definition reachable from the roots, its type, format, properties, item and map types and
 * `$ref`s, with `allOf` merged into the properties. Titles and descriptions are left out: the
 * output is facts, not Argo CD's prose. The source commit and version are recorded in it.
 *
 *   git -C <argo-cd clone> show <commit>:assets/swagger.json > /tmp/swagger.json
 *   node scripts/extract-argocd-schema.mjs /tmp/swagger.json <commit> <version>
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOTS = [
  'v1alpha1Application',
  'v1alpha1ApplicationList',
  'v1alpha1ApplicationTree',
  'applicationManagedResourcesResponse',
  'applicationApplicationResourceResponse',
  'runtimeError',
];
// What validation needs; anything else (titles, descriptions, examples) is dropped.
const KEPT = ['type', 'format', 'enum', '$ref'];

const [source, commit, version] = process.argv.slice(2);
if (!source || !/^[0-9a-f]{40}$/.test(commit ?? '') || !version) {
  console.error(
    'usage: extract-argocd-schema.mjs <swagger.json> <commit sha> <version>',
  );
  process.exit(2);
}
const document = JSON.parse(fs.readFileSync(source, 'utf8'));
const definitions = document.definitions;

function refName(ref) {
  return ref.replace('#/definitions/', '');
}

function facts(schema, pending) {
  const out = {};
  for (const key of KEPT) if (schema[key] !== undefined) out[key] = schema[key];
  if (schema.$ref) pending.push(refName(schema.$ref));
  if (schema.items) out.items = facts(schema.items, pending);
  if (
    schema.additionalProperties &&
    typeof schema.additionalProperties === 'object'
  ) {
    out.additionalProperties = facts(schema.additionalProperties, pending);
  }
  const properties = { ...(schema.properties ?? {}) };
  for (const part of schema.allOf ?? []) {
    const resolved = part.$ref ? definitions[refName(part.$ref)] : part;
    Object.assign(properties, resolved.properties ?? {});
    for (const nested of resolved.allOf ?? []) {
      Object.assign(
        properties,
        definitions[refName(nested.$ref)]?.properties ?? {},
      );
    }
  }
  if (Object.keys(properties).length > 0) {
    out.type = out.type ?? 'object';
    out.properties = Object.fromEntries(
      Object.entries(properties)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, property]) => [name, facts(property, pending)]),
    );
  }
  return out;
}

const extracted = {};
const pending = [...ROOTS];
while (pending.length > 0) {
  const name = pending.pop();
  if (extracted[name]) continue;
  if (!definitions[name]) throw new Error(`no definition ${name} in ${source}`);
  extracted[name] = facts(definitions[name], pending);
}

const output = {
  source: {
    repository: 'argoproj/argo-cd',
    path: 'assets/swagger.json',
    commit,
    version,
    roots: ROOTS,
  },
  definitions: Object.fromEntries(
    Object.entries(extracted).sort(([a], [b]) => a.localeCompare(b)),
  ),
};
const target = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../src/argocd/argocd-schema.json',
);
fs.writeFileSync(target, `${JSON.stringify(output, null, 2)}\n`);
console.log(
  `${Object.keys(extracted).length} definitions written to ${target}`,
);
