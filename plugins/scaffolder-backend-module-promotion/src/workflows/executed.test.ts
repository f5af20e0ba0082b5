import { execFileSync } from 'node:child_process';
import yaml from 'yaml';
import {
  ArgoCdStub,
  EcrTestServer,
  startArgoCdStub,
  startEcrTestServer,
} from '@mainline/test-servers';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleGitops from '@mainline/plugin-promotion-backend-module-gitops';
import { manifestFiles } from '../actions/gitopsRegister';
import { renderWorkflows } from './renderWorkflows';
import {
  OWNER,
  ScaffoldedService,
  byFile,
} from './__testUtils__/scaffoldedService';

/*
 * A scaffolded container service taken through its life by executing the rendered workflows
 * (packages/test-servers' WorkflowRunner) for real events against the GitHub and ECR test
 * servers, released by a real promotion backend in GitHub mode: a release tag a person pushes
 * reaches the backend as GitHub's `create` webhook (the runner delivers the repository's
 * webhooks, signed, to Backstage's events endpoint) and is promoted by it, never by a workflow;
 * a tag whose delivery was lost is found by the backend's reconcile pass. Every result is read
 * back from those servers and the backend's API, not from the runner.
 */

// Each scenario runs real workflows (git, shell, the image stand-in) against real servers; on a
// busy two-core machine one takes minutes.
jest.setTimeout(300_000);

const DEPLOYER = 'deployer-token';
const SERVICE = 'checkout';
const MANIFESTS = 'deployments';

const svc = new ScaffoldedService(SERVICE, 'container');
let ecr: EcrTestServer;
let argo: ArgoCdStub;
let image: string;

/** git on a bare repository of the test server (no server involved). */
function git(repo: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: svc.gitDir(repo),
    encoding: 'utf8',
  }).trim();
}

const overlayTag = (environment: string) =>
  yaml.parse(
    git(
      MANIFESTS,
      'show',
      `main:apps/${SERVICE}/overlays/${environment}/kustomization.yaml`,
    ),
  ).images[0].newTag as string;

const stageTag = () => overlayTag('stage');

/** The full sha of the commit stage runs (its overlay names the short one). */
const stageSha = () => git(SERVICE, 'rev-parse', `${stageTag()}^{commit}`);

beforeAll(async () => {
  await svc.startGitHub([MANIFESTS]);
  svc.github.addToken(DEPLOYER, { login: 'deployer', role: 'write' });
  ecr = await startEcrTestServer({ region: 'eu-west-1' });
  ecr.createRepository(SERVICE);
  image = ecr.repositoryUri(SERVICE);
  await svc.commitFiles(
    MANIFESTS,
    'main',
    manifestFiles({
      service: SERVICE,
      image,
      initialTag: 'latest',
      manifestRepoUrl: svc.github.gitUrl(OWNER, MANIFESTS),
      namespace: SERVICE,
      branch: 'main',
    }),
    'Register checkout',
  );
  argo = await startArgoCdStub({
    gitDir: svc.gitDir(MANIFESTS),
    branch: 'main',
    kustomization: app => {
      const environment = new RegExp(`^${SERVICE}-(\\w+)$`).exec(app)?.[1];
      return environment
        ? `apps/${SERVICE}/overlays/${environment}/kustomization.yaml`
        : undefined;
    },
  });
  const skeleton = svc.skeletonFiles({
    name: SERVICE,
    owner: 'team-a',
    image,
    manifestRepo: `${OWNER}/${MANIFESTS}`,
    repoSlug: `${OWNER}/${SERVICE}`,
  });
  const entity = yaml.parse(skeleton['catalog-info.yaml']);
  // This service keeps release/* branches: the discouraged exception is on.
  entity.metadata.annotations['mainline.dev/release-branches'] = 'true';
  await svc.startBackend({
    entity,
    // The adapters this service needs besides GitHub: GitOps manifests, ECR images.
    modules: [promotionModuleGitops, promotionModuleAws],
    config: {
      aws: {
        accounts: [
          {
            accountId: ecr.accountId,
            accessKeyId: 'AKIDTEST',
            secretAccessKey: 'test',
          },
        ],
      },
      promotion: {
        artifacts: { ecr: { endpoint: ecr.endpoint } },
        writeScope: {
          grants: [
            {
              owners: ['group:default/team-a'],
              repositories: [`${OWNER}/*`],
              manifests: [
                { repository: `${OWNER}/${MANIFESTS}`, paths: ['apps/**'] },
              ],
              artifactLocations: [image],
            },
          ],
        },
      },
    },
  });
  const workflows = renderWorkflows({
    kind: 'container',
    entityRef: `component:default/${SERVICE}`,
    mainlineUrl: svc.mainlineUrl,
    awsRegion: 'eu-west-1',
    validationCommand: 'npm run validate:stage',
    ecrRepository: image,
    manifestRepo: `${OWNER}/${MANIFESTS}`,
    manifestPath: `apps/${SERVICE}/overlays/{environment}/kustomization.yaml`,
    manifestBranch: 'main',
    argocdUrl: argo.url,
    argocdApplication: `${SERVICE}-{environment}`,
  });
  await svc.scaffold({
    ...skeleton,
    ...Object.fromEntries(
      Object.entries(workflows).map(([f, c]) => [`.github/workflows/${f}`, c]),
    ),
  });
  await svc.startRunner({
    secrets: {
      AWS_DEPLOY_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
      MANIFEST_REPO_TOKEN: DEPLOYER,
      ARGOCD_AUTH_TOKEN: 'argocd-token',
    },
    env: { AWS_ENDPOINT_URL_ECR: ecr.endpoint },
  });
});

afterAll(async () => {
  await svc.close();
  await Promise.all([ecr?.close(), argo?.close()]);
});

describe('a scaffolded container service, its workflows executed', () => {
  it('a pull request gets its build check, and only then may it merge', async () => {
    const pull = await svc.openPullRequest({ 'greeting.txt': 'hello\n' });
    const early = await svc.api(
      'PUT',
      `/repos/${OWNER}/${SERVICE}/pulls/${pull.number}/merge`,
      {},
    );
    expect(early.status).toBe(405);
    expect(early.body.message).toContain(
      'Required status check "build" is expected',
    );

    const runs = await svc.runner.pullRequest(pull.number);
    expect(runs.map(r => [r.file, r.conclusion])).toEqual([
      ['mainline-pr.yaml', 'success'],
    ]);
    const checks = await svc.api(
      'GET',
      `/repos/${OWNER}/${SERVICE}/commits/${pull.head}/check-runs`,
    );
    expect(
      checks.body.check_runs.map((c: any) => [c.name, c.status, c.conclusion]),
    ).toEqual([['build', 'completed', 'success']]);
    // The PR job's token could read the repository and nothing more.
    expect(runs[0].jobs.build.permissions).toEqual({ contents: 'read' });

    const merged = await svc.api(
      'PUT',
      `/repos/${OWNER}/${SERVICE}/pulls/${pull.number}/merge`,
      {},
    );
    expect(merged.status).toBe(200);
  });

  it('a merge builds one image :<shortsha>, points stage at it, and validation goes green', async () => {
    const push = await svc.checkAndMerge({ 'feature.txt': 'one\n' });
    const imagesBefore = ecr.repository(SERVICE)!.imageCount;
    const runs = await svc.runner.push(push);
    const short = push.after.slice(0, 7);

    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.conclusion).toBe('success');
    expect(ecr.repository(SERVICE)!.imageCount).toBe(imagesBefore + 1);
    const stored = ecr.image(SERVICE, { tag: short })!;
    expect(JSON.parse(stored.manifest).annotations).toMatchObject({
      'org.opencontainers.image.revision': push.after,
    });
    expect(stageTag()).toBe(short);
    expect(git(MANIFESTS, 'log', '-1', '--format=%an %s', 'main')).toBe(
      `mainline-ci[bot] stage: ${image} ${short}`,
    );

    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('success');
    expect(
      validate.jobs.validate.steps.find(s => s.name.startsWith('End-to-end'))!
        .outcome,
    ).toBe('success');
    expect(svc.stage.requests.length).toBeGreaterThan(0);
    expect(await svc.yanks()).toEqual([]);
  });

  it('a docs-only merge builds and deploys nothing', async () => {
    const push = await svc.checkAndMerge({
      'docs/operations.md': '# Operations\n',
    });
    const images = ecr.repository(SERVICE)!.imageCount;
    const manifests = git(MANIFESTS, 'rev-parse', 'main');
    const runs = await svc.runner.push(push);
    expect(runs).toEqual([]);
    expect(ecr.repository(SERVICE)!.imageCount).toBe(images);
    expect(git(MANIFESTS, 'rev-parse', 'main')).toBe(manifests);
  });

  it('three quick merges give three images, no build cancelled', async () => {
    const pushes = [];
    for (const n of [1, 2, 3]) {
      pushes.push(await svc.checkAndMerge({ [`quick-${n}.txt`]: `${n}\n` }));
    }
    const images = ecr.repository(SERVICE)!.imageCount;
    const runs = (
      await Promise.all(pushes.map(p => svc.runner.push(p)))
    ).flat();
    const builds = byFile(runs, 'mainline-build.yaml');
    expect(builds).toHaveLength(3);
    expect(builds.map(b => b.jobs.build.result)).toEqual([
      'success',
      'success',
      'success',
    ]);
    expect(ecr.repository(SERVICE)!.imageCount).toBe(images + 3);
    for (const p of pushes) {
      expect(ecr.image(SERVICE, { tag: p.after.slice(0, 7) })).toBeDefined();
    }
    // Stage ends on one of them (a pending stage deploy may be replaced by a newer one).
    expect(pushes.map(p => p.after.slice(0, 7))).toContain(stageTag());
    expect(await svc.yanks()).toEqual([]);
  });

  it('a person pushes rc-* on a main commit: the backend deploys the digest stage ran to demo', async () => {
    const sha = stageSha();
    const stageDigest = ecr.image(SERVICE, { tag: sha.slice(0, 7) })!.digest;
    const images = ecr.repository(SERVICE)!.imageCount;
    await svc.pushTag('rc-1', sha);
    const [promotion, ...others] = await svc.promotedTag('rc-1');
    expect(others).toEqual([]);
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      sha,
      // The pusher, as the webhook names them (no catalog user has their login).
      requestedBy: 'github:releaser',
    });
    // GitHub's `create` webhook brought it: delivered by the server, signed, and accepted.
    expect(
      (await svc.deliveries('create')).filter(d => d.payload.ref === 'rc-1'),
    ).toEqual([
      expect.objectContaining({
        statusCode: 202,
        payload: expect.objectContaining({
          ref_type: 'tag',
          sender: expect.objectContaining({ login: 'releaser' }),
        }),
      }),
    ]);
    // Retagged, not rebuilt: the same digest under the release tag, no new image.
    expect(ecr.image(SERVICE, { tag: 'rc-1' })?.digest).toBe(stageDigest);
    expect(ecr.repository(SERVICE)!.imageCount).toBe(images);
    expect(overlayTag('demo')).toBe('rc-1');
    const demo = (await svc.mainline('/lineage')).environments.find(
      (e: { name: string }) => e.name === 'demo',
    );
    expect({ sha: demo.current?.sha, tag: demo.current?.tag }).toEqual({
      sha,
      tag: 'rc-1',
    });
  });

  it('then v* takes the same digest to prod', async () => {
    const sha = stageSha();
    const digest = ecr.image(SERVICE, { tag: 'rc-1' })!.digest;
    await svc.pushTag('v1.0.0', sha);
    const [promotion] = await svc.promotedTag('v1.0.0');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'prod',
      sha,
    });
    expect(ecr.image(SERVICE, { tag: 'v1.0.0' })?.digest).toBe(digest);
    expect(overlayTag('prod')).toBe('v1.0.0');
  });

  it('a tag whose webhook delivery was lost is promoted by the reconcile pass', async () => {
    const push = await svc.checkAndMerge({ 'second.txt': 'two\n' });
    const [build] = byFile(await svc.runner.push(push), 'mainline-build.yaml');
    expect(build.conclusion).toBe('success');
    const sha = stageSha();
    expect(sha).toBe(push.after);
    // The backend was down: the tag's `create` and `push` deliveries never reached it.
    await svc.whileUnreachable(() => svc.pushTag('rc-2', sha));
    expect(
      (await svc.deliveries())
        .filter(
          d => d.payload.ref === 'rc-2' || d.payload.ref === 'refs/tags/rc-2',
        )
        .map(d => [d.event, d.statusCode, d.status]),
    ).toEqual([
      ['create', 0, 'failed to connect to host'],
      ['push', 0, 'failed to connect to host'],
    ]);
    expect(await svc.promotionsOf('rc-2')).toEqual([]);
    expect(overlayTag('demo')).toBe('rc-1');

    const [promotion] = await svc.promotedTag('rc-2', true);
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      sha,
      // The tag listing does not say who pushed it.
      requestedBy: 'github:unknown',
    });
    expect(overlayTag('demo')).toBe('rc-2');
  });

  it('a tag on a commit on neither main nor release/* is refused and reported on the commit', async () => {
    const demoBefore = overlayTag('demo');
    const manifests = git(MANIFESTS, 'rev-parse', 'main');
    const side = await svc.pushTag('rc-3', undefined, true);
    await svc.expectRefusedTag('rc-3', side, /not on main/);
    expect(overlayTag('demo')).toBe(demoBefore);
    expect(git(MANIFESTS, 'rev-parse', 'main')).toBe(manifests);
    expect(ecr.image(SERVICE, { tag: 'rc-3' })).toBeUndefined();
  });

  it('a v* on a release/* commit follows the discouraged exception: its own build, straight to prod, flagged', async () => {
    const base = stageSha();
    const before = git(SERVICE, 'rev-parse', 'main');
    const stageBefore = stageTag();
    // Built once, not deployed to stage, not validated there.
    const { fix } = await svc.pushReleaseBranch(base);
    expect(stageTag()).toBe(stageBefore);
    const digest = ecr.image(SERVICE, { tag: fix.slice(0, 7) })!.digest;
    expect(git(SERVICE, 'rev-parse', 'main')).toBe(before);

    await svc.pushTag('v1.0.1', fix);
    const [promotion] = await svc.promotedTag('v1.0.1');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'prod',
      sha: fix,
    });
    expect(ecr.image(SERVICE, { tag: 'v1.0.1' })?.digest).toBe(digest);
    expect(overlayTag('prod')).toBe('v1.0.1');
    await svc.expectReleaseBranchFlagged();
  });

  it('a failing stage validation yanks the commit through the Mainline API, and a tag on it is refused and reported', async () => {
    // The backend took the yank, the image gone from ECR.
    const push = await svc.mergeFailingValidation();
    expect(ecr.image(SERVICE, { tag: push.after.slice(0, 7) })).toBeUndefined();

    const demoBefore = overlayTag('demo');
    await svc.pushTag('rc-50', push.after);
    await svc.expectRefusedTag('rc-50', push.after, /yanked/i);
    expect(overlayTag('demo')).toBe(demoBefore);
  });
});
