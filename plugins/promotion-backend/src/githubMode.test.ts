import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startTestBackend } from '@backstage/backend-test-utils';
import { JsonObject } from '@backstage/types';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { Lineage } from './lineage/types';
import { githubModeConfig } from './__testUtils__/demoBackend';
import { webhookBackendFeatures } from './__testUtils__/webhookBackend';
import { demoDataDir } from './__testUtils__/demoData';
import { gitIn } from './__testUtils__/upstreamState';

jest.setTimeout(120_000);

const TOKEN = 'github-mode-token';
const SECRET = 'github-mode-webhook-secret';
const api = '/api/promotion/v1/entities/component/default';

async function backend(config: JsonObject) {
  const { server } = await startTestBackend({
    features: webhookBackendFeatures(config),
  });
  return server;
}

/** What a user reads off the Environments tab, without the links only GitHub has. */
function visible(lineage: Lineage) {
  return {
    environments: lineage.environments.map(e => ({
      name: e.name,
      version: e.current?.version,
      sha: e.current?.sha,
      deployedBy: e.current?.deployedBy,
      deployedAt: e.current?.deployedAt,
      behindBy: e.behindBy,
    })),
    commits: lineage.commits.map(c => ({
      sha: c.sha,
      message: c.message,
      author: c.author,
      committedAt: c.committedAt,
      pullRequest: c.pullRequest?.number ?? null,
      tags: c.tags,
      artifacts: c.artifacts.map(a => a.digest),
      environments: c.environments,
      yanked: c.yanked?.reason ?? null,
    })),
  };
}

describe('GitHub mode against the GitHub test server', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let local: Awaited<ReturnType<typeof backend>>;
  let remote: Awaited<ReturnType<typeof backend>>;
  const git = (repo: string, ...args: string[]) =>
    gitIn(dataDir, repo, ...args);

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-github-mode-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    const shared = {
      events: {
        useEventBus: 'never',
        http: { topics: ['github'] },
        modules: { github: { webhookSecret: SECRET } },
      },
    };
    local = await backend({
      ...shared,
      promotion: { local: { dataDir, demoData: true } },
    });
    remote = await backend({
      ...shared,
      ...githubModeConfig({
        server: github,
        token: TOKEN,
        dataDir,
        github: { manifestPullRequests: ['prod'] },
      }),
    });
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const lineageOf = async (server: typeof local, name: string) => {
    const res = await request(server).get(`${api}/${name}/lineage?limit=100`);
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 200,
      error: undefined,
    });
    return res.body as Lineage;
  };

  it('serves the same lineage as the local adapter for the same repositories', async () => {
    for (const name of ['checkout', 'invoices']) {
      const [fromGit, fromGitHub] = await Promise.all([
        lineageOf(local, name),
        lineageOf(remote, name),
      ]);
      expect(visible(fromGitHub)).toEqual(visible(fromGit));
      expect(fromGitHub.commits.length).toBeGreaterThan(20);
    }
    // Only GitHub has pages to link to.
    const withPr = (await lineageOf(remote, 'checkout')).commits.find(
      c => c.pullRequest,
    );
    expect(withPr?.pullRequest?.url).toMatch(
      /\/mainline-demo\/checkout\/pull\/\d+$/,
    );
  });

  it('promotes through GitHub: the tag and the manifest commit are in the bare repositories', async () => {
    const before = await lineageOf(remote, 'checkout');
    const stage = before.environments.find(e => e.name === 'stage')!.current!;
    const res = await request(remote)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 201,
      error: undefined,
    });
    expect(res.body.status).toBe('succeeded');
    const tag = res.body.tag as string;
    expect(git('mainline-demo/checkout', 'rev-parse', `${tag}^{commit}`)).toBe(
      stage.sha,
    );
    expect(
      git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
    ).toBe(`demo: local/checkout ${tag}`);
    const tagStep = res.body.steps.find(
      (s: { name: string }) => s.name === 'tag',
    );
    expect(tagStep.url).toContain(
      `/mainline-demo/checkout/releases/tag/${tag}`,
    );
    const after = await lineageOf(remote, 'checkout');
    expect(after.environments.find(e => e.name === 'demo')!.current?.tag).toBe(
      tag,
    );
  });

  it('promotes the demo’s Lambda service and the deploy finishes (app-config.github-mode.yaml records Lambda deploys)', async () => {
    const before = await lineageOf(remote, 'invoices');
    const stage = before.environments.find(e => e.name === 'stage')!.current!;
    const res = await request(remote)
      .post(`${api}/invoices/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 201,
      error: undefined,
    });
    // Not left at "deploy: running": the demo has no deploy workflow to wait for.
    expect(res.body.status).toBe('succeeded');
    expect(
      res.body.steps.find((s: { name: string }) => s.name === 'deploy'),
    ).toMatchObject({ status: 'succeeded' });
    const demo = (await lineageOf(remote, 'invoices')).environments.find(
      e => e.name === 'demo',
    )!.current!;
    expect({ sha: demo.sha, tag: demo.tag }).toEqual({
      sha: stage.sha,
      tag: res.body.tag,
    });
  });

  it('waits for review of prod’s manifest pull request and finishes when GitHub says it was merged', async () => {
    const lineage = await lineageOf(remote, 'checkout');
    const demo = lineage.environments.find(e => e.name === 'demo')!.current!;
    const prodBefore = git('mainline-demo/deployments', 'rev-parse', 'main');
    const res = await request(remote)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'prod', sha: demo.sha });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('running');
    const deploy = res.body.steps.find(
      (s: { name: string }) => s.name === 'deploy',
    );
    expect(deploy).toMatchObject({ status: 'running', waiting: true });
    expect(deploy.url).toMatch(/\/mainline-demo\/deployments\/pull\/\d+$/);
    // The branch Argo CD watches is untouched until the review.
    expect(git('mainline-demo/deployments', 'rev-parse', 'main')).toBe(
      prodBefore,
    );

    // Nobody can promote prod over an open review.
    const second = await request(remote)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'prod', sha: demo.sha, tag: 'v9.9.9' });
    expect(second.status).toBe(409);

    const number = Number(deploy.url.split('/').pop());
    await github.mergePullRequest('mainline-demo', 'deployments', number);
    const payload = JSON.stringify({
      action: 'closed',
      pull_request: { number, merged: true },
      repository: { full_name: 'mainline-demo/deployments' },
    });
    const delivered = await request(remote)
      .post('/api/events/http/github')
      .set('content-type', 'application/json')
      .set('x-github-event', 'pull_request')
      .set(
        'x-hub-signature-256',
        `sha256=${crypto
          .createHmac('sha256', SECRET)
          .update(payload)
          .digest('hex')}`,
      )
      .send(payload);
    expect(delivered.status).toBe(202);

    let promotion = res.body;
    for (let i = 0; i < 50 && promotion.status === 'running'; i++) {
      await new Promise(resolve => setTimeout(resolve, 100));
      promotion = (
        await request(remote).get(`${api}/checkout/promotions/${res.body.id}`)
      ).body;
    }
    expect(promotion.status).toBe('succeeded');
    expect(
      promotion.steps.find((s: { name: string }) => s.name === 'deploy'),
    ).toMatchObject({ status: 'succeeded', waiting: false });
    const prod = (await lineageOf(remote, 'checkout')).environments.find(
      e => e.name === 'prod',
    )!.current!;
    expect(prod.tag).toBe(res.body.tag);
  });
});
