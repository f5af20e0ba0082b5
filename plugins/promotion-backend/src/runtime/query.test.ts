import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { promotionModuleArgoCd } from '@mainline/plugin-promotion-backend-module-argocd';
import { RuntimeQueryResult } from '@mainline/plugin-promotion-common';
import { startArgoCdTestServer } from '@mainline/test-servers';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import { corpus } from '../reliability/badInput.corpus';

jest.setTimeout(420_000);

const api = '/api/promotion/v1';
const ada = mockCredentials.user.header('user:default/ada');
/** A caller the catalog shows everything but checkout (a conditional catalog read decision). */
const eve = mockCredentials.user.header('user:default/eve');
const CHECKOUT = 'component:default/checkout';

/**
 * `POST /v1/runtime/query` through the real router, the real catalog backend (which applies the
 * permission decision to every entity it reads) and the Argo CD module against the Argo CD test
 * server, on the embedded default's demo with checkout annotated for Argo CD; ledger and notifier
 * are the local runtime's. Argo CD requests are counted at the test server.
 */
describe('POST /v1/runtime/query', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

  it('answers the entities the caller may read, reuses observations until the TTL or a write, and refuses bad input before any upstream call', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-runtime-q-'));
    // The demo as generated once per test run (ledger's and notifier's manifests included).
    const { dataDir } = await demoDataDir('mainline-runtime-q-data-');
    const catalogDir = path.join(dir, 'catalog');
    fs.cpSync(path.resolve(__dirname, '../../../../catalog'), catalogDir, {
      recursive: true,
    });
    const storefront = path.join(catalogDir, 'storefront.yaml');
    fs.writeFileSync(
      storefront,
      fs
        .readFileSync(storefront, 'utf8')
        .replace(
          '    github.com/project-slug: mainline-demo/checkout\n',
          '    github.com/project-slug: mainline-demo/checkout\n    argocd/app-name: checkout\n',
        ),
    );
    const argo = await startArgoCdTestServer();
    // Eve may read every entity but checkout, as a catalog permission policy would decide it.
    const decide = (credentials: BackstageCredentials) =>
      (credentials.principal as { userEntityRef?: string }).userEntityRef ===
      'user:default/eve'
        ? {
            result: AuthorizeResult.CONDITIONAL,
            pluginId: 'catalog',
            resourceType: 'catalog-entity',
            conditions: {
              not: {
                rule: 'HAS_METADATA',
                resourceType: 'catalog-entity',
                params: { key: 'name', value: 'checkout' },
              },
            },
          }
        : { result: AuthorizeResult.ALLOW };
    const permissions = createServiceFactory({
      service: coreServices.permissions,
      deps: {},
      factory: (): PermissionsService => ({
        authorize: async requests =>
          requests.map(() => ({ result: AuthorizeResult.ALLOW })) as any,
        authorizeConditional: async (requests, { credentials }) =>
          requests.map(() => decide(credentials)) as any,
      }),
    });
    const { server } = await startTestBackend({
      features: [
        catalogPlugin,
        ...promotionWithAdapters,
        promotionModuleArgoCd,
        permissions,
        memoryCacheFactory(),
        mockServices.database.factory({
          knex: await databases.init('SQLITE_3'),
        }),
        mockServices.rootConfig.factory({
          data: {
            catalog: {
              rules: [
                { allow: ['Component', 'System', 'Group', 'User', 'Location'] },
              ],
              locations: [
                { type: 'file', target: path.join(catalogDir, 'all.yaml') },
              ],
            },
            promotion: {
              catalogReadCacheSeconds: 0,
              runtime: { cacheTtlSeconds: 2 },
              artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
              argocd: {
                instances: [
                  { name: 'main', url: argo.baseUrl, token: argo.token },
                ],
              },
              local: { dataDir, demoData: true },
            },
          },
        }),
      ],
    });
    const query = (entityRefs: unknown, caller = ada) =>
      request(server)
        .post(`${api}/runtime/query`)
        .set('authorization', caller)
        .send({ entityRefs });
    try {
      // The catalog ingests the demo files and the demo is generated in the background.
      const deadline = Date.now() + 240_000;
      for (;;) {
        const ready = await Promise.all(
          ['ledger/lineage', 'checkout/lineage'].map(
            async read =>
              (
                await request(server)
                  .get(`${api}/entities/component/default/${read}`)
                  .set('authorization', ada)
              ).status,
          ),
        );
        if (ready.every(status => status === 200)) break;
        if (Date.now() > deadline) throw new Error(`demo not ready: ${ready}`);
        await new Promise(resolve => setTimeout(resolve, 500));
      }
      const lineage = (
        await request(server)
          .get(`${api}/entities/component/default/checkout/lineage`)
          .set('authorization', ada)
      ).body;
      for (const environment of lineage.environments) {
        argo.setApplication({
          name: `checkout-${environment.name}`,
          sync: { status: 'Synced', revision: 'a'.repeat(40) },
          health: { status: 'Healthy', lastTransitionTime: new Date() },
          pods: [
            {
              name: `checkout-${environment.name}-1`,
              containers: [
                {
                  name: 'app',
                  image: 'local/checkout',
                  digest:
                    environment.current?.artifact?.digest ??
                    `sha256:${'0'.repeat(64)}`,
                },
              ],
            },
          ],
        });
      }

      // Bad input: 400 naming the problem, and not one upstream request.
      argo.resetRequests();
      const tooMany = await query(
        Array.from({ length: 101 }, (_, i) => `component:default/s${i}`),
      );
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.message).toMatch(/entityRefs.*100/);
      const malformed = await query([CHECKOUT, 'component:default/']);
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.message).toContain(
        'entityRefs[1] "component:default/"',
      );
      // …and the bad-input corpus's cases of this route, each naming its problem.
      const cases = corpus().filter(c => c.path.endsWith('/runtime/query'));
      expect(cases.length).toBeGreaterThan(5);
      for (const bad of cases) {
        const res = await request(server)
          .post(bad.path)
          .set('authorization', ada)
          .send(bad.body as object);
        expect([bad.name, res.status]).toEqual([bad.name, 400]);
        expect(res.body.error.message).toMatch(bad.mentions);
      }
      expect(argo.requests).toHaveLength(0);

      // Ada reads all four; ledger and notifier from the local runtime, checkout from Argo CD.
      const refs = [
        CHECKOUT,
        'ledger',
        'component:default/notifier',
        'component:default/no-such-service',
        'component:default/storefront-docs',
      ];
      const first = await query(refs);
      expect(first.status).toBe(200);
      const answer: RuntimeQueryResult = first.body;
      expect(answer.failures).toEqual([]);
      expect(answer.items.map(v => [v.entityRef, v.observer])).toEqual([
        [CHECKOUT, 'argocd'],
        ['component:default/ledger', 'local'],
        ['component:default/notifier', 'local'],
      ]);
      const checkout = answer.items[0];
      expect(
        checkout.environments.map(e => [e.name, e.running?.health.status]),
      ).toEqual([
        ['stage', 'Healthy'],
        ['demo', 'Healthy'],
        ['prod', 'Healthy'],
      ]);
      expect(checkout.environments[0].drift).toBe(false);
      const ledgerDemo = answer.items[1].environments.find(
        e => e.name === 'demo',
      )!;
      expect(ledgerDemo).toMatchObject({
        declared: { version: 'rc-2' },
        running: {
          lastOperation: { phase: 'Failed' },
          health: { status: 'Healthy' },
        },
        drift: true,
      });
      const observed = argo.requests.length;
      expect(observed).toBeGreaterThan(0);

      // Eve gets the same answer without checkout, exactly as for an entity that does not exist.
      const eves = await query(refs, eve);
      expect(eves.status).toBe(200);
      expect(
        eves.body.items.map((v: { entityRef: string }) => v.entityRef),
      ).toEqual(['component:default/ledger', 'component:default/notifier']);
      expect(JSON.stringify(eves.body)).not.toContain('checkout');
      // …and the single read of it is a 404, as before.
      expect(
        (
          await request(server)
            .get(`${api}/entities/component/default/checkout/runtime`)
            .set('authorization', eve)
        ).status,
      ).toBe(404);

      // Within the TTL the observation is reused: no Argo CD request.
      argo.resetRequests();
      expect((await query([CHECKOUT])).status).toBe(200);
      expect(argo.requests).toHaveLength(0);

      // A write through Mainline (a yank of a commit no environment runs) invalidates the
      // entity's lineage, and with it the kept observation.
      const sha = lineage.commits.find(
        (c: { environments: string[]; yanked: unknown }) =>
          c.environments.length === 0 && !c.yanked,
      ).sha;
      const yank = await request(server)
        .post(`${api}/entities/component/default/checkout/yanks`)
        .set('authorization', ada)
        .send({ sha, reason: 'runtime cache test' });
      expect(yank.status).toBe(201);
      argo.resetRequests();
      expect((await query([CHECKOUT])).status).toBe(200);
      expect(argo.requests.length).toBe(observed);

      // Past the TTL it is observed again, and an unreachable Argo CD fails only its entity.
      await new Promise(resolve => setTimeout(resolve, 2_200));
      await argo.close();
      const down = await query([CHECKOUT, 'ledger']);
      expect(down.status).toBe(200);
      expect(
        down.body.items.map((v: { entityRef: string }) => v.entityRef),
      ).toEqual(['component:default/ledger']);
      expect(down.body.failures).toEqual([
        {
          entityRef: CHECKOUT,
          error: {
            name: expect.any(String),
            message: expect.stringMatching(
              /Argo CD instance main could not be reached/,
            ),
          },
        },
      ]);
    } finally {
      await argo.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
