import fs from 'node:fs';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const api = '/api/promotion/v1';

/** What a release manager reads off a row: the version in each environment. */
const versions = (board: any) =>
  board.services.map((s: any) => [
    s.entityRef,
    s.environments.map((c: any) => [c.environment, c.version]),
  ]);

describe.each(TestDatabases.create({ ids: ['SQLITE_3'] }).eachSupportedId())(
  'the board from persisted snapshots on %s',
  databaseId => {
    const databases = TestDatabases.create({ ids: [databaseId] });
    let dataDir: string;

    beforeAll(async () => {
      ({ dataDir } = await demoDataDir('mainline-board-snapshots-'));
    });
    afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

    it('a restarted replica with an empty cache serves the board at once from the snapshots, marked with their age', async () => {
      const knex = await databases.init(databaseId);
      const first = await startTestBackend({
        features: demoBackendFeatures({ knex, dataDir }),
      });
      const before = await request(first.server).get(`${api}/board`);
      expect(before.status).toBe(200);
      expect(before.body.services).toHaveLength(5);
      expect(before.body.services.every((s: any) => !s.snapshotAt)).toBe(true);
      // Snapshots are written within half a second of the reads.
      const started = Date.now();
      while (
        Number(
          (
            (await knex('promotion_lineage_snapshots').count({
              n: '*',
            })) as any
          )[0].n,
        ) < 5 &&
        Date.now() - started < 10_000
      ) {
        await new Promise(resolve => setTimeout(resolve, 100));
      }
      await first.stop();

      // The new replica has a cache of its own (empty) and reads nothing upstream for a board.
      const restarted = await startTestBackend({
        features: demoBackendFeatures({
          knex,
          dataDir,
          promotion: { board: { coldReadsPerRequest: 0 } },
        }),
      });
      const after = await request(restarted.server).get(`${api}/board`);
      expect(after.status).toBe(200);
      expect(versions(after.body)).toEqual(versions(before.body));
      for (const row of after.body.services) {
        expect(row.error).toBeNull();
        const age =
          Date.parse(after.body.generatedAt) - Date.parse(row.snapshotAt);
        expect(age).toBeGreaterThanOrEqual(0);
        expect(age).toBeLessThan(120_000);
      }

      // A service's own lineage page still reads afresh, and the board then shows it current.
      const own = await request(restarted.server).get(
        `${api}/entities/component/default/checkout/lineage`,
      );
      expect(own.status).toBe(200);
      const again = await request(restarted.server).get(`${api}/board`);
      const checkout = again.body.services.find((s: any) =>
        s.entityRef.endsWith('/checkout'),
      );
      expect(checkout.snapshotAt).toBeNull();
      await restarted.stop();
    });

    it('a board does not wait for slow cold reads: their rows are shown as being read, and the next page load has them', async () => {
      const knex = await databases.init(databaseId);
      const { dataDir: fresh } = await demoDataDir('mainline-board-cold-wait-');
      const backend = await startTestBackend({
        features: demoBackendFeatures({
          knex,
          dataDir: fresh,
          // Not even a local git read answers within no time at all.
          promotion: { board: { coldReadWaitSeconds: 0 } },
        }),
      });
      try {
        const first = await request(backend.server).get(`${api}/board`);
        expect(first.status).toBe(200);
        expect(first.body.services).toHaveLength(5);
        expect(first.body.refreshing).toBe(5);
        expect(
          first.body.services.map((s: any) => [s.refreshing, s.error]),
        ).toEqual(Array(5).fill([true, null]));
        expect(first.headers['server-timing']).toMatch(
          /catalog;dur=\d+, .*cold;dur=\d+/,
        );
        // The reads went on without the page: a later board serves every row read.
        let later = first;
        for (let i = 0; i < 100 && later.body.refreshing > 0; i++) {
          await new Promise(resolve => setTimeout(resolve, 200));
          later = await request(backend.server).get(`${api}/board`);
        }
        expect(later.body.refreshing).toBe(0);
        expect(
          later.body.services.every(
            (s: any) => s.environments.length === 3 && s.error === null,
          ),
        ).toBe(true);
      } finally {
        await backend.stop();
        fs.rmSync(fresh, { recursive: true, force: true });
      }
    });
  },
);
