import fs from 'node:fs';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { actionsRegistryServiceMock } from '@backstage/backend-test-utils/alpha';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { Lineage } from './types';
import { demoEntities } from '../testUtils';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const entities = demoEntities();

const api = '/api/promotion/v1/entities/component/default';

describe.each(
  TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] }).eachSupportedId(),
)('lineage on the embedded default (%s)', databaseId => {
  const databases = TestDatabases.create({ ids: [databaseId] });
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let actions: ReturnType<typeof actionsRegistryServiceMock>;

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-lineage-'));
    actions = actionsRegistryServiceMock();
    const knex = await databases.init(databaseId);
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        catalogServiceMock.factory({ entities }),
        mockServices.database.factory({ knex }),
        memoryCacheFactory(),
        createServiceFactory({
          service: actionsRegistryServiceRef,
          deps: {},
          factory: () => actions,
        }),
        mockServices.rootConfig.factory({
          data: { promotion: { local: { dataDir, demoData: true } } },
        }),
      ],
    }));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function lineage(name: string, query = ''): Promise<Lineage> {
    const res = await request(server).get(`${api}/${name}/lineage${query}`);
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 200,
      error: undefined,
    });
    return res.body;
  }

  it('shows what runs in stage, demo and prod of the container service', async () => {
    const checkout = await lineage('checkout', '?limit=100');
    const [stage, demo, prod] = checkout.environments;
    expect(checkout.environments.map(e => e.name)).toEqual([
      'stage',
      'demo',
      'prod',
    ]);

    // stage runs the newest commit that has an artifact
    const newestBuilt = checkout.commits.find(c => c.artifacts.length > 0)!;
    expect(stage.current?.sha).toBe(newestBuilt.sha);
    expect(stage.current?.version).toBe(newestBuilt.shortSha);
    expect(stage.current?.artifact?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stage.current?.deployedBy).toBe('mainline-ci[bot]');

    // demo and prod run tagged commits, and those commits carry the tags
    expect(demo.current?.tag).toBe('rc-6');
    expect(prod.current?.tag).toBe('v1.1.1');
    const demoCommit = checkout.commits.find(c => c.sha === demo.current?.sha)!;
    expect(demoCommit.tags).toContain('rc-6');
    expect(demoCommit.environments).toEqual(['demo']);
    expect(demoCommit.artifacts[0].tags).toEqual(
      expect.arrayContaining(['rc-6', demoCommit.shortSha]),
    );

    // behindBy counts the commits between neighbouring environments
    const index = (sha?: string | null) =>
      checkout.commits.findIndex(c => c.sha === sha);
    expect(demo.behindBy).toBe(
      index(demo.current?.sha) - index(stage.current?.sha),
    );
    expect(prod.behindBy).toBe(
      index(prod.current?.sha) - index(demo.current?.sha),
    );
    expect(demo.behindBy).toBeGreaterThan(0);
  });

  it('shows docs-only commits without artifacts, the yanked tombstone and pull requests', async () => {
    const checkout = await lineage('checkout', '?limit=100');
    expect(checkout.commits).toHaveLength(36);
    const docsOnly = checkout.commits.filter(c =>
      /^(Document|Fix typos|Add an architecture|Describe|Explain)/.test(
        c.message,
      ),
    );
    expect(docsOnly.length).toBeGreaterThanOrEqual(4);
    for (const commit of docsOnly) {
      expect(commit.artifacts).toEqual([]);
    }
    const yanked = checkout.commits.filter(c => c.yanked);
    expect(yanked).toHaveLength(1);
    expect(yanked[0].artifacts).toEqual([]);
    expect(yanked[0].yanked).toMatchObject({
      by: 'user:default/ada',
      reason: expect.stringContaining('stage'),
    });

    const hotfix = checkout.commits.find(c =>
      c.message.includes('fix/checkout-gateway-timeout'),
    )!;
    expect(hotfix.message).toMatch(/^Merge pull request #\d+ from /);
    expect(hotfix.pullRequest?.number).toBeGreaterThan(100);
    expect(hotfix.artifacts).toHaveLength(1);
    expect(
      new Set(checkout.commits.map(c => c.author.email)).size,
    ).toBeGreaterThanOrEqual(3);
  });

  it('shows the Lambda service with calendar versions and recorded deploys', async () => {
    const invoices = await lineage('invoices');
    const [stage, demo, prod] = invoices.environments;
    expect(stage.current?.artifact?.kind).toBe('archive');
    expect(stage.current?.artifact?.uri).toBe(
      `local://invoices/${stage.current?.sha}/`,
    );
    expect(demo.current?.tag).toBe('rc-5');
    expect(prod.current?.tag).toMatch(/^v20\d\d\.\d{1,2}\.\d+$/);
    expect(prod.current?.deployedBy).toMatch(/^user:default\//);
    const tagged = invoices.commits.find(c => c.sha === prod.current?.sha);
    expect(tagged?.tags).toContain(prod.current?.tag);
  });

  it('shows the release branch apart, as the exception, with cherry-picks traced to main', async () => {
    const main = await lineage('checkout', '?limit=100');
    expect(main.releaseBranches.map(b => b.name)).toEqual(['release/v1.1']);
    const release = await lineage('checkout', '?branch=release/v1.1');
    expect(release.exception).toBe(true);
    const pick = release.commits[0];
    expect(pick.cherryPickOf).toMatch(/^[0-9a-f]{40}$/);
    const original = main.commits.find(c => c.sha === pick.cherryPickOf);
    expect(original?.message).toBe(pick.message);
    expect(pick.artifacts).toHaveLength(1);

    const refused = await request(server).get(
      `${api}/invoices/lineage?branch=release/v1`,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain(
      'mainline.dev/release-branches',
    );
  });

  it('compares two environments: exactly the commits between them', async () => {
    const checkout = await lineage('checkout', '?limit=100');
    const [stage, demo] = checkout.environments;
    const res = await request(server).get(
      `${api}/checkout/compare?from=demo&to=stage`,
    );
    expect(res.status).toBe(200);
    const between = checkout.commits.slice(
      checkout.commits.findIndex(c => c.sha === stage.current?.sha),
      checkout.commits.findIndex(c => c.sha === demo.current?.sha),
    );
    expect(res.body.commits.map((c: { sha: string }) => c.sha)).toEqual(
      between.map(c => c.sha),
    );
    expect(res.body.aheadBy).toBeGreaterThanOrEqual(demo.behindBy!);
    expect(res.body.from).toEqual({ ref: 'demo', sha: demo.current?.sha });

    const byTag = await request(server).get(
      `${api}/checkout/compare?from=v1.0.0&to=rc-1`,
    );
    expect(byTag.status).toBe(200);
    expect(byTag.body.commits).toEqual([]);
  });

  it('answers bad requests with a 4xx naming the problem', async () => {
    const cases: Array<[string, number, RegExp]> = [
      [`${api}/nope/lineage`, 404, /component:default\/nope/],
      [`${api}/storefront-docs/lineage`, 404, /github.com\/project-slug/],
      [`${api}/checkout/lineage?limit=0`, 400, /limit/],
      [`${api}/checkout/lineage?limit=abc`, 400, /limit/],
      [`${api}/checkout/lineage?branch=feature/x`, 400, /branch/],
      [`${api}/checkout/lineage?branch=-x`, 400, /branch/],
      [`${api}/checkout/compare?from=demo`, 400, /to/],
      [`${api}/checkout/compare?from=..%2Fetc&to=stage`, 400, /from/],
      [`${api}/checkout/compare?from=rc-999&to=stage`, 404, /rc-999/],
    ];
    for (const [url, status, message] of cases) {
      const res = await request(server).get(url);
      expect({ url, status: res.status }).toEqual({ url, status });
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('offers read lineage as an action for agents', async () => {
    const result = await actions.invoke({
      id: 'test:read-lineage',
      input: { entityRef: 'component:default/checkout', limit: 5 },
      credentials: mockCredentials.user(),
    });
    const output = result.output as unknown as { lineage: Lineage };
    expect(output.lineage.commits).toHaveLength(5);
    expect(output.lineage.environments.map(e => e.name)).toEqual([
      'stage',
      'demo',
      'prod',
    ]);
  });
});
