import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConflictError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  BareRepoBuilder,
  Signature,
  SourceControl,
  DeploymentRequest,
} from '@mainline/plugin-promotion-node';
import { LocalGitSourceControl } from '@mainline/plugin-promotion-backend-module-local';
import { runDeploymentTargetContract } from '@mainline/plugin-promotion-node/testUtils';
import { GitOpsDeploymentTarget } from './GitOpsDeploymentTarget';
import { readImageTag } from './manifestImage';

const MANIFEST_REPO = 'acme/deployments';
const KUSTOMIZE_PATH = 'apps/svc/overlays/{environment}/kustomization.yaml';

const promotionTarget: PromotionTarget = {
  sourceRepo: 'acme/svc',
  artifactKind: 'image',
  artifactLocation: 'local/svc',
  manifestRepo: MANIFEST_REPO,
  manifestPath: KUSTOMIZE_PATH,
  versioning: 'semver',
  releaseBranches: false,
};

const BOT: Signature = {
  name: 'argocd-image-updater',
  email: 'bot@example.com',
  date: new Date('2024-04-01T00:00:00Z'),
};
const OPS: Signature = {
  name: 'Linus Ops',
  email: 'linus@example.com',
  date: new Date('2024-06-01T10:00:00Z'),
};

function kustomization(images: Array<{ name: string; newTag: string }>) {
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - ../../base',
    'images:',
    ...images.flatMap(i => [`  - name: ${i.name}`, `    newTag: ${i.newTag}`]),
    '',
  ].join('\n');
}

function overlay(environment: string): string {
  return KUSTOMIZE_PATH.replace('{environment}', environment);
}

const roots: string[] = [];

/** A fresh manifest repository `acme/deployments` with its base committed. */
async function manifestRepo(): Promise<{
  root: string;
  builder: BareRepoBuilder;
}> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gitops-target-'));
  roots.push(root);
  const builder = await BareRepoBuilder.open(
    path.join(root, 'acme', 'deployments.git'),
  );
  await builder.commit({
    branch: 'main',
    files: {
      'apps/svc/base/kustomization.yaml':
        'resources:\n  - deployment.yaml\n  - service.yaml\n',
      'README.md': '# Deployments\n',
    },
    message: 'Bootstrap the manifest repository',
    author: BOT,
  });
  return { root, builder };
}

afterAll(async () => {
  await Promise.all(
    roots.map(root => fs.rm(root, { recursive: true, force: true })),
  );
});

runDeploymentTargetContract('GitOps over local git', async fixture => {
  const { root, builder } = await manifestRepo();
  for (const deploy of fixture.deploys) {
    await builder.commit({
      branch: 'main',
      files: {
        [overlay(deploy.environment)]: kustomization([
          { name: 'ghcr.io/acme/svc', newTag: deploy.version },
        ]),
      },
      message: `Deploy ${deploy.version} to ${deploy.environment}`,
      author: { ...deploy.deployedBy, date: deploy.deployedAt },
    });
  }
  return {
    target: new GitOpsDeploymentTarget(new LocalGitSourceControl(root)),
    promotionTarget,
    deploysToNewEnvironments: false,
  };
});

describe('GitOpsDeploymentTarget', () => {
  it('names the manifest commit that set the version, not a later unrelated one', async () => {
    const { root, builder } = await manifestRepo();
    const revision = await builder.commit({
      branch: 'main',
      files: {
        [overlay('stage')]: kustomization([{ name: 'svc', newTag: 'a1b2c3d' }]),
      },
      message: 'Deploy a1b2c3d to stage',
      author: OPS,
    });
    await builder.commit({
      branch: 'main',
      files: { 'README.md': '# Deployments\n\nManaged by Argo CD.\n' },
      message: 'Document the repository',
      author: { ...BOT, date: new Date('2024-06-02T10:00:00Z') },
    });
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    const { stage } = await target.current(promotionTarget, ['stage']);

    expect(stage).toEqual({
      environment: 'stage',
      version: 'a1b2c3d',
      deployedAt: '2024-06-01T10:00:00.000Z',
      deployedBy: 'Linus Ops',
      revision,
    });
  });

  it('reads the image tag of a Helm values file', async () => {
    const { root, builder } = await manifestRepo();
    await builder.commit({
      branch: 'main',
      files: {
        'charts/svc/values-prod.yaml': [
          'replicaCount: 3',
          'image:',
          '  repository: ghcr.io/acme/svc',
          '  tag: 2024.10',
          '',
        ].join('\n'),
      },
      message: 'Release 2024.10 to prod',
      author: OPS,
    });
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    const current = await target.current(
      {
        ...promotionTarget,
        manifestPath: 'charts/svc/values-{environment}.yaml',
      },
      ['prod', 'stage'],
    );

    expect(current.prod?.version).toBe('2024.10');
    expect(current.prod?.deployedBy).toBe('Linus Ops');
    expect(current.stage).toBeUndefined();
  });

  it('chooses the kustomize image entry named like the service image', async () => {
    const { root, builder } = await manifestRepo();
    await builder.commit({
      branch: 'main',
      files: {
        [overlay('stage')]: kustomization([
          { name: 'redis', newTag: '"7.2"' },
          { name: 'ghcr.io/acme/svc-worker', newTag: '1111111' },
          { name: 'ghcr.io/acme/svc', newTag: '0123456' },
        ]),
        [overlay('demo')]: kustomization([
          { name: 'redis', newTag: '"7.2"' },
          { name: 'postgres', newTag: '"16"' },
        ]),
      },
      message: 'Pin images',
      author: OPS,
    });
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    const current = await target.current(promotionTarget, ['stage', 'demo']);

    expect(current.stage?.version).toBe('0123456');
    // Several images and none of them this service's: nothing of it deployed.
    expect(current.demo).toBeUndefined();
  });

  it('fails naming the file when an environment file is not valid YAML', async () => {
    const { root, builder } = await manifestRepo();
    await builder.commit({
      branch: 'main',
      files: {
        [overlay('stage')]: 'images:\n  - name: [svc\n    newTag: abc\n',
      },
      message: 'Break stage',
      author: OPS,
    });
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    const result = target.current(promotionTarget, ['stage']);

    await expect(result).rejects.toThrow(
      'acme/deployments:apps/svc/overlays/stage/kustomization.yaml',
    );
    await expect(result).rejects.toThrow(/not valid YAML/);
  });

  it('reads the configured branch', async () => {
    const { root, builder } = await manifestRepo();
    const base = await builder.commit({
      branch: 'main',
      files: {
        [overlay('stage')]: kustomization([{ name: 'svc', newTag: 'rc-1' }]),
      },
      message: 'Deploy rc-1 to stage',
      author: OPS,
    });
    await builder.branch('live', base);
    await builder.commit({
      branch: 'live',
      files: {
        [overlay('stage')]: kustomization([{ name: 'svc', newTag: 'rc-2' }]),
      },
      message: 'Deploy rc-2 to stage',
      author: { ...BOT, date: new Date('2024-06-03T00:00:00Z') },
    });
    const source = new LocalGitSourceControl(root);

    const onMain = await new GitOpsDeploymentTarget(source).current(
      promotionTarget,
      ['stage'],
    );
    const onLive = await new GitOpsDeploymentTarget(source, {
      branch: 'live',
    }).current(promotionTarget, ['stage']);

    expect(onMain.stage?.version).toBe('rc-1');
    expect(onLive.stage?.version).toBe('rc-2');
    expect(onLive.stage?.deployedBy).toBe('argocd-image-updater');
  });

  it('reports nothing for an entity without a manifest repository', async () => {
    const { root } = await manifestRepo();
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    const current = await target.current(
      { ...promotionTarget, manifestRepo: undefined },
      ['stage', 'prod'],
    );

    expect(current).toEqual({ stage: undefined, prod: undefined });
  });

  it('rejects when the manifest repository does not exist', async () => {
    const { root } = await manifestRepo();
    const target = new GitOpsDeploymentTarget(new LocalGitSourceControl(root));

    await expect(
      target.current({ ...promotionTarget, manifestRepo: 'acme/missing' }, [
        'stage',
      ]),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});

describe('GitOpsDeploymentTarget.deploy', () => {
  const ADA = {
    entityRef: 'user:default/ada',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
  };
  const request: DeploymentRequest = {
    environment: 'demo',
    sha: '7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d',
    version: 'rc-7',
    tag: 'rc-7',
    actor: ADA,
    reason: 'Promote 7c8d9e0 as rc-7',
  };
  const DEMO = overlay('demo');
  const DEMO_FILE = [
    '# demo: Argo CD syncs this overlay',
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '- ../../base',
    'images:',
    '- name: redis',
    '  newTag: "7.2"',
    '- name: ghcr.io/acme/svc',
    '  newTag: rc-6   # set by Mainline',
    '',
  ].join('\n');

  /** A manifest repository whose demo overlay pins rc-6 (plus redis). */
  async function seeded() {
    const { root, builder } = await manifestRepo();
    await builder.commit({
      branch: 'main',
      files: {
        [DEMO]: DEMO_FILE,
        [overlay('stage')]: kustomization([
          { name: 'redis', newTag: '"7.2"' },
          { name: 'postgres', newTag: '"16"' },
        ]),
      },
      message: 'Deploy rc-6 to demo',
      author: OPS,
    });
    return { root, builder, source: new LocalGitSourceControl(root) };
  }

  /** The source control as the deploy sees it, with some methods replaced. */
  /**
   * The source with another writer's commit (`land`) landing right after the first file read;
   * counts reads and writes.
   */
  function racedAfterFirstRead(
    source: SourceControl,
    land: () => Promise<unknown>,
  ) {
    const counts = { reads: 0, writes: 0 };
    const racing = intercept(source, {
      readFile: async (...args) => {
        const file = await source.readFile(...args);
        if (++counts.reads === 1) await land();
        return file;
      },
      commitFile: async (...args) => {
        counts.writes += 1;
        return source.commitFile(...args);
      },
    });
    return { racing, counts };
  }

  function intercept(
    source: SourceControl,
    overrides: Partial<SourceControl>,
  ): SourceControl {
    // The adapter's own methods keep calling the adapter itself, not the replacements.
    return new Proxy(source, {
      get: (real, name, receiver) =>
        name in overrides
          ? overrides[name as keyof SourceControl]
          : Reflect.get(real, name, receiver).bind(real),
    });
  }

  /** Commits `files` as someone else would, between the deploy's read and its write. */
  function concurrentWriter(builder: BareRepoBuilder) {
    return (files: Record<string, string>) =>
      builder.commit({
        branch: 'main',
        files,
        message: 'Someone else',
        author: { ...BOT, date: new Date() },
      });
  }

  it('commits the new tag as the actor, changing only that line', async () => {
    const { builder, source } = await seeded();
    const before = await builder.head('main');
    const target = new GitOpsDeploymentTarget(source);

    const result = await target.deploy(promotionTarget, {
      ...request,
      reason: 'Promote 7c8d9e0 as rc-7\nRequested-by: user:default/mallory',
    });

    const head = (await builder.head('main'))!;
    expect(result).toEqual({
      changed: true,
      revision: head,
      detail: `manifest commit ${head.slice(0, 7)} sets ${DEMO} to rc-7`,
    });
    const [commit] = await source.listCommits(MANIFEST_REPO, {
      ref: 'main',
      limit: 1,
    });
    expect(commit.parents).toEqual([before]);
    expect(commit.subject).toBe('demo: local/svc rc-7');
    expect(commit.body).toBe(
      'Promote 7c8d9e0 as rc-7 Requested-by: user:default/mallory\nRequested-by: user:default/ada',
    );
    expect(commit.author).toEqual({
      name: 'Ada Lovelace',
      email: 'ada@example.com',
    });
    expect(await builder.changedFiles(head)).toEqual([DEMO]);
    expect((await source.readFile(MANIFEST_REPO, 'main', DEMO))?.content).toBe(
      DEMO_FILE.replace('newTag: rc-6 ', 'newTag: rc-7 '),
    );
    const { demo } = await target.current(promotionTarget, ['demo']);
    expect(demo).toMatchObject({
      version: 'rc-7',
      deployedBy: 'Ada Lovelace',
      revision: head,
    });
  });

  it('changes nothing when the environment already pins the version', async () => {
    const { builder, source } = await seeded();
    const before = await builder.head('main');

    const result = await new GitOpsDeploymentTarget(source).deploy(
      promotionTarget,
      { ...request, version: 'rc-6', tag: 'rc-6' },
    );

    expect(result.changed).toBe(false);
    expect(result.revision).toBeUndefined();
    await expect(builder.head('main')).resolves.toBe(before);
  });

  it('writes a Helm values file', async () => {
    const { builder, source } = await seeded();
    const values = 'image:\n  repository: ghcr.io/acme/svc\n  tag: "2024.10"\n';
    await builder.commit({
      branch: 'main',
      files: { 'charts/svc/values-prod.yaml': values },
      message: 'Add prod',
      author: OPS,
    });
    const helm = {
      ...promotionTarget,
      manifestPath: 'charts/svc/values-{environment}.yaml',
    };

    await new GitOpsDeploymentTarget(source).deploy(helm, {
      ...request,
      environment: 'prod',
      version: 'v2024.11.0',
      tag: 'v2024.11.0',
    });

    expect(
      (
        await source.readFile(
          MANIFEST_REPO,
          'main',
          'charts/svc/values-prod.yaml',
        )
      )?.content,
    ).toBe(values.replace('"2024.10"', '"v2024.11.0"'));
  });

  it('keeps a concurrent change to another file, without a conflict', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    let concurrent = '';
    const { racing } = racedAfterFirstRead(source, async () => {
      concurrent = await commitElsewhere({ 'README.md': '# Changed\n' });
    });

    const result = await new GitOpsDeploymentTarget(racing).deploy(
      promotionTarget,
      request,
    );

    expect(result.changed).toBe(true);
    const [commit] = await source.listCommits(MANIFEST_REPO, {
      ref: 'main',
      limit: 1,
    });
    expect(commit.sha).toBe(result.revision);
    expect(commit.parents).toEqual([concurrent]);
    expect(
      (await source.readFile(MANIFEST_REPO, 'main', 'README.md'))?.content,
    ).toBe('# Changed\n');
  });

  it('retries once when the branch moves under the write', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    let writes = 0;
    // As a hosted API answers when another commit lands between its read and its ref update.
    const racing = intercept(source, {
      commitFile: async (repo, change) => {
        if (++writes === 1) {
          await commitElsewhere({ 'README.md': '# Changed\n' });
          throw new ConflictError('main moved');
        }
        return source.commitFile(repo, change);
      },
    });

    const result = await new GitOpsDeploymentTarget(racing).deploy(
      promotionTarget,
      request,
    );

    expect(writes).toBe(2);
    expect(result.changed).toBe(true);
    expect(
      readImageTag(
        (await source.readFile(MANIFEST_REPO, 'main', DEMO))!.content,
        'local/svc',
      ),
    ).toBe('rc-7');
    expect(
      (await source.readFile(MANIFEST_REPO, 'main', 'README.md'))?.content,
    ).toBe('# Changed\n');
  });

  it('re-reads the environment file when it changed concurrently, keeping that change', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    const { racing, counts } = racedAfterFirstRead(source, () =>
      commitElsewhere({
        [DEMO]: DEMO_FILE.replace('newTag: "7.2"', 'newTag: "7.4"'),
      }),
    );

    const result = await new GitOpsDeploymentTarget(racing).deploy(
      promotionTarget,
      request,
    );

    expect(counts.reads).toBe(2);
    expect(result.changed).toBe(true);
    const content = (await source.readFile(MANIFEST_REPO, 'main', DEMO))!
      .content;
    expect(readImageTag(content, 'local/svc')).toBe('rc-7');
    expect(readImageTag(content, 'redis')).toBe('7.4');
  });

  it('writes against the file the checks just read, and reads again when it changed since', async () => {
    const { builder, source } = await seeded();
    let reads = 0;
    // Reads of the manifest repository, whichever call makes them.
    const counting = intercept(source, {
      readFile: async (...args) => {
        reads++;
        return source.readFile(...args);
      },
      readFilesWithLastChange: async (...args) => {
        reads++;
        return source.readFilesWithLastChange(...args);
      },
    });
    const target = new GitOpsDeploymentTarget(counting);
    await target.current(promotionTarget, ['demo']);
    expect(reads).toBe(1);
    // A promotion's deploy right after its checks: no second read.
    const first = await target.deploy(promotionTarget, request);
    expect(first.changed).toBe(true);
    expect(reads).toBe(1);

    // The file changes between the checks and the deploy: the write is refused, the file read
    // afresh, the change kept.
    await target.current(promotionTarget, ['demo']);
    await concurrentWriter(builder)({
      [DEMO]: (await source.readFile(
        MANIFEST_REPO,
        'main',
        DEMO,
      ))!.content.replace('newTag: "7.2"', 'newTag: "7.4"'),
    });
    const second = await target.deploy(promotionTarget, {
      ...request,
      version: 'rc-8',
      tag: 'rc-8',
    });
    expect(second.changed).toBe(true);
    const content = (await source.readFile(MANIFEST_REPO, 'main', DEMO))!
      .content;
    expect(readImageTag(content, 'local/svc')).toBe('rc-8');
    expect(readImageTag(content, 'redis')).toBe('7.4');
  });

  it('still reads again once after a fresh read when the remembered file was stale', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    // Another writer lands right after the first fresh read as well.
    const { racing, counts } = racedAfterFirstRead(source, () =>
      commitElsewhere({ [DEMO]: DEMO_FILE.replace('"7.2"', '"7.5"') }),
    );
    const target = new GitOpsDeploymentTarget(racing);
    await target.current(promotionTarget, ['demo']);
    // The checks' read goes stale before the deploy.
    await commitElsewhere({ [DEMO]: DEMO_FILE.replace('"7.2"', '"7.4"') });

    const result = await target.deploy(promotionTarget, request);

    // Remembered (stale), fresh (changed again), fresh: the stale memo is not the one retry.
    expect([counts.reads, counts.writes]).toEqual([2, 3]);
    expect(result.changed).toBe(true);
    const content = (await source.readFile(MANIFEST_REPO, 'main', DEMO))!
      .content;
    expect(readImageTag(content, 'local/svc')).toBe('rc-7');
    expect(readImageTag(content, 'redis')).toBe('7.5');
  });

  it('succeeds without a commit when a concurrent deploy pinned the same version', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    let concurrent = '';
    const { racing } = racedAfterFirstRead(source, async () => {
      concurrent = await commitElsewhere({
        [DEMO]: DEMO_FILE.replace('rc-6', 'rc-7'),
      });
    });

    const result = await new GitOpsDeploymentTarget(racing).deploy(
      promotionTarget,
      request,
    );

    expect(result.changed).toBe(false);
    await expect(builder.head('main')).resolves.toBe(concurrent);
  });

  it('gives up with a ConflictError when the file changes again', async () => {
    const { builder, source } = await seeded();
    const commitElsewhere = concurrentWriter(builder);
    let reads = 0;
    let writes = 0;
    const racing = intercept(source, {
      readFile: async (...args) => {
        const file = await source.readFile(...args);
        reads += 1;
        await commitElsewhere({
          [DEMO]: DEMO_FILE.replace('"7.2"', `"7.${reads + 2}"`),
        });
        return file;
      },
      commitFile: async (...args) => {
        writes += 1;
        return source.commitFile(...args);
      },
    });

    const result = new GitOpsDeploymentTarget(racing).deploy(
      promotionTarget,
      request,
    );

    await expect(result).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(result).rejects.toThrow(DEMO);
    expect([reads, writes]).toEqual([2, 2]);
    const content = (await source.readFile(MANIFEST_REPO, 'main', DEMO))!
      .content;
    expect(readImageTag(content, 'local/svc')).toBe('rc-6');
    expect(readImageTag(content, 'redis')).toBe('7.4');
  });

  it('does not retry other failures', async () => {
    const { source } = await seeded();
    let writes = 0;
    const failing = intercept(source, {
      commitFile: async () => {
        writes += 1;
        throw new Error('disk full');
      },
    });

    await expect(
      new GitOpsDeploymentTarget(failing).deploy(promotionTarget, request),
    ).rejects.toThrow('disk full');
    expect(writes).toBe(1);
  });

  it('rejects an environment without a manifest file, naming the file', async () => {
    const { builder, source } = await seeded();
    const before = await builder.head('main');

    const result = new GitOpsDeploymentTarget(source).deploy(promotionTarget, {
      ...request,
      environment: 'prod',
    });

    await expect(result).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(result).rejects.toThrow(overlay('prod'));
    await expect(builder.head('main')).resolves.toBe(before);
  });

  it('rejects a file that pins no image of the service, naming it', async () => {
    const { builder, source } = await seeded();
    const before = await builder.head('main');

    // stage's overlay pins redis and postgres only.
    const result = new GitOpsDeploymentTarget(source).deploy(promotionTarget, {
      ...request,
      environment: 'stage',
    });

    await expect(result).rejects.toThrow(overlay('stage'));
    await expect(result).rejects.toThrow(/no entry for local\/svc/);
    await expect(builder.head('main')).resolves.toBe(before);
  });

  it.each(['../demo', 'demo/x', 'Demo', ''])(
    'rejects the environment name %j',
    async environment => {
      const { source } = await seeded();
      await expect(
        new GitOpsDeploymentTarget(source).deploy(promotionTarget, {
          ...request,
          environment,
        }),
      ).rejects.toMatchObject({ name: 'InputError' });
    },
  );

  it('rejects an entity without a manifest repository', async () => {
    const { source } = await seeded();
    await expect(
      new GitOpsDeploymentTarget(source).deploy(
        { ...promotionTarget, manifestRepo: undefined },
        request,
      ),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});
