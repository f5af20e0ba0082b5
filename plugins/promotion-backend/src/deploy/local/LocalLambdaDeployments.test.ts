import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import { runDeploymentTargetContract } from '../DeploymentTarget.contract';
import { LocalLambdaDeployments } from './LocalLambdaDeployments';

const promotionTarget: PromotionTarget = {
  sourceRepo: 'acme/svc',
  artifactKind: 'archive',
  artifactLocation: 'local://svc',
  serverlessService: 'svc',
  versioning: 'calver',
  releaseBranches: false,
};

const SHA_1 = '1111111111111111111111111111111111111111';
const SHA_2 = '2222222222222222222222222222222222222222';
const SHA_3 = '3333333333333333333333333333333333333333';

const roots: string[] = [];

async function deployments(): Promise<LocalLambdaDeployments> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'lambda-deploys-'));
  roots.push(root);
  return new LocalLambdaDeployments(root);
}

afterAll(async () => {
  await Promise.all(
    roots.map(root => fs.rm(root, { recursive: true, force: true })),
  );
});

runDeploymentTargetContract('local Lambda records', async fixture => {
  const target = await deployments();
  for (const deploy of fixture.deploys) {
    await target.record('svc', {
      environment: deploy.environment,
      sha: deploy.sha,
      tag: deploy.releaseTag,
      deployedAt: deploy.deployedAt.toISOString(),
      deployedBy: deploy.deployedBy.name,
    });
  }
  return { target, promotionTarget };
});

describe('LocalLambdaDeployments', () => {
  it('takes the last record of each environment as what runs there', async () => {
    const target = await deployments();
    await target.record('svc', {
      environment: 'stage',
      sha: SHA_1,
      deployedAt: '2024-05-01T08:00:00.000Z',
      deployedBy: 'Ada Lovelace',
    });
    await target.record('svc', {
      environment: 'prod',
      sha: SHA_1,
      tag: 'v2024.05.0',
      deployedAt: '2024-05-02T08:00:00.000Z',
      deployedBy: 'Grace Hopper',
    });
    await target.record('svc', {
      environment: 'stage',
      sha: SHA_3,
      deployedAt: '2024-05-03T08:00:00.000Z',
      deployedBy: 'Linus Ops',
    });
    // A rollback: recorded last, although it deploys an older commit.
    await target.record('svc', {
      environment: 'stage',
      sha: SHA_2,
      deployedAt: '2024-05-04T08:00:00.000Z',
      deployedBy: 'Margaret Hamilton',
    });

    const current = await target.current(promotionTarget, ['stage', 'prod']);

    expect(current).toEqual({
      stage: {
        environment: 'stage',
        version: SHA_2,
        sha: SHA_2,
        deployedAt: '2024-05-04T08:00:00.000Z',
        deployedBy: 'Margaret Hamilton',
      },
      prod: {
        environment: 'prod',
        version: 'v2024.05.0',
        sha: SHA_1,
        deployedAt: '2024-05-02T08:00:00.000Z',
        deployedBy: 'Grace Hopper',
      },
    });
    expect(await target.history('svc')).toHaveLength(4);
  });

  it('keeps each service to its own records', async () => {
    const target = await deployments();
    await target.record('other', {
      environment: 'stage',
      sha: SHA_1,
      deployedAt: '2024-05-01T08:00:00.000Z',
      deployedBy: 'Ada Lovelace',
    });

    await expect(target.current(promotionTarget, ['stage'])).resolves.toEqual({
      stage: undefined,
    });
    await expect(
      target.current({ ...promotionTarget, serverlessService: 'other' }, [
        'stage',
      ]),
    ).resolves.toMatchObject({ stage: { sha: SHA_1 } });
  });

  it('reports nothing for an entity without a Serverless service', async () => {
    const target = await deployments();
    await target.record('svc', {
      environment: 'stage',
      sha: SHA_1,
      deployedAt: '2024-05-01T08:00:00.000Z',
      deployedBy: 'Ada Lovelace',
    });

    await expect(
      target.current({ ...promotionTarget, serverlessService: undefined }, [
        'stage',
      ]),
    ).resolves.toEqual({ stage: undefined });
  });

  it.each(['../svc', 'svc/../../etc', '-svc', 'svc.jsonl'])(
    'rejects the service name %j',
    async service => {
      const target = await deployments();
      await expect(
        target.current({ ...promotionTarget, serverlessService: service }, [
          'stage',
        ]),
      ).rejects.toMatchObject({ name: 'InputError' });
      await expect(
        target.record(service, {
          environment: 'stage',
          sha: SHA_1,
          deployedAt: '2024-05-01T08:00:00.000Z',
          deployedBy: 'Ada Lovelace',
        }),
      ).rejects.toMatchObject({ name: 'InputError' });
    },
  );
});
