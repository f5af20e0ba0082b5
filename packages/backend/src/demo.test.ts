import path from 'node:path';
import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import promotionPlugin from '@mainline/plugin-promotion-backend';
import promotionModuleLocal from '@mainline/plugin-promotion-backend-module-local';
import promotionModuleGithub from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleGitops from '@mainline/plugin-promotion-backend-module-gitops';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleOci from '@mainline/plugin-promotion-backend-module-oci';
import request from 'supertest';

jest.setTimeout(120_000);

// The demo catalog and the promotion backend, wired as packages/backend wires them, on each
// database the machine offers (SQLite always, PostgreSQL 15 when its connection string is set).
describe('demo catalog with the promotion backend', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'serves the demo services release settings on %s',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { server } = await startTestBackend({
        features: [
          catalogPlugin,
          promotionPlugin,
          promotionModuleLocal,
          promotionModuleGithub,
          promotionModuleGitops,
          promotionModuleAws,
          promotionModuleOci,
          mockServices.database.factory({ knex }),
          mockServices.rootConfig.factory({
            data: {
              catalog: {
                rules: [
                  {
                    allow: ['Component', 'System', 'Group', 'User', 'Location'],
                  },
                ],
                locations: [
                  {
                    type: 'file',
                    target: path.resolve(
                      __dirname,
                      '../../../catalog/all.yaml',
                    ),
                  },
                ],
              },
            },
          }),
        ],
      });

      // The catalog ingests the demo files asynchronously: wait until every demo component is there.
      const get = (name: string) =>
        request(server).get(
          `/api/promotion/v1/entities/component/default/${name}/target`,
        );
      let target: request.Response | undefined;
      for (let attempt = 0; attempt < 120; attempt++) {
        const responses = await Promise.all(
          ['checkout', 'invoices', 'storefront-docs'].map(get),
        );
        target = responses[0];
        const ingested = responses.every(
          r =>
            r.status === 200 || !/No entity/.test(r.body?.error?.message ?? ''),
        );
        if (ingested) break;
        await new Promise(resolve => setTimeout(resolve, 500));
      }
      expect(target?.status).toBe(200);
      expect(target?.body).toMatchObject({
        sourceRepo: 'mainline-demo/checkout',
        artifactKind: 'image',
        manifestRepo: 'mainline-demo/deployments',
      });

      const invoices = await request(server).get(
        '/api/promotion/v1/entities/component/default/invoices/target',
      );
      expect(invoices.body).toMatchObject({
        artifactKind: 'archive',
        serverlessService: 'invoices',
        versioning: 'calver',
      });

      const docs = await request(server).get(
        '/api/promotion/v1/entities/component/default/storefront-docs/target',
      );
      expect(docs.status).toBe(404);
      expect(docs.body.error.message).toContain('mainline.dev/artifact-kind');
    },
  );
});
