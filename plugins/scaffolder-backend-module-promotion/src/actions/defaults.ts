import {
  createTemplateAction,
  TemplateAction,
} from '@backstage/plugin-scaffolder-node';

/**
 * `createTemplateAction` for this module's actions, with the input schema's defaults applied.
 *
 * The scaffolder checks an action's input against the JSON schema made from its zod schema, but
 * does not apply the schema's `.default(...)`s: an input the template leaves out arrives
 * undefined, although the handler's input type says it is there. This fills every top-level input
 * the template left out with its default from that same JSON schema before the handler runs, so
 * the defaults live only in the schema (`.default(...)`) and no handler can forget them.
 *
 * The defaults are read from the generated JSON schema rather than by parsing with zod because
 * the scaffolder hands the schema callbacks its own zod, which this package does not depend on;
 * for the flat `schema.input: { key: z => ... }` form every action uses, a zod parse would fill
 * exactly the same keys with the same values.
 */
export const createMainlineAction = fillingInputDefaults(createTemplateAction);

/** `create`, with the same signature, its actions' handlers given the schema's input defaults. */
function fillingInputDefaults<
  F extends (options: any) => TemplateAction<any, any, any>,
>(create: F): F {
  return (options => withInputDefaults(create(options))) as F;
}

function withInputDefaults(
  action: TemplateAction<any, any, any>,
): TemplateAction<any, any, any> {
  const properties = action.schema?.input?.properties ?? {};
  const defaults = Object.entries(properties).flatMap(([key, property]) =>
    property.default === undefined ? [] : [[key, property.default] as const],
  );
  if (defaults.length === 0) return action;
  return {
    ...action,
    handler: ctx => {
      const input: Record<string, unknown> = { ...ctx.input };
      for (const [key, value] of defaults) {
        // A copy each run: a handler changing a default array or object cannot change the next.
        if (input[key] === undefined) input[key] = structuredClone(value);
      }
      return action.handler({ ...ctx, input });
    },
  };
}
