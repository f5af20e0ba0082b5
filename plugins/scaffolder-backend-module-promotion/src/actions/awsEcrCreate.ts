import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  PutImageScanningConfigurationCommand,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import { Config } from '@backstage/config';
import { DefaultAwsCredentialsManager } from '@backstage/integration-aws-node';
import { createMainlineAction } from './defaults';
import { examples } from './awsEcrCreate.examples';

/**
 * What the lifecycle policy keeps: every `rc-*` and `v*` image (a rollback target must never
 * disappear), the newest sha-only builds, nothing untagged for more than a week.
 */
export function lifecyclePolicy(keepShaImages: number): string {
  // An image matched by a rule is never expired by a lower-priority rule: the first rule claims
  // every release image (rc-*, v*) with a count no repository reaches.
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: 'Release images (rc-*, v*) are kept: rollbacks need them',
        selection: {
          tagStatus: 'tagged',
          tagPrefixList: ['rc-', 'v'],
          countType: 'imageCountMoreThan',
          countNumber: 100000,
        },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: 'Untagged images go after a week',
        selection: {
          tagStatus: 'untagged',
          countType: 'sinceImagePushed',
          countUnit: 'days',
          countNumber: 7,
        },
        action: { type: 'expire' },
      },
      {
        rulePriority: 3,
        description: `Keep the newest ${keepShaImages} builds that never became a release`,
        selection: {
          tagStatus: 'any',
          countType: 'imageCountMoreThan',
          countNumber: keepShaImages,
        },
        action: { type: 'expire' },
      },
    ],
  });
}

/**
 * `promotion:aws:ecr:create`: the service's image repository, created once.
 *
 * @public
 */
export function createAwsEcrCreateAction(options: { config: Config }) {
  const credentials = DefaultAwsCredentialsManager.fromConfig(options.config);
  const endpoint = options.config.getOptionalString(
    'promotion.scaffolder.ecrEndpoint',
  );
  return createMainlineAction({
    id: 'promotion:aws:ecr:create',
    description:
      'Creates the ECR repository a new container service builds into, when absent: scan on push, release tags kept forever (idempotent).',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        accountId: z =>
          z
            .string()
            .regex(/^\d{12}$/)
            .describe('AWS account id of the registry'),
        region: z =>
          z
            .string()
            .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
            .describe('AWS region, e.g. eu-west-1'),
        repositoryName: z =>
          z
            .string()
            .regex(
              /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
            )
            .max(256)
            .describe('Repository name, e.g. checkout or payments/checkout'),
        tagMutability: z =>
          z
            .enum(['MUTABLE', 'IMMUTABLE'])
            .default('IMMUTABLE')
            .describe(
              'IMMUTABLE: a pushed tag can never point at another image',
            ),
        keepShaImages: z =>
          z
            .number()
            .int()
            .min(10)
            .max(10000)
            .default(200)
            .describe(
              'How many sha-tagged builds to keep besides release tags',
            ),
      },
      output: {
        repositoryUri: z => z.string().describe('What the build pushes to'),
        created: z => z.boolean().describe('False when the repository existed'),
      },
    },
    async handler(ctx) {
      const { input } = ctx;
      const { accountId, region, repositoryName } = input;
      const uri = `${accountId}.dkr.ecr.${region}.amazonaws.com/${repositoryName}`;
      if (ctx.isDryRun) {
        ctx.logger.info(`Would create the ECR repository ${uri} when absent`);
        ctx.output('repositoryUri', uri);
        ctx.output('created', false);
        return;
      }
      const { sdkCredentialProvider } = await credentials.getCredentialProvider(
        {
          accountId,
        },
      );
      const client = new ECRClient({
        region,
        credentials: sdkCredentialProvider,
        endpoint,
      });
      const created = await ctx.checkpoint({
        key: `ecr:${uri}`,
        fn: async () => {
          try {
            await client.send(
              new DescribeRepositoriesCommand({
                registryId: accountId,
                repositoryNames: [repositoryName],
              }),
            );
            return false;
          } catch (error) {
            if ((error as Error).name !== 'RepositoryNotFoundException')
              throw error;
          }
          try {
            await client.send(
              new CreateRepositoryCommand({
                registryId: accountId,
                repositoryName,
                imageTagMutability: input.tagMutability,
                imageScanningConfiguration: { scanOnPush: true },
              }),
            );
            return true;
          } catch (error) {
            // Created by a concurrent run of the same template: the same outcome.
            if ((error as Error).name === 'RepositoryAlreadyExistsException')
              return false;
            throw error;
          }
        },
      });
      await ctx.checkpoint({
        key: `ecr-settings:${uri}`,
        fn: async () => {
          await client.send(
            new PutImageScanningConfigurationCommand({
              registryId: accountId,
              repositoryName,
              imageScanningConfiguration: { scanOnPush: true },
            }),
          );
          await client.send(
            new PutLifecyclePolicyCommand({
              registryId: accountId,
              repositoryName,
              lifecyclePolicyText: lifecyclePolicy(input.keepShaImages),
            }),
          );
        },
      });
      ctx.output('repositoryUri', uri);
      ctx.output('created', created);
    },
  });
}
