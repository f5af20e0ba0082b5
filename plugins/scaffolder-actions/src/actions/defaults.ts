/**
 * The scaffolder checks an action's input against the JSON schema made from its zod schema, but
 * does not apply the schema's defaults: an input the template leaves out arrives undefined. Each
 * action keeps its defaults in one object, used by the schema (`.default(DEFAULTS.x)`) and filled
 * in here, so what the schema documents is what the handler does.
 */
export function withDefaults<I extends object, D extends Partial<I>>(
  defaults: D,
  input: I,
): I {
  const filled = { ...input } as Record<string, unknown>;
  for (const [key, value] of Object.entries(defaults)) {
    if (filled[key] === undefined) filled[key] = value;
  }
  return filled as I;
}
