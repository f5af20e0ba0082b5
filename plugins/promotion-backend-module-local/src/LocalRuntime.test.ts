import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BareRepoBuilder,
  RuntimeSubject,
} from '@mainline/plugin-promotion-node';
import {
  RuntimeEnvironmentFixture,
  runRuntimeObserverContract,
} from '@mainline/plugin-promotion-node/testUtils';
import { LocalArtifactRegistry } from './LocalArtifactRegistry';
import { LocalGitSourceControl } from './LocalGitSourceControl';
import {
  LOCAL_RUNTIME_ANNOTATION,
  LocalRuntimeObserver,
  LocalRuntimeSeed,
  localRuntimeMode,
} from './LocalRuntime';

const roots: string[] = [];
afterAll(() =>
  Promise.all(roots.map(r => fs.rm(r, { recursive: true, force: true }))),
);

async function tempRoot() {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'local-runtime-'));
  roots.push(root);
  return root;
}

function seedOf(state: RuntimeEnvironmentFixture): LocalRuntimeSeed {
  return {
    sync: state.sync,
    health: {
      status: state.health.status,
      message: state.health.message,
      since: state.health.since.toISOString(),
    },
    operation: state.operation && {
      ...state.operation,
      startedAt: state.operation.startedAt.toISOString(),
      finishedAt: state.operation.finishedAt?.toISOString(),
    },
    pods: state.pods,
  };
}

// The port's contract over seeded states (an entity without manifest annotations): what a
// seeded environment says, the observer reports, and a new seed shows on the next call.
runRuntimeObserverContract('LocalRuntimeObserver', async fixture => {
  const root = await tempRoot();
  const seedDir = path.join(root, 'runtime');
  await fs.mkdir(seedDir, { recursive: true });
  const seeds: Record<string, LocalRuntimeSeed> = {};
  const write = () =>
    fs.writeFile(
      path.join(seedDir, `${fixture.entity.name}.json`),
      JSON.stringify(seeds),
    );
  for (const state of fixture.environments) {
    seeds[state.environment] = seedOf(state);
  }
  await write();
  const observer = new LocalRuntimeObserver({
    source: new LocalGitSourceControl(path.join(root, 'git')),
    artifacts: new LocalArtifactRegistry(path.join(root, 'artifacts')),
    branch: 'main',
    applyDelayMs: 3000,
    seedDir,
  });
  const subject = (name: string, entityRef: string): RuntimeSubject => ({
    name,
    entityRef,
    annotations: { [LOCAL_RUNTIME_ANNOTATION]: 'healthy' },
  });
  return {
    observer,
    subject: subject(fixture.entity.name, fixture.entity.entityRef),
    stranger: subject('stranger', 'component:default/stranger'),
    transition: async state => {
      seeds[state.environment] = seedOf(state);
      await write();
    },
  };
});

describe('LocalRuntimeObserver over the local manifest repository', () => {
  const HOUR = 3_600_000;
  const author = (date: Date) => ({
    name: 'Mainline',
    email: 'mainline@example.com',
    date,
  });
  const kustomization = (tag: string) =>
    `images:\n  - name: local/shop\n    newTag: ${tag}\n`;

  async function setup(mode: string) {
    const root = await tempRoot();
    const manifests = await BareRepoBuilder.open(
      path.join(root, 'git', 'acme', 'deployments.git'),
    );
    const artifacts = new LocalArtifactRegistry(path.join(root, 'artifacts'));
    const image = (n: number) =>
      Buffer.from(JSON.stringify({ config: { size: n }, layers: [] }));
    const oldDigest = await artifacts.putImage(
      'local/shop',
      'aaaaaaa',
      image(1),
    );
    const newDigest = await artifacts.putImage(
      'local/shop',
      'bbbbbbb',
      image(2),
    );
    const start = Date.now() - 2 * HOUR;
    const first = await manifests.commit({
      branch: 'main',
      files: { 'apps/shop/demo.yaml': kustomization('aaaaaaa') },
      message: 'demo: aaaaaaa',
      author: author(new Date(start)),
    });
    let now = start + HOUR;
    const observer = new LocalRuntimeObserver({
      source: new LocalGitSourceControl(path.join(root, 'git')),
      artifacts,
      branch: 'main',
      applyDelayMs: 3000,
      seedDir: path.join(root, 'runtime'),
      now: () => now,
    });
    const subject: RuntimeSubject = {
      name: 'shop',
      entityRef: 'component:default/shop',
      annotations: {
        'github.com/project-slug': 'acme/shop',
        'mainline.dev/artifact-kind': 'image',
        'mainline.dev/artifact-location': 'local/shop',
        'mainline.dev/manifest-repo': 'acme/deployments',
        'mainline.dev/manifest-path': 'apps/shop/{environment}.yaml',
        [LOCAL_RUNTIME_ANNOTATION]: mode,
      },
    };
    const demo = async () => (await observer.observe(subject, ['demo'])).demo;
    const deploy = async (tag = 'bbbbbbb') => {
      // Git keeps whole seconds: the commit lands at the next whole second of the clock.
      now = Math.ceil(now / 1000) * 1000;
      return manifests.commit({
        branch: 'main',
        files: { 'apps/shop/demo.yaml': kustomization(tag) },
        message: `demo: ${tag}`,
        author: author(new Date(now)),
      });
    };
    return {
      observer,
      subject,
      first,
      oldDigest,
      newDigest,
      demo,
      deploy,
      advance: (ms: number) => {
        now += ms;
      },
    };
  }

  it('applies a manifest commit after the delay: OutOfSync and Progressing, then Synced and Healthy with the new digest', async () => {
    const env = await setup('healthy');
    expect(await env.demo()).toMatchObject({
      sync: { status: 'Synced', revision: env.first },
      health: { status: 'Healthy' },
      runningDigests: [env.oldDigest],
      source: 'local runtime: shop-demo',
    });
    const commit = await env.deploy();
    env.advance(1000);
    expect(await env.demo()).toMatchObject({
      sync: { status: 'OutOfSync', revision: commit },
      health: { status: 'Progressing' },
      lastOperation: { phase: 'Running', revision: commit },
      runningDigests: [env.oldDigest],
    });
    env.advance(2500);
    const applied = await env.demo();
    expect(applied).toMatchObject({
      sync: { status: 'Synced', revision: commit },
      health: { status: 'Healthy' },
      lastOperation: { phase: 'Succeeded', revision: commit },
      runningDigests: [env.newDigest],
    });
    expect(Date.parse(applied!.since!)).toBeGreaterThan(
      Date.now() - 2 * 3_600_000,
    );
    expect(await env.observer.observe(env.subject, ['qa'])).toEqual({
      qa: undefined,
    });
  });

  it('sync-fails: the sync fails, the first version keeps running healthy', async () => {
    const env = await setup('demo=sync-fails');
    const commit = await env.deploy();
    env.advance(4000);
    expect(await env.demo()).toMatchObject({
      sync: { status: 'OutOfSync', revision: commit },
      health: { status: 'Healthy' },
      lastOperation: {
        phase: 'Failed',
        revision: commit,
        message: expect.stringContaining('failed to apply'),
      },
      runningDigests: [env.oldDigest],
    });
  });

  it('never-healthy: synced, Progressing with old and new pods, then Degraded past the deadline', async () => {
    const env = await setup('never-healthy');
    const commit = await env.deploy();
    env.advance(4000);
    expect(await env.demo()).toMatchObject({
      sync: { status: 'Synced', revision: commit },
      health: { status: 'Progressing' },
      runningDigests: [env.oldDigest, env.newDigest].sort(),
    });
    env.advance(60_000);
    expect(await env.demo()).toMatchObject({
      sync: { status: 'Synced', revision: commit },
      health: {
        status: 'Degraded',
        message: expect.stringContaining('progress deadline'),
      },
    });
  });

  it.each(['sync-fails', 'never-healthy'])(
    '%s: a rollback to the first image applies and runs healthy',
    async mode => {
      const env = await setup(`demo=${mode}`);
      await env.deploy();
      env.advance(70_000);
      expect((await env.demo())?.health.status).toBe(
        mode === 'sync-fails' ? 'Healthy' : 'Degraded',
      );
      env.advance(1000);
      const back = await env.deploy('aaaaaaa');
      env.advance(4000);
      expect(await env.demo()).toMatchObject({
        sync: { status: 'Synced', revision: back },
        health: { status: 'Healthy' },
        lastOperation: { phase: 'Succeeded', revision: back },
        runningDigests: [env.oldDigest],
      });
    },
  );

  it('reads the mode of each environment from the annotation', () => {
    expect(localRuntimeMode('sync-fails', 'prod')).toBe('sync-fails');
    expect(
      localRuntimeMode('demo=never-healthy, prod=sync-fails', 'prod'),
    ).toBe('sync-fails');
    expect(localRuntimeMode('demo=never-healthy', 'stage')).toBe('healthy');
    expect(localRuntimeMode('', 'stage')).toBe('healthy');
  });
});
