import fs from 'node:fs';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  Entity,
  RELATION_CHILD_OF,
  RELATION_MEMBER_OF,
} from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  NotificationSendOptions,
  notificationService,
} from '@backstage/plugin-notifications-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { AuditorEvent } from '@backstage/backend-defaults/auditor';
import { Knex } from 'knex';
import request from 'supertest';
import { promotionWithAdapters } from '../../__testUtils__/adapterModules';
import { memoryCacheFactory } from '../../__testUtils__/demoBackend';
import { demoDataDir } from '../../__testUtils__/demoData';
import { recordingAuditorFactory } from '../../__testUtils__/recordingAuditor';
import { gitIn } from '../../__testUtils__/upstreamState';
import { demoEntities } from '../../testUtils';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default/checkout';

/** The demo's people (generateDemoData), the requester, and two that show the edges. */
const PEOPLE: Array<{ name: string; email: string; group: string }> = [
  { name: 'ada', email: 'ada@example.com', group: 'payments' },
  { name: 'grace', email: 'grace@example.com', group: 'payments' },
  { name: 'linus', email: 'linus@example.com', group: 'payments-oncall' },
  { name: 'margaret', email: 'margaret@example.com', group: 'payments-oncall' },
  { name: 'rita', email: 'rita@example.com', group: 'payments' },
  // A member of a group two levels below the owner group.
  { name: 'olga', email: 'olga@example.com', group: 'payments-nights' },
  { name: 'nora', email: 'nora@example.com', group: 'marketing' },
  // A member without the promotion.approve permission.
  { name: 'percy', email: 'percy@example.com', group: 'payments' },
];
const NO_PERMISSION = 'user:default/percy';

const group = (name: string, parent?: string): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Group',
  metadata: { name, namespace: 'default' },
  spec: { type: 'team', children: [] },
  relations: parent
    ? [{ type: RELATION_CHILD_OF, targetRef: `group:default/${parent}` }]
    : [],
});

/** The org as the catalog stores it once processed: users with memberOf, groups with childOf. */
const org: Entity[] = [
  group('payments'),
  group('payments-oncall', 'payments'),
  group('payments-nights', 'payments-oncall'),
  group('marketing'),
  ...PEOPLE.map(p => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: p.name, namespace: 'default' },
    spec: { profile: { email: p.email }, memberOf: [p.group] },
    relations: [
      { type: RELATION_MEMBER_OF, targetRef: `group:default/${p.group}` },
    ],
  })),
];

const as = (name: string) =>
  mockCredentials.user.header(`user:default/${name}`);

async function startBackend(options: {
  knex: Knex;
  dataDir: string;
  sent: NotificationSendOptions[];
  audited: AuditorEvent[];
  /** Runs every scheduled task once as the backend starts, as a restarted replica does soon after. */
  runTasksOnStartup?: boolean;
}) {
  return startTestBackend({
    features: [
      ...promotionWithAdapters,
      recordingAuditorFactory(event => options.audited.push(event)),
      catalogServiceMock.factory({ entities: [...demoEntities(), ...org] }),
      mockServices.database.factory({ knex: options.knex }),
      mockServices.scheduler.factory({
        includeInitialDelayedTasksOnStartup: options.runTasksOnStartup,
      }),
      // Everyone may do everything but Percy, who may not approve.
      createServiceFactory({
        service: coreServices.permissions,
        deps: {},
        factory: () =>
          ({
            authorize: async (
              requests: Array<{ permission: { name: string } }>,
              opts?: { credentials: BackstageCredentials },
            ) =>
              requests.map(r => ({
                result:
                  r.permission.name === 'promotion.approve' &&
                  (opts?.credentials.principal as { userEntityRef?: string })
                    ?.userEntityRef === NO_PERMISSION
                    ? AuthorizeResult.DENY
                    : AuthorizeResult.ALLOW,
              })),
            authorizeConditional: async (requests: unknown[]) =>
              requests.map(() => ({ result: AuthorizeResult.ALLOW })),
          } as any),
      }),
      memoryCacheFactory(),
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({
          send: async (notification: NotificationSendOptions) => {
            options.sent.push(notification);
          },
        }),
      }),
      mockServices.rootConfig.factory({
        data: {
          promotion: {
            local: { dataDir: options.dataDir, demoData: true },
            environments: [
              { name: 'stage', branch: 'main' },
              {
                name: 'demo',
                tagPattern: 'rc-*',
                policy: { approvals: { count: 2 } },
              },
              {
                name: 'prod',
                tagPattern: 'v*',
                production: true,
                policy: { requireBeenIn: 'demo' },
              },
            ],
          },
        },
      }),
    ],
  });
}

describe.each(
  TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] }).eachSupportedId(),
)('approvals on the embedded default (%s)', databaseId => {
  const databases = TestDatabases.create({ ids: [databaseId] });
  let dataDir: string;
  let knex: Knex;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const sent: NotificationSendOptions[] = [];
  const audited: AuditorEvent[] = [];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-approvals-'));
    knex = await databases.init(databaseId);
    backend = await startBackend({ knex, dataDir, sent, audited });
  });

  afterAll(async () => {
    await backend?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const server = () => backend.server;
  const stageCommit = async (component = api) => {
    const lineage = await request(server())
      .get(`${component}/lineage?limit=100`)
      .set('Authorization', as('rita'));
    expect(lineage.status).toBe(200);
    const stage = lineage.body.environments.find(
      (e: any) => e.name === 'stage',
    ).current;
    const commit = lineage.body.commits.find((c: any) => c.sha === stage.sha);
    return { lineage: lineage.body, sha: stage.sha as string, commit };
  };
  const authorOf = (commit: any) =>
    PEOPLE.find(p => p.email === commit.author.email)!;
  const demoTags = () =>
    gitIn(dataDir, 'mainline-demo/checkout', 'tag', '--list', 'rc-*')
      .split('\n')
      .filter(Boolean);

  it('shows the approvals in the dry run, waits for them, refuses who may not approve, and proceeds after a restart', async () => {
    const { sha, commit, lineage } = await stageCommit();
    const author = authorOf(commit);
    expect(author).toBeDefined();
    const eligible = PEOPLE.filter(
      p =>
        p.name !== 'rita' && p.name !== author.name && p.group !== 'marketing',
    )
      .map(p => `user:default/${p.name}`)
      .sort();
    // Olga is in a group nested two levels below the owner group.
    expect(eligible).toContain('user:default/olga');

    // The dry run shows the check with its data; nothing is recorded.
    const plan = await request(server())
      .post(`${api}/promotions`)
      .set('Authorization', as('rita'))
      .send({ environment: 'demo', sha, dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.body.checks.find((c: any) => c.name === 'approvals')).toEqual({
      name: 'approvals',
      passed: true,
      reason: `awaits 2 approvals (the demo policy) from ${eligible.join(
        ', ',
      )}`,
      data: {
        awaitsApproval: true,
        requiredApprovals: 2,
        eligibleApprovers: eligible,
      },
    });

    // A first request is rejected by an approver: it ends failed, nothing changed upstream.
    const tagsBefore = demoTags();
    const first = await request(server())
      .post(`${api}/promotions`)
      .set('Authorization', as('rita'))
      .send({ environment: 'demo', sha });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('awaiting-approval');
    const rejected = await request(server())
      .post(`${api}/promotions/${first.body.id}/rejections`)
      .set('Authorization', as('olga'))
      .send({ comment: 'not during the sale' });
    expect(rejected.status).toBe(200);
    expect(rejected.body.promotion).toMatchObject({
      status: 'failed',
      error: 'rejected by user:default/olga: not during the sale',
    });
    const other = eligible.find(e => e !== 'user:default/olga')!;
    const late = await request(server())
      .post(`${api}/promotions/${first.body.id}/approvals`)
      .set('Authorization', mockCredentials.user.header(other));
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain('no longer awaits approvals');
    const retried = await request(server())
      .post(`${api}/promotions/${first.body.id}/retry`)
      .set('Authorization', as('rita'));
    expect(retried.status).toBe(409);
    expect(demoTags()).toEqual(tagsBefore);

    // The second request waits; the approvers are told.
    const sentBefore = sent.length;
    const promoted = await request(server())
      .post(`${api}/promotions`)
      .set('Authorization', as('rita'))
      .send({ environment: 'demo', sha });
    expect(promoted.status).toBe(201);
    expect(promoted.body).toMatchObject({
      status: 'awaiting-approval',
      environment: 'demo',
      requestedBy: 'user:default/rita',
    });
    expect(promoted.body.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['checks', 'succeeded'],
      ['approval', 'pending'],
      ['tag', 'pending'],
      ['retag', 'pending'],
      ['deploy', 'pending'],
    ]);
    const id = promoted.body.id;
    const asked = sent.slice(sentBefore);
    expect(asked).toHaveLength(1);
    expect(asked[0].recipients).toEqual({
      type: 'entity',
      entityRef: eligible,
    });
    expect(asked[0].payload.title).toContain('asks for your approval');
    expect(demoTags()).toEqual(tagsBefore);

    // Whoever may not approve is told why, with the check's data.
    const refusal = async (name: string) => {
      const res = await request(server())
        .post(`${api}/promotions/${id}/approvals`)
        .set('Authorization', as(name));
      return [res.status, res.body.checks?.[0]?.data?.approvalRefusal];
    };
    expect(await refusal('rita')).toEqual([403, 'self-approval']);
    expect(await refusal(author.name)).toEqual([403, 'commit-author']);
    expect(await refusal('nora')).toEqual([403, 'not-a-member']);
    const percy = await request(server())
      .post(`${api}/promotions/${id}/approvals`)
      .set('Authorization', as('percy'));
    expect(percy.status).toBe(403);
    expect(percy.body.error.message).toContain('promotion.approve');

    // An approval from the nested group counts, can be withdrawn, and given again (twice: safe).
    const approver = await request(server())
      .post(`${api}/promotions/${id}/approvals`)
      .set('Authorization', as('olga'))
      .send({ comment: 'looks good' });
    expect(approver.status).toBe(200);
    expect(approver.body).toMatchObject({
      required: 2,
      approvedBy: ['user:default/olga'],
      promotion: { status: 'awaiting-approval' },
      you: { canDecide: true, decision: 'approved' },
    });
    const withdrawn = await request(server())
      .delete(`${api}/promotions/${id}/approvals`)
      .set('Authorization', as('olga'));
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.approvedBy).toEqual([]);
    const nothing = await request(server())
      .delete(`${api}/promotions/${id}/approvals`)
      .set('Authorization', as('olga'));
    expect(nothing.status).toBe(409);
    for (let i = 0; i < 2; i++) {
      const again = await request(server())
        .post(`${api}/promotions/${id}/approvals`)
        .set('Authorization', as('olga'));
      expect(again.status).toBe(200);
      expect(again.body.approvedBy).toEqual(['user:default/olga']);
    }
    const rejectAfterApproving = await request(server())
      .post(`${api}/promotions/${id}/rejections`)
      .set('Authorization', as('olga'));
    expect(rejectAfterApproving.status).toBe(409);

    // A restart keeps it waiting with its approval.
    await backend.stop();
    backend = await startBackend({ knex, dataDir, sent, audited });
    const afterRestart = await request(server())
      .get(`${api}/promotions/${id}/approvals`)
      .set('Authorization', mockCredentials.user.header(other));
    expect(afterRestart.status).toBe(200);
    expect(afterRestart.body).toMatchObject({
      promotion: { status: 'awaiting-approval' },
      approvedBy: ['user:default/olga'],
      eligibleApprovers: eligible,
    });
    expect(afterRestart.body.you).toEqual({
      canDecide: true,
      decision: null,
      reason: expect.stringContaining('neither the requester nor an author'),
    });
    expect(demoTags()).toEqual(tagsBefore);

    // The second approval completes the count: the promotion runs its steps.
    const second = other;
    const done = await request(server())
      .post(`${api}/promotions/${id}/approvals`)
      .set('Authorization', mockCredentials.user.header(second));
    expect(done.status).toBe(200);
    expect(done.body.promotion.status).toBe('succeeded');
    expect(
      done.body.promotion.steps.map((s: any) => [s.name, s.status]),
    ).toEqual([
      ['checks', 'succeeded'],
      ['approval', 'succeeded'],
      ['tag', 'succeeded'],
      ['retag', 'succeeded'],
      ['deploy', 'succeeded'],
    ]);
    expect(
      done.body.promotion.steps.find((s: any) => s.name === 'approval').detail,
    ).toBe(`approved by ${[second, 'user:default/olga'].sort().join(', ')}`);
    const tag = done.body.promotion.tag;
    expect(demoTags()).toContain(tag);
    const after = await request(server())
      .get(`${api}/lineage?limit=100`)
      .set('Authorization', as('rita'));
    expect(
      after.body.environments.find((e: any) => e.name === 'demo').current,
    ).toMatchObject({ sha, tag });
    expect(
      lineage.environments.find((e: any) => e.name === 'demo').current.sha,
    ).not.toBe(sha);

    // Once it proceeded: nothing left to withdraw, and a third approver is too late.
    const tooLate = await request(server())
      .delete(`${api}/promotions/${id}/approvals`)
      .set('Authorization', as('olga'));
    expect(tooLate.status).toBe(409);

    // Every decision is audited with the real actor.
    const decisions = audited.filter(
      e =>
        e.eventId.startsWith('promotion-') &&
        e.status !== 'initiated' &&
        (e.meta as any)?.promotionId === id,
    );
    expect(
      decisions.map(e => [e.eventId, e.status, (e.actor as any)?.actorId]),
    ).toEqual(
      expect.arrayContaining([
        ['promotion-approve', 'failed', 'user:default/rita'],
        ['promotion-approve', 'failed', `user:default/${author.name}`],
        ['promotion-approve', 'failed', 'user:default/nora'],
        ['promotion-approve', 'failed', 'user:default/percy'],
        ['promotion-approve', 'succeeded', 'user:default/olga'],
        ['promotion-approval-withdraw', 'succeeded', 'user:default/olga'],
        ['promotion-approve', 'succeeded', second],
      ]),
    );
  });
  it('carries on a promotion whose approvals were recorded when the process stopped before it proceeded', async () => {
    const cart = '/api/promotion/v1/entities/component/default/cart';
    const { sha, commit } = await stageCommit(cart);
    const author = authorOf(commit);
    const promoted = await request(server())
      .post(`${cart}/promotions`)
      .set('Authorization', as('rita'))
      .send({ environment: 'demo', sha });
    expect(promoted.status).toBe(201);
    expect(promoted.body.status).toBe('awaiting-approval');
    const id = promoted.body.id;
    const approvers = PEOPLE.filter(
      p => !['rita', author.name, 'nora', 'percy'].includes(p.name),
    )
      .slice(0, 2)
      .map(p => `user:default/${p.name}`);
    // The backend stops; the decisions it recorded last are there, the promotion never moved on.
    await backend.stop();
    await knex('promotion_approvals').insert(
      approvers.map(approver => ({
        promotion_id: id,
        approver,
        decision: 'approved',
        comment: null,
        decided_at: new Date(),
      })),
    );
    const waiting = await knex('promotion_promotions').where({ id }).first();
    expect(waiting.status).toBe('awaiting-approval');

    // After the restart the recovery task finds it complete and runs it.
    backend = await startBackend({
      knex,
      dataDir,
      sent,
      audited,
      runTasksOnStartup: true,
    });
    let status = 'awaiting-approval';
    let body: any;
    for (let i = 0; i < 120 && status !== 'succeeded'; i++) {
      await new Promise(resolve => setTimeout(resolve, 500));
      body = (
        await request(server())
          .get(`${cart}/promotions/${id}`)
          .set('Authorization', as('rita'))
      ).body;
      status = body.status;
      if (status === 'failed') break;
    }
    expect({ status, error: body.error }).toEqual({
      status: 'succeeded',
      error: null,
    });
    expect(body.steps.find((s: any) => s.name === 'approval')).toMatchObject({
      status: 'succeeded',
      detail: `approved by ${[...approvers].sort().join(', ')}`,
    });
    const lineage = await request(server())
      .get(`${cart}/lineage?limit=100`)
      .set('Authorization', as('rita'));
    expect(
      lineage.body.environments.find((e: any) => e.name === 'demo').current,
    ).toMatchObject({ sha, tag: body.tag });
  });
});
