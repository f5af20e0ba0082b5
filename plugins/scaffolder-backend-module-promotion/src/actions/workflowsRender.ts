import { Config } from '@backstage/config';
import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '@backstage/errors';
import { readPromotionTarget } from '@mainline/plugin-promotion-common';
import { readPipelineEnvironments } from './environments';
import { renderWorkflows } from '../workflows/renderWorkflows';
import { createMainlineAction } from './defaults';
import { examples } from './workflowsRender.examples';

const ECR =
  /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/[a-z0-9][a-z0-9._/-]*$/;
const S3 = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._-]+)*$/;
/**
 * A base URL the rendered workflows put in `env` and hand to curl: http(s), a host, an optional
 * port and path, nothing a shell or a GitHub expression would read (no quotes, `$`, braces,
 * spaces, query or fragment).
 */
export const BASE_URL =
  /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~-]+)*\/?$/;
const BRANCH = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,200}$/;
/** A manifest path or Argo CD application name with `{environment}`, safe in `env`. */
const WITH_ENVIRONMENT = /^[A-Za-z0-9._/{}-]+$/;

/**
 * Writes the GitHub Actions workflows of the main/rc/v discipline into the new repository:
 * build once on main and deploy to stage, the pull request's `build` check, a stage validation
 * that yanks the commit through Mainline when it fails, and (Serverless) the deploy workflow
 * Mainline dispatches. Release tags need no workflow: the promotion backend promotes them.
 *
 * @public
 */
export function createWorkflowsRenderAction(options: { config?: Config } = {}) {
  // The configured environments (promotion.environments, as the promotion backend reads them):
  // the branch the build deploys from, its environment, the stages packaged for.
  const environments = readPipelineEnvironments(options.config);
  return createMainlineAction({
    id: 'promotion:workflows:render',
    description:
      'Writes the build-once, promote-by-tag GitHub Actions workflows for a container or Serverless service.',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        kind: z =>
          z
            .enum(['container', 'serverless'])
            .describe('container: image to ECR; serverless: package to S3'),
        entityRef: z =>
          z
            .string()
            .describe(
              'Catalog entity of the new service, e.g. component:default/checkout',
            ),
        mainlineUrl: z =>
          z
            .string()
            .regex(BASE_URL)
            .describe('Backstage base URL the validation job yanks through'),
        awsRegion: z =>
          z
            .string()
            .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
            .describe('AWS region, e.g. eu-west-1'),
        ecrRepository: z =>
          z
            .string()
            .optional()
            .describe(
              'Container: ECR repository URI (<account>.dkr.ecr.<region>.amazonaws.com/<name>)',
            ),
        manifestRepo: z =>
          z
            .string()
            .optional()
            .describe('Container: GitOps manifest repository, owner/name'),
        manifestPath: z =>
          z
            .string()
            .optional()
            .describe(
              'Container: environment kustomization path with {environment}',
            ),
        manifestBranch: z =>
          z
            .string()
            .regex(BRANCH)
            .default('main')
            .describe(
              'Container: the manifest repository branch Argo CD watches',
            ),
        argocdUrl: z =>
          z
            .string()
            .regex(BASE_URL)
            .optional()
            .describe(
              'Container: Argo CD base URL; deploys wait there until the environment runs the image',
            ),
        argocdApplication: z =>
          z
            .string()
            .regex(WITH_ENVIRONMENT)
            .optional()
            .describe(
              'Container: Argo CD Application per environment, with {environment} (default <name>-{environment})',
            ),
        packageLocation: z =>
          z
            .string()
            .optional()
            .describe('Serverless: s3://<bucket>/<prefix> for packages'),
        validationCommand: z =>
          z
            .string()
            .default('npm run validate:stage')
            .describe('Command validating stage; a failure yanks the commit'),
        targetPath: z =>
          z
            .string()
            .default('.github/workflows')
            .describe('Where in the workspace to write the workflows'),
      },
      output: {
        files: z =>
          z.array(z.string()).describe('Paths of the written workflow files'),
      },
    },
    async handler(ctx) {
      const { input } = ctx;
      if (!/^[a-z]+:[a-z0-9-]+\/[a-z0-9][a-z0-9._-]*$/i.test(input.entityRef)) {
        throw new InputError(
          `entityRef "${input.entityRef}" is not of the form kind:namespace/name`,
        );
      }
      // The schema's patterns, checked here too: the handler also runs without the scaffolder's
      // JSON-schema validation (tests, other callers), and these values end up in workflows.
      for (const [name, value, pattern] of [
        ['mainlineUrl', input.mainlineUrl, BASE_URL],
        ['argocdUrl', input.argocdUrl, BASE_URL],
        ['manifestBranch', input.manifestBranch, BRANCH],
        ['argocdApplication', input.argocdApplication, WITH_ENVIRONMENT],
      ] as const) {
        if (value !== undefined && !pattern.test(value)) {
          throw new InputError(
            `${name} "${value}" must match ${pattern.source}`,
          );
        }
      }
      if (input.validationCommand.includes('${{')) {
        throw new InputError(
          'validationCommand must not contain a GitHub expression (${{ ... }}): read context from the environment (COMMIT_SHA, STAGE_URL)',
        );
      }
      const target = path.resolve(ctx.workspacePath, input.targetPath);
      if (!target.startsWith(path.resolve(ctx.workspacePath) + path.sep)) {
        throw new InputError(
          `targetPath "${input.targetPath}" must stay inside the workspace`,
        );
      }
      const common = {
        entityRef: input.entityRef,
        mainlineUrl: input.mainlineUrl,
        awsRegion: input.awsRegion,
        validationCommand: input.validationCommand,
        environments,
      };
      let files: Record<string, string>;
      if (input.kind === 'container') {
        if (!input.ecrRepository || !ECR.test(input.ecrRepository)) {
          throw new InputError(
            `ecrRepository "${
              input.ecrRepository ?? ''
            }" is not an ECR repository URI (<account>.dkr.ecr.<region>.amazonaws.com/<name>)`,
          );
        }
        const check = readPromotionTarget({
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Component',
          metadata: {
            name: 'new',
            annotations: {
              'github.com/project-slug': 'owner/new',
              'mainline.dev/artifact-kind': 'image',
              'mainline.dev/artifact-location': input.ecrRepository,
              'mainline.dev/manifest-repo': input.manifestRepo ?? '',
              'mainline.dev/manifest-path': input.manifestPath ?? '',
            },
          },
        });
        if (!check.ok) {
          throw new InputError(
            check.problems.map(p => `${p.annotation} ${p.message}`).join('; '),
          );
        }
        if (!WITH_ENVIRONMENT.test(input.manifestPath!)) {
          throw new InputError(
            `manifestPath "${input.manifestPath}" must match ${WITH_ENVIRONMENT.source}`,
          );
        }
        if (!input.argocdUrl) {
          throw new InputError(
            'argocdUrl is required for a container service: the stage deploy waits until Argo CD runs the image, so validation checks the commit it names',
          );
        }
        files = renderWorkflows({
          ...common,
          kind: 'container',
          ecrRepository: input.ecrRepository,
          manifestRepo: input.manifestRepo!,
          manifestPath: input.manifestPath!,
          manifestBranch: input.manifestBranch,
          argocdUrl: input.argocdUrl,
          argocdApplication:
            input.argocdApplication ??
            `${input.entityRef.split('/')[1]}-{environment}`,
        });
      } else {
        if (!input.packageLocation || !S3.test(input.packageLocation)) {
          throw new InputError(
            `packageLocation "${
              input.packageLocation ?? ''
            }" is not an s3://<bucket>/<prefix> location`,
          );
        }
        files = renderWorkflows({
          ...common,
          kind: 'serverless',
          packageLocation: input.packageLocation,
        });
      }
      // Only the task's own workspace is written (also in a dry run, whose workspace is thrown
      // away): nothing outside Backstage changes, so there is no side effect to checkpoint.
      await fs.mkdir(target, { recursive: true });
      const written: string[] = [];
      for (const [name, content] of Object.entries(files)) {
        await fs.writeFile(path.join(target, name), content);
        written.push(path.relative(ctx.workspacePath, path.join(target, name)));
      }
      ctx.logger.info(`Wrote ${written.join(', ')}`);
      ctx.output('files', written);
    },
  });
}
