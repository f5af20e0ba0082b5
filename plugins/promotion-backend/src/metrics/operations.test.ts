import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  SchedulerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import { metricsServiceFactory } from '@backstage/backend-defaults/alpha';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import request from 'supertest';
import { githubModeConfig } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import { webhookBackendFeatures } from '../__testUtils__/webhookBackend';

jest.setTimeout(180_000);

const TOKEN = 'operations-token';
const RESERVE = 1000;
const api = '/api/promotion/v1/entities/component/default';

/**
 * What an operator sees of a backend in GitHub mode over the GitHub test server: the rate budget
 * GitHub's answers tell (REST and GraphQL apart), background work waiting under the reserve while
 * a person's promotion still goes through, and the plugin's OpenTelemetry metrics read by an
 * in-memory reader of the real SDK from Backstage's own MetricsService.
 */
describe('rate budget and metrics in GitHub mode', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const exporter = new InMemoryMetricExporter(
    AggregationTemporality.CUMULATIVE,
  );
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: 3_600_000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  // Scheduled tasks run when the test says so.
  const scheduler = mockServices.scheduler() as SchedulerService & {
    factory(options: { skipTaskRunOnStartup: boolean }): ServiceFactory;
    triggerTask(id: string): Promise<void>;
  };

  /** Every data point of the metric `name` collected now, with its attributes. */
  const collect = async (name: string) => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics
      .filter(s => s.scope.name === 'backstage-plugin-promotion')
      .flatMap(s => s.metrics)
      .filter(m => m.descriptor.name === name)
      .flatMap(m => m.dataPoints as Array<{ attributes: any; value: any }>);
  };
  const budget = async () =>
    (await request(server).get('/api/promotion/v1/github/rate-budget')).body
      .integrations;

  beforeAll(async () => {
    metrics.setGlobalMeterProvider(provider);
    ({ dataDir } = await demoDataDir('mainline-operations-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    ({ server } = await startTestBackend({
      features: [
        ...webhookBackendFeatures({
          ...githubModeConfig({
            server: github,
            token: TOKEN,
            dataDir,
            github: { rateReserve: RESERVE },
          }),
          events: {
            useEventBus: 'never',
            http: { topics: ['github'] },
            modules: { github: { webhookSecret: crypto.randomUUID() } },
          },
        }),
        scheduler.factory({ skipTaskRunOnStartup: true }),
        metricsServiceFactory,
      ],
    }));
  });

  afterAll(async () => {
    await provider.shutdown();
    metrics.disable();
    await github?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('reports REST and GraphQL budgets apart, as GitHub answered them', async () => {
    const lineage = await request(server).get(`${api}/checkout/lineage`);
    expect(lineage.status).toBe(200);
    const [integration] = await budget();
    expect(integration).toMatchObject({
      integration: github.host,
      reserve: RESERVE,
      backgroundDeferred: false,
    });
    const core = integration.resources.find((r: any) => r.resource === 'core');
    const counted = github.requests.filter(
      r => r.kind === 'api' && r.path !== '/graphql' && !r.conditional,
    ).length;
    // What GitHub said last: the whole budget less what this backend (and nobody else) used.
    expect(core).toMatchObject({ limit: 5000, remaining: 5000 - counted });
    expect(Date.parse(core.resetAt)).toBeGreaterThan(Date.now());
    // GraphQL points are their own budget (when the reads used GraphQL at all).
    const graphqlUsed = github.requests.filter(
      r => r.path === '/graphql',
    ).length;
    const graphql = integration.resources.find(
      (r: any) => r.resource === 'graphql',
    );
    expect(graphql?.remaining ?? 5000).toBe(5000 - graphqlUsed);
  });

  it("under the reserve, background work waits and a person's promotion still goes through", async () => {
    const stage = (
      await request(server).get(`${api}/checkout/lineage`)
    ).body.environments.find((e: any) => e.name === 'stage').current;
    github.setRateLimitRemaining(RESERVE - 100);
    // A person's read: GitHub's answer tells the backend the budget is low.
    expect(
      (await request(server).get(`${api}/invoices/lineage?limit=5`)).status,
    ).toBe(200);
    expect((await budget())[0]).toMatchObject({ backgroundDeferred: true });

    github.resetRequests();
    await scheduler.triggerTask('promotion-reconcile-tags');
    await scheduler.triggerTask('promotion-follow-waiting');
    // Nothing in the background spent any of the reserve.
    expect(github.requests).toEqual([]);

    const promoted = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect([promoted.status, promoted.body.status]).toEqual([201, 'succeeded']);
    expect(github.requests.length).toBeGreaterThan(0);

    // Once GitHub says the budget is back, the background passes run again.
    github.setRateLimitRemaining(5000);
    await request(server).get(`${api}/invoices/lineage?limit=6`);
    expect((await budget())[0]).toMatchObject({ backgroundDeferred: false });
    github.resetRequests();
    await scheduler.triggerTask('promotion-reconcile-tags');
    expect(github.requests.length).toBeGreaterThan(0);
  });

  it('exports promotions by outcome, step durations, upstream requests, cache hits and the budget', async () => {
    // A refusal: demo already runs what stage runs now.
    const stage = (
      await request(server).get(`${api}/checkout/lineage`)
    ).body.environments.find((e: any) => e.name === 'stage').current;
    const refused = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect(refused.status).toBe(409);

    const promotions = await collect('promotion.promotions');
    expect(promotions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          attributes: {
            outcome: 'succeeded',
            environment: 'demo',
            kind: 'promotion',
          },
          value: 1,
        }),
        expect.objectContaining({
          attributes: {
            outcome: 'refused',
            environment: 'demo',
            kind: 'promotion',
            check: 'not-deployed',
          },
          value: 1,
        }),
      ]),
    );
    const steps = await collect('promotion.step.duration');
    expect(steps.map(p => p.attributes.step).sort()).toEqual(
      expect.arrayContaining(['checks', 'deploy', 'retag', 'tag']),
    );
    for (const point of steps) {
      expect(point.value.count).toBeGreaterThan(0);
      expect(point.value.sum).toBeGreaterThanOrEqual(0);
    }
    const upstream = await collect('promotion.upstream.requests');
    const ok = upstream.find(
      p => p.attributes.system === 'github' && p.attributes.status === '200',
    );
    expect(ok?.value).toBeGreaterThan(0);
    const limited = upstream.find(p => p.attributes.status === '403');
    expect(limited).toBeUndefined();

    // A warm read is a hit, the first read of an entity a miss.
    await request(server).get(`${api}/checkout/lineage`);
    const hits = await collect('promotion.cache.hits');
    const misses = await collect('promotion.cache.misses');
    expect(hits.reduce((n, p) => n + p.value, 0)).toBeGreaterThan(0);
    expect(misses.reduce((n, p) => n + p.value, 0)).toBeGreaterThan(0);

    const remaining = await collect('promotion.github.rate.remaining');
    expect(remaining).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          attributes: { integration: github.host, resource: 'core' },
          value: expect.any(Number),
        }),
      ]),
    );
  });
});
