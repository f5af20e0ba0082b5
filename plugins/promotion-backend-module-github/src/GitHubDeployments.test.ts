import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import {
  DEPLOY_WORKFLOW_RUN_NAME,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import {
  BareRepoBuilder,
  Signature,
  GitRunner,
  DeploymentRequest,
} from '@mainline/plugin-promotion-node';
import { createGitHubClient } from './GitHubClients';
import { GitHubSourceControl } from './GitHubSourceControl';
import {
  memoryCache,
  runDeploymentTargetContract,
} from '@mainline/plugin-promotion-node/testUtils';
import { GitOpsDeploymentTarget } from '@mainline/plugin-promotion-backend-module-gitops';
import { GitHubPullRequests } from './GitHubPullRequests';
import { GitHubWorkflowDeployments } from './GitHubWorkflowDeployments';

jest.setTimeout(180_000);

const TOKEN = 'deploy-test-token';
const MANIFEST_PATH = 'apps/svc/overlays/{environment}/kustomization.yaml';
const BOT: Signature = {
  name: 'argocd-image-updater',
  email: 'bot@example.com',
  date: new Date('2024-04-01T00:00:00Z'),
};

const imageTarget: PromotionTarget = {
  sourceRepo: 'acme/svc',
  artifactKind: 'image',
  artifactLocation: 'ghcr.io/acme/svc',
  manifestRepo: 'acme/deployments',
  manifestPath: MANIFEST_PATH,
  versioning: 'semver',
  releaseBranches: false,
};
const lambdaTarget: PromotionTarget = {
  sourceRepo: 'acme/svc',
  artifactKind: 'archive',
  artifactLocation: 's3://artifacts/svc',
  serverlessService: 'svc',
  versioning: 'calver',
  releaseBranches: false,
};

const kustomization = (tag: string) =>
  [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - ../../base',
    'images:',
    '  - name: ghcr.io/acme/svc',
    `    newTag: ${tag}`,
    '',
  ].join('\n');

const overlay = (environment: string) =>
  MANIFEST_PATH.replace('{environment}', environment);

const servers: GitHubTestServer[] = [];
const roots: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
  await Promise.all(roots.map(r => fs.rm(r, { recursive: true, force: true })));
});

async function serve(
  options: Partial<Parameters<typeof startGitHubTestServer>[0]> = {},
) {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'github-deploy-'));
  roots.push(root);
  const server = await startGitHubTestServer({
    root,
    token: TOKEN,
    ...options,
  });
  servers.push(server);
  const client = createGitHubClient({
    baseUrl: server.baseUrl,
    token: TOKEN,
    cache: memoryCache(),
    writeSpacingMs: 0,
    waitUnitMs: 1,
  });
  const source = GitHubSourceControl.fromToken({
    baseUrl: server.baseUrl,
    token: TOKEN,
    cache: memoryCache(),
    writeSpacingMs: 0,
    waitUnitMs: 1,
    webBaseUrl: server.htmlUrl,
  });
  return { root, server, source, octokitFor: async () => client };
}

async function manifestRepo(root: string) {
  const builder = await BareRepoBuilder.open(
    path.join(root, 'acme', 'deployments.git'),
  );
  await builder.commit({
    branch: 'main',
    files: { 'apps/svc/base/kustomization.yaml': 'resources: []\n' },
    message: 'Bootstrap the manifest repository',
    author: BOT,
  });
  return builder;
}

runDeploymentTargetContract('GitOps over GitHub', async fixture => {
  const { root, source } = await serve();
  const builder = await manifestRepo(root);
  for (const deploy of fixture.deploys) {
    await builder.commit({
      branch: 'main',
      files: { [overlay(deploy.environment)]: kustomization(deploy.version) },
      message: `Deploy ${deploy.version} to ${deploy.environment}`,
      author: { ...deploy.deployedBy, date: deploy.deployedAt },
    });
  }
  return {
    target: new GitOpsDeploymentTarget(source),
    promotionTarget: { ...imageTarget, artifactLocation: 'ghcr.io/acme/svc' },
    deploysToNewEnvironments: false,
  };
});

const DEPLOY_WORKFLOW = [
  'name: Deploy',
  `run-name: ${DEPLOY_WORKFLOW_RUN_NAME}`,
  'on:',
  '  workflow_dispatch:',
  '    inputs:',
  '      stage: { required: true }',
  '      sha: { required: true }',
  '      version: { required: true }',
  '      request: { required: true }',
  '      actor: { required: true }',
  'jobs:',
  '  deploy:',
  '    runs-on: ubuntu-latest',
  // What the environment's deployment branch policy judges the run's ref against.
  '    environment: ${{ inputs.stage }}',
  '    steps:',
  '      - run: sls deploy --stage "$STAGE" --package "$SHA"',
  '',
].join('\n');

/** The release tags the deploys below are of: a tag's deploy is dispatched on the tag. */
const RELEASE_TAGS = ['rc-3', 'rc-4', 'rc-5', 'v1.4.0'];

async function serviceRepo(root: string) {
  const builder = await BareRepoBuilder.open(
    path.join(root, 'acme', 'svc.git'),
  );
  const sha = await builder.commit({
    branch: 'main',
    files: { '.github/workflows/mainline-deploy.yaml': DEPLOY_WORKFLOW },
    message: 'Deploy workflow',
    author: BOT,
  });
  // The fixture's deployed shas are inputs only; the tags carry the workflow the run reads.
  for (const tag of RELEASE_TAGS) await builder.tag(tag, sha, BOT);
}

runDeploymentTargetContract(
  'Lambda over GitHub workflow runs',
  async fixture => {
    const { root, server, octokitFor } = await serve({
      autoCompleteRuns: { afterMs: 40 },
    });
    await serviceRepo(root);
    for (const deploy of fixture.deploys) {
      await server.seedWorkflowRun({
        owner: 'acme',
        name: 'svc',
        workflow: 'mainline-deploy.yaml',
        inputs: {
          stage: deploy.environment,
          sha: deploy.sha,
          version: deploy.version,
          request: `seed-${deploy.environment}-${deploy.version}`,
          actor: deploy.deployedBy.name,
        },
        createdAt: deploy.deployedAt,
        conclusion: 'success',
        actor: deploy.deployedBy.name,
      });
    }
    return {
      target: new GitHubWorkflowDeployments(octokitFor),
      promotionTarget: lambdaTarget,
      deploysToNewEnvironments: true,
    };
  },
);

const request: DeploymentRequest = {
  environment: 'prod',
  sha: '0123456789abcdef0123456789abcdef01234567',
  version: 'v1.4.0',
  tag: 'v1.4.0',
  actor: {
    entityRef: 'user:default/ada',
    name: 'Ada',
    email: 'ada@example.com',
  },
  reason: 'Promote 0123456 as v1.4.0',
  requestId: 'b7e0f7a4-5c0e-4b7e-9a51-0c7b3f1f5c1a',
};

describe('manifest changes through pull requests', () => {
  async function setup() {
    const { root, server, source, octokitFor } = await serve();
    const builder = await manifestRepo(root);
    for (const environment of ['stage', 'demo', 'prod']) {
      await builder.commit({
        branch: 'main',
        files: { [overlay(environment)]: kustomization('v1.3.0') },
        message: `Deploy v1.3.0 to ${environment}`,
        author: BOT,
      });
    }
    const target = new GitOpsDeploymentTarget(source, {
      branch: 'main',
      reviewEnvironments: ['prod'],
      changeRequests: new GitHubPullRequests(octokitFor, source),
    });
    const git = new GitRunner(path.join(root, 'acme', 'deployments.git'));
    const prodFile = () =>
      git.output(['show', `main:${overlay('prod')}`]).catch(() => '');
    return { server, target, prodFile };
  }

  it('opens one pull request, waits for review, and completes when it is merged', async () => {
    const { server, target, prodFile } = await setup();

    const result = await target.deploy(imageTarget, request);
    expect(result.pending).toMatch(/^change:acme\/deployments#\d+$/);
    expect(result.url).toMatch(/\/acme\/deployments\/pull\/\d+$/);
    // Nothing reaches the branch Argo CD watches before the review.
    expect(await prodFile()).toContain('newTag: v1.3.0');
    expect((await target.current(imageTarget, ['prod'])).prod?.version).toBe(
      'v1.3.0',
    );

    // A retried promotion finds the same pull request instead of opening another.
    const again = await target.deploy(imageTarget, request);
    expect(again.pending).toBe(result.pending);
    expect(server.pullRequests('acme', 'deployments')).toHaveLength(1);

    await expect(
      target.followUp!(imageTarget, result.pending!),
    ).resolves.toMatchObject({ state: 'pending', url: result.url });

    const number = Number(result.pending!.split('#')[1]);
    const { sha } = await server.mergePullRequest(
      'acme',
      'deployments',
      number,
    );
    await expect(
      target.followUp!(imageTarget, result.pending!),
    ).resolves.toMatchObject({ state: 'succeeded', revision: sha });
    expect(await prodFile()).toContain('newTag: v1.4.0');
    expect((await target.current(imageTarget, ['prod'])).prod?.version).toBe(
      'v1.4.0',
    );
  });

  it('fails the deploy when the pull request is closed without merging', async () => {
    const { server, target, prodFile } = await setup();
    const result = await target.deploy(imageTarget, request);
    const number = Number(result.pending!.split('#')[1]);
    const octokit = createGitHubClient({
      baseUrl: server.baseUrl,
      token: TOKEN,
    });
    await octokit.rest.pulls.update({
      owner: 'acme',
      repo: 'deployments',
      pull_number: number,
      state: 'closed',
    });
    await expect(
      target.followUp!(imageTarget, result.pending!),
    ).resolves.toMatchObject({
      state: 'failed',
      detail: expect.stringContaining('closed without merging'),
    });
    expect(await prodFile()).toContain('newTag: v1.3.0');
  });

  it('commits directly for environments that need no review', async () => {
    const { server, target } = await setup();
    const result = await target.deploy(imageTarget, {
      ...request,
      environment: 'demo',
      version: 'rc-9',
      tag: 'rc-9',
    });
    expect(result.pending).toBeUndefined();
    expect(result.changed).toBe(true);
    expect(server.pullRequests('acme', 'deployments')).toHaveLength(0);
  });
});

describe('Lambda deploys through the deploy workflow', () => {
  it('dispatches once per promotion, follows the run, and reports its failure with a link', async () => {
    const { root, server, octokitFor } = await serve();
    await serviceRepo(root);
    const target = new GitHubWorkflowDeployments(octokitFor);

    const result = await target.deploy(lambdaTarget, request);
    expect(result.pending).toMatch(/^run:/);
    const [run] = server.workflowRuns('acme', 'svc');
    expect(run.inputs).toEqual({
      stage: 'prod',
      sha: request.sha,
      version: 'v1.4.0',
      request: request.requestId,
      actor: 'user:default/ada',
    });

    // The retry of a promotion whose deploy step was interrupted finds the same run.
    await target.deploy(lambdaTarget, request);
    expect(server.workflowRuns('acme', 'svc')).toHaveLength(1);

    server.startWorkflowRun(run.id);
    await expect(
      target.followUp(lambdaTarget, result.pending!),
    ).resolves.toMatchObject({ state: 'pending', url: run.htmlUrl });
    server.completeWorkflowRun(run.id, 'failure');
    await expect(
      target.followUp(lambdaTarget, result.pending!),
    ).resolves.toMatchObject({
      state: 'failed',
      detail: expect.stringContaining('failure'),
      url: run.htmlUrl,
    });
    expect((await target.current(lambdaTarget, ['prod'])).prod).toBeUndefined();
  });

  it('dispatches a release tag on the tag, which the environment allows, and a branch deploy on the branch', async () => {
    const { root, server, octokitFor } = await serve({
      autoCompleteRuns: { afterMs: 40 },
    });
    await serviceRepo(root);
    // The environments as the scaffolder template creates them (github:environment:create).
    const octokit = await octokitFor();
    for (const [environment, policy] of [
      ['stage', { name: 'main', type: 'branch' }],
      ['demo', { name: 'rc-*', type: 'tag' }],
    ] as const) {
      await octokit.rest.repos.createOrUpdateEnvironment({
        owner: 'acme',
        repo: 'svc',
        environment_name: environment,
        deployment_branch_policy: {
          protected_branches: false,
          custom_branch_policies: true,
        },
      });
      await octokit.rest.repos.createDeploymentBranchPolicy({
        owner: 'acme',
        repo: 'svc',
        environment_name: environment,
        ...policy,
      });
    }
    const target = new GitHubWorkflowDeployments(octokitFor, {
      branches: { stage: 'main' },
    });
    const follow = async (result: { pending?: string }) => {
      for (let i = 0; i < 200; i++) {
        const progress = await target.followUp(lambdaTarget, result.pending!);
        if (progress.state !== 'pending') return progress;
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      throw new Error('the deploy run never completed');
    };
    const demo = {
      ...request,
      environment: 'demo',
      version: 'rc-4',
      tag: 'rc-4',
      requestId: 'de000000-0000-4000-8000-000000000001',
    };

    await expect(
      follow(await target.deploy(lambdaTarget, demo)),
    ).resolves.toMatchObject({ state: 'succeeded' });
    const stage = {
      ...request,
      environment: 'stage',
      version: request.sha.slice(0, 7),
      tag: undefined,
      requestId: 'de000000-0000-4000-8000-000000000002',
    };
    await expect(
      follow(await target.deploy(lambdaTarget, stage)),
    ).resolves.toMatchObject({ state: 'succeeded' });
    // The same demo deploy on main, as the adapter dispatched it before: refused by the policy.
    const onMain = await target.deploy(lambdaTarget, {
      ...demo,
      version: 'rc-5',
      tag: undefined,
      requestId: 'de000000-0000-4000-8000-000000000003',
    });
    await expect(follow(onMain)).resolves.toMatchObject({
      state: 'failed',
      detail: expect.stringContaining('concluded failure'),
    });

    const runs = server.workflowRuns('acme', 'svc');
    expect(
      runs.map(r => ({
        stage: r.inputs.stage,
        ref: r.ref,
        refType: r.refType,
        conclusion: r.conclusion,
        refusal: r.refusal,
      })),
    ).toEqual([
      {
        stage: 'demo',
        ref: 'rc-4',
        refType: 'tag',
        conclusion: 'success',
        refusal: undefined,
      },
      {
        stage: 'stage',
        ref: 'main',
        refType: 'branch',
        conclusion: 'success',
        refusal: undefined,
      },
      {
        stage: 'demo',
        ref: 'main',
        refType: 'branch',
        conclusion: 'failure',
        refusal:
          'Branch "main" is not allowed to deploy to demo due to environment protection rules.',
      },
    ]);
    // What runs in demo is still the tag's deploy.
    expect((await target.current(lambdaTarget, ['demo'])).demo).toMatchObject({
      version: 'rc-4',
    });
  });

  it('fails clearly when the repository has no deploy workflow', async () => {
    const { root, octokitFor } = await serve();
    const repo = await BareRepoBuilder.open(path.join(root, 'acme', 'svc.git'));
    const start = await repo.commit({
      branch: 'main',
      files: { 'README.md': '# svc\n' },
      message: 'Start',
      author: BOT,
    });
    await repo.tag(request.tag!, start, BOT);
    const target = new GitHubWorkflowDeployments(octokitFor, {
      workflow: 'missing.yaml',
    });
    await expect(target.deploy(lambdaTarget, request)).rejects.toThrow(
      'acme/svc has no workflow missing.yaml on refs/tags/v1.4.0',
    );
  });
});
