import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import { runDeploymentTargetContract } from '@mainline/plugin-promotion-node/testUtils';
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
  return { target, promotionTarget, deploysToNewEnvironments: true };
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

describe('LocalLambdaDeployments.deploy', () => {
  const ADA = {
    entityRef: 'user:default/ada',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
  };
  const request = {
    environment: 'demo',
    sha: SHA_2,
    version: 'rc-2',
    tag: 'rc-2',
    actor: ADA,
    reason: 'Promote 2222222 as rc-2',
  };

  it('records the deploy: environment, sha, tag, when and by whom', async () => {
    const target = await deployments();
    const before = Date.now();

    const result = await target.deploy(promotionTarget, request);

    expect(result).toEqual({
      changed: true,
      detail: expect.stringContaining(`sls deploy -s demo -p ${SHA_2}`),
    });
    const history = await target.history('svc');
    expect(history).toEqual([
      {
        environment: 'demo',
        sha: SHA_2,
        tag: 'rc-2',
        deployedAt: expect.any(String),
        deployedBy: 'user:default/ada',
      },
    ]);
    expect(Date.parse(history[0].deployedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(history[0].deployedAt)).toBeLessThanOrEqual(Date.now());
  });

  it('records nothing when the environment already runs that sha under that tag', async () => {
    const target = await deployments();
    await target.deploy(promotionTarget, request);

    const again = await target.deploy(promotionTarget, request);

    expect(again.changed).toBe(false);
    expect(await target.history('svc')).toHaveLength(1);
  });

  it('records the same sha again under another tag, or in another environment', async () => {
    const target = await deployments();
    await target.deploy(promotionTarget, request);

    await target.deploy(promotionTarget, {
      ...request,
      version: 'v2024.05.0',
      tag: 'v2024.05.0',
    });
    await target.deploy(promotionTarget, { ...request, environment: 'prod' });
    // An untagged deploy of the same sha is a change too (the tag goes).
    const untagged = await target.deploy(promotionTarget, {
      ...request,
      version: SHA_2.slice(0, 7),
      tag: undefined,
    });

    expect(untagged.changed).toBe(true);
    const history = await target.history('svc');
    expect(history.map(r => [r.environment, r.tag])).toEqual([
      ['demo', 'rc-2'],
      ['demo', 'v2024.05.0'],
      ['prod', 'rc-2'],
      ['demo', undefined],
    ]);
    expect(history[3]).not.toHaveProperty('tag');
    await expect(
      target.current(promotionTarget, ['demo', 'prod']),
    ).resolves.toMatchObject({
      demo: { version: SHA_2, sha: SHA_2 },
      prod: { version: 'rc-2', sha: SHA_2 },
    });
  });

  it('rejects an entity without a Serverless service', async () => {
    const target = await deployments();
    await expect(
      target.deploy(
        { ...promotionTarget, serverlessService: undefined },
        request,
      ),
    ).rejects.toMatchObject({ name: 'InputError' });
    await expect(
      target.deploy({ ...promotionTarget, serverlessService: '../x' }, request),
    ).rejects.toMatchObject({ name: 'InputError' });
  });
});
