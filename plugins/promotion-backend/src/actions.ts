import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { LineageService } from './lineage/LineageService';
import { PromotionService } from './promotion/PromotionService';
import { Actors } from './service/actors';
import { EntityTargets } from './service/EntityTargets';

/**
 * Offers "read lineage" to agents through Backstage's actions registry (and so the MCP actions
 * backend), answering exactly what the HTTP API answers, with the caller's permissions.
 */
export function registerActions(options: {
  actionsRegistry: ActionsRegistryService;
  targets: EntityTargets;
  lineage: LineageService;
  promotions: PromotionService;
  actors: Actors;
  defaultLimit: number;
}) {
  const {
    actionsRegistry,
    targets,
    lineage,
    promotions,
    actors,
    defaultLimit,
  } = options;
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

  actionsRegistry.register({
    name: 'promote',
    title: 'Promote a commit',
    description:
      'Promotes the artifact built for a main commit to an environment (demo by an rc-* tag, prod by a v* tag) with every release rule checked first. Use dryRun to see the plan and the checks without changing anything.',
    attributes: { readOnly: false, idempotent: false, destructive: false },
    schema: {
      input: z =>
        z.object({
          entityRef: z
            .string()
            .describe(
              'Catalog entity reference, e.g. component:default/checkout',
            ),
          environment: z
            .string()
            .describe('Target environment, e.g. demo or prod'),
          sha: z
            .string()
            .regex(/^[0-9a-f]{7,40}$/)
            .describe('The commit to promote'),
          tag: z
            .string()
            .optional()
            .describe('Release tag; the next by the rules when absent'),
          dryRun: z
            .boolean()
            .optional()
            .describe('Only plan and check; change nothing'),
          freezeOverride: z
            .object({
              reason: z
                .string()
                .describe('Why the freeze must be overridden (not blank)'),
            })
            .optional()
            .describe(
              'Emergency override of an open freeze window: needs the promotion.freeze.override permission; audited and told to the owners',
            ),
        }),
      output: z =>
        z.object({
          result: z
            .any()
            .describe('The promotion with its steps, or the plan of a dry run'),
        }),
    },
    action: async ({ input, credentials }) => {
      const entity = await targets.get(
        input.entityRef,
        credentials as BackstageCredentials,
      );
      const ctx = {
        credentials: credentials as BackstageCredentials,
        actor: await actors.of(credentials as BackstageCredentials),
      };
      const result = await promotions.promote(
        entity,
        {
          environment: input.environment,
          sha: input.sha,
          tag: input.tag,
          dryRun: input.dryRun,
          freezeOverride: input.freezeOverride,
        },
        ctx,
      );
      return { output: { result: JSON.parse(JSON.stringify(result)) } };
    },
  });
}
