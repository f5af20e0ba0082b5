import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  SchedulerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { Lineage } from './lineage/types';
import { promotionWithAdapters } from './__testUtils__/adapterModules';
import { demoEntities } from './testUtils';
import { memoryCacheFactory } from './__testUtils__/demoBackend';
import {
  deliverGitHubWebhook,
  githubWebhookModules,
} from './__testUtils__/webhookBackend';
import { recordingNotificationsFactory } from './__testUtils__/recordingNotifications';
import { demoDataDir } from './__testUtils__/demoData';

jest.setTimeout(180_000);

const TOKEN = 'pushed-tags-token';
const SECRET = 'pushed-tags-webhook-secret';
const REPO = 'mainline-demo/checkout';
const api = '/api/promotion/v1/entities/component/default/checkout';

/** With MAINLINE_MEASURE set, prints a duration for docs/reliability.md. */
function measured(what: string, since: number) {
  if (process.env.MAINLINE_MEASURE) {
    process.stdout.write(`MEASURED ${what}: ${Date.now() - since} ms\n`);
  }
}

interface Promotion {
  id: string;
  environment: string;
  sha: string;
  tag: string | null;
  status: string;
  error: string | null;
  requestedBy: string;
  steps: Array<{ name: string; status: string; detail: string | null }>;
}

describe('release tags people push in GitHub', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  const sent: NotificationSendOptions[] = [];
  // Scheduled tasks run when the test says so: the reconcile pass is the task's own function.
  // (The mock's instance is its own service factory; its type only says SchedulerService.)
  const scheduler = mockServices.scheduler() as SchedulerService & {
    factory(options: { skipTaskRunOnStartup: boolean }): ServiceFactory;
  };
  const git = (repo: string, ...args: string[]) =>
    execFileSync(
      'git',
      ['--git-dir', path.join(dataDir, 'git', `${repo}.git`), ...args],
      { encoding: 'utf8' },
    ).trim();
  /** What a person does: an annotated tag pushed to the repository, no Mainline involved. */
  const pushTag = (tag: string, sha: string) =>
    git(
      REPO,
      '-c',
      'user.name=Octo Person',
      '-c',
      'user.email=octo@example.com',
      'tag',
      '-a',
      tag,
      '-m',
      `release ${tag}`,
      sha,
    );
  const deliver = async (
    event: 'create' | 'push',
    body: object,
    delivery: string = crypto.randomUUID(),
    login = 'octo-person',
    repo = REPO,
  ) => {
    const res = await deliverGitHubWebhook(server, {
      event,
      body: { ...body, repository: { full_name: repo }, sender: { login } },
      secret: SECRET,
      delivery,
    });
    expect(res.status).toBe(202);
    return delivery;
  };
  const created = (tag: string, delivery?: string) =>
    deliver('create', { ref: tag, ref_type: 'tag' }, delivery);
  const promotions = async (): Promise<Promotion[]> =>
    (await request(server).get(`${api}/promotions?limit=200`)).body.items;
  const withTag = async (tag: string) =>
    (await promotions()).filter(p => p.tag === tag);
  /** Waits until the tag's promotion has ended (the webhook is handled in the background). */
  const settled = async (tag: string): Promise<Promotion[]> => {
    for (let i = 0; i < 600; i++) {
      const found = await withTag(tag);
      if (found.length > 0 && found.every(p => p.status !== 'running')) {
        return found;
      }
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    throw new Error(`no finished promotion with tag ${tag}`);
  };
  const statuses = async (sha: string) => {
    const res = await fetch(
      `${github.baseUrl}/repos/${REPO}/commits/${sha}/statuses`,
      { headers: { authorization: `token ${TOKEN}` } },
    );
    expect(res.status).toBe(200);
    return (await res.json()) as Array<{
      context: string;
      state: string;
      description: string;
    }>;
  };
  /** The `mainline/demo` status of a commit, once it is set (after the record is written). */
  const demoStatus = async (sha: string) => {
    for (let i = 0; i < 100; i++) {
      const found = (await statuses(sha)).find(
        s => s.context === 'mainline/demo',
      );
      if (found) return found;
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    return undefined;
  };
  const lineage = async () =>
    (await request(server).get(`${api}/lineage?limit=100`)).body as Lineage;
  const manifestHead = () =>
    git('mainline-demo/deployments', 'rev-parse', 'main');
  const tagsOn = (sha: string) =>
    git(REPO, 'tag', '--points-at', sha).split('\n').filter(Boolean).sort();

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-pushed-tags-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        eventsPlugin,
        ...githubWebhookModules(),
        eventsServiceFactory,
        catalogServiceMock.factory({
          entities: [
            ...demoEntities(),
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'User',
              metadata: {
                name: 'mapped',
                annotations: { 'github.com/user-login': 'mapped-person' },
              },
              spec: {
                profile: { displayName: 'Mapped Person' },
                memberOf: [],
              },
            },
          ],
        }),
        memoryCacheFactory(),
        scheduler.factory({ skipTaskRunOnStartup: true }),
        recordingNotificationsFactory(sent),
        mockServices.rootConfig.factory({
          data: {
            events: {
              useEventBus: 'never',
              http: { topics: ['github'] },
              modules: { github: { webhookSecret: SECRET } },
            },
            integrations: {
              github: [
                { host: github.host, apiBaseUrl: github.baseUrl, token: TOKEN },
              ],
            },
            promotion: {
              source: { provider: 'github' },
              github: { host: github.host, lambdaDeploys: 'recorded' },
              local: { dataDir, demoData: true },
            },
          },
        }),
      ],
    }));
    // The first pass (also started at startup) records the demo's tags as history.
    await scheduler.triggerTask('promotion-reconcile-tags');
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('promotes an rc-* tag pushed on a main commit: the same artifact in demo, one record, one tag', async () => {
    const before = await lineage();
    const stage = before.environments.find(e => e.name === 'stage')!.current!;
    expect(stage.sha).toBeTruthy();
    const tagsBefore = tagsOn(stage.sha!);
    pushTag('rc-900', stage.sha!);
    const delivery = await created('rc-900');
    // GitHub sends a push for the same tag too, and redelivers on request: one promotion.
    await deliver('push', {
      ref: 'refs/tags/rc-900',
      created: true,
      deleted: false,
    });
    await created('rc-900', delivery);

    const [promotion, ...others] = await settled('rc-900');
    expect(others).toEqual([]);
    expect({
      status: promotion.status,
      environment: promotion.environment,
      sha: promotion.sha,
      requestedBy: promotion.requestedBy,
      tagStep: promotion.steps.find(s => s.name === 'tag')?.detail,
    }).toEqual({
      status: 'succeeded',
      environment: 'demo',
      sha: stage.sha,
      requestedBy: 'github:octo-person',
      tagStep: `tag rc-900 was already on ${stage.sha!.slice(0, 7)}`,
    });
    // The person's tag is the release tag: no second one was created.
    expect(tagsOn(stage.sha!)).toEqual([...tagsBefore, 'rc-900'].sort());
    expect(
      git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
    ).toBe('demo: local/checkout rc-900');
    const demo = (await lineage()).environments.find(e => e.name === 'demo')!;
    expect({ sha: demo.current?.sha, tag: demo.current?.tag }).toEqual({
      sha: stage.sha,
      tag: 'rc-900',
    });
    const status = await demoStatus(stage.sha!);
    expect(status).toMatchObject({ state: 'success' });

    // Another redelivery long after: still one.
    await created('rc-900', delivery);
    await created('rc-900');
    await new Promise(resolve => setTimeout(resolve, 1500));
    expect(await withTag('rc-900')).toHaveLength(1);
  });

  it('refuses a tag on a commit on neither main nor release/*, reports it on the commit, changes nothing', async () => {
    const main = git(REPO, 'rev-parse', 'main');
    const side = git(
      REPO,
      '-c',
      'user.name=Octo Person',
      '-c',
      'user.email=octo@example.com',
      'commit-tree',
      `${main}^{tree}`,
      '-p',
      main,
      '-m',
      'an experiment on no branch',
    );
    const manifest = manifestHead();
    const notified = sent.length;
    pushTag('rc-901', side);
    await created('rc-901');
    const [refused, ...others] = await settled('rc-901');
    expect(others).toEqual([]);
    expect(refused.status).toBe('failed');
    expect(refused.steps).toEqual([
      expect.objectContaining({ name: 'checks', status: 'failed' }),
    ]);
    expect(refused.error).toContain(`${side.slice(0, 7)} is not on main`);
    const status = await demoStatus(side);
    expect(status?.state).toBe('failure');
    expect(status?.description).toContain('is not on main');
    expect(sent.slice(notified).map(n => n.payload.title)).toEqual([
      'Tag rc-901 did not promote component:default/checkout to demo',
    ]);
    // Nothing else changed: no manifest commit, no other tag.
    expect(manifestHead()).toBe(manifest);
    expect(tagsOn(side)).toEqual(['rc-901']);
    // A refusal is not retried into a promotion that skips its checks.
    const retry = await request(server).post(
      `${api}/promotions/${refused.id}/retry`,
    );
    expect(retry.status).toBe(409);
  });

  it('refuses a tag on a commit without an artifact, naming the nearest built ancestor', async () => {
    const { commits } = await lineage();
    const index = commits.findIndex(
      (c, i) =>
        i > 0 &&
        c.artifacts.length === 0 &&
        !c.yanked &&
        commits.slice(i + 1).some(o => o.artifacts.length > 0),
    );
    expect(index).toBeGreaterThan(0);
    const bare = commits[index];
    const ancestor = commits
      .slice(index + 1)
      .find(c => c.artifacts.length > 0)!;
    const manifest = manifestHead();
    pushTag('rc-902', bare.sha);
    await created('rc-902');
    const [refused] = await settled('rc-902');
    expect(refused.status).toBe('failed');
    const status = await demoStatus(bare.sha);
    expect(status?.state).toBe('failure');
    expect(status?.description).toContain('has no artifact');
    expect(refused.error).toContain(
      `the nearest ancestor with an artifact is ${ancestor.sha.slice(0, 7)}`,
    );
    expect(manifestHead()).toBe(manifest);
  });

  it('promotes a tag whose webhook never came, from the reconcile pass', async () => {
    const { commits, environments } = await lineage();
    const demoSha = environments.find(e => e.name === 'demo')!.current!.sha;
    const candidate = commits.find(
      c =>
        c.artifacts.length > 0 &&
        !c.yanked &&
        c.sha !== demoSha &&
        c.tags.length === 0,
    )!;
    expect(candidate).toBeTruthy();
    pushTag('rc-903', candidate.sha);
    // No webhook: the scheduled pass finds it.
    const started = Date.now();
    await scheduler.triggerTask('promotion-reconcile-tags');
    measured('a pass promoting one missed tag', started);
    const [promotion, ...others] = await settled('rc-903');
    expect(others).toEqual([]);
    expect(promotion).toMatchObject({
      status: 'succeeded',
      sha: candidate.sha,
      requestedBy: 'github:unknown',
    });
    expect(
      git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
    ).toBe('demo: local/checkout rc-903');
  });

  it('promotes a tag once when its webhooks and the reconcile pass race', async () => {
    const { commits, environments } = await lineage();
    const demoSha = environments.find(e => e.name === 'demo')!.current!.sha;
    const candidate = commits.find(
      c =>
        c.artifacts.length > 0 &&
        !c.yanked &&
        c.sha !== demoSha &&
        c.tags.length === 0,
    )!;
    expect(candidate).toBeTruthy();
    pushTag('rc-904', candidate.sha);
    const started = Date.now();
    await Promise.all([
      created('rc-904'),
      deliver('push', { ref: 'refs/tags/rc-904', created: true }),
      scheduler.triggerTask('promotion-reconcile-tags'),
      created('rc-904'),
    ]);
    const found = await settled('rc-904');
    measured('two webhooks and a pass racing, until promoted', started);
    const idle = Date.now();
    await scheduler.triggerTask('promotion-reconcile-tags');
    measured('a pass with nothing new (3 repositories)', idle);
    expect(found.map(p => p.status)).toEqual(['succeeded']);
    expect(await withTag('rc-904')).toHaveLength(1);
    expect(tagsOn(candidate.sha)).toEqual(['rc-904']);
  });

  it('takes a v* tag to prod only when it is newer than every version', async () => {
    const demo = (await lineage()).environments.find(e => e.name === 'demo')!
      .current!;
    pushTag('v0.0.1', demo.sha!);
    await created('v0.0.1');
    const [old] = await settled('v0.0.1');
    expect(old.status).toBe('failed');
    expect(old.error).toContain('is not greater than the highest existing');
    pushTag('v9.0.0', demo.sha!);
    // Pushed by someone the catalog knows by their GitHub login.
    await deliver(
      'create',
      { ref: 'v9.0.0', ref_type: 'tag' },
      undefined,
      'mapped-person',
    );
    const [release] = await settled('v9.0.0');
    expect(release).toMatchObject({
      status: 'succeeded',
      environment: 'prod',
      sha: demo.sha,
      requestedBy: 'user:default/mapped',
    });
    expect(
      git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
    ).toBe('prod: local/checkout v9.0.0');
  });

  it('releases every component of a monorepo the commit built, and only those', async () => {
    const base = '/api/promotion/v1/entities/component/default';
    const names = ['cart', 'pricing', 'search'];
    const lineages = await Promise.all(
      names.map(
        async name =>
          (
            await request(server).get(`${base}/${name}/lineage?limit=100`)
          ).body as Lineage,
      ),
    );
    const sha = lineages[0].environments.find(e => e.name === 'stage')!.current!
      .sha!;
    const built = names.filter((_, i) =>
      lineages[i].commits.some(c => c.sha === sha && c.artifacts.length > 0),
    );
    expect(built).toContain('cart');
    git('mainline-demo/shop', 'tag', 'rc-950', sha);
    await deliver(
      'create',
      { ref: 'rc-950', ref_type: 'tag' },
      undefined,
      undefined,
      'mainline-demo/shop',
    );
    const promoted: Record<string, string[]> = {};
    for (let i = 0; i < 300; i++) {
      for (const name of names) {
        const items: Promotion[] = (
          await request(server).get(`${base}/${name}/promotions`)
        ).body.items;
        promoted[name] = items
          .filter(p => p.tag === 'rc-950' && p.status !== 'running')
          .map(p => p.status);
      }
      if (built.every(name => promoted[name].length > 0)) break;
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    expect(promoted).toEqual(
      Object.fromEntries(
        names.map(name => [name, built.includes(name) ? ['succeeded'] : []]),
      ),
    );
    expect(
      git('mainline-demo/shop', 'tag', '--points-at', sha)
        .split('\n')
        .filter(t => t.startsWith('rc-')),
    ).toEqual(['rc-950']);
  });

  it('leaves alone a tag Mainline created: no second promotion', async () => {
    const { environments } = await lineage();
    const stage = environments.find(e => e.name === 'stage')!.current!;
    const res = await request(server)
      .post(`${api}/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect({ status: res.status, error: res.body.error?.message }).toEqual({
      status: 201,
      error: undefined,
    });
    const tag = res.body.tag as string;
    await created(tag);
    await scheduler.triggerTask('promotion-reconcile-tags');
    // The webhook is handled in the background: give it its chance too.
    await new Promise(resolve => setTimeout(resolve, 2000));
    expect((await withTag(tag)).map(p => p.id)).toEqual([res.body.id]);
  });
});
