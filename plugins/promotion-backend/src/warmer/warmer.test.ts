import fs from 'node:fs';
import path from 'node:path';
import {
  SchedulerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { githubModeConfig } from '../__testUtils__/demoBackend';
import {
  deliverGitHubWebhook,
  webhookBackendFeatures,
} from '../__testUtils__/webhookBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const TOKEN = 'warmer-token';
const SECRET = 'warmer-webhook-secret';
const RESERVE = 1000;
const api = '/api/promotion/v1';
const entityApi = `${api}/entities/component/default`;
/** The demo's repositories: checkout, invoices, and the shop monorepo (cart, pricing, search). */
const DEMO_REPOS = ['checkout', 'invoices', 'shop'];

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const WARM = 'promotion-warm-lineage';

/**
 * The background warmer against the GitHub test server: it reads every service's lineage with
 * nobody asking, and stops at the rate reserve, where a person's promotion still goes through.
 */
describe('lineage warmer within the rate budget', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  // The test backend's scheduler runs a task when told to: each warmer round is one trigger.
  const scheduler = mockServices.scheduler() as SchedulerService & {
    factory(options?: {
      skipTaskRunOnStartup?: boolean;
    }): ServiceFactory<SchedulerService, 'plugin', 'singleton'>;
  };

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-warmer-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    ({ server } = await startTestBackend({
      features: [
        scheduler.factory({ skipTaskRunOnStartup: true }),
        ...webhookBackendFeatures({
          events: {
            useEventBus: 'never',
            http: { topics: ['github'] },
            modules: { github: { webhookSecret: SECRET } },
          },
          ...githubModeConfig({
            server: github,
            token: TOKEN,
            dataDir,
            github: { rateReserve: RESERVE },
            promotion: {
              warmer: { enabled: true, perRound: 20 },
              tags: { fromPushes: false },
            },
          }),
        }),
      ],
    }));
  });

  afterAll(async () => {
    await github?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The demo repositories whose commits GitHub was asked for since the last reset. */
  const repositoriesRead = () =>
    new Set(
      github.requests
        .filter(r => r.kind === 'api')
        .map(r => /^\/repos\/mainline-demo\/([^/]+)\/commits/.exec(r.path)?.[1])
        .filter((name): name is string => Boolean(name)),
    );

  it('reads every service in the background, then stops at the reserve while a promotion still succeeds', async () => {
    // Nobody has asked for anything: one round of the warmer reads every demo service.
    await scheduler.triggerTask(WARM);
    expect([...repositoriesRead()].sort()).toEqual(DEMO_REPOS);
    // ... and the board is then served without asking GitHub.
    await sleep(1500);
    github.resetRequests();
    const board = await request(server).get(`${api}/board`);
    expect(board.status).toBe(200);
    expect(board.body.services).toHaveLength(5);
    expect(board.body.services.every((s: any) => s.error === null)).toBe(true);
    expect(github.requests.filter(r => r.kind === 'api')).toEqual([]);

    // GitHub now says the budget is under the reserve; a person's read learns it.
    github.setRateLimitRemaining(RESERVE - 1, 'core');
    github.setRateLimitRemaining(RESERVE - 1, 'graphql');
    expect(
      (await request(server).get(`${entityApi}/checkout/lineage?limit=7`))
        .status,
    ).toBe(200);
    const budget = await request(server).get(`${api}/github/rate-budget`);
    expect(budget.body.integrations[0]).toMatchObject({
      backgroundDeferred: true,
    });

    // A push webhook makes checkout's snapshot outdated: work for the warmer, which now waits.
    github.resetRequests();
    const delivered = await deliverGitHubWebhook(server, {
      event: 'push',
      body: {
        ref: 'refs/heads/main',
        repository: { full_name: 'mainline-demo/checkout' },
      },
      secret: SECRET,
    });
    expect(delivered.status).toBe(202);
    // Five rounds of the warmer: not one request.
    for (let round = 0; round < 5; round++) await scheduler.triggerTask(WARM);
    expect(github.requests.filter(r => r.kind === 'api')).toEqual([]);

    // The reserve was kept for people: the promotion reads, tags and deploys through GitHub.
    const lineage = await request(server).get(`${entityApi}/checkout/lineage`);
    const stage = lineage.body.environments.find(
      (e: any) => e.name === 'stage',
    ).current;
    const promotion = await request(server)
      .post(`${entityApi}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect({
      status: promotion.status,
      outcome: promotion.body.status,
      error: promotion.body.error?.message ?? promotion.body.error ?? null,
    }).toEqual({ status: 201, outcome: 'succeeded', error: null });
  });
});
