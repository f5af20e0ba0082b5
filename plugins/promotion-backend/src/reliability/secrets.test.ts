import fs from 'node:fs';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { demoEntities } from '../testUtils';
import {
  githubModeConfig,
  memoryCacheFactory,
} from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import { capturingLogger } from '../__testUtils__/capturingLogger';

jest.setTimeout(120_000);

const GITHUB_TOKEN = 'ghp_KNOWNSECRETvalue0123456789abcdefABCDEF';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/KNOWNSECRETKEYEXAMPLE';
const api = '/api/promotion/v1/entities/component/default';

describe('secrets stay secret', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const logs: string[] = [];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-secrets-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: GITHUB_TOKEN,
    });
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        catalogServiceMock.factory({ entities: demoEntities() }),
        createServiceFactory({
          service: coreServices.rootLogger,
          deps: {},
          factory: () => capturingLogger(logs),
        }),
        memoryCacheFactory(),
        mockServices.rootConfig.factory({
          data: {
            ...githubModeConfig({
              server: github,
              token: GITHUB_TOKEN,
              dataDir,
              promotion: {
                artifacts: { ecr: { endpoint: 'http://127.0.0.1:9' } },
              },
            }),
            aws: {
              mainAccount: {
                accessKeyId: 'AKIDKNOWN',
                secretAccessKey: AWS_SECRET,
              },
            },
          },
        }),
      ],
    }));
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('never shows the GitHub token or the AWS secret in a response or a log line, even when things fail', async () => {
    const bodies: string[] = [];
    const record = (res: request.Response) => {
      bodies.push(JSON.stringify(res.headers), res.text);
      return res;
    };
    const lineage = record(
      await request(server).get(`${api}/checkout/lineage`),
    );
    expect(lineage.status).toBe(200);
    const stage = lineage.body.environments[0].current;
    // Bad input, a refused promotion, a successful one.
    record(
      await request(server)
        .post(`${api}/checkout/promotions`)
        .send({ environment: 'demo', sha: 'zzz' }),
    );
    record(
      await request(server)
        .post(`${api}/checkout/promotions`)
        .send({ environment: 'prod', sha: stage.sha }),
    );
    record(
      await request(server)
        .post(`${api}/checkout/promotions`)
        .send({ environment: 'demo', sha: stage.sha }),
    );
    // Upstream refusing the credentials (GitHub answers 401) and an unreachable registry.
    github.setRateLimitRemaining(0);
    record(await request(server).get(`${api}/invoices/lineage?limit=7`));
    github.setRateLimitRemaining(5000);
    record(
      await request(server).get(`${api}/checkout/compare?from=stage&to=main`),
    );
    // And GitHub gone altogether.
    await github.close();
    const down = record(
      await request(server).get(`${api}/checkout/lineage?limit=9`),
    );
    expect(down.status).toBeGreaterThanOrEqual(500);

    const everything = [...bodies, ...logs].join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(GITHUB_TOKEN);
    expect(everything).not.toContain(GITHUB_TOKEN.slice(4, 20));
    expect(everything).not.toContain(AWS_SECRET);
  });
});
