import fs from 'node:fs';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { Lineage } from '../lineage/types';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(90_000);

const api = '/api/promotion/v1';
const entityApi = `${api}/entities/component/default`;

describe('release board, monorepo and release branches on the demo', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-board-'));
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startTestBackend({
      features: demoBackendFeatures({ knex, dataDir }),
    }));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function get(url: string) {
    const res = await request(server).get(url);
    expect({ status: res.status, error: res.body?.error?.message }).toEqual({
      status: 200,
      error: undefined,
    });
    return res;
  }

  const lineage = async (name: string, query = ''): Promise<Lineage> =>
    (await get(`${entityApi}/${name}/lineage${query}`)).body;

  it('lists every demo service with the versions its lineage shows', async () => {
    const board = (await get(`${api}/board`)).body;
    expect(board.environments).toEqual(['stage', 'demo', 'prod']);
    expect(board.services.map((s: any) => s.entityRef)).toEqual([
      'component:default/cart',
      'component:default/checkout',
      'component:default/invoices',
      'component:default/pricing',
      'component:default/search',
    ]);
    for (const row of board.services) {
      expect(row.error).toBeNull();
      const name = row.entityRef.split('/')[1];
      const own = await lineage(name);
      expect(
        row.environments.map((c: any) => [c.environment, c.version]),
      ).toEqual(
        own.environments.map(e => [e.name, e.current?.version ?? null]),
      );
    }
    const checkout = board.services.find((s: any) =>
      s.entityRef.endsWith('/checkout'),
    );
    expect(checkout).toMatchObject({
      owner: 'group:default/payments',
      system: 'system:default/storefront',
      releaseBranches: true,
      sourcePath: null,
    });
    // checkout's stage runs the yanked commit's successor; demo and prod run tags, no drift there.
    const [, demo, prod] = checkout.environments;
    expect(demo.drift).toEqual([]);
    expect(prod.drift).toEqual([]);
    expect(prod.behindBy).toBeGreaterThan(0);

    const shop = (await get(`${api}/board?system=shop`)).body;
    expect(shop.services.map((s: any) => s.entityRef)).toEqual([
      'component:default/cart',
      'component:default/pricing',
      'component:default/search',
    ]);
    const owned = (await get(`${api}/board?owner=payments`)).body;
    expect(owned.services).toHaveLength(5);
    const nobody = (
      await get(
        `${api}/board?owner=${encodeURIComponent('group:default/guest')}`,
      )
    ).body;
    expect(nobody.services).toHaveLength(0);
  });

  it('refuses a malformed filter or tag before reading anything', async () => {
    for (const url of [
      `${api}/board?owner=${encodeURIComponent('group:')}`,
      `${api}/board?tag=${encodeURIComponent('rc-1..2')}`,
      `${api}/promotions/export?format=xml`,
    ]) {
      const res = await request(server).get(url);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/owner|tag|format/);
    }
  });

  it('shows each monorepo service only the commits that touched its folder', async () => {
    const [cart, pricing] = await Promise.all([
      lineage('cart', '?limit=100'),
      lineage('pricing', '?limit=100'),
    ]);
    expect(cart.commits.length).toBeGreaterThan(3);
    for (const commit of cart.commits) {
      expect(commit.message).toMatch(/^cart:|with .*cart|^Create the shop/);
      expect(commit.artifacts).toHaveLength(1);
    }
    for (const commit of pricing.commits) {
      expect(commit.message).toMatch(
        /^pricing:|with .*pricing|^Create the shop/,
      );
    }
    expect(cart.commits.map(c => c.sha)).not.toEqual(
      pricing.commits.map(c => c.sha),
    );
  });

  it('releases a commit that touched one service: that one promoted, the others unchanged', async () => {
    const cart = await lineage('cart');
    const newest = cart.commits[0];
    const pricingBefore = await lineage('pricing');
    const res = await request(server)
      .post(`${entityApi}/cart/repository-promotions`)
      .set('idempotency-key', 'board-test-release')
      .send({ environment: 'demo', sha: newest.sha });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 200,
      error: undefined,
    });
    expect(res.body.repository).toBe('mainline-demo/shop');
    expect(res.body.tag).toBe('rc-4');
    const byRef = Object.fromEntries(
      res.body.components.map((c: any) => [c.entityRef.split('/')[1], c]),
    );
    expect(byRef.cart).toMatchObject({ outcome: 'promoted' });
    expect(byRef.cart.promotion.status).toBe('succeeded');
    for (const name of ['pricing', 'search']) {
      expect(byRef[name].outcome).toBe('unchanged');
      expect(byRef[name].message).toContain(
        `it changed nothing under services/${name}`,
      );
      expect(byRef[name].ancestor).toMatch(/^[0-9a-f]{40}$/);
    }

    const board = (await get(`${api}/board?system=shop&tag=rc-4`)).body;
    const row = (name: string) =>
      board.services.find((s: any) => s.entityRef.endsWith(`/${name}`));
    expect(row('cart').environments[1]).toMatchObject({
      version: 'rc-4',
      drift: [],
      lastPromotion: { status: 'succeeded', version: 'rc-4' },
    });
    expect(row('cart').tag).toMatchObject({ outcome: 'promotes' });
    expect(row('pricing').environments[1].version).toBe(
      pricingBefore.environments[1].current?.version,
    );
    expect(row('pricing').tag.outcome).toBe('unchanged');

    // The same request again is the same result, not a second release.
    const again = await request(server)
      .post(`${entityApi}/cart/repository-promotions`)
      .set('idempotency-key', 'board-test-release')
      .send({ environment: 'demo', sha: newest.sha });
    expect(again.status).toBe(200);
    expect(
      again.body.components.find((c: any) => c.entityRef.endsWith('/cart'))
        .promotion.id,
    ).toBe(byRef.cart.promotion.id);
  });

  it('exports the promotion history as CSV and JSON', async () => {
    const csv = await get(`${api}/promotions/export?format=csv&system=shop`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/promotions-.*\.csv/);
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toBe(
      'createdAt,entityRef,environment,kind,status,version,tag,sha,requestedBy,error,updatedAt,id',
    );
    expect(
      lines
        .slice(1)
        .some(l =>
          l.includes('component:default/cart,demo,promotion,succeeded,rc-4'),
        ),
    ).toBe(true);
    const json = await get(`${api}/promotions/export?format=json`);
    expect(json.body.items[0]).toMatchObject({
      entityRef: 'component:default/cart',
      version: 'rc-4',
    });
    expect(json.body.items[0].idempotencyKey).toBeUndefined();
  });

  it('promotes a release-branch commit to prod by a v* tag, marked as the exception', async () => {
    const release = await lineage('checkout', '?branch=release/v1.1');
    const head = release.commits[0];
    expect(head.artifacts).toHaveLength(1);
    const res = await request(server)
      .post(`${entityApi}/checkout/promotions`)
      .send({ environment: 'prod', sha: head.sha, tag: 'v1.1.2' });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 201,
      error: undefined,
    });
    expect(res.body.status).toBe('succeeded');
    expect(res.body.steps[0].detail).toContain('release/* exception');
    const main = await lineage('checkout');
    expect(main.environments[2].current).toMatchObject({
      sha: head.sha,
      version: 'v1.1.2',
    });
  });

  it('ties each cherry-pick of the release branch to its main commit and lists missing fixes', async () => {
    const release = await lineage('checkout', '?branch=release/v1.1');
    const main = await lineage('checkout', '?limit=100');
    expect(release.exception).toBe(true);
    const picks = release.commits.filter(c => c.cherryPickOf);
    expect(picks).toHaveLength(2);
    for (const pick of picks) {
      const original = main.commits.find(c => c.sha === pick.cherryPickOf);
      expect(original?.message).toBe(pick.message);
    }
    expect(release.missingFixes.map(c => c.message)).toEqual([
      expect.stringContaining('fix/checkout-currency-rounding'),
    ]);
    expect(main.missingFixes).toEqual([]);
  });
});
