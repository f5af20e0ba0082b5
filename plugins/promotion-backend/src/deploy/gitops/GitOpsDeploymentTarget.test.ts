import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import { BareRepoBuilder, Signature } from '../../local/BareRepoBuilder';
import { LocalGitSourceControl } from '../../source/local/LocalGitSourceControl';
import { runDeploymentTargetContract } from '../DeploymentTarget.contract';
import { GitOpsDeploymentTarget } from './GitOpsDeploymentTarget';

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
