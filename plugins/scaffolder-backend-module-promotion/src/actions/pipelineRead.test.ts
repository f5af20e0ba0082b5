import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { createPipelineReadAction } from './pipelineRead';

async function outputs(config: ConfigReader) {
  const ctx = createMockActionContext({ input: {} });
  await createPipelineReadAction({ config }).handler(ctx);
  return Object.fromEntries((ctx.output as jest.Mock).mock.calls);
}

const policy = { protected_branches: false, custom_branch_policies: true };

describe('promotion:pipeline:read', () => {
  it('gives the default pipeline without configuration: main, stage, rc-* to demo, v* to prod', async () => {
    expect(await outputs(new ConfigReader({}))).toEqual({
      branch: 'main',
      tagPatterns: ['rc-*', 'v*'],
      environments: [
        {
          name: 'stage',
          deploymentBranchPolicy: policy,
          customBranchPolicyNames: ['main'],
          customTagPolicyNames: [],
          reviewed: false,
        },
        {
          name: 'demo',
          deploymentBranchPolicy: policy,
          customBranchPolicyNames: [],
          customTagPolicyNames: ['rc-*'],
          reviewed: false,
        },
        {
          name: 'prod',
          deploymentBranchPolicy: policy,
          customBranchPolicyNames: [],
          customTagPolicyNames: ['v*'],
          reviewed: true,
        },
      ],
    });
  });

  it('reads promotion.environments: qa from trunk, uat-* to uat, release-* to live', async () => {
    const result = await outputs(
      new ConfigReader({
        promotion: {
          mainBranch: 'trunk',
          environments: [
            { name: 'qa', branch: 'trunk' },
            { name: 'uat', tagPattern: 'uat-*' },
            { name: 'live', tagPattern: 'release-*' },
          ],
        },
      }),
    );
    expect(result.branch).toBe('trunk');
    expect(result.tagPatterns).toEqual(['uat-*', 'release-*']);
    expect(
      result.environments.map((e: any) => [
        e.name,
        e.customBranchPolicyNames,
        e.customTagPolicyNames,
        e.reviewed,
      ]),
    ).toEqual([
      ['qa', ['trunk'], [], false],
      ['uat', [], ['uat-*'], false],
      ['live', [], ['release-*'], true],
    ]);
  });

  it('refuses a pipeline whose first environment follows no branch, naming the entry', () => {
    expect(() =>
      createPipelineReadAction({
        config: new ConfigReader({
          promotion: { environments: [{ name: 'uat', tagPattern: 'uat-*' }] },
        }),
      }),
    ).toThrow('promotion.environments[0] must follow a branch');
  });

  it('refuses a main branch the first environment does not follow', () => {
    expect(() =>
      createPipelineReadAction({
        config: new ConfigReader({ promotion: { mainBranch: 'trunk' } }),
      }),
    ).toThrow(
      'promotion.mainBranch is "trunk" but the first environment, stage, follows branch "main" (the default): set promotion.environments[0].branch to "trunk"',
    );
  });
});
