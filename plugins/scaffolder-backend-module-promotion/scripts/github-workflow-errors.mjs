#!/usr/bin/env node
// Prints, as JSON, what GitHub's own workflow parser reports for each workflow file given: the
// parse, then the conversion GitHub runs next, which parses every `if:` with @actions/expressions
// against the contexts and functions GitHub's schema allows at that place.
// A separate Node process: @actions/workflow-parser is ESM-only and imports its JSON schema
// without import attributes (it expects a bundler), so a load hook supplies them.
import fs from 'node:fs';
import path from 'node:path';
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(
    "export async function load(url, context, next) { return next(url, url.endsWith('.json') ? { ...context, importAttributes: { type: 'json' } } : context); }",
  )}`,
);
const { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } =
  await import('@actions/workflow-parser');

const report = {};
for (const file of process.argv.slice(2)) {
  const result = parseWorkflow(
    { name: path.basename(file), content: fs.readFileSync(file, 'utf8') },
    new NoOperationTraceWriter(),
  );
  if (result.value) {
    await convertWorkflowTemplate(result.context, result.value);
  }
  report[path.basename(file)] = result.context.errors
    .getErrors()
    .map(e => e.message);
}
process.stdout.write(JSON.stringify(report));
