import type * as Expressions from '@actions/expressions';

/*
 * GitHub's own expression engine. The package is ESM-only with an `import`-only exports map, which
 * jest's resolver (CommonJS conditions) cannot load; Node 24 can `require` it, so it is loaded by
 * path with Node's real require, outside jest's module registry.
 */
function load(): typeof Expressions {
  const { createRequire } = process.getBuiltinModule(
    'node:module',
  ) as typeof import('node:module');
  const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
  const path = process.getBuiltinModule(
    'node:path',
  ) as typeof import('node:path');
  // This library runs from source in tests, next to its node_modules.
  // eslint-disable-next-line no-restricted-syntax
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const entry = path.join(
      dir,
      'node_modules/@actions/expressions/dist/index.js',
    );
    if (fs.existsSync(entry)) {
      return createRequire(__filename)(entry) as typeof Expressions;
    }
    if (path.dirname(dir) === dir) {
      throw new Error('@actions/expressions is not installed');
    }
  }
}

let engine: typeof Expressions | undefined;
const expressions = () => (engine ??= load());

/** What the status functions answer: the job's (or the run's needs') state so far. */
export interface StatusState {
  /** `success()`: every earlier step (or every needed job) succeeded. */
  success: boolean;
  /** `failure()`: an earlier step (or a needed job) failed. */
  failure: boolean;
  cancelled: boolean;
}

const GREEN: StatusState = { success: true, failure: false, cancelled: false };

const CONTEXTS = [
  'github',
  'env',
  'vars',
  'secrets',
  'inputs',
  'needs',
  'steps',
  'job',
  'jobs',
  'runner',
  'strategy',
  'matrix',
];

function toData(value: unknown): Expressions.data.ExpressionData {
  const { data } = expressions();
  return JSON.parse(JSON.stringify(value ?? null), data.reviver);
}

function toJs(value: Expressions.data.ExpressionData): unknown {
  return JSON.parse(JSON.stringify(value, expressions().data.replacer));
}

/** GitHub's truthiness: false, 0, -0, NaN, '' and null are false; objects are true. */
function truthy(value: Expressions.data.ExpressionData): boolean {
  const { data } = expressions();
  switch (value.kind) {
    case data.Kind.Boolean:
      return (value as Expressions.data.BooleanData).value;
    case data.Kind.Null:
      return false;
    case data.Kind.Number: {
      const n = value.number();
      return n !== 0 && !Number.isNaN(n);
    }
    case data.Kind.String:
      return value.coerceString() !== '';
    default:
      return true;
  }
}

/** Evaluates one expression (without `${{ }}`) against the contexts. */
export function evaluate(
  expression: string,
  context: Record<string, unknown>,
  status: StatusState = GREEN,
): unknown {
  return toJs(evaluateData(expression, context, status));
}

function evaluateData(
  expression: string,
  context: Record<string, unknown>,
  status: StatusState,
): Expressions.data.ExpressionData {
  const { Lexer, Parser, Evaluator, data } = expressions();
  const fn = (name: string, call: () => boolean) => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => new data.BooleanData(call()),
  });
  const functions = [
    fn('success', () => status.success),
    fn('failure', () => status.failure),
    fn('always', () => true),
    fn('cancelled', () => status.cancelled),
  ];
  const lexed = new Lexer(expression).lex();
  const parsed = new Parser(lexed.tokens, CONTEXTS, functions).parse();
  const dictionary = new data.Dictionary(
    ...CONTEXTS.map(key => ({ key, value: toData(context[key] ?? {}) })),
  );
  return new Evaluator(
    parsed,
    dictionary,
    new Map(functions.map(f => [f.name, f])),
  ).evaluate();
}

/**
 * An `if:` condition as GitHub reads it: `${{ }}` optional, and without a status function it is
 * `success() && (<condition>)`.
 */
export function condition(
  text: string | boolean | undefined,
  context: Record<string, unknown>,
  status: StatusState,
): boolean {
  if (text === undefined) return status.success;
  if (typeof text === 'boolean') return text && status.success;
  let expression = text.trim();
  const wrapped = /^\$\{\{([\s\S]*)\}\}$/.exec(expression);
  if (wrapped) expression = wrapped[1].trim();
  if (!/\b(success|failure|always|cancelled)\s*\(/i.test(expression)) {
    expression = `success() && (${expression})`;
  }
  return truthy(evaluateData(expression, context, status));
}

/** Replaces every `${{ … }}` in a string with its value as GitHub formats it. */
export function interpolate(
  text: string,
  context: Record<string, unknown>,
  status: StatusState = GREEN,
): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_m, expression: string) => {
    const value = evaluate(expression.trim(), context, status);
    if (value === null || value === undefined) return '';
    if (typeof value === 'object') return JSON.stringify(value, null, 2);
    return String(value);
  });
}

/** Interpolates every string inside a value (env maps, `with:`, outputs). */
export function interpolateDeep<T>(
  value: T,
  context: Record<string, unknown>,
  status?: StatusState,
): T {
  if (typeof value === 'string') {
    return interpolate(value, context, status) as unknown as T;
  }
  if (Array.isArray(value)) {
    return value.map(v => interpolateDeep(v, context, status)) as unknown as T;
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        interpolateDeep(v, context, status),
      ]),
    ) as T;
  }
  return value;
}
