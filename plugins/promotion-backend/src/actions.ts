import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { LineageService } from './lineage/LineageService';
import { EntityTargets } from './service/EntityTargets';

/**
 * Offers "read lineage" to agents through Backstage's actions registry (and so the MCP actions
 * backend), answering exactly what the HTTP API answers, with the caller's permissions.
 */
export function registerActions(options: {
  actionsRegistry: ActionsRegistryService;
  targets: EntityTargets;
  lineage: LineageService;
  defaultLimit: number;
}) {
  const { actionsRegistry, targets, lineage, defaultLimit } = options;
  actionsRegistry.register({
    name: 'read-lineage',
    title: 'Read release lineage',
    description:
      'Shows which commit and artifact runs in each environment (stage, demo, prod) of a service, and the recent commits on main with their artifacts, release tags, environments and yanks.',
    attributes: { readOnly: true, idempotent: true, destructive: false },
    schema: {
      input: z =>
        z.object({
          entityRef: z
            .string()
            .describe(
              'Catalog entity reference of the service, e.g. component:default/checkout',
            ),
          limit: z
            .number()
            .int()
            .min(1)
            .max(500)
            .optional()
            .describe('How many commits of main to include (default 50)'),
        }),
      output: z =>
        z.object({
          lineage: z
            .any()
            .describe(
              'The lineage, as GET /v1/entities/{kind}/{namespace}/{name}/lineage answers',
            ),
        }),
    },
    action: async ({ input, credentials }) => {
      const { entityRef, target } = await targets.get(
        input.entityRef,
        credentials as BackstageCredentials,
      );
      return {
        output: {
          lineage: await lineage.lineage(entityRef, target, {
            limit: input.limit ?? defaultLimit,
          }),
        },
      };
    },
  });
}
