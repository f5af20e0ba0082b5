import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestDatabases } from '@backstage/backend-test-utils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Knex } from 'knex';
import { BareRepoBuilder } from '@mainline/plugin-promotion-node';
import { githubModeConfig } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import type { BackendProcessOptions } from '../__testUtils__/backendProcess';
import {
  BackendProcess,
  call,
  entityApi,
} from '../__testUtils__/backendProcessHarness';
import {
  redisServerBinary,
  startRedisServer,
} from '../__testUtils__/redisServer';

jest.setTimeout(300_000);

const TOKEN = 'shared-cache-token';
const SECRET = 'shared-cache-webhook-secret';
/** The freshness target of docs/operations.md: a change served by every replica within 10 s. */
const FRESHNESS_MS = 10_000;

const databases = TestDatabases.create({ ids: ['POSTGRES_15'] });
const redis = redisServerBinary();

if (process.env.CI && !redis) {
  // .ci/run installs it; without it this check would silently not run.
  throw new Error(
    'The shared-cache test needs redis-server in CI (Debian package redis-server; .ci/run installs it)',
  );
}
if (process.env.CI && !databases.supports('POSTGRES_15')) {
  throw new Error(
    'The shared-cache test needs BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING in CI',
  );
}
if (!redis || !databases.supports('POSTGRES_15')) {
  // eslint-disable-next-line no-console
  console.warn(
    `SKIPPING the two-replica shared-cache test: ${
      redis
        ? 'no PostgreSQL 15 (set BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING)'
        : 'redis-server is not installed (apt-get install -y redis-server)'
    }`,
  );
}
const run =
  redis && databases.supports('POSTGRES_15') ? describe : describe.skip;

/**
 * Two real backend processes on one PostgreSQL 15 database and one Redis as Backstage's cache
 * store, over the GitHub test server: a webhook only one of them receives refreshes the lineage
 * the other serves.
 */
run('two replicas sharing a Redis cache', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let store: Awaited<ReturnType<typeof startRedisServer>>;
  let knex: Knex;
  const replicas: BackendProcess[] = [];
  let a: BackendProcess & { url: string };
  let b: BackendProcess & { url: string };
  const lineageUrl = (url: string) => `${url}${entityApi('checkout')}/lineage`;
  const head = async (url: string) => {
    const res = await call(lineageUrl(url), 'GET');
    if (res.status !== 200) {
      throw new Error(
        `lineage answered ${res.status}: ${JSON.stringify(res.body)}`,
      );
    }
    return res.body.commits[0].sha as string;
  };

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-shared-cache-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    store = await startRedisServer();
    knex = await databases.init('POSTGRES_15');
    const options: BackendProcessOptions = {
      database: { client: 'pg', connection: knex.client.config.connection },
      config: {
        ...githubModeConfig({
          server: github,
          token: TOKEN,
          dataDir,
          // Long enough that only an invalidation can refresh a cached lineage in this test.
          // Only the requests a test makes reach GitHub: no warmer, no pass over pushed tags.
          promotion: {
            lineage: { cacheTtlSeconds: 600 },
            warmer: { enabled: false },
            tags: { fromPushes: false },
          },
        }),
        backend: { cache: { store: 'redis', connection: store.url } },
        events: {
          useEventBus: 'never',
          http: { topics: ['github'] },
          modules: { github: { webhookSecret: SECRET } },
        },
      },
      notificationsFile: path.join(dataDir, 'notifications.jsonl'),
    };
    // The first creates the demo data and runs the migrations; the second finds both.
    a = await BackendProcess.start(options);
    replicas.push(a);
    b = await BackendProcess.start(options);
    replicas.push(b);
  });

  afterAll(async () => {
    await Promise.all(replicas.map(r => r.kill()));
    await store?.stop();
    await github?.close();
    await knex?.destroy();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a push webhook received by one replica is served fresh by the other within 10 s', async () => {
    const before = await head(a.url);
    expect(await head(b.url)).toBe(before);

    const repo = await BareRepoBuilder.open(
      path.join(dataDir, 'git', 'mainline-demo', 'checkout.git'),
    );
    const pushed = await repo.commit({
      branch: 'main',
      files: { 'shared-cache.txt': `${crypto.randomUUID()}\n` },
      message: 'Merge pull request #9001 from acme/shared-cache',
      author: {
        name: 'Dev',
        email: 'dev@example.com',
        date: new Date(),
      },
    });
    // Without an invalidation both keep serving what they cached.
    expect(await head(b.url)).toBe(before);

    const payload = JSON.stringify({
      ref: 'refs/heads/main',
      after: pushed,
      repository: { full_name: 'mainline-demo/checkout' },
    });
    const delivered = await fetch(`${a.url}/api/events/http/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': crypto.randomUUID(),
        'x-hub-signature-256': `sha256=${crypto
          .createHmac('sha256', SECRET)
          .update(payload)
          .digest('hex')}`,
      },
      body: payload,
    });
    expect(delivered.status).toBe(202);
    const sent = Date.now();
    let seen = await head(b.url);
    while (seen !== pushed && Date.now() - sent < FRESHNESS_MS) {
      await new Promise(resolve => setTimeout(resolve, 100));
      seen = await head(b.url);
    }
    const elapsed = Date.now() - sent;
    expect({ seen, withinTarget: elapsed <= FRESHNESS_MS }).toEqual({
      seen: pushed,
      withinTarget: true,
    });
    // And the replica that received it serves it too.
    expect(await head(a.url)).toBe(pushed);
  });

  it('the rate budget one replica learns from GitHub is what the other reports and acts on', async () => {
    // GitHub now says 4,321 left: only replica A asks it (a page size nobody has read yet).
    github.setRateLimitRemaining(4321, 'core');
    const read = await call(`${lineageUrl(a.url)}?limit=7`, 'GET');
    expect(read.status).toBe(200);
    const core = async (url: string) => {
      const res = await call(
        `${url}/api/promotion/v1/github/rate-budget`,
        'GET',
      );
      expect(res.status).toBe(200);
      return res.body.integrations
        .flatMap((i: any) => i.resources)
        .find((r: any) => r.resource === 'core');
    };
    expect((await core(a.url)).remaining).toBe(4321);
    // Replica B never asked GitHub since, and reports what A learned (published within 1 s).
    const sent = Date.now();
    let seen = await core(b.url);
    while (seen?.remaining !== 4321 && Date.now() - sent < FRESHNESS_MS) {
      await new Promise(resolve => setTimeout(resolve, 200));
      seen = await core(b.url);
    }
    expect(seen?.remaining).toBe(4321);

    // Under the reserve (1,000 by default), B's background work is held back too.
    github.setRateLimitRemaining(900, 'core');
    expect((await call(`${lineageUrl(a.url)}?limit=8`, 'GET')).status).toBe(
      200,
    );
    const held = Date.now();
    let deferred = false;
    while (!deferred && Date.now() - held < FRESHNESS_MS) {
      const res = await call(
        `${b.url}/api/promotion/v1/github/rate-budget`,
        'GET',
      );
      deferred = res.body.integrations.some((i: any) => i.backgroundDeferred);
      if (!deferred) await new Promise(resolve => setTimeout(resolve, 200));
    }
    expect(deferred).toBe(true);
  });
});
