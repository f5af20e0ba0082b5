import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { ConfigReader } from '@backstage/config';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { JsonObject } from '@backstage/types';
import { EntityContext } from '../promotion/types';
import { withLocation, withRelations } from '../testUtils';
import { EntityTargets } from './EntityTargets';
import {
  WriteScope,
  globMatches,
  normalizeArtifactLocation,
  readWriteScopeOptions,
} from './WriteScope';

const HOST = 'github.example.com';
const blob = (repo: string, branch = 'main') =>
  `url:https://${HOST}/${repo}/blob/${branch}/catalog-info.yaml`;

function component(
  name: string,
  options: {
    owner: string;
    repo: string;
    location: string;
    artifact?: string;
    manifestPath?: string;
    system?: string;
  },
): Entity {
  return withLocation(
    withRelations({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name,
        annotations: {
          'github.com/project-slug': options.repo,
          'mainline.dev/artifact-kind': 'image',
          'mainline.dev/artifact-location':
            options.artifact ?? `ghcr.io/${options.repo}`,
          'mainline.dev/manifest-repo': 'org/deployments',
          'mainline.dev/manifest-path':
            options.manifestPath ?? `apps/${name}/{environment}.yaml`,
        },
      },
      spec: {
        type: 'service',
        owner: options.owner,
        ...(options.system ? { system: options.system } : {}),
      },
    }),
    options.location,
  );
}

const checkout = component('checkout', {
  owner: 'group:default/payments',
  repo: 'org/checkout',
  location: blob('org/checkout'),
  system: 'storefront',
});

const storefront: Entity = withRelations({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'System',
  metadata: { name: 'storefront' },
  spec: { owner: 'group:default/payments' },
});

function guard(entities: Entity[], writeScope: object = {}) {
  const audited: JsonObject[] = [];
  const scope = new WriteScope({
    catalog: catalogServiceMock({ entities }),
    auth: mockServices.auth(),
    auditor: {
      createEvent: async ({ eventId, meta }) => ({
        success: async () => {},
        fail: async () => {
          audited.push({ eventId, ...meta });
        },
      }),
    },
    environments: ['stage', 'demo', 'prod'],
    options: readWriteScopeOptions(
      new ConfigReader({
        promotion: {
          source: { provider: 'github' },
          github: { host: HOST },
          writeScope: { claimsCacheSeconds: 0, ...writeScope },
        },
      }),
    ),
  });
  return { scope, audited };
}

const context = (entity: Entity): EntityContext => {
  const read = EntityTargets.read(entity);
  if (!read.ok) throw new Error(read.problem);
  return read.entity;
};

const ctx = {
  credentials: mockCredentials.user('user:default/mallory'),
  actor: { entityRef: 'user:default/mallory', name: 'Mallory', email: '' },
};

describe('WriteScope', () => {
  it('lets an entity defined in its own repository write what nobody else claims', async () => {
    const { scope } = guard([checkout]);
    const check = await scope.check(context(checkout), {
      action: 'promote',
      environment: 'prod',
    });
    expect(check).toEqual({
      name: 'write-scope',
      passed: true,
      reason:
        'component:default/checkout may write org/checkout (defined in org/checkout on main), ghcr.io/org/checkout (defined in org/checkout on main), org/deployments:apps/checkout/prod.yaml (defined in org/checkout on main)',
    });
  });

  it.each([
    ['another repository', blob('mallory/tools')],
    ['a branch other than main', blob('org/checkout', 'feature')],
    ['another host', 'url:https://github.com/org/checkout/blob/main/x.yaml'],
    ['a main-prefixed branch', blob('org/checkout', 'mainline')],
    ['a look-alike name', blob('org/checkout-fork')],
  ])(
    'refuses by provenance an entity defined in %s, naming the resource',
    async (_, location) => {
      const mirror = component('mirror', {
        owner: 'group:default/intruders',
        repo: 'org/checkout',
        location,
        artifact: 'ghcr.io/org/checkout',
        manifestPath: 'apps/checkout/{environment}.yaml',
      });
      const { scope, audited } = guard([checkout, mirror]);
      const attempt = scope.enforce(
        context(mirror),
        { action: 'promote', environment: 'prod', sha: 'abc1234' },
        ctx,
      );
      await expect(attempt).rejects.toMatchObject({
        name: 'NotAllowedError',
        message: expect.stringMatching(
          /^provenance: component:default\/mirror may not write repository org\/checkout: it was not defined in org\/checkout on main but in url:/,
        ),
      });
      expect(audited).toEqual([
        expect.objectContaining({
          eventId: 'write-scope',
          action: 'promote',
          entityRef: 'component:default/mirror',
          actor: 'user:default/mallory',
          environment: 'prod',
        }),
      ]);
    },
  );

  it('compares the repository case-insensitively and accepts a .git suffix or a tree URL', async () => {
    const entity = component('checkout', {
      owner: 'group:default/payments',
      repo: 'org/checkout',
      location: `url:https://${HOST.toUpperCase()}/Org/Checkout.git/tree/main/catalog-info.yaml`,
    });
    const { scope } = guard([entity]);
    expect(
      (await scope.check(context(entity), { action: 'yank' })).passed,
    ).toBe(true);
  });

  it('refuses an entity with its own repository that claims another owner’s manifest or artifact', async () => {
    const shadow = component('shadow', {
      owner: 'group:default/intruders',
      repo: 'mallory/shadow',
      location: blob('mallory/shadow'),
      artifact: 'oci://GHCR.io/org/checkout/',
      manifestPath: 'apps/checkout/{environment}.yaml',
    });
    const { scope } = guard([checkout, shadow]);
    expect(
      await scope.check(context(shadow), {
        action: 'promote',
        environment: 'demo',
      }),
    ).toEqual({
      name: 'write-scope',
      passed: false,
      reason:
        'claim-conflict: component:default/shadow may not write artifact location oci://GHCR.io/org/checkout/: component:default/checkout (owned by group:default/payments) claims it too',
    });
    expect(
      (
        await scope.check(context(shadow), {
          action: 'rollback',
          environment: 'demo',
        })
      ).reason,
    ).toBe(
      'claim-conflict: component:default/shadow may not write manifest org/deployments:apps/checkout/demo.yaml: component:default/checkout (owned by group:default/payments) claims it too',
    );
    // Without a grant either side, the claim blocks the owner as well, until an administrator
    // grants it or the other entity goes.
    expect(
      (await scope.check(context(checkout), { action: 'yank' })).reason,
    ).toMatch(/^claim-conflict: component:default\/checkout may not write/);
  });

  it('lets a granted claim win over one nobody granted, and refuses both when grants overlap', async () => {
    const shadow = component('shadow', {
      owner: 'group:default/intruders',
      repo: 'mallory/shadow',
      location: blob('mallory/shadow'),
      artifact: 'ghcr.io/org/checkout',
    });
    const payments = {
      owners: ['group:default/payments'],
      artifactLocations: ['ghcr.io/org/*'],
    };
    const granted = guard([checkout, shadow], { grants: [payments] });
    expect(
      (await granted.scope.check(context(checkout), { action: 'yank' })).reason,
    ).toBe(
      'component:default/checkout may write ghcr.io/org/checkout (promotion.writeScope.grants[0])',
    );
    expect(
      (await granted.scope.check(context(shadow), { action: 'yank' })).passed,
    ).toBe(false);

    const overlap = guard([checkout, shadow], {
      grants: [
        payments,
        { owners: ['intruders'], artifactLocations: ['ghcr.io/**'] },
      ],
    });
    for (const entity of [checkout, shadow]) {
      expect(
        (await overlap.scope.check(context(entity), { action: 'yank' })).reason,
      ).toMatch(/claims it too, and promotion.writeScope grants it to both/);
    }
  });

  it('grants by system only when the system’s owner owns the entity', async () => {
    const grants = [
      {
        systems: ['storefront'],
        repositories: ['org/*'],
        artifactLocations: ['ghcr.io/org/*'],
        manifests: [{ repository: 'org/deployments', paths: ['apps/**'] }],
      },
    ];
    const outsider = component('outsider', {
      owner: 'group:default/intruders',
      repo: 'org/outsider',
      location: 'url:https://elsewhere.example/outsider.yaml',
      system: 'storefront',
    });
    const insider = component('insider', {
      owner: 'group:default/payments',
      repo: 'org/insider',
      location: 'url:https://elsewhere.example/insider.yaml',
      system: 'storefront',
    });
    const { scope } = guard([storefront, outsider, insider], {
      grants,
      requireProvenance: true,
    });
    expect(
      (
        await scope.check(context(insider), {
          action: 'promote',
          environment: 'prod',
        })
      ).passed,
    ).toBe(true);
    expect(
      (
        await scope.check(context(outsider), {
          action: 'promote',
          environment: 'prod',
        })
      ).reason,
    ).toMatch(/^provenance: component:default\/outsider may not write/);
  });

  it('trusts file locations unless told not to', async () => {
    const local = component('local', {
      owner: 'group:default/payments',
      repo: 'org/local',
      location: 'file:/srv/backstage/catalog/local.yaml',
    });
    const trusted = guard([local]);
    expect(
      (await trusted.scope.check(context(local), { action: 'yank' })).reason,
    ).toBe(
      'component:default/local may write ghcr.io/org/local (defined in file:/srv/backstage/catalog/local.yaml)',
    );
    const strict = guard([local], { trustFileLocations: false });
    expect(
      (await strict.scope.check(context(local), { action: 'yank' })).passed,
    ).toBe(false);
  });

  it('refuses a grant without selectors at start-up', () => {
    expect(() =>
      readWriteScopeOptions(
        new ConfigReader({
          promotion: { writeScope: { grants: [{ repositories: ['**'] }] } },
        }),
      ),
    ).toThrow(
      'promotion.writeScope.grants[0] must name the entities it is for (owners, systems or namespaces)',
    );
  });

  it('spells artifact locations one way and matches globs per path segment', () => {
    expect(normalizeArtifactLocation('oci://GHCR.io/Org/App/')).toBe(
      'ghcr.io/org/app',
    );
    expect(normalizeArtifactLocation('registry-1.docker.io/nginx')).toBe(
      'docker.io/library/nginx',
    );
    expect(normalizeArtifactLocation('s3://Builds/Payments/')).toBe(
      's3://builds/Payments',
    );
    expect(globMatches('apps/*', 'apps/checkout/prod.yaml')).toBe(false);
    expect(globMatches('apps/**', 'apps/checkout/prod.yaml')).toBe(true);
    expect(globMatches('local://*', 'local://invoices')).toBe(true);
    expect(globMatches('a.b', 'aXb')).toBe(false);
    expect(globMatches('payments/*', 'payments/.github')).toBe(true);
    expect(globMatches('apps/{a,b}/*', 'apps/a/prod.yaml')).toBe(false);
    expect(globMatches('!payments/*', 'payments/app')).toBe(false);
  });
});
