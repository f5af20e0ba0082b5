/* eslint-disable jest/no-export -- a contract suite is a test suite that adapter tests import and run */
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  DeploymentRequest,
  DeploymentResult,
  DeploymentTarget,
} from '../ports/DeploymentTarget';

/*
 * The contract every DeploymentTarget adapter passes. The fixture is data: an ordered list of
 * deploys, which the adapter's setup replays the way its mechanism records them (commits to the
 * GitOps manifest repository, recorded `sls deploy` runs, a test server's state), then the tests
 * ask the adapter through the interface what runs where.
 */

/**
 * One deploy of one version to one environment.
 *
 * @public
 */
export interface DeployFixture {
  environment: string;
  /** What the environment points at afterwards: the image tag, or the recorded sha/tag. */
  version: string;
  /** The full commit sha deployed. */
  sha: string;
  /** The release tag deployed (`rc-*`, `v*`), when the deploy was of one. */
  releaseTag?: string;
  deployedAt: Date;
  deployedBy: { name: string; email: string };
}

/**
 * What every adapter's setup seeds.
 *
 * @public
 */
export interface DeploymentTargetFixture {
  /** Oldest first; a later deploy to an environment replaces an earlier one. */
  deploys: DeployFixture[];
  /** Environments the fixture never deploys to. */
  undeployed: string[];
}

/**
 * What an adapter's setup returns: the target, and the entity settings that point at the seed.
 *
 * @public
 */
export interface DeploymentTargetUnderTest {
  target: DeploymentTarget;
  promotionTarget: PromotionTarget;
  /**
   * Whether a deploy can bring up an environment nothing was deployed to yet: a Serverless deploy
   * creates its stage, while a GitOps manifest repository must hold the environment's file first
   * (a NotFoundError naming it).
   */
  deploysToNewEnvironments: boolean;
}

const ADA = { name: 'Ada Lovelace', email: 'ada@example.com' };
const GRACE = { name: 'Grace Hopper', email: 'grace@example.com' };
const LINUS = { name: 'Linus Ops', email: 'linus@example.com' };

const STAGE_BEFORE = 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9';
const STAGE_NOW = '5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f';
const DEMO_NOW = '7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d';

/**
 * stage was deployed twice (the second, by Ada, is current), demo once with the release candidate
 * `rc-3` (by Grace, before stage's second deploy), prod never.
 *
 * @public
 */
export const DEPLOYMENT_TARGET_FIXTURE: DeploymentTargetFixture = {
  deploys: [
    {
      environment: 'stage',
      version: STAGE_BEFORE,
      sha: STAGE_BEFORE,
      deployedAt: new Date('2024-05-01T08:00:00Z'),
      deployedBy: LINUS,
    },
    {
      environment: 'demo',
      version: 'rc-3',
      sha: DEMO_NOW,
      releaseTag: 'rc-3',
      deployedAt: new Date('2024-05-02T14:15:00Z'),
      deployedBy: GRACE,
    },
    {
      environment: 'stage',
      version: STAGE_NOW,
      sha: STAGE_NOW,
      deployedAt: new Date('2024-05-03T09:30:00Z'),
      deployedBy: ADA,
    },
  ],
  undeployed: ['prod'],
};

const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/**
 * Runs the DeploymentTarget contract against an adapter. `setup` replays the fixture's deploys
 * and returns the target with the PromotionTarget of the entity they were made for.
 */
/**
 * Deploys and, when the mechanism completes it outside the call (a workflow run, a pull request),
 * follows it to the end, as the promotion follower would: the contract sees the finished deploy.
 */
async function deployed(
  target: DeploymentTarget,
  promotionTarget: PromotionTarget,
  request: DeploymentRequest,
): Promise<DeploymentResult> {
  const result = await target.deploy(promotionTarget, request);
  if (!result.pending) return result;
  if (!target.followUp) {
    throw new Error('a pending deploy from an adapter that cannot follow it');
  }
  for (let i = 0; i < 200; i++) {
    const progress = await target.followUp(promotionTarget, result.pending);
    if (progress.state === 'failed') throw new Error(progress.detail);
    if (progress.state === 'succeeded') {
      return {
        ...result,
        pending: undefined,
        revision: progress.revision ?? result.revision,
      };
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  throw new Error(`deploy still pending after 10 s: ${result.detail}`);
}

/**
 * Runs the deployment target contract suite against an adapter.
 *
 * @public
 */
export function runDeploymentTargetContract(
  adapterName: string,
  setup: (
    fixture: DeploymentTargetFixture,
  ) => Promise<DeploymentTargetUnderTest>,
): void {
  describe(`DeploymentTarget contract: ${adapterName}`, () => {
    const fixture = DEPLOYMENT_TARGET_FIXTURE;
    const [, demo, stage] = fixture.deploys;
    let target: DeploymentTarget;
    let promotionTarget: PromotionTarget;

    beforeAll(async () => {
      ({ target, promotionTarget } = await setup(fixture));
    }, 30_000);

    it('reports the current deployment of each environment', async () => {
      const current = await target.current(promotionTarget, [
        'stage',
        'demo',
        'prod',
      ]);
      expect(
        Object.keys(current).filter(
          e => !['stage', 'demo', 'prod'].includes(e),
        ),
      ).toEqual([]);
      for (const expected of [stage, demo]) {
        const deployment = current[expected.environment];
        expect(deployment).toBeDefined();
        expect(deployment?.environment).toBe(expected.environment);
        expect(deployment?.version).toBe(expected.version);
        expect(deployment?.deployedBy).toBe(expected.deployedBy.name);
        expect(deployment?.deployedAt).toMatch(ISO_8601);
        expect(Date.parse(deployment?.deployedAt ?? '')).toBe(
          expected.deployedAt.getTime(),
        );
        // The full sha is optional (not every mechanism records it), but never a different one.
        expect([undefined, expected.sha]).toContain(deployment?.sha);
      }
      expect(current.prod).toBeUndefined();
    });

    it('reports the latest deploy, not an earlier one', async () => {
      const { stage: current } = await target.current(promotionTarget, [
        'stage',
      ]);
      expect(current?.version).toBe(stage.version);
      expect(current?.version).not.toBe(fixture.deploys[0].version);
      expect(current?.deployedBy).toBe('Ada Lovelace');
    });

    it('answers for exactly the environments asked', async () => {
      const current = await target.current(promotionTarget, ['demo']);
      expect(current.demo?.version).toBe('rc-3');
      expect(current.stage).toBeUndefined();
      expect(Object.keys(current).filter(e => e !== 'demo')).toEqual([]);
      await expect(target.current(promotionTarget, [])).resolves.toEqual({});
    });

    it('reports nothing for an environment it does not know', async () => {
      const current = await target.current(promotionTarget, [
        'qa',
        ...fixture.undeployed,
      ]);
      expect(current.qa).toBeUndefined();
      for (const environment of fixture.undeployed) {
        expect(current[environment]).toBeUndefined();
      }
    });
  });

  describe(`DeploymentTarget contract, writes: ${adapterName}`, () => {
    let target: DeploymentTarget;
    let promotionTarget: PromotionTarget;
    let deploysToNewEnvironments: boolean;
    const request: DeploymentRequest = {
      environment: 'demo',
      sha: '0123456789abcdef0123456789abcdef01234567',
      version: 'rc-4',
      tag: 'rc-4',
      actor: {
        entityRef: 'user:default/ada',
        name: 'Ada Lovelace',
        email: 'ada@example.com',
      },
      reason: 'Promote 0123456 as rc-4',
    };

    beforeEach(async () => {
      ({ target, promotionTarget, deploysToNewEnvironments } = await setup(
        DEPLOYMENT_TARGET_FIXTURE,
      ));
    }, 30_000);

    it('points an environment at a new version, visible through current()', async () => {
      const started = Date.now();
      const result = await deployed(target, promotionTarget, request);
      expect(result.changed).toBe(true);
      expect(result.detail).toContain('rc-4');
      const { demo, stage } = await target.current(promotionTarget, [
        'demo',
        'stage',
      ]);
      expect(demo?.version).toBe('rc-4');
      expect(Date.parse(demo!.deployedAt)).toBeGreaterThanOrEqual(
        Math.floor(started / 1000) * 1000,
      );
      expect(demo?.deployedBy).toMatch(/Ada Lovelace|user:default\/ada/);
      // Other environments are untouched.
      expect(stage?.version).toBe(DEPLOYMENT_TARGET_FIXTURE.deploys[2].version);
    });

    it('changes nothing when the environment already runs the version (a retried deploy)', async () => {
      await deployed(target, promotionTarget, request);
      const before = await target.current(promotionTarget, ['demo']);
      const again = await deployed(target, promotionTarget, request);
      expect(again.changed).toBe(false);
      expect(await target.current(promotionTarget, ['demo'])).toEqual(before);
    });

    it('names the change it made, as current() reports it', async () => {
      const result = await deployed(target, promotionTarget, request);
      const { demo } = await target.current(promotionTarget, ['demo']);
      expect(result.detail).toBeTruthy();
      // The revision, when the mechanism has one, is the one current() names.
      expect(demo?.revision).toBe(result.revision ?? demo?.revision);
      expect([undefined, request.sha]).toContain(demo?.sha);
    });

    it('changes nothing when asked for what the fixture already deployed', async () => {
      const [, demo] = DEPLOYMENT_TARGET_FIXTURE.deploys;
      const before = await target.current(promotionTarget, ['demo', 'stage']);

      const result = await deployed(target, promotionTarget, {
        ...request,
        sha: demo.sha,
        version: demo.version,
        tag: demo.releaseTag,
      });

      expect(result.changed).toBe(false);
      expect(result.revision).toBeUndefined();
      expect(await target.current(promotionTarget, ['demo', 'stage'])).toEqual(
        before,
      );
    });

    it('deploys a commit without a release tag, and rolls back to an earlier one', async () => {
      const [stageBefore] = DEPLOYMENT_TARGET_FIXTURE.deploys;
      const sha = 'abcdef0123456789abcdef0123456789abcdef01';
      const untagged = {
        ...request,
        environment: 'stage',
        sha,
        version: sha.slice(0, 7),
        tag: undefined,
      };

      await expect(
        deployed(target, promotionTarget, untagged),
      ).resolves.toMatchObject({ changed: true });
      const { stage } = await target.current(promotionTarget, ['stage']);
      // The image tag pinned (the short sha), or the commit a mechanism records in full.
      expect([untagged.version, sha]).toContain(stage?.version);
      expect([undefined, sha]).toContain(stage?.sha);

      await expect(
        deployed(target, promotionTarget, {
          ...untagged,
          sha: stageBefore.sha,
          version: stageBefore.version,
          reason: 'Roll back stage',
        }),
      ).resolves.toMatchObject({ changed: true });
      expect(
        (await target.current(promotionTarget, ['stage'])).stage?.version,
      ).toBe(stageBefore.version);
    });

    it('promotes the commit an environment runs under a new release tag', async () => {
      const [, demo] = DEPLOYMENT_TARGET_FIXTURE.deploys;
      const result = await deployed(target, promotionTarget, {
        ...request,
        sha: demo.sha,
        version: 'rc-5',
        tag: 'rc-5',
      });
      expect(result.changed).toBe(true);
      expect(
        (await target.current(promotionTarget, ['demo'])).demo?.version,
      ).toBe('rc-5');
    });

    it('deploys to an environment nothing was deployed to, or says what is missing', async () => {
      const [undeployed] = DEPLOYMENT_TARGET_FIXTURE.undeployed;
      const deploy = deployed(target, promotionTarget, {
        ...request,
        environment: undeployed,
      });

      const outcome = await deploy.then(
        result => ({ changed: result.changed, error: undefined }),
        (error: Error) => ({
          changed: false,
          error: error.name,
          namesTheEnvironment: error.message.includes(undeployed),
        }),
      );
      const after = (await target.current(promotionTarget, [undeployed]))[
        undeployed
      ];

      expect({ outcome, version: after?.version }).toEqual(
        deploysToNewEnvironments
          ? {
              outcome: { changed: true, error: undefined },
              version: request.version,
            }
          : {
              outcome: {
                changed: false,
                error: 'NotFoundError',
                namesTheEnvironment: true,
              },
              version: undefined,
            },
      );
    });
  });
}
