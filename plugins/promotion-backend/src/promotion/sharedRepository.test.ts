import fs from 'node:fs';
import net from 'node:net';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../adapters';
import { GitHubTestServer } from '@mainline/test-servers';
import { PromotionRecord } from '../database/PromotionStore';
import { LineageService } from '../lineage/LineageService';
import { Lineage } from '../lineage/types';
import { NewTag } from '@mainline/plugin-promotion-node';
import { demoEntities, memoryCache } from '../testUtils';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import {
  adaWriteContext,
  demoCheckout,
  handBuiltDemo,
  handBuiltService,
  overGitHubTestServer,
} from '../__testUtils__/handBuiltService';
import { EntityContext } from './types';

jest.setTimeout(120_000);

const shop = (name: string): EntityContext => ({
  entityRef: `component:default/${name}`,
  owners: ['group:default/payments'],
  target: {
    sourceRepo: 'mainline-demo/shop',
    sourcePath: `services/${name}`,
    artifactKind: 'image',
    artifactLocation: `local/shop-${name}`,
    manifestRepo: 'mainline-demo/deployments',
    manifestPath: `apps/shop-${name}/overlays/{environment}/kustomization.yaml`,
    versioning: 'semver',
    releaseBranches: false,
  },
});
const cart = shop('cart');
const demo = (l: Lineage) => l.environments.find(e => e.name === 'demo')!;
/** The newest built commit demo does not run, and not `except`. */
const promotable = (l: Lineage, except?: string) =>
  l.commits.find(
    c =>
      c.artifacts.length > 0 &&
      !c.yanked &&
      c.sha !== demo(l).current?.sha &&
      c.sha !== except,
  )!.sha;
const pricing = shop('pricing');
const checkout = demoCheckout;
/** A second entity for checkout's repository, artifacts and manifests (e.g. its API). */
const checkoutApi: EntityContext = {
  ...checkout,
  entityRef: 'component:default/checkout-api',
};

const ctx = adaWriteContext;

/**
 * Another promotion creating a release tag between this one's checks and its tag step is a race
 * no server makes on demand: the first createTag first has the sibling's tag created, through the
 * same real git, and then goes on (or its connection drops).
 */
function siblingTagsFirst(
  resolver: AdapterResolver,
  /** Filled in by the test once it knows the sibling's commit. */
  sibling: { sha: string; thenFail?: boolean },
): AdapterResolver {
  let armed = true;
  return {
    forTarget(target: PromotionTarget) {
      const adapters = resolver.forTarget(target);
      const source = adapters.source;
      return {
        ...adapters,
        source: new Proxy(source, {
          get(t, property, receiver) {
            const value = Reflect.get(t, property, receiver);
            if (typeof value !== 'function') return value;
            if (property !== 'createTag') return value.bind(t);
            return async (repo: string, tag: NewTag) => {
              if (armed) {
                armed = false;
                await source.createTag(repo, { ...tag, sha: sibling.sha });
                if (sibling.thenFail) {
                  throw new Error('connection reset (injected)');
                }
              }
              return source.createTag(repo, tag);
            };
          },
        }),
      };
    },
  };
}

describe('components and entities sharing a repository', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0))
      fs.rmSync(dir, { recursive: true, force: true });
  });

  const servers: GitHubTestServer[] = [];
  afterAll(() => Promise.all(servers.splice(0).map(server => server.close())));

  /** The shop's repositories through the GitHub API (the test server over the same bare repos). */
  async function overGitHub(dataDir: string): Promise<AdapterResolver> {
    const { server, adapters } = await overGitHubTestServer(dataDir, {
      token: 'shared-token',
    });
    servers.push(server);
    return adapters;
  }

  /**
   * Two replicas (a and b), each its own service and lineage over the shared data, database and
   * cache store; a's writes go through `wrap` when given.
   */
  async function setup(
    options: {
      wrap?: (adapters: AdapterResolver) => AdapterResolver;
      github?: boolean;
    } = {},
  ) {
    const { dataDir, knex, yanks, local } = await handBuiltDemo(
      'mainline-shared-',
      await databases.init('SQLITE_3'),
    );
    dirs.push(dataDir);
    const base = options.github ? await overGitHub(dataDir) : local;
    const cache = memoryCache();
    const replica = (adapters: AdapterResolver) =>
      handBuiltService({
        knex,
        yanks,
        adapters: base,
        writeAdapters: adapters,
        cache,
        cacheTtlMs: 10 * 60_000,
      });
    const read = (lineage: LineageService, entity: EntityContext) =>
      lineage.lineage(entity.entityRef, entity.target, { limit: 100 });
    const gitTags = async () =>
      new Map(
        (await local.source.listTags('mainline-demo/shop')).map(t => [
          t.name,
          t.sha,
        ]),
      );
    return {
      local,
      a: replica(options.wrap ? options.wrap(base) : base),
      b: replica(base),
      read,
      gitTags,
    };
  }

  it('promotes two components of one repository at once, each with its own next rc-* tag', async () => {
    const { a, read, gitTags } = await setup();
    const cartSha = promotable(await read(a.lineage, cart));
    const pricingSha = promotable(await read(a.lineage, pricing), cartSha);
    const before = await gitTags();
    const results = (await Promise.all([
      a.service.promote(cart, { environment: 'demo', sha: cartSha }, ctx),
      a.service.promote(pricing, { environment: 'demo', sha: pricingSha }, ctx),
    ])) as PromotionRecord[];
    expect(results.map(r => [r.status, r.error])).toEqual([
      ['succeeded', null],
      ['succeeded', null],
    ]);
    const [cartTag, pricingTag] = results.map(r => r.tag!);
    expect(cartTag).not.toBe(pricingTag);
    const after = await gitTags();
    expect(after.get(cartTag)).toBe(cartSha);
    expect(after.get(pricingTag)).toBe(pricingSha);
    expect(after.size).toBe(before.size + 2);
    // What a user sees: demo runs each component's own tag, and the artifact carries it.
    for (const [entity, sha, tag] of [
      [cart, cartSha, cartTag],
      [pricing, pricingSha, pricingTag],
    ] as const) {
      const view = await read(a.lineage, entity);
      expect(demo(view).current).toMatchObject({ sha, tag });
      expect(
        view.commits.find(c => c.sha === sha)!.artifacts[0].tags,
      ).toContain(tag);
    }
  });

  it.each(['embedded', 'GitHub'])(
    '%s: chooses the next free tag at the tag step when another commit took the one it chose',
    async mode => {
      const sibling = { sha: '' };
      const { a, local, read, gitTags } = await setup({
        wrap: l => siblingTagsFirst(l, sibling),
        github: mode === 'GitHub',
      });
      const cartSha = promotable(await read(a.lineage, cart));
      sibling.sha = promotable(await read(a.lineage, pricing), cartSha);
      const plan = await a.service.promote(
        cart,
        { environment: 'demo', sha: cartSha, dryRun: true },
        ctx,
      );
      const chosen = plan.tag!;
      // The dry run shows the tag and manifest checks by name.
      expect(
        'checks' in plan &&
          plan.checks
            .filter(c =>
              ['tag-name', 'registry-tag', 'deploy-target'].includes(c.name),
            )
            .map(c => [c.name, c.passed, c.reason]),
      ).toEqual([
        ['tag-name', true, `${chosen} is a valid git tag and matches rc-*`],
        ['registry-tag', true, `${chosen} is a valid tag for local/shop-cart`],
        [
          'deploy-target',
          true,
          `mainline-demo/deployments:apps/shop-cart/overlays/demo/kustomization.yaml has the image entry to set to ${chosen}`,
        ],
      ]);
      const result = (await a.service.promote(
        cart,
        { environment: 'demo', sha: cartSha },
        ctx,
      )) as PromotionRecord;
      expect(result.status).toBe('succeeded');
      const next = `rc-${Number(chosen.slice(3)) + 1}`;
      expect({ tag: result.tag, version: result.version }).toEqual({
        tag: next,
        version: next,
      });
      const steps = Object.fromEntries(
        result.steps.map(s => [s.name, s.detail]),
      );
      expect(steps.tag).toContain(`created tag ${next}`);
      expect(steps.tag).toContain(`${chosen} chosen first, taken meanwhile`);
      expect(steps.retag).toContain(`tagged ${next}`);
      const tags = await gitTags();
      expect(tags.get(chosen)).toBe(sibling.sha);
      expect(tags.get(next)).toBe(cartSha);
      expect(demo(await read(a.lineage, cart)).current).toMatchObject({
        sha: cartSha,
        tag: next,
      });
      expect(
        (await local.artifacts.getArtifact(
          { kind: 'image', location: 'local/shop-cart' },
          cartSha,
        ))!.tags,
      ).not.toContain(chosen);
    },
  );

  it.each(['embedded', 'GitHub'])(
    '%s: lets a promotion that failed at its tag step while its tag was taken succeed on retry',
    async mode => {
      const sibling = { sha: '', thenFail: true };
      const { a, read, gitTags } = await setup({
        wrap: l => siblingTagsFirst(l, sibling),
        github: mode === 'GitHub',
      });
      const cartSha = promotable(await read(a.lineage, cart));
      sibling.sha = promotable(await read(a.lineage, pricing), cartSha);
      const failed = (await a.service.promote(
        cart,
        { environment: 'demo', sha: cartSha },
        ctx,
      )) as PromotionRecord;
      expect(failed.status).toBe('failed');
      expect(failed.steps.find(s => s.status === 'failed')!.name).toBe('tag');
      const taken = failed.tag!;
      const retried = await a.service.retry(cart, failed.id, ctx);
      expect([retried.status, retried.error]).toEqual(['succeeded', null]);
      expect(retried.tag).not.toBe(taken);
      const tags = await gitTags();
      expect(tags.get(taken)).toBe(sibling.sha);
      expect(tags.get(retried.tag!)).toBe(cartSha);
      expect(demo(await read(a.lineage, cart)).current?.tag).toBe(retried.tag);
    },
  );

  it.each(['embedded', 'GitHub'])(
    '%s: fails a given tag another commit took meanwhile with a conflict naming it, before any retag or deploy',
    async mode => {
      const sibling = { sha: '' };
      const { a, local, read, gitTags } = await setup({
        wrap: l => siblingTagsFirst(l, sibling),
        github: mode === 'GitHub',
      });
      const before = demo(await read(a.lineage, cart)).current;
      const cartSha = promotable(await read(a.lineage, cart));
      sibling.sha = promotable(await read(a.lineage, pricing), cartSha);
      const result = (await a.service.promote(
        cart,
        { environment: 'demo', sha: cartSha, tag: 'rc-50' },
        ctx,
      )) as PromotionRecord;
      expect(result.status).toBe('failed');
      expect(result.error).toContain(
        `tag rc-50 was created on ${sibling.sha.slice(0, 7)}`,
      );
      expect(result.steps.map(s => s.status)).toEqual([
        'succeeded',
        'failed',
        'pending',
        'pending',
      ]);
      expect((await gitTags()).get('rc-50')).toBe(sibling.sha);
      expect(
        (await local.artifacts.getArtifact(
          { kind: 'image', location: 'local/shop-cart' },
          cartSha,
        ))!.tags,
      ).not.toContain('rc-50');
      expect(demo(await read(a.lineage, cart)).current).toEqual(before);
    },
  );

  it("refreshes every entity sharing the repository or artifact location, on another replica's cache too", async () => {
    const { a, b, read } = await setup();
    // Replica b has both lineages cached.
    const mirrored = await read(b.lineage, checkoutApi);
    const yanked = mirrored.commits.find(
      c => c.artifacts.length > 0 && !c.yanked && c.environments.length === 0,
    )!;
    const cartView = await read(b.lineage, cart);
    const pricingBefore = await read(b.lineage, pricing);
    // A commit of both components' histories that demo does not run for cart.
    const bothBuilt = cartView.commits.find(
      c =>
        c.artifacts.length > 0 &&
        c.environments.length === 0 &&
        !c.yanked &&
        pricingBefore.commits.some(p => p.sha === c.sha),
    )!;

    // Through replica a: a yank through checkout, a promotion of cart.
    await a.service.yank(
      checkout,
      { sha: yanked.sha, reason: 'failed end-to-end validation' },
      ctx,
    );
    const promoted = (await a.service.promote(
      cart,
      { environment: 'demo', sha: bothBuilt.sha },
      ctx,
    )) as PromotionRecord;
    expect(promoted.status).toBe('succeeded');

    // The deleted artifact is gone from the other entity's lineage at once.
    const mirroredAfter = await read(b.lineage, checkoutApi);
    expect(
      mirroredAfter.commits.find(c => c.sha === yanked.sha)!.artifacts,
    ).toEqual([]);
    // The sibling sees the new release tag of the repository.
    const tagsOf = (l: Lineage) =>
      l.commits.find(c => c.sha === bothBuilt.sha)!.tags;
    expect(tagsOf(pricingBefore)).not.toContain(promoted.tag);
    expect(tagsOf(await read(b.lineage, pricing))).toContain(promoted.tag);
  });
});

/** A loopback port nothing listens on: connections to it are refused. */
async function refusingPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

describe('the shop over the API, with a sibling whose registry cannot be reached', () => {
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const api = '/api/promotion/v1/entities/component/default';

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-unreachable-'));
    const registry = `127.0.0.1:${await refusingPort()}`;
    const legacy: Entity = {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: 'shop-legacy',
        namespace: 'default',
        annotations: {
          // Registered from the administrator's catalog file, as the demo's shop components are.
          'backstage.io/managed-by-location':
            'file:/etc/backstage/catalog/shop.yaml',
          'github.com/project-slug': 'mainline-demo/shop',
          'mainline.dev/source-path': 'services/legacy',
          'mainline.dev/artifact-kind': 'image',
          'mainline.dev/artifact-location': `${registry}/shop-legacy`,
          'mainline.dev/manifest-repo': 'mainline-demo/deployments',
          'mainline.dev/manifest-path':
            'apps/shop-legacy/overlays/{environment}/kustomization.yaml',
        },
      },
      spec: {
        type: 'service',
        owner: 'group:default/payments',
        lifecycle: 'production',
        system: 'shop',
      },
    };
    ({ server } = await startTestBackend({
      features: demoBackendFeatures({
        dataDir,
        entities: [...demoEntities(), legacy],
        promotion: {
          artifacts: {
            oci: { registries: [{ host: registry, insecure: true }] },
          },
        },
      }),
    }));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('reports the sibling as refused with the reason, in the dry run and the release, and releases the others', async () => {
    const cartLineage = (
      await request(server).get(`${api}/cart/lineage?limit=20`)
    ).body as Lineage;
    const sha = cartLineage.commits[0].sha;
    for (const dryRun of [true, false]) {
      const res = await request(server)
        .post(`${api}/cart/repository-promotions`)
        .send({ environment: 'demo', sha, ...(dryRun ? { dryRun } : {}) });
      expect({ status: res.status, error: res.body.error?.message }).toEqual({
        status: 200,
        error: undefined,
      });
      const byName = Object.fromEntries(
        res.body.components.map((c: any) => [c.entityRef.split('/')[1], c]),
      );
      expect(byName['shop-legacy']).toMatchObject({ outcome: 'refused' });
      expect(byName['shop-legacy'].message).toMatch(
        /^could not read what [0-9a-f]{7} built for it: /,
      );
      // Typed as a single promotion's refusal is: the failed check, by name.
      expect(byName['shop-legacy'].checks).toEqual([
        {
          name: 'artifact',
          passed: false,
          reason: byName['shop-legacy'].message,
        },
      ]);
      expect(byName.cart.outcome).toBe(dryRun ? 'planned' : 'promoted');
      expect(byName.pricing.outcome).toBe('unchanged');
    }
    const after = (await request(server).get(`${api}/cart/lineage?limit=20`))
      .body as Lineage;
    expect(demo(after).current?.sha).toBe(sha);
  });

  it('promotes two components of the repository at once through the API, with distinct tags', async () => {
    const read = async (name: string) =>
      (await request(server).get(`${api}/${name}/lineage?limit=50`))
        .body as Lineage;
    const [pricingView, searchView] = await Promise.all([
      read('pricing'),
      read('search'),
    ]);
    const pricingSha = promotable(pricingView);
    const searchSha = promotable(searchView, pricingSha);
    const [a, b] = await Promise.all([
      request(server)
        .post(`${api}/pricing/promotions`)
        .send({ environment: 'demo', sha: pricingSha }),
      request(server)
        .post(`${api}/search/promotions`)
        .send({ environment: 'demo', sha: searchSha }),
    ]);
    expect(
      [a, b].map(r => [r.status, r.body.status, r.body.error ?? null]),
    ).toEqual([
      [201, 'succeeded', null],
      [201, 'succeeded', null],
    ]);
    expect(a.body.tag).not.toBe(b.body.tag);
    expect(demo(await read('pricing')).current).toMatchObject({
      sha: pricingSha,
      tag: a.body.tag,
    });
    expect(demo(await read('search')).current).toMatchObject({
      sha: searchSha,
      tag: b.body.tag,
    });
  });
});
