import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import type { AuditorEvent } from '@backstage/backend-defaults/auditor';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { actionsRegistryServiceMock } from '@backstage/backend-test-utils/alpha';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { Lineage } from './lineage/types';
import { promotionWithAdapters } from './__testUtils__/adapterModules';
import { memoryCacheFactory } from './__testUtils__/demoBackend';
import { demoDataDir } from './__testUtils__/demoData';
import { recordingAuditorFactory } from './__testUtils__/recordingAuditor';
import {
  deliverGitHubWebhook,
  githubWebhookModules,
} from './__testUtils__/webhookBackend';
import { recordingNotificationsFactory } from './__testUtils__/recordingNotifications';
import { demoEntities } from './testUtils';

jest.setTimeout(180_000);

const TOKEN = 'governance-token';
const SECRET = 'governance-webhook-secret';
const REPO = 'mainline-demo/checkout';
const api = '/api/promotion/v1/entities/component/default/checkout';

/**
 * The policies through the whole backend in GitHub mode: the required checks read from the GitHub
 * test server (statuses and check-run endpoints as GitHub's OpenAPI describes them) by the GitHub
 * module's Octokit client, a freeze window selected by the Domain of the component's System (read
 * from the catalog), the deploy-time soak, a pushed tag going through the same checks, and the
 * emergency override with its permission, audit event and notification.
 */
describe('release policies: soak, freeze windows, required checks', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const sent: NotificationSendOptions[] = [];
  const audited: AuditorEvent[] = [];
  let denyOverride = false;
  const actions = actionsRegistryServiceMock();
  const now = Date.now();
  const freezeEnd = new Date(now + 2 * 60 * 60 * 1000);
  const git = (repo: string, ...args: string[]) =>
    execFileSync(
      'git',
      ['--git-dir', path.join(dataDir, 'git', `${repo}.git`), ...args],
      { encoding: 'utf8' },
    ).trim();
  const setStatus = async (sha: string, context: string, state: string) => {
    const res = await fetch(`${github.baseUrl}/repos/${REPO}/statuses/${sha}`, {
      method: 'POST',
      headers: {
        authorization: `token ${TOKEN}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ context, state }),
    });
    expect(res.status).toBe(201);
  };
  const lineage = async () =>
    (await request(server).get(`${api}/lineage?limit=100`)).body as Lineage;
  const stageSha = async () =>
    (await lineage()).environments.find(e => e.name === 'stage')!.current!.sha!;

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-governance-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    // The storefront System is part of the commerce Domain, which the freeze window names.
    const entities: Entity[] = demoEntities().map(e =>
      e.kind === 'System' && e.metadata.name === 'storefront'
        ? { ...e, spec: { ...e.spec, domain: 'commerce' } }
        : e,
    );
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        eventsPlugin,
        ...githubWebhookModules(),
        eventsServiceFactory,
        recordingAuditorFactory(event => audited.push(event)),
        catalogServiceMock.factory({ entities }),
        memoryCacheFactory(),
        createServiceFactory({
          service: actionsRegistryServiceRef,
          deps: {},
          factory: () => actions,
        }),
        createServiceFactory({
          service: coreServices.permissions,
          deps: {},
          factory: () => ({
            authorize: async (requests: any[]) =>
              requests.map(r => ({
                result:
                  denyOverride &&
                  r.permission.name === 'promotion.freeze.override'
                    ? AuthorizeResult.DENY
                    : AuthorizeResult.ALLOW,
              })),
            authorizeConditional: async (requests: any[]) =>
              requests.map(() => ({ result: AuthorizeResult.ALLOW })),
          }),
        }),
        recordingNotificationsFactory(sent),
        mockServices.rootConfig.factory({
          data: {
            events: {
              useEventBus: 'never',
              http: { topics: ['github'] },
              modules: { github: { webhookSecret: SECRET } },
            },
            integrations: {
              github: [
                { host: github.host, apiBaseUrl: github.baseUrl, token: TOKEN },
              ],
            },
            promotion: {
              source: { provider: 'github' },
              github: { host: github.host, lambdaDeploys: 'recorded' },
              local: { dataDir, demoData: true },
              environments: [
                { name: 'stage', branch: 'main' },
                {
                  name: 'demo',
                  tagPattern: 'rc-*',
                  policy: {
                    soak: { after: 'stage', for: '1h' },
                    requiredChecks: ['build', 'stage-validation'],
                  },
                },
                {
                  name: 'prod',
                  tagPattern: 'v*',
                  production: true,
                  policy: { requireBeenIn: 'demo' },
                },
              ],
              freezes: [
                {
                  name: 'year-end',
                  description: 'Year-end freeze',
                  start: new Date(now - 60 * 60 * 1000).toISOString(),
                  end: freezeEnd.toISOString(),
                  environments: ['prod'],
                  domains: ['domain:default/commerce'],
                },
                {
                  // Another Domain's window, open all year: it never applies here.
                  name: 'ops-freeze',
                  cron: '0 0 * * *',
                  duration: '1w',
                  timeZone: 'Europe/Berlin',
                  domains: ['ops'],
                },
              ],
            },
          },
        }),
      ],
    }));
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a pushed rc-* tag whose required checks are not all green, naming the missing one', async () => {
    const sha = await stageSha();
    await setStatus(sha, 'build', 'success');
    git(
      REPO,
      '-c',
      'user.name=Octo Person',
      '-c',
      'user.email=octo@example.com',
      'tag',
      '-a',
      'rc-950',
      '-m',
      'release rc-950',
      sha,
    );
    const delivered = await deliverGitHubWebhook(server, {
      event: 'create',
      body: {
        ref: 'rc-950',
        ref_type: 'tag',
        repository: { full_name: REPO },
        sender: { login: 'octo-person' },
      },
      secret: SECRET,
    });
    expect(delivered.status).toBe(202);
    let refused: any;
    for (let i = 0; i < 600 && !refused; i++) {
      const { body } = await request(server).get(`${api}/promotions?limit=50`);
      refused = body.items.find(
        (p: any) => p.tag === 'rc-950' && p.status !== 'running',
      );
      if (!refused) await new Promise(r => setTimeout(r, 100));
    }
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain(
      `required checks not green on ${sha.slice(
        0,
        7,
      )} (missing: stage-validation)`,
    );
    // The demo environment did not move.
    const demo = (await lineage()).environments.find(e => e.name === 'demo')!;
    expect(demo.current?.tag).not.toBe('rc-950');
  });

  it('shows soak and required checks in the dry run, and promotes once the checks are green', async () => {
    const sha = await stageSha();
    await setStatus(sha, 'stage-validation', 'pending');
    const pending = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'demo', sha, dryRun: true });
    expect(pending.status).toBe(200);
    const byName = (checks: any[], name: string) =>
      checks.find(c => c.name === name);
    expect(byName(pending.body.checks, 'required-checks')).toEqual({
      name: 'required-checks',
      passed: false,
      reason: expect.stringContaining('not finished: stage-validation'),
      data: { pendingChecks: ['stage-validation'] },
    });
    const soak = byName(pending.body.checks, 'soak');
    expect(soak).toMatchObject({
      passed: true,
      data: { requiredEnvironment: 'stage', soakRemainingSeconds: 0 },
    });
    expect(Date.parse(soak.data.soakSince)).toBeLessThan(now - 60 * 60 * 1000);
    // No freeze window applies to demo.
    expect(byName(pending.body.checks, 'freeze')).toBeUndefined();

    const refused = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'demo', sha });
    expect(refused.status).toBe(409);
    expect(refused.body.checks.map((c: any) => c.name)).toEqual([
      'required-checks',
    ]);

    await setStatus(sha, 'stage-validation', 'success');
    const promoted = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'demo', sha });
    expect(promoted.status).toBe(201);
    expect(promoted.body.status).toBe('succeeded');
    expect(promoted.body.steps[0].detail).toContain(
      'required-checks: build, stage-validation are green',
    );
  });

  it('refuses prod during the freeze window of its Domain; the emergency override needs a reason and the permission, and is audited and told', async () => {
    const demo = (await lineage()).environments.find(e => e.name === 'demo')!;
    const sha = demo.current!.sha!;
    const frozen = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'prod', sha });
    expect(frozen.status).toBe(409);
    expect(frozen.body.checks).toEqual([
      {
        name: 'freeze',
        passed: false,
        reason: expect.stringContaining(
          'prod is frozen by year-end (Year-end freeze)',
        ),
        data: {
          freezeWindow: 'year-end',
          frozenUntil: freezeEnd.toISOString(),
        },
      },
    ]);

    const blank = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'prod', sha, freezeOverride: { reason: '   ' } });
    expect(blank.status).toBe(400);

    denyOverride = true;
    const denied = await request(server)
      .post(`${api}/promotions`)
      .send({
        environment: 'prod',
        sha,
        freezeOverride: { reason: 'card payments fail' },
      });
    denyOverride = false;
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain(
      'permission promotion.freeze.override',
    );

    const notified = sent.length;
    const overridden = await request(server)
      .post(`${api}/promotions`)
      .send({
        environment: 'prod',
        sha,
        freezeOverride: { reason: 'card payments fail' },
      });
    expect(overridden.status).toBe(201);
    expect(overridden.body.status).toBe('succeeded');
    const event = audited.find(
      e =>
        e.eventId === 'promotion-freeze-override' && e.status !== 'initiated',
    );
    expect(event).toMatchObject({
      status: 'succeeded',
      meta: expect.objectContaining({
        environment: 'prod',
        freezeWindow: 'year-end',
        sha,
      }),
    });
    expect(JSON.stringify(event?.meta)).toContain('card payments fail');
    expect(sent.slice(notified).map(n => n.payload.title)).toContain(
      'Freeze year-end overridden for component:default/checkout in prod',
    );
  });
  it('passes the emergency override through the promote action: a blank reason and a missing permission are refused as in the API', async () => {
    const demo = (await lineage()).environments.find(e => e.name === 'demo')!;
    const promote = (freezeOverride?: { reason: string }) =>
      actions.invoke({
        id: 'test:promote',
        input: {
          entityRef: 'component:default/checkout',
          environment: 'prod',
          sha: demo.current!.sha!,
          dryRun: true,
          ...(freezeOverride ? { freezeOverride } : {}),
        },
        credentials: mockCredentials.user(),
      });
    await expect(promote({ reason: '   ' })).rejects.toThrow(
      'freezeOverride.reason: an emergency override of a freeze needs a reason',
    );
    denyOverride = true;
    try {
      await expect(promote({ reason: 'card payments fail' })).rejects.toThrow(
        'promotion.freeze.override',
      );
    } finally {
      denyOverride = false;
    }
    // With the permission and a reason, the dry run shows the freeze check overridden.
    const { output } = await promote({ reason: 'card payments fail' });
    const plan = (output as any).result;
    expect(
      plan.checks.find((c: { name: string }) => c.name === 'freeze'),
    ).toMatchObject({ passed: true, data: { freezeOverridden: true } });
  });
});
