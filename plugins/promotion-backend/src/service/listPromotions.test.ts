import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { demoEntities } from '../testUtils';

jest.setTimeout(90_000);

const promotions =
  '/api/promotion/v1/entities/component/default/checkout/promotions';

/**
 * The `limit` of the promotion list through the real validated router and store on SQLite: rows
 * are written straight into the table the store reads, so nothing else (git, artifacts) is needed.
 */
describe('GET .../promotions?limit', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const COUNT = 60;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-list-limit-'));
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        catalogServiceMock.factory({ entities: demoEntities() }),
        mockServices.database.factory({ knex }),
        memoryCacheFactory(),
        mockServices.rootConfig.factory({
          data: { promotion: { local: { dataDir } } },
        }),
      ],
    }));
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i));
    await knex('promotion_promotions').insert(
      Array.from({ length: COUNT }, (_, i) => ({
        id: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
        entity_ref: 'component:default/checkout',
        kind: 'promotion',
        environment: 'demo',
        sha: 'a'.repeat(40),
        tag: `rc-${i}`,
        version: `rc-${i}`,
        status: 'succeeded',
        request_hash: 'x',
        requested_by: 'user:default/guest',
        created_at: at(i),
        updated_at: at(i),
      })),
    );
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('answers the newest `limit` promotions, 50 without one', async () => {
    const ten = await request(server).get(`${promotions}?limit=10`);
    expect(ten.status).toBe(200);
    expect(ten.body.items.map((p: { tag: string }) => p.tag)).toEqual(
      Array.from({ length: 10 }, (_, i) => `rc-${COUNT - 1 - i}`),
    );
    const all = await request(server).get(`${promotions}?limit=200`);
    expect(all.body.items).toHaveLength(COUNT);
    const unlimited = await request(server).get(promotions);
    expect(unlimited.body.items).toHaveLength(50);
  });

  it.each(['0', '201', 'ten', '1.5', '-1'])(
    'refuses limit=%s with a 400 naming the parameter',
    async limit => {
      const res = await request(server).get(`${promotions}?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body.error.name).toBe('InputError');
      expect(res.body.error.message).toMatch(/limit/);
    },
  );

  it('leaves credentials to the auth service: a bad token is a 401, not a validation error', async () => {
    const res = await request(server)
      .get(`${promotions}?limit=10`)
      .set('authorization', mockCredentials.user.invalidHeader());
    expect(res.status).toBe(401);
  });
});
