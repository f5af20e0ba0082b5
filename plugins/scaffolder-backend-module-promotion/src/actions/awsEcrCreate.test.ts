import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { EcrTestServer, startEcrTestServer } from '@mainline/test-servers';
import { createAwsEcrCreateAction } from './awsEcrCreate';

describe('promotion:aws:ecr:create', () => {
  let ecr: EcrTestServer;
  let action: ReturnType<typeof createAwsEcrCreateAction>;

  beforeAll(async () => {
    ecr = await startEcrTestServer();
    action = createAwsEcrCreateAction({
      config: new ConfigReader({
        aws: {
          accounts: [
            {
              accountId: ecr.accountId,
              accessKeyId: 'AKIDTEST',
              secretAccessKey: 'test',
            },
          ],
        },
        promotion: { scaffolder: { ecrEndpoint: ecr.endpoint } },
      }),
    });
  });
  afterAll(() => ecr.close());

  const input = (repositoryName: string) => ({
    accountId: ecr.accountId,
    region: ecr.region,
    repositoryName,
    tagMutability: 'IMMUTABLE' as const,
    keepShaImages: 200,
  });

  it('creates nothing on a dry run, but names the repository', async () => {
    const ctx = {
      ...createMockActionContext({ input: input('dry') }),
      isDryRun: true,
    };
    await action.handler(ctx as any);
    expect(ecr.repository('dry')).toBeUndefined();
    expect(ctx.output).toHaveBeenCalledWith(
      'repositoryUri',
      ecr.repositoryUri('dry'),
    );
  });

  it('creates the repository with scanning and a policy that keeps release images, once', async () => {
    const ctx = createMockActionContext({ input: input('payments/checkout') });
    await action.handler(ctx as any);
    expect(ctx.output).toHaveBeenCalledWith(
      'repositoryUri',
      ecr.repositoryUri('payments/checkout'),
    );
    expect(ctx.output).toHaveBeenCalledWith('created', true);
    const repository = ecr.repository('payments/checkout')!;
    expect(repository).toMatchObject({
      tagMutability: 'IMMUTABLE',
      scanOnPush: true,
    });
    const [keep, untagged, builds] = JSON.parse(
      repository.lifecyclePolicy!,
    ).rules;
    expect(keep.selection.tagPrefixList).toEqual(['rc-', 'v']);
    expect(keep.rulePriority).toBeLessThan(builds.rulePriority);
    expect(untagged.selection.tagStatus).toBe('untagged');
    expect(builds.selection.countNumber).toBe(200);

    const again = createMockActionContext({
      input: input('payments/checkout'),
    });
    await action.handler(again as any);
    expect(again.output).toHaveBeenCalledWith('created', false);
  });
});
