import fs from 'node:fs';
import path from 'node:path';
import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  NotificationSendOptions,
  notificationService,
} from '@backstage/plugin-notifications-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  SignalPayload,
  signalsServiceRef,
} from '@backstage/plugin-signals-node';
import { Knex } from 'knex';
import request from 'supertest';
import { BareRepoBuilder } from '@mainline/plugin-promotion-node';
import { Lineage } from '../lineage/types';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { LocalGitSourceControl } from '@mainline/plugin-promotion-backend-module-local';
import { demoEntities } from '../testUtils';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import {
  outcomes,
  recordingAuditorFactory,
} from '../__testUtils__/recordingAuditor';
import type { AuditorEvent } from '@backstage/backend-defaults/auditor';

jest.setTimeout(120_000);

const entities = demoEntities();

const api = '/api/promotion/v1/entities/component/default';

async function startBackend(options: {
  knex: Knex;
  dataDir: string;
  permission?: AuthorizeResult.ALLOW | AuthorizeResult.DENY;
  sent?: NotificationSendOptions[];
  audited?: AuditorEvent[];
  signalled?: (signal: SignalPayload) => Promise<void>;
}) {
  const { server } = await startTestBackend({
    features: [
      ...promotionWithAdapters,
      recordingAuditorFactory(event => options.audited?.push(event)),
      catalogServiceMock.factory({ entities }),
      mockServices.database.factory({ knex: options.knex }),
      mockServices.permissions.factory({
        result: options.permission ?? AuthorizeResult.ALLOW,
      }),
      memoryCacheFactory(),
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({
          send: async (notification: NotificationSendOptions) => {
            options.sent?.push(notification);
          },
        }),
      }),
      createServiceFactory({
        service: signalsServiceRef,
        deps: {},
        factory: () => ({
          publish: async (signal: SignalPayload) => {
            await options.signalled?.(signal);
          },
        }),
      }),
      mockServices.rootConfig.factory({
        data: {
          promotion: { local: { dataDir: options.dataDir, demoData: true } },
        },
      }),
    ],
  });
  return server;
}

describe.each(
  TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] }).eachSupportedId(),
)('promotions on the embedded default (%s)', databaseId => {
  const databases = TestDatabases.create({ ids: [databaseId] });
  let dataDir: string;
  let knex: Knex;
  let server: Awaited<ReturnType<typeof startBackend>>;
  const sent: NotificationSendOptions[] = [];
  const audited: AuditorEvent[] = [];
  // Each signal with what a tab reading the promotion on it would see at that moment.
  const signals: Array<{
    channel: string;
    message: any;
    steps?: Array<[string, string]>;
  }> = [];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-promotions-'));
    knex = await databases.init(databaseId);
    server = await startBackend({
      knex,
      dataDir,
      sent,
      audited,
      signalled: async ({ channel, message }) => {
        const m = message as any;
        const steps = m.promotionId
          ? (
              await request(server).get(
                `/api/promotion/v1/entities/${m.entityRef.replace(
                  ':',
                  '/',
                )}/promotions/${m.promotionId}`,
              )
            ).body.steps.map((st: any) => [st.name, st.status])
          : undefined;
        signals.push({ channel, message, steps });
      },
    });
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function lineage(name: string): Promise<Lineage> {
    const res = await request(server).get(`${api}/${name}/lineage?limit=100`);
    expect(res.status).toBe(200);
    return res.body;
  }
  const env = (l: Lineage, name: string) =>
    l.environments.find(e => e.name === name)!;
  const gitTags = async (repo: string) =>
    (
      await new LocalGitSourceControl(path.join(dataDir, 'git')).listTags(
        `mainline-demo/${repo}`,
      )
    )
      .map(t => t.name)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  it('plans a promotion in a dry run and changes nothing', async () => {
    const before = await lineage('checkout');
    const stageSha = env(before, 'stage').current!.sha!;
    const res = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stageSha, dryRun: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      environment: 'demo',
      sha: stageSha,
      tag: 'rc-7',
    });
    expect(res.body.checks.every((c: { passed: boolean }) => c.passed)).toBe(
      true,
    );
    expect(res.body.steps.map((s: { name: string }) => s.name)).toEqual([
      'tag',
      'retag',
      'deploy',
    ]);
    expect(await gitTags('checkout')).not.toContain('rc-7');
    expect(env(await lineage('checkout'), 'demo')).toEqual(env(before, 'demo'));

    // A tag already on the same commit (a retried attempt, a sibling component) is kept, not
    // refused: tags are never moved, and this one would not move.
    const demo = env(before, 'demo').current!;
    const again = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({
        environment: 'demo',
        sha: demo.sha,
        tag: demo.tag,
        dryRun: true,
      });
    expect(again.status).toBe(200);
    expect(
      again.body.checks.find((c: { name: string }) => c.name === 'tag'),
    ).toEqual({
      name: 'tag',
      passed: true,
      reason: `${demo.tag} already marks ${demo.sha!.slice(0, 7)}`,
    });
  });

  it('promotes the stage commit to demo and then to prod, step by step', async () => {
    const before = await lineage('checkout');
    const stage = env(before, 'stage').current!;
    const signalledBefore = signals.length;
    const promoted = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect(promoted.status).toBe(201);
    expect(promoted.body).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      tag: 'rc-7',
    });
    expect(promoted.body.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['checks', 'succeeded'],
      ['tag', 'succeeded'],
      ['retag', 'succeeded'],
      ['deploy', 'succeeded'],
    ]);
    // One signal on the entity's channel per step as it is recorded, then one at the end; a tab
    // reading the promotion on a step's signal already sees that step done.
    const told = signals
      .slice(signalledBefore)
      .filter(s => s.channel === 'promotion:component:default/checkout');
    expect(told.map(s => s.message.step ?? 'end')).toEqual([
      'tag',
      'retag',
      'deploy',
      'end',
    ]);
    expect(told[0].steps).toEqual([
      ['checks', 'succeeded'],
      ['tag', 'succeeded'],
      ['retag', 'pending'],
      ['deploy', 'pending'],
    ]);
    expect(told[1].message).toMatchObject({
      entityRef: 'component:default/checkout',
      environment: 'demo',
      step: 'retag',
      status: 'succeeded',
    });

    const afterDemo = await lineage('checkout');
    expect(env(afterDemo, 'demo').current).toMatchObject({
      sha: stage.sha,
      tag: 'rc-7',
    });
    const commit = afterDemo.commits.find(c => c.sha === stage.sha)!;
    expect(commit.tags).toContain('rc-7');
    expect(commit.environments).toEqual(['stage', 'demo']);
    // the same artifact, never a rebuild
    expect(commit.artifacts[0].digest).toBe(stage.artifact!.digest);
    expect(commit.artifacts[0].tags).toEqual(
      expect.arrayContaining(['rc-7', commit.shortSha]),
    );

    const prod = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'prod', sha: stage.sha });
    expect(prod.status).toBe(201);
    expect(prod.body).toMatchObject({ status: 'succeeded', tag: 'v1.1.2' });
    expect(env(await lineage('checkout'), 'prod').current).toMatchObject({
      sha: stage.sha,
      tag: 'v1.1.2',
    });

    const history = await request(server).get(`${api}/checkout/promotions`);
    expect(history.body.items.map((p: any) => p.environment)).toEqual([
      'prod',
      'demo',
    ]);
    const one = await request(server).get(
      `${api}/checkout/promotions/${prod.body.id}`,
    );
    expect(one.body.steps).toHaveLength(4);
    expect(sent.some(n => n.payload.title.includes('prod runs v1.1.2'))).toBe(
      true,
    );
    expect(sent[sent.length - 1].recipients).toEqual({
      type: 'entity',
      entityRef: ['group:default/payments'],
    });
  });

  it('rolls prod back to the previous version', async () => {
    const res = await request(server)
      .post(`${api}/checkout/rollbacks`)
      .send({ environment: 'prod', tag: 'v1.1.1' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      kind: 'rollback',
      status: 'succeeded',
      version: 'v1.1.1',
    });
    expect(env(await lineage('checkout'), 'prod').current?.tag).toBe('v1.1.1');
  });

  it('refuses a yanked commit, saying who yanked it, when and why, and changes nothing', async () => {
    const checkout = await lineage('checkout');
    const yanked = checkout.commits.find(c => c.yanked)!;
    const tagsBefore = await gitTags('checkout');
    const res = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: yanked.sha });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain('yanked by user:default/ada');
    expect(res.body.error.message).toContain(yanked.yanked!.reason);
    expect(await gitTags('checkout')).toEqual(tagsBefore);
  });

  it('refuses an artifact-less commit, naming the nearest one with an artifact, and notifies the owners', async () => {
    const checkout = await lineage('checkout');
    const index = checkout.commits.findIndex(
      c => c.artifacts.length === 0 && !c.yanked,
    );
    const docsOnly = checkout.commits[index];
    const nearest =
      checkout.commits.slice(index + 1).findIndex(c => c.artifacts.length > 0) +
      1;
    const before = sent.length;
    const res = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: docsOnly.shortSha });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain(
      `${docsOnly.shortSha} has no artifact`,
    );
    expect(res.body.error.message).toContain(
      `${checkout.commits[index + nearest].shortSha}, ${nearest} commit`,
    );
    // The failed checks go with the error, with what a client acts on as data.
    expect(res.body.checks).toEqual([
      {
        name: 'artifact',
        passed: false,
        reason: res.body.error.message,
        data: {
          nearestBuiltSha: checkout.commits[index + nearest].sha,
          suggestedSha: checkout.commits[index + nearest].sha,
        },
      },
    ]);
    expect(sent.length).toBe(before + 1);
    expect(sent[before].payload.title).toContain('no artifact');
  });

  it('enforces the tag rules and the prod policy before touching anything', async () => {
    const checkout = await lineage('checkout');
    const built = checkout.commits.filter(
      c => c.artifacts.length > 0 && c.environments.length === 0,
    );
    const cases: Array<[object, number, RegExp]> = [
      [
        { environment: 'demo', sha: built[0].sha, tag: 'v9.0.0' },
        400,
        /does not match demo's pattern rc-\*/,
      ],
      [{ environment: 'demo', sha: built[0].sha, tag: 'rc 9' }, 400, /spaces/],
      [
        { environment: 'demo', sha: built[0].sha, tag: 'rc-1' },
        409,
        /tag rc-1 already exists/,
      ],
      [
        { environment: 'prod', sha: built[0].sha, tag: 'v1.0.5' },
        409,
        /not greater than the highest existing version v1.1.2/,
      ],
      [
        { environment: 'prod', sha: built[0].sha },
        409,
        /policy: prod takes only commits that have been in demo/,
      ],
      [
        { environment: 'stage', sha: built[0].sha },
        400,
        /deployed by every merge to main/,
      ],
      [
        { environment: 'qa', sha: built[0].sha },
        400,
        /environment "qa" is not one of stage, demo, prod/,
      ],
      [{ environment: 'demo', sha: 'abc' }, 400, /sha/],
      [
        { environment: 'demo', sha: 'f'.repeat(40) },
        404,
        /is not a commit of mainline-demo\/checkout/,
      ],
      [
        { environment: 'demo', sha: built[0].sha, extra: 1 },
        400,
        /additional properties|extra/i,
      ],
    ];
    const tagsBefore = await gitTags('checkout');
    for (const [body, status, message] of cases) {
      const res = await request(server)
        .post(`${api}/checkout/promotions`)
        .send(body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(res.body.error.message).toMatch(message);
    }
    expect(await gitTags('checkout')).toEqual(tagsBefore);
  });

  it('refuses a commit that is not on main, saying where it is', async () => {
    const repo = await BareRepoBuilder.open(
      path.join(dataDir, 'git', 'mainline-demo', 'invoices.git'),
    );
    const main = (await repo.head('main'))!;
    await repo.branch('feat/experiment', main);
    const sha = await repo.commit({
      branch: 'feat/experiment',
      files: { 'src/experiment.ts': 'export {};\n' },
      message: 'Try something',
      author: { name: 'Test', email: 'test@example.com', date: new Date() },
    });
    const res = await request(server)
      .post(`${api}/invoices/promotions`)
      .send({ environment: 'demo', sha });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(
      /is not on main: it is on feat\/experiment/,
    );
  });

  it('lets exactly one of 20 concurrent promotions of one environment through', async () => {
    const invoices = await lineage('invoices');
    const stageSha = env(invoices, 'stage').current!.sha!;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(server)
          .post(`${api}/invoices/promotions`)
          .send({ environment: 'demo', sha: stageSha }),
      ),
    );
    const statuses = responses.map(r => r.status).sort();
    expect(statuses.filter(s => s === 201)).toHaveLength(1);
    expect(statuses.filter(s => s === 409)).toHaveLength(19);
    const tags = (await gitTags('invoices')).filter(t => t.startsWith('rc-'));
    expect(tags).toEqual(['rc-1', 'rc-2', 'rc-3', 'rc-4', 'rc-5', 'rc-6']);
  });

  it('replays a request with the same Idempotency-Key instead of repeating it', async () => {
    const invoices = await lineage('invoices');
    const demoSha = env(invoices, 'demo').current!.sha!;
    const send = (key: string, body: object) =>
      request(server)
        .post(`${api}/invoices/promotions`)
        .set('Idempotency-Key', key)
        .send(body);
    const first = await send('release-2026-11-23', {
      environment: 'prod',
      sha: demoSha,
    });
    const second = await send('release-2026-11-23', {
      environment: 'prod',
      sha: demoSha,
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    const history = await request(server).get(`${api}/invoices/promotions`);
    expect(
      history.body.items.filter((p: any) => p.environment === 'prod'),
    ).toHaveLength(1);
    const reused = await send('release-2026-11-23', {
      environment: 'demo',
      sha: demoSha,
    });
    expect(reused.status).toBe(409);
    expect(reused.body.error.message).toContain('different request');
  });

  it('yanks: refused for what an environment runs unless forced, then a tombstone', async () => {
    const invoices = await lineage('invoices');
    const stageSha = env(invoices, 'stage').current!.sha!;
    const refused = await request(server)
      .post(`${api}/invoices/yanks`)
      .send({ sha: stageSha, reason: 'Breaks PDF rendering in stage' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(
      /runs in stage, demo, prod; roll them back first/,
    );

    const forced = await request(server).post(`${api}/invoices/yanks`).send({
      sha: stageSha,
      reason: 'Breaks PDF rendering in stage',
      force: true,
    });
    expect(forced.status).toBe(201);
    expect(forced.body.affectedEnvironments).toEqual(['stage', 'demo', 'prod']);
    expect(forced.body.deleted.uri).toBe(`local://invoices/${stageSha}/`);

    const again = await request(server)
      .post(`${api}/invoices/yanks`)
      .send({ sha: stageSha, reason: 'again' });
    expect(again.status).toBe(200);
    expect(again.body.yank.reason).toBe('Breaks PDF rendering in stage');

    const after = await lineage('invoices');
    const commit = after.commits.find(c => c.sha === stageSha)!;
    expect(commit.artifacts).toEqual([]);
    expect(commit.yanked).toMatchObject({
      by: 'user:default/mock',
      reason: 'Breaks PDF rendering in stage',
    });
    const list = await request(server).get(`${api}/invoices/yanks`);
    expect(list.body.items.map((y: any) => y.sha)).toContain(stageSha);

    // The auditor names the user who asked, not the plugin.
    const audit = audited.filter(
      e => e.meta?.entityRef === 'component:default/invoices',
    );
    expect(outcomes(audit)).toEqual(
      expect.arrayContaining([
        'yank:failed',
        'yank:succeeded',
        'promote:succeeded',
      ]),
    );
    expect(audit.every(e => e.actor.actorId === 'user:default/mock')).toBe(
      true,
    );
  });

  it('answers 403 before any work when the permission is denied', async () => {
    // A copy of the demo: generated on start it would only be ready in the background.
    const { dataDir: denyDir } = await demoDataDir('mainline-deny-');
    const denied = await startBackend({
      knex: await databases.init(databaseId),
      dataDir: denyDir,
      permission: AuthorizeResult.DENY,
    });
    const checkout = await request(denied).get(`${api}/checkout/lineage`);
    const stageSha = checkout.body.environments[0].current.sha;
    const res = await request(denied)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stageSha });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('promotion.promote');
    const yank = await request(denied)
      .post(`${api}/checkout/yanks`)
      .send({ sha: stageSha, reason: 'nope' });
    expect(yank.status).toBe(403);
    expect(yank.body.error.message).toContain('promotion.yank');
    fs.rmSync(denyDir, { recursive: true, force: true });
  });
});
