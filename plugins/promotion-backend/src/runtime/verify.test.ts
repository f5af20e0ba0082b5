import { TestDatabases } from '@backstage/backend-test-utils';
import { NotificationService } from '@backstage/plugin-notifications-node';
import {
  ArgoCdSyncOutcome,
  ArgoCdTestServer,
  startArgoCdTestServer,
  syncFromManifestRepository,
} from '@mainline/test-servers';
import path from 'node:path';
import { parse } from 'yaml';
import { PromotionRecord } from '../database/PromotionStore';
import { startArgoCdNotifications } from '../__testUtils__/argoCdNotifications';
import { adaWriteContext } from '../__testUtils__/handBuiltService';
import {
  argoCdCheckout,
  argoCdVerifiedCheckout,
  checkoutPod,
  OLD_DIGEST,
} from '../__testUtils__/argoCdCheckout';
import { PromotionService } from '../promotion/PromotionService';
import { EntityContext } from '../promotion/types';

jest.setTimeout(180_000);

// Promotions of an entity whose runtime an Argo CD serves end with the verify step: the
// promotion is `succeeded` only once Argo CD (the test server, its answers checked against Argo
// CD's API document in its own suite) is synced to the manifest commit the deploy wrote, healthy,
// and runs the artifact's digest. The Applications move as Argo CD's automated sync would after
// the manifest commit; the test drives the transitions.

const checkout: EntityContext = argoCdCheckout;
const ctx = adaWriteContext;

describe('a promotion verified against what Argo CD runs', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  const servers: ArgoCdTestServer[] = [];
  afterAll(() => Promise.all(servers.map(s => s.close())));

  async function setup(
    options: {
      timeoutMs?: number;
      minPollMs?: number;
      maxPollMs?: number;
      stageHealthySince?: Date;
    } = {},
  ) {
    const argo = await startArgoCdTestServer();
    servers.push(argo);
    const notices: Array<{ title: string; description: string }> = [];
    const notifications = {
      send: async ({ payload }: { payload: any }) => {
        notices.push({
          title: payload.title,
          description: payload.description,
        });
      },
    } as unknown as NotificationService;
    const { local, dataDir, service, stageSha, artifact, manifests } =
      await argoCdVerifiedCheckout({
        prefix: 'mainline-verify-',
        client: await databases.init('SQLITE_3'),
        argo,
        notifications,
        polls: {
          timeoutMs: options.timeoutMs ?? 60_000,
          minPollMs: options.minPollMs ?? 100,
          maxPollMs: options.maxPollMs ?? 400,
        },
        stageHealthySince: options.stageHealthySince,
      });
    const pod = checkoutPod;
    const promote = async () => {
      const record = (await service.promote(
        checkout,
        { environment: 'demo', sha: stageSha },
        ctx,
      )) as PromotionRecord;
      const revision = (await local.gitops.current(checkout.target, ['demo']))
        .demo!.revision!;
      return { record, revision };
    };
    return {
      argo,
      demoBefore: manifests.demo!.version,
      dataDir,
      local,
      service,
      stageSha,
      artifact,
      notices,
      promote,
      pod,
      get: (id: string) =>
        service
          .followWaiting(async () => checkout)
          .then(() => knexRecord(service, id)),
    };
  }

  async function knexRecord(service: PromotionService, id: string) {
    // The API's read of one promotion, as a tab polling it would see it.
    return (service as any).options.store.require(
      checkout.entityRef,
      id,
    ) as Promise<PromotionRecord>;
  }

  /** Follows (as the scheduled task does) until the promotion ends or `ms` pass. */
  async function followUntilEnded(
    env: Awaited<ReturnType<typeof setup>>,
    id: string,
    ms = 30_000,
  ): Promise<PromotionRecord> {
    const deadline = Date.now() + ms;
    for (;;) {
      const record = await env.get(id);
      if (record.status !== 'running' || Date.now() > deadline) return record;
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }

  const verifyStep = (record: PromotionRecord) =>
    record.steps.find(s => s.name === 'verify')!;

  const SECRET = 'verify-test-notification-secret';
  const backends: Array<() => Promise<void>> = [];
  afterAll(() => Promise.all(backends.map(stop => stop())));

  const notifications = async (env: Awaited<ReturnType<typeof setup>>) => {
    const started = await startArgoCdNotifications({
      argo: env.argo,
      secret: SECRET,
      service: env.service,
      entity: checkout,
    });
    backends.push(started.stop);
    return started;
  };

  it('ends on the notification that Argo CD synced, long before its next poll; forged ones are refused', async () => {
    // The first poll a minute after the deploy: only the notification can end it sooner.
    const env = await setup({ minPollMs: 60_000, maxPollMs: 60_000 });
    const { url } = await notifications(env);
    const { record, revision } = await env.promote();
    const pending = verifyStep(record).pending!;
    const nextPoll = Number(pending.split(':')[2]);
    const forge = (secret: string, body: object) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-mainline-argocd-secret': secret,
        },
        body: JSON.stringify(body),
      });
    const claim = { instance: 'main', application: 'checkout-demo' };
    expect((await forge('not-the-secret-at-all', claim)).status).toBe(401);
    expect((await forge(SECRET, { ...claim, application: '' })).status).toBe(
      400,
    );
    const untouched = await knexRecord(env.service, record.id);
    expect(untouched.status).toBe('running');
    expect(verifyStep(untouched).pending).toBe(pending);
    expect(verifyStep(untouched).detail).toBe(verifyStep(record).detail);
    // A genuine notification before Argo CD synced: observed at once, still waiting, and the
    // poll schedule (the fallback) is left as it was.
    expect((await forge(SECRET, claim)).status).toBe(202);
    const early = await knexRecord(env.service, record.id);
    expect(early.status).toBe('running');
    expect(verifyStep(early).detail).toMatch(/not yet at the manifest commit/);
    expect(verifyStep(early).pending).toBe(pending);

    env.argo.startSync('checkout-demo', revision);
    env.argo.finishSync('checkout-demo', {
      phase: 'Succeeded',
      pods: [env.pod('checkout-demo-new', env.artifact.digest)],
    });
    await env.argo.notificationsSettled();
    expect(env.argo.notifications).toEqual([
      { trigger: 'on-deployed', application: 'checkout-demo', status: 202 },
    ]);
    // Nothing here follows the promotion: the notification alone ended it.
    const ended = await knexRecord(env.service, record.id);
    expect(ended.status).toBe('succeeded');
    expect(verifyStep(ended).detail).toMatch(
      /Synced at [0-9a-f]{7} and Healthy/,
    );
    expect(Date.now()).toBeLessThan(nextPoll);
  });

  it('ends by polling when the notification is lost on the way', async () => {
    const env = await setup();
    await notifications(env);
    env.argo.dropNotifications(true);
    const { record, revision } = await env.promote();
    env.argo.startSync('checkout-demo', revision);
    env.argo.finishSync('checkout-demo', {
      phase: 'Succeeded',
      pods: [env.pod('checkout-demo-new', env.artifact.digest)],
    });
    await env.argo.notificationsSettled();
    expect(env.argo.notifications).toEqual([
      {
        trigger: 'on-deployed',
        application: 'checkout-demo',
        status: 'dropped',
      },
    ]);
    expect((await knexRecord(env.service, record.id)).status).toBe('running');
    expect((await followUntilEnded(env, record.id)).status).toBe('succeeded');
  });

  it('succeeds only once Argo CD synced the manifest commit, healthy, with the digest', async () => {
    const env = await setup();
    const { record, revision } = await env.promote();
    // The request returns with the manifest commit written and the verify step waiting.
    expect(record.status).toBe('running');
    expect(record.steps.map(s => [s.name, s.status])).toEqual([
      ['checks', 'succeeded'],
      ['tag', 'succeeded'],
      ['retag', 'succeeded'],
      ['deploy', 'succeeded'],
      ['verify', 'running'],
    ]);
    expect(record.steps[0].detail).toMatch(
      /running-in: .* has run healthy in stage since/,
    );
    // Argo CD has not noticed yet: still waiting.
    let now = await followUntilEnded(env, record.id, 500);
    expect(now.status).toBe('running');
    expect(verifyStep(now).detail).toMatch(/not yet at the manifest commit/);
    env.argo.startSync('checkout-demo', revision);
    now = await followUntilEnded(env, record.id, 500);
    expect(now.status).toBe('running');
    env.argo.finishSync('checkout-demo', {
      phase: 'Succeeded',
      pods: [env.pod('checkout-demo-new', env.artifact.digest)],
    });
    now = await followUntilEnded(env, record.id);
    expect(now.status).toBe('succeeded');
    expect(verifyStep(now)).toMatchObject({
      status: 'succeeded',
      detail: expect.stringMatching(
        new RegExp(
          `demo runs ${record.version} .*Synced at ${revision.slice(
            0,
            7,
          )} and Healthy`,
        ),
      ),
      url: `${env.argo.baseUrl}/applications/argocd/checkout-demo`,
    });
    expect(env.notices.map(n => n.title)).toEqual([
      `Promoted component:default/checkout: demo runs ${record.version}`,
    ]);
  });

  it.each([
    {
      title: 'a failed sync',
      land: (env: Awaited<ReturnType<typeof setup>>) =>
        env.argo.finishSync('checkout-demo', {
          phase: 'Failed',
          message:
            'one or more objects failed to apply: admission webhook denied',
        }),
      error:
        /^verify: VerificationFailedError: sync-failed: .*checkout-demo: the sync of [0-9a-f]{7} failed: one or more objects failed to apply/,
    },
    {
      title: 'pods that never become healthy (Degraded)',
      land: (env: Awaited<ReturnType<typeof setup>>) => {
        env.argo.finishSync('checkout-demo', {
          phase: 'Succeeded',
          pods: [env.pod('checkout-demo-new', env.artifact.digest)],
          health: 'Degraded',
        });
      },
      error:
        /^verify: VerificationFailedError: degraded: .*checkout-demo is Degraded after syncing rc-/,
    },
    {
      title: 'pods that never become healthy (Progressing until the timeout)',
      land: (env: Awaited<ReturnType<typeof setup>>) => {
        env.argo.finishSync('checkout-demo', {
          phase: 'Succeeded',
          pods: [env.pod('checkout-demo-new', env.artifact.digest)],
          health: 'Progressing',
        });
      },
      error:
        /^verify: VerificationFailedError: timeout: demo did not run rc-\d+ within 3 s: .*checkout-demo is Synced and Progressing/,
    },
    {
      title: 'a running digest that is not the artifact’s',
      land: (env: Awaited<ReturnType<typeof setup>>) => {
        env.argo.finishSync('checkout-demo', {
          phase: 'Succeeded',
          pods: [env.pod('checkout-demo-new', OLD_DIGEST)],
        });
      },
      error:
        /^verify: VerificationFailedError: digest-mismatch: .*checkout-demo is Synced and Healthy but runs sha256:000000000000…, not rc-\d+'s sha256:/,
    },
  ])('fails on $title and tells the owners', async ({ land, error }) => {
    const env = await setup({ timeoutMs: 3_000 });
    const { record, revision } = await env.promote();
    env.argo.startSync('checkout-demo', revision);
    land(env);
    const ended = await followUntilEnded(env, record.id);
    expect(ended.status).toBe('failed');
    expect(ended.error).toMatch(error);
    expect(verifyStep(ended).status).toBe('failed');
    expect(env.notices).toEqual([
      {
        title:
          'Promotion of component:default/checkout to demo failed at verify',
        description: expect.stringMatching(/^VerificationFailedError: /),
      },
    ]);
  });

  it('fails with synced-to-other-revision when Argo CD stays on another commit', async () => {
    const env = await setup({ timeoutMs: 2_000 });
    const { record } = await env.promote();
    // Argo CD keeps syncing what it had (e.g. a pinned targetRevision): Synced, not ours.
    const ended = await followUntilEnded(env, record.id);
    expect(ended.status).toBe('failed');
    expect(ended.error).toMatch(
      /^verify: VerificationFailedError: synced-to-other-revision: demo did not run rc-\d+ within 2 s: .*checkout-demo is Synced at [0-9a-f]{7}, not yet at the manifest commit/,
    );
  });

  it('refuses before any side effect when stage has not soaked, and shows it in the dry run', async () => {
    const since = new Date(Date.now() - 5 * 60_000);
    const env = await setup({ stageHealthySince: since });
    const plan = (await env.service.promote(
      checkout,
      { environment: 'demo', sha: env.stageSha, dryRun: true },
      ctx,
    )) as any;
    const check = plan.checks.find((c: any) => c.name === 'running-in');
    expect(check).toMatchObject({
      passed: false,
      data: {
        requiredEnvironment: 'stage',
        requiredSeconds: 1800,
        since: since.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    });
    expect(plan.steps.map((s: any) => s.name)).toEqual([
      'tag',
      'retag',
      'deploy',
      'verify',
    ]);
    await expect(
      env.service.promote(
        checkout,
        { environment: 'demo', sha: env.stageSha },
        ctx,
      ),
    ).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(
        /^policy: demo takes only artifacts running healthy in stage for 30m; it has run there healthy since/,
      ),
    });
  });

  it.each([
    ['healthy', 'succeeded', /^no error$/, /Synced at [0-9a-f]{7} and Healthy/],
    [
      'sync-fails',
      'failed',
      /^verify: VerificationFailedError: sync-failed: /,
      /^sync-failed: argocd main: checkout-demo: the sync of [0-9a-f]{7} failed/,
    ],
    [
      'degraded',
      'failed',
      /^verify: VerificationFailedError: degraded: /,
      /^degraded: argocd main: checkout-demo is Degraded/,
    ],
  ] as const)(
    'with Argo CD following the manifest repository (%s): %s',
    async (outcome, status, error, detail) => {
      const env = await setup();
      // The test server syncs each change of demo's overlay, as the automated sync would; the
      // pods run the digest of the image the overlay pins, from the artifact store.
      const sync = syncFromManifestRepository(env.argo, {
        gitDir: path.join(
          env.dataDir,
          'git',
          'mainline-demo',
          'deployments.git',
        ),
        apps: [
          {
            name: 'checkout-demo',
            path: 'apps/checkout/overlays/demo/kustomization.yaml',
            outcome: outcome as ArgoCdSyncOutcome,
            pods: async content => {
              const tag = String(parse(content).images[0].newTag);
              const artifacts = await env.local.artifacts.listArtifacts({
                kind: 'image',
                location: 'local/checkout',
              });
              const digest = artifacts.find(a => a.tags.includes(tag))!.digest;
              return [env.pod(`checkout-demo-${tag}`, digest)];
            },
          },
        ],
      });
      try {
        // Argo CD's first read of the repository, before the promotion's commit.
        await new Promise(resolve => setTimeout(resolve, 500));
        const { record } = await env.promote();
        const ended = await followUntilEnded(env, record.id);
        expect(ended.status).toBe(status);
        expect(ended.error ?? 'no error').toMatch(error);
        expect(verifyStep(ended).detail).toMatch(detail);
      } finally {
        await sync.stop();
      }
    },
  );

  it('verifies a rollback the same way: it ends when Argo CD runs the earlier version', async () => {
    const env = await setup();
    const sync = syncFromManifestRepository(env.argo, {
      gitDir: path.join(env.dataDir, 'git', 'mainline-demo', 'deployments.git'),
      apps: [
        {
          name: 'checkout-demo',
          path: 'apps/checkout/overlays/demo/kustomization.yaml',
          pods: async content => {
            const tag = String(parse(content).images[0].newTag);
            const artifacts = await env.local.artifacts.listArtifacts({
              kind: 'image',
              location: 'local/checkout',
            });
            const digest = artifacts.find(a => a.tags.includes(tag))!.digest;
            return [env.pod(`checkout-demo-${tag}`, digest)];
          },
        },
      ],
    });
    try {
      await new Promise(resolve => setTimeout(resolve, 500));
      const { record } = await env.promote();
      expect((await followUntilEnded(env, record.id)).status).toBe('succeeded');
      const rollback = await env.service.rollback(
        checkout,
        { environment: 'demo', tag: env.demoBefore },
        ctx,
      );
      expect(rollback.steps.map(s => [s.name, s.status])).toEqual([
        ['checks', 'succeeded'],
        ['deploy', 'succeeded'],
        ['verify', 'running'],
      ]);
      const ended = await followUntilEnded(env, rollback.id);
      expect(ended.status).toBe('succeeded');
      expect(verifyStep(ended).detail).toMatch(
        new RegExp(`^demo runs ${env.demoBefore} .*Healthy`),
      );
    } finally {
      await sync.stop();
    }
  });

  it('measures the time from Argo CD reporting healthy to the promotion showing succeeded', async () => {
    // The defaults: the first poll after 2 s, doubling to 30 s; the follower's verify task runs
    // every 2 s (minPoll), as plugin.ts schedules it.
    const rows: string[] = [];
    for (const syncSeconds of [3, 7]) {
      const env = await setup({ minPollMs: 2_000, maxPollMs: 30_000 });
      const { record, revision } = await env.promote();
      const started = Date.now();
      env.argo.startSync('checkout-demo', revision);
      let healthyAt = 0;
      const timer = setTimeout(() => {
        env.argo.finishSync('checkout-demo', {
          phase: 'Succeeded',
          pods: [env.pod('checkout-demo-new', env.artifact.digest)],
        });
        healthyAt = Date.now();
      }, syncSeconds * 1000);
      let ended: PromotionRecord;
      for (;;) {
        ended = await knexRecord(env.service, record.id);
        if (ended.status !== 'running') break;
        await env.service.followWaiting(async () => checkout, {
          verifyOnly: true,
        });
        await new Promise(resolve => setTimeout(resolve, 2_000));
      }
      clearTimeout(timer);
      const succeededAt = Date.now();
      expect(ended.status).toBe('succeeded');
      rows.push(
        `healthy ${syncSeconds} s after the manifest commit: succeeded ${(
          (succeededAt - healthyAt) /
          1000
        ).toFixed(1)} s after Argo CD reported healthy (${(
          (succeededAt - started) /
          1000
        ).toFixed(1)} s after the commit)`,
      );
    }
    // eslint-disable-next-line no-console
    console.log(
      `verify latency (polls 2 s doubling to 30 s, the verify task every 2 s)\n${rows.join(
        '\n',
      )}`,
    );
  });
});
