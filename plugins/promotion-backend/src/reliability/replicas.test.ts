import fs from 'node:fs';
import path from 'node:path';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import knexFactory, { Knex } from 'knex';
import request from 'supertest';
import { LocalGitSourceControl } from '@mainline/plugin-promotion-backend-module-local';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';
const databases = TestDatabases.create({ ids: ['POSTGRES_15'] });

if (process.env.CI && !databases.supports('POSTGRES_15')) {
  // CI provides PostgreSQL 15 (.ci/run); without it this check would silently not run.
  throw new Error(
    'Two-replica test needs BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING in CI',
  );
}

/** One replica: its own backend, cache and connection pool, sharing the database and the repos. */
async function replica(connection: Knex.Config['connection'], dataDir: string) {
  const knex = knexFactory({
    client: 'pg',
    connection,
    pool: { min: 0, max: 5 },
  });
  const { server } = await startTestBackend({
    features: demoBackendFeatures({ knex, dataDir }),
  });
  return { server, knex };
}

describe.each(databases.eachSupportedId())(
  'two replicas on one %s',
  databaseId => {
    let dataDir: string;
    let replicas: Array<Awaited<ReturnType<typeof replica>>>;

    beforeAll(async () => {
      ({ dataDir } = await demoDataDir('mainline-replicas-'));
      const shared = await databases.init(databaseId);
      const connection = shared.client.config.connection;
      // The first replica creates the demo data and runs the migrations; the second finds both.
      replicas = [await replica(connection, dataDir)];
      replicas.push(await replica(connection, dataDir));
    });

    afterAll(async () => {
      await Promise.all(replicas?.map(r => r.knex.destroy()) ?? []);
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('20 concurrent promotions of one environment across both: exactly one succeeds, one tag, one manifest change', async () => {
      const [a, b] = replicas;
      const lineage = (await request(a.server).get(`${api}/checkout/lineage`))
        .body;
      const stage = lineage.environments.find(
        (e: any) => e.name === 'stage',
      ).current;
      const git = new LocalGitSourceControl(path.join(dataDir, 'git'));
      const tagsBefore = await git.listTags('mainline-demo/checkout');
      const manifestBefore = await git.listCommits(
        'mainline-demo/deployments',
        {
          ref: 'main',
          limit: 500,
        },
      );

      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request((i % 2 ? b : a).server)
            .post(`${api}/checkout/promotions`)
            .send({ environment: 'demo', sha: stage.sha }),
        ),
      );
      const statuses = responses.map(r => r.status).sort();
      expect(statuses.filter(s => s === 201)).toHaveLength(1);
      expect(statuses.filter(s => s === 409)).toHaveLength(19);
      const winner = responses.find(r => r.status === 201)!;
      expect(winner.body.status).toBe('succeeded');
      for (const loser of responses.filter(r => r.status === 409)) {
        expect(loser.body.error.message).toMatch(
          /in progress|already|is deployed|runs/,
        );
      }

      const tagsAfter = await git.listTags('mainline-demo/checkout');
      expect(tagsAfter.length - tagsBefore.length).toBe(1);
      expect(tagsAfter.find(t => t.name === winner.body.tag)?.sha).toBe(
        stage.sha,
      );
      const manifestAfter = await git.listCommits('mainline-demo/deployments', {
        ref: 'main',
        limit: 500,
      });
      expect(manifestAfter.length - manifestBefore.length).toBe(1);

      // Both replicas agree on the outcome once their caches are invalidated by the write.
      for (const r of replicas) {
        const after = (
          await request(r.server).get(`${api}/checkout/promotions`)
        ).body;
        expect(
          after.items.filter(
            (p: any) => p.status === 'succeeded' && p.environment === 'demo',
          ),
        ).toHaveLength(1);
      }
    });
  },
);
