import { InputError } from '@backstage/errors';
import {
  PROMOTION_ANNOTATIONS,
  readPromotionTarget,
} from '@mainline/plugin-promotion-common';
import { createMainlineAction } from './defaults';
import { examples } from './annotationsRender.examples';

/**
 * Computes the catalog annotations that put a new service on the main/rc/v workflow, validated by
 * the same rules the promotion backend applies, so a template cannot register a service that the
 * Environments tab would then reject.
 *
 * @public
 */
export function createAnnotationsRenderAction() {
  return createMainlineAction({
    id: 'promotion:annotations:render',
    description:
      'Renders and validates the Mainline promotion annotations for a new service’s catalog-info.yaml.',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        repoSlug: z => z.string().describe('Source repository as owner/name'),
        artifactKind: z =>
          z
            .enum(['image', 'archive'])
            .describe(
              'image: container through the GitOps manifest repo; archive: Serverless package',
            ),
        artifactLocation: z =>
          z
            .string()
            .describe(
              'Image repository (ECR URI) or s3://bucket/prefix for Serverless packages',
            ),
        manifestRepo: z =>
          z
            .string()
            .optional()
            .describe('GitOps manifest repository as owner/name (images)'),
        manifestPath: z =>
          z
            .string()
            .optional()
            .describe(
              'Path of each environment file in the manifest repo, containing {environment}',
            ),
        serverlessService: z =>
          z.string().optional().describe('Serverless service name (archives)'),
        versioning: z =>
          z
            .enum(['semver', 'calver'])
            .default('semver')
            .describe('How v* release tags are numbered'),
      },
      output: {
        annotations: z =>
          z
            .record(z.string(), z.string())
            .describe('Annotations to merge into metadata.annotations'),
      },
    },
    async handler(ctx) {
      const { input } = ctx;
      const annotations: Record<string, string> = {
        [PROMOTION_ANNOTATIONS.sourceRepo]: input.repoSlug,
        [PROMOTION_ANNOTATIONS.artifactKind]: input.artifactKind,
        [PROMOTION_ANNOTATIONS.artifactLocation]: input.artifactLocation,
        [PROMOTION_ANNOTATIONS.versioning]: input.versioning,
      };
      if (input.artifactKind === 'image') {
        annotations[PROMOTION_ANNOTATIONS.manifestRepo] =
          input.manifestRepo ?? '';
        annotations[PROMOTION_ANNOTATIONS.manifestPath] =
          input.manifestPath ?? '';
      } else {
        annotations[PROMOTION_ANNOTATIONS.serverlessService] =
          input.serverlessService ?? '';
      }
      const read = readPromotionTarget({
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'new-service', annotations },
      });
      if (!read.ok) {
        throw new InputError(
          `Cannot put this service on the release workflow: ${read.problems
            .map(p => `${p.annotation} ${p.message}`)
            .join('; ')}`,
        );
      }
      ctx.output('annotations', annotations);
    },
  });
}
