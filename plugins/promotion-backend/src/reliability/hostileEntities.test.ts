import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import {
  Entity,
  RELATION_OWNED_BY,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Knex } from 'knex';
import request from 'supertest';
import { PromotionStore } from '../database/PromotionStore';
import { demoDataDir } from '../__testUtils__/demoData';
import type { AuditorEvent } from '@backstage/backend-defaults/auditor';
import { recordingAuditorFactory } from '../__testUtils__/recordingAuditor';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { relatedRefs } from '../service/EntityTargets';
import { demoEntities, withLocation } from '../testUtils';
import {
  DEMO_WRITE_SCOPE_GRANT,
  githubModeConfig,
  memoryCacheFactory,
} from '../__testUtils__/demoBackend';
import {
  gitIn,
  upstreamState as readUpstreamState,
} from '../__testUtils__/upstreamState';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';
const TOKEN = 'hostile-token';
const ADA = 'user:default/ada';
const MALLORY = 'user:default/mallory';
const MEMBERS: Record<string, string[]> = {
  [ADA]: ['group:default/payments'],
  [MALLORY]: ['group:default/intruders'],
};

/**
 * An entity Mallory registers: a copy of checkout's annotations (or some of them), owned by her
 * own team and read from a file in her own repository, as an import through the UI would store it.
 */
function hostile(
  name: string,
  location: string,
  annotations: Record<string, string>,
): Entity {
  const [checkout] = demoEntities().filter(e => e.metadata.name === 'checkout');
  return withLocation(
    {
      ...checkout,
      metadata: {
        name,
        annotations: {
          ...Object.fromEntries(
            Object.entries(checkout.metadata.annotations!).filter(
              ([key]) =>
                key.startsWith('mainline.dev/') ||
                key.startsWith('github.com/'),
            ),
          ),
          ...annotations,
        },
      },
      spec: { ...checkout.spec, owner: 'group:default/intruders' },
      relations: [
        { type: RELATION_OWNED_BY, targetRef: 'group:default/intruders' },
      ],
    },
    location,
  );
}

/** The policy the report describes: only an entity's owners may promote, roll back or yank it. */
function ownersOnly(entities: Entity[]) {
  return createServiceFactory({
    service: coreServices.permissions,
    deps: {},
    factory: () => ({
      async authorize(requests: any[], options: any) {
        const principal = (options.credentials as BackstageCredentials)
          .principal as { userEntityRef?: string };
        const groups = MEMBERS[principal.userEntityRef ?? ''] ?? [];
        return requests.map(r => {
          const entity = entities.find(
            e => stringifyEntityRef(e) === r.resourceRef,
          );
          const owners = entity
            ? relatedRefs(entity, RELATION_OWNED_BY, 'owner')
            : [];
          return {
            result: owners.some(o => groups.includes(o))
              ? AuthorizeResult.ALLOW
              : AuthorizeResult.DENY,
          };
        });
      },
      async authorizeConditional(requests: any[]) {
        return requests.map(() => ({ result: AuthorizeResult.DENY }));
      },
    }),
  });
}

describe('hostile entities naming another team’s repository, manifest and artifact', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let github: GitHubTestServer;
  let knex: Knex;
  /** The remote backend's auditor events. */
  const audited: AuditorEvent[] = [];
  /** The write-scope refusals the auditor recorded for an entity, in order. */
  const writeScopeRefusals = (entityRef: string) =>
    audited.filter(
      e =>
        e.eventId === 'write-scope' &&
        e.status === 'failed' &&
        e.meta?.entityRef === entityRef,
    );
  let remote: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let local: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let stageSha: string;
  let mirror: Entity;
  let shadow: Entity;

  const git = (repo: string, ...args: string[]) =>
    gitIn(dataDir, repo, ...args);
  const upstreamState = () => readUpstreamState(dataDir);

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-hostile-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    // Imported through the UI from her own repositories on the same GitHub.
    mirror = hostile(
      'checkout-mirror',
      `url:${github.htmlUrl}/mallory/tools/blob/main/catalog-info.yaml`,
      {},
    );
    // Defined in its own repository (provenance holds) but claiming checkout's manifest file
    // and image repository.
    shadow = hostile(
      'shadow',
      `url:${github.htmlUrl}/mallory/shadow/blob/main/catalog-info.yaml`,
      { 'github.com/project-slug': 'mallory/shadow' },
    );
    const entities = [...demoEntities(), mirror, shadow];
    knex = await databases.init('SQLITE_3');
    const features = (config: object, db: Knex) => [
      ...promotionWithAdapters,
      recordingAuditorFactory(event => {
        if (db === knex) audited.push(event);
      }),
      catalogServiceMock.factory({ entities }),
      mockServices.database.factory({ knex: db }),
      ownersOnly(entities),
      memoryCacheFactory(),
      mockServices.rootConfig.factory({ data: config }),
    ];
    const writeScope = {
      grants: [DEMO_WRITE_SCOPE_GRANT],
      claimsCacheSeconds: 0,
    };
    remote = (
      await startTestBackend({
        features: features(
          githubModeConfig({
            server: github,
            token: TOKEN,
            dataDir,
            promotion: { writeScope },
          }),
          knex,
        ),
      })
    ).server;
    local = (
      await startTestBackend({
        features: features(
          { promotion: { local: { dataDir, demoData: true }, writeScope } },
          await databases.init('SQLITE_3'),
        ),
      })
    ).server;
    const lineage = await request(remote)
      .get(`${api}/checkout/lineage`)
      .set('authorization', mockCredentials.user.header(ADA));
    if (lineage.status !== 200) throw new Error(JSON.stringify(lineage.body));
    stageSha = lineage.body.environments.find(
      (e: { name: string }) => e.name === 'stage',
    ).current.sha;
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const as = (user: string) => ({
    post: (server: typeof remote, url: string, body: object) =>
      request(server)
        .post(url)
        .set('authorization', mockCredentials.user.header(user))
        .send(body),
  });

  /** Runs a write and checks that GitHub saw no request and nothing upstream changed. */
  async function refusedWithoutSideEffects(
    attempt: () => Promise<request.Response>,
    message: RegExp,
  ) {
    const before = upstreamState();
    github.resetRequests();
    const res = await attempt();
    expect({ status: res.status, message: res.body.error?.message }).toEqual({
      status: 403,
      message: expect.stringMatching(message),
    });
    expect(github.requests).toEqual([]);
    expect(upstreamState()).toEqual(before);
  }

  const provenance =
    /^provenance: component:default\/checkout-mirror may not write .*mainline-demo\/checkout on main but in url:.*\/mallory\/tools\//;

  it('refuses promote, rollback, yank and retry through an entity copying checkout’s annotations', async () => {
    const mallory = as(MALLORY);
    const [server, sha] = [remote, stageSha];
    for (const environment of ['demo', 'prod']) {
      await refusedWithoutSideEffects(
        () =>
          mallory.post(server, `${api}/checkout-mirror/promotions`, {
            environment,
            sha,
            tag: environment === 'prod' ? 'v99.0.0' : undefined,
          }),
        provenance,
      );
    }
    await refusedWithoutSideEffects(
      () =>
        mallory.post(remote, `${api}/checkout-mirror/rollbacks`, {
          environment: 'prod',
          sha: stageSha,
        }),
      /^provenance: .* may not write manifest mainline-demo\/deployments:apps\/checkout\/overlays\/prod\/kustomization.yaml/,
    );
    await refusedWithoutSideEffects(
      () =>
        mallory.post(remote, `${api}/checkout-mirror/yanks`, {
          sha: stageSha,
          reason: 'mine now',
          force: true,
        }),
      /^provenance: .* may not write artifact location local\/checkout/,
    );

    // A promotion of the entity that failed earlier (when it named something else) cannot be
    // retried into checkout's resources either.
    const failed = crypto.randomUUID();
    const store = new PromotionStore(knex);
    await store.create(
      {
        id: failed,
        entityRef: 'component:default/checkout-mirror',
        kind: 'promotion',
        environment: 'prod',
        sha: stageSha,
        tag: 'v99.0.0',
        version: 'v99.0.0',
        idempotencyKey: null,
        requestHash: 'earlier',
        requestedBy: MALLORY,
        tagAutomatic: false,
      },
      [
        { name: 'checks', status: 'succeeded', detail: 'passed' },
        { name: 'tag', status: 'failed', detail: 'earlier failure' },
        { name: 'retag', status: 'pending', detail: null },
        { name: 'deploy', status: 'pending', detail: null },
      ],
    );
    await store.setStatus(failed, 'failed', 'tag: earlier failure');
    await refusedWithoutSideEffects(
      () =>
        mallory.post(
          remote,
          `${api}/checkout-mirror/promotions/${failed}/retry`,
          {},
        ),
      provenance,
    );

    // A dry run explains it; the embedded default refuses the same way.
    const plan = await mallory.post(
      remote,
      `${api}/checkout-mirror/promotions`,
      { environment: 'demo', sha: stageSha, dryRun: true },
    );
    expect(plan.status).toBe(200);
    expect(plan.body.checks[0]).toEqual({
      name: 'write-scope',
      passed: false,
      reason: expect.stringMatching(provenance),
    });
    await refusedWithoutSideEffects(
      () =>
        mallory.post(local, `${api}/checkout-mirror/promotions`, {
          environment: 'demo',
          sha: stageSha,
        }),
      provenance,
    );

    const audit = writeScopeRefusals('component:default/checkout-mirror');
    expect(audit.map(e => [e.actor.actorId, e.meta?.action])).toEqual([
      [MALLORY, 'promote'],
      [MALLORY, 'promote'],
      [MALLORY, 'rollback'],
      [MALLORY, 'yank'],
      [MALLORY, 'promote'],
    ]);
    expect(audit.every(e => /^provenance: /.test(String(e.meta?.reason)))).toBe(
      true,
    );
  });

  it('refuses a repository-wide release through it, writing nothing', async () => {
    const before = upstreamState();
    github.resetRequests();
    const res = await as(MALLORY).post(
      remote,
      `${api}/checkout-mirror/repository-promotions`,
      { environment: 'demo', sha: stageSha },
    );
    expect(res.status).toBe(200);
    expect(
      res.body.components.map((c: any) => [c.entityRef, c.outcome]),
    ).toEqual([
      ['component:default/checkout-mirror', 'refused'],
      ['component:default/checkout', 'refused'],
    ]);
    expect(res.body.components[0].message).toMatch(provenance);
    // The refusal's check, by name, as the preview reports it too.
    expect(res.body.components[0].checks).toEqual([
      expect.objectContaining({ name: 'write-scope', passed: false }),
    ]);
    expect(github.requests.filter(r => r.method !== 'GET')).toEqual([]);
    expect(upstreamState()).toEqual(before);

    // Its preview says the same.
    const preview = await as(MALLORY).post(
      remote,
      `${api}/checkout-mirror/repository-promotions`,
      { environment: 'demo', sha: stageSha, dryRun: true },
    );
    expect(preview.body.components[0]).toEqual({
      entityRef: 'component:default/checkout-mirror',
      outcome: 'refused',
      message: expect.stringMatching(provenance),
      checks: [
        expect.objectContaining({
          name: 'write-scope',
          passed: false,
          reason: expect.stringMatching(provenance),
        }),
      ],
    });
  });

  it('refuses an entity defined in its own repository that claims checkout’s manifest file and image repository', async () => {
    const mallory = as(MALLORY);
    await refusedWithoutSideEffects(
      () =>
        mallory.post(remote, `${api}/shadow/promotions`, {
          environment: 'demo',
          sha: stageSha,
        }),
      /^claim-conflict: component:default\/shadow may not write artifact location local\/checkout: component:default\/checkout \(owned by group:default\/payments\) claims it too$/,
    );
    await refusedWithoutSideEffects(
      () =>
        mallory.post(remote, `${api}/shadow/rollbacks`, {
          environment: 'prod',
          sha: stageSha,
        }),
      /^claim-conflict: .* may not write manifest mainline-demo\/deployments:apps\/checkout\/overlays\/prod\/kustomization.yaml: component:default\/checkout/,
    );
    await refusedWithoutSideEffects(
      () =>
        mallory.post(remote, `${api}/shadow/yanks`, {
          sha: stageSha,
          reason: 'mine now',
        }),
      /^claim-conflict: .* artifact location local\/checkout/,
    );
    const audit = writeScopeRefusals('component:default/shadow');
    expect(audit.map(e => e.meta?.action)).toEqual([
      'promote',
      'rollback',
      'yank',
    ]);
  });

  it('still lets checkout’s owners promote checkout, and Mallory not', async () => {
    await refusedWithoutSideEffects(
      () =>
        as(MALLORY).post(remote, `${api}/checkout/promotions`, {
          environment: 'demo',
          sha: stageSha,
        }),
      /may not promote to demo component:default\/checkout/,
    );
    const tagsBefore = git('mainline-demo/checkout', 'tag', '--list', 'rc-*');
    const res = await as(ADA).post(remote, `${api}/checkout/promotions`, {
      environment: 'demo',
      sha: stageSha,
    });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 201,
      error: undefined,
    });
    expect(res.body.status).toBe('succeeded');
    expect(git('mainline-demo/checkout', 'tag', '--list', 'rc-*')).not.toBe(
      tagsBefore,
    );
    expect(
      git('mainline-demo/checkout', 'rev-parse', `${res.body.tag}^{commit}`),
    ).toBe(stageSha);
    expect(
      git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
    ).toBe(`demo: local/checkout ${res.body.tag}`);
  });
});
