import { Config } from '@backstage/config';
import { TemplateAction } from '@backstage/plugin-scaffolder-node';
import { PipelineEnvironments, readPipelineEnvironments } from './environments';
import { createMainlineAction } from './defaults';
import { examples } from './pipelineRead.examples';

/**
 * One environment as Backstage's `github:environment:create` takes it: deployments only from
 * its branch (the first environment) or its release tags, the last one reviewed.
 *
 * @public
 */
export type EnvironmentSettings = {
  name: string;
  deploymentBranchPolicy: {
    protected_branches: boolean;
    custom_branch_policies: boolean;
  };
  customBranchPolicyNames: string[];
  customTagPolicyNames: string[];
  /** The last environment (production): its deployments wait for a reviewer. */
  reviewed: boolean;
};

/**
 * What `promotion:pipeline:read` outputs.
 *
 * @public
 */
export type PipelineReadOutput = {
  branch: string;
  environments: EnvironmentSettings[];
  tagPatterns: string[];
};

/** The GitHub environments a pipeline needs, in promotion order. */
export function environmentSettings(
  pipeline: PipelineEnvironments,
): EnvironmentSettings[] {
  const policy = { protected_branches: false, custom_branch_policies: true };
  return [
    {
      name: pipeline.first,
      deploymentBranchPolicy: policy,
      customBranchPolicyNames: [pipeline.branch],
      customTagPolicyNames: [],
      reviewed: pipeline.tagged.length === 0,
    },
    ...pipeline.tagged.map((environment, i) => ({
      name: environment.name,
      deploymentBranchPolicy: policy,
      customBranchPolicyNames: [],
      customTagPolicyNames: [environment.pattern],
      reviewed: i === pipeline.tagged.length - 1,
    })),
  ];
}

/**
 * `promotion:pipeline:read`: the pipeline the promotion backend is configured with
 * (`promotion.environments`; stage from main, demo from `rc-*`, prod from `v*` without it), for
 * the steps of a template that must agree with it: the repository's default branch, and one
 * `github:environment:create` per environment (`each: ${{ steps.<id>.output.environments }}`).
 * Reads configuration only; changes nothing.
 *
 * @public
 */
export function createPipelineReadAction(
  options: { config?: Config } = {},
): TemplateAction<{ [name: string]: never }, PipelineReadOutput, 'v2'> {
  const pipeline = readPipelineEnvironments(options.config);
  return createMainlineAction({
    id: 'promotion:pipeline:read',
    description:
      "The configured main branch, environments and release tag patterns, for the template's publish and environment steps.",
    examples,
    supportsDryRun: true,
    schema: {
      output: {
        branch: z => z.string().describe('The branch every merge deploys from'),
        environments: z =>
          z
            .array(
              z.object({
                name: z.string(),
                deploymentBranchPolicy: z.object({
                  protected_branches: z.boolean(),
                  custom_branch_policies: z.boolean(),
                }),
                customBranchPolicyNames: z.array(z.string()),
                customTagPolicyNames: z.array(z.string()),
                reviewed: z.boolean(),
              }),
            )
            .describe(
              'Each environment as github:environment:create takes it, in promotion order',
            ),
        tagPatterns: z =>
          z
            .array(z.string())
            .describe('The release tag patterns, e.g. rc-* and v*'),
      },
    },
    async handler(ctx) {
      ctx.output('branch', pipeline.branch);
      ctx.output('environments', environmentSettings(pipeline));
      ctx.output(
        'tagPatterns',
        pipeline.tagged.map(t => t.pattern),
      );
    },
  });
}
