import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import { promotionWithAdapters } from './__testUtils__/adapterModules';

const checkout: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'checkout',
    annotations: {
      'github.com/project-slug': 'acme/checkout',
      'mainline.dev/artifact-kind': 'image',
      'mainline.dev/artifact-location': 'local/checkout',
      'mainline.dev/manifest-repo': 'acme/deployments',
      'mainline.dev/manifest-path':
        'apps/checkout/overlays/{environment}/kustomization.yaml',
    },
  },
  spec: { type: 'service', owner: 'payments', lifecycle: 'production' },
};

const wiki: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'wiki',
    annotations: { 'mainline.dev/artifact-kind': 'image' },
  },
  spec: { type: 'website', owner: 'payments', lifecycle: 'production' },
};

/** Has the first annotation, with a value that is not an owner/name slug, and lacks another. */
const forum: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'forum',
    annotations: {
      'github.com/project-slug': 'acme',
      'mainline.dev/artifact-kind': 'image',
    },
  },
  spec: { type: 'website', owner: 'payments', lifecycle: 'production' },
};

async function start(config: object = {}) {
  const { server } = await startTestBackend({
    features: [
      ...promotionWithAdapters,
      catalogServiceMock.factory({ entities: [checkout, wiki, forum] }),
      mockServices.rootConfig.factory({ data: config }),
    ],
  });
  return server;
}

describe('promotion backend', () => {
  it('lists the default environments in promotion order', async () => {
    const server = await start();
    const res = await request(server).get('/api/promotion/v1/environments');
    expect(res.status).toBe(200);
    expect(res.body.environments.map((e: { name: string }) => e.name)).toEqual([
      'stage',
      'demo',
      'prod',
    ]);
    expect(res.body.environments[2]).toEqual({
      name: 'prod',
      trigger: { type: 'tag', pattern: 'v*' },
      production: true,
      policy: { requireBeenIn: 'demo' },
    });
  });

  it('uses configured environments', async () => {
    const server = await start({
      promotion: {
        environments: [
          { name: 'staging', branch: 'trunk' },
          {
            name: 'live',
            tagPattern: 'release-*',
            production: true,
            policy: { requireBeenIn: 'staging' },
          },
        ],
      },
    });
    const res = await request(server).get('/api/promotion/v1/environments');
    expect(res.body.environments).toEqual([
      {
        name: 'staging',
        trigger: { type: 'branch', branch: 'trunk' },
        production: false,
        policy: {},
      },
      {
        name: 'live',
        trigger: { type: 'tag', pattern: 'release-*' },
        production: true,
        policy: { requireBeenIn: 'staging' },
      },
    ]);
  });

  it('refuses to start on an environment with both a branch and a tag pattern', async () => {
    await expect(
      start({
        promotion: {
          environments: [{ name: 'stage', branch: 'main', tagPattern: 'v*' }],
        },
      }),
    ).rejects.toThrow(
      /promotion.environments: environment "stage" must set exactly one of branch and tagPattern/,
    );
  });

  it('refuses a policy that names a later or unknown environment', async () => {
    await expect(
      start({
        promotion: {
          environments: [
            {
              name: 'stage',
              branch: 'main',
              policy: { requireBeenIn: 'prod' },
            },
            { name: 'prod', tagPattern: 'v*' },
          ],
        },
      }),
    ).rejects.toThrow(
      /policy.requireBeenIn "prod" must name an earlier environment \(none\)/,
    );
  });

  it('answers an entity promotion target from its annotations', async () => {
    const server = await start();
    const res = await request(server).get(
      '/api/promotion/v1/entities/component/default/checkout/target',
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      entityRef: 'component:default/checkout',
      sourceRepo: 'acme/checkout',
      artifactKind: 'image',
      manifestRepo: 'acme/deployments',
      versioning: 'semver',
    });
  });

  it('says which annotations an entity lacks', async () => {
    const server = await start();
    const res = await request(server).get(
      '/api/promotion/v1/entities/component/default/wiki/target',
    );
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('github.com/project-slug');
    expect(res.body.error.message).toContain('mainline.dev/artifact-location');
    // The first annotation to add, as data: no parsing of the message.
    expect(res.body.checks).toEqual([
      expect.objectContaining({
        name: 'setup',
        passed: false,
        data: { missingAnnotation: 'github.com/project-slug' },
      }),
    ]);
    const lineage = await request(server).get(
      '/api/promotion/v1/entities/component/default/wiki/lineage',
    );
    expect(lineage.status).toBe(404);
    expect(lineage.body.checks[0].name).toBe('setup');
  });

  it('tells a malformed annotation from a missing one', async () => {
    const server = await start();
    const res = await request(server).get(
      '/api/promotion/v1/entities/component/default/forum/target',
    );
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('"acme" is not a repository slug');
    // Present but malformed: to fix, not to add.
    expect(res.body.checks).toEqual([
      expect.objectContaining({
        name: 'setup',
        passed: false,
        data: { invalidAnnotation: 'github.com/project-slug' },
      }),
    ]);
  });

  it('answers 404 for an unknown entity and 400 for a malformed name', async () => {
    const server = await start();
    const unknown = await request(server).get(
      '/api/promotion/v1/entities/component/default/nope/target',
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('component:default/nope');

    const malformed = await request(server).get(
      `/api/promotion/v1/entities/component/default/${encodeURIComponent(
        '..%2F..',
      )}/target`,
    );
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/name/);
  });

  it('requires a signed-in caller', async () => {
    const server = await start();
    const res = await request(server)
      .get('/api/promotion/v1/environments')
      .set('authorization', 'Bearer not-a-token');
    expect(res.status).toBe(401);
  });
});
