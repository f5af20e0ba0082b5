import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'yaml';
import {
  SchedulerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  ArgoCdStub,
  EcrTestServer,
  GitHubTestServer,
  RecordingServer,
  WorkflowRun,
  WorkflowRunner,
  startArgoCdStub,
  startEcrTestServer,
  startGitHubTestServer,
  startRecordingServer,
} from '@mainline/test-servers';
// The promotion backend the scaffolded service is released with, as packages/backend runs it
// beside this module: the module itself never imports the plugin.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import promotionPlugin from '@mainline/plugin-promotion-backend';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleGithub from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleGitops from '@mainline/plugin-promotion-backend-module-gitops';
import promotionModuleLocal from '@mainline/plugin-promotion-backend-module-local';
import { manifestFiles } from '../actions/gitopsRegister';
import { mainlineRulesets } from '../actions/githubRulesetsCreate';
import { renderWorkflows } from './renderWorkflows';

/*
 * A scaffolded container service taken through its life by executing the rendered workflows
 * (packages/test-servers' WorkflowRunner) for real events against the GitHub and ECR test
 * servers, released by a real promotion backend in GitHub mode: a release tag a person pushes is
 * promoted by the backend (its reconcile pass over the tags; the webhook path is
 * promotion-backend's pushedTags.test.ts), never by a workflow. Every result is read back from
 * those servers and the backend's API, not from the runner.
 */

// Each scenario runs real workflows (git, shell, the image stand-in) against real servers; on a
// busy two-core machine one takes minutes.
jest.setTimeout(300_000);

const ADMIN = 'admin-token';
const REVIEWER = 'reviewer-token';
const DEPLOYER = 'deployer-token';
const RELEASER = 'releaser-token';
/** The Backstage token the validation job yanks with (the test backend's mock user). */
const MAINLINE_TOKEN = mockCredentials.user.token();
const OWNER = 'acme';
const SERVICE = 'checkout';
const MANIFESTS = 'deployments';
const templateDir = path.resolve(
  __dirname,
  '../../templates/build-once-service',
);

let root: string;
let work: string;
let github: GitHubTestServer;
let ecr: EcrTestServer;
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let mainlineUrl: string;
let stage: RecordingServer;
let argo: ArgoCdStub;
let runner: WorkflowRunner;
let stageBroken = false;
let image: string;
// Scheduled tasks run when the test says so: the reconcile pass is the task's own function.
const scheduler = mockServices.scheduler() as SchedulerService & {
  factory(options: { skipTaskRunOnStartup: boolean }): ServiceFactory;
};

const gitEnv = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.com',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.com',
};

/** git on a local bare repository (no server involved). */
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** git that may talk to the in-process test server: never blocks its event loop. */
async function gitAsync(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('git', args, {
    cwd,
    env: { ...process.env, ...gitEnv },
  });
  return stdout.trim();
}

async function api(
  method: string,
  pathname: string,
  body?: unknown,
  token = ADMIN,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${github.baseUrl}${pathname}`, {
    method,
    headers: {
      authorization: `token ${token}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Fixture setup: a refused request stops the suite with the server's answer. */
async function created(request: Promise<{ status: number; body: any }>) {
  const res = await request;
  if (res.status !== 201) {
    throw new Error(
      `setup request refused: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body;
}

function authedUrl(repo: string, token = ADMIN) {
  return github
    .gitUrl(OWNER, repo)
    .replace('http://', `http://x-access-token:${token}@`);
}

/** Writes `files` into a fresh clone, commits and pushes `branch`; returns the commit. */
async function commitFiles(
  repo: string,
  branch: string,
  files: Record<string, string>,
  message: string,
  from?: string,
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(work, `${repo}-`));
  if (from) {
    await gitAsync(dir, 'clone', '--quiet', authedUrl(repo), '.');
    await gitAsync(dir, 'checkout', '--quiet', '-b', branch, `origin/${from}`);
  } else {
    await gitAsync(dir, 'init', '--quiet', '-b', branch);
    await gitAsync(dir, 'remote', 'add', 'origin', authedUrl(repo));
  }
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  await gitAsync(dir, 'add', '-A');
  await gitAsync(dir, 'commit', '--quiet', '-m', message);
  await gitAsync(dir, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return await gitAsync(dir, 'rev-parse', 'HEAD');
}

function skeletonFiles(): Record<string, string> {
  const values: Record<string, string> = {
    name: SERVICE,
    owner: 'team-a',
    image,
    manifestRepo: `${OWNER}/${MANIFESTS}`,
    repoSlug: `${OWNER}/${SERVICE}`,
  };
  const files: Record<string, string> = {};
  const from = path.join(templateDir, 'skeleton-container');
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        files[path.relative(from, full)] = fs
          .readFileSync(full, 'utf8')
          .replace(
            /\$\{\{ values\.(\w+) \}\}/g,
            (_, key: string) => values[key],
          );
      }
    }
  };
  walk(from);
  return files;
}

const mainSha = () =>
  git(path.join(root, OWNER, `${SERVICE}.git`), 'rev-parse', 'refs/heads/main');

const stageTag = () =>
  yaml.parse(
    git(
      path.join(root, OWNER, `${MANIFESTS}.git`),
      'show',
      `main:apps/${SERVICE}/overlays/stage/kustomization.yaml`,
    ),
  ).images[0].newTag as string;

let branchCount = 0;

/** Opens a reviewed pull request with `files`; its `build` check has not run yet. */
async function openPullRequest(files: Record<string, string>) {
  const branch = `change-${++branchCount}`;
  const head = await commitFiles(
    SERVICE,
    branch,
    files,
    `Change ${branchCount}`,
    'main',
  );
  const pull = await api('POST', `/repos/${OWNER}/${SERVICE}/pulls`, {
    title: `Change ${branchCount}`,
    head: branch,
    base: 'main',
  });
  expect(pull.status).toBe(201);
  const review = await api(
    'POST',
    `/repos/${OWNER}/${SERVICE}/pulls/${pull.body.number}/reviews`,
    { event: 'APPROVE' },
    REVIEWER,
  );
  expect(review.status).toBe(200);
  return { number: pull.body.number as number, head };
}

/** The pull request's check, then its merge; resolves to the push the merge made. */
async function checkAndMerge(files: Record<string, string>) {
  const pull = await openPullRequest(files);
  const runs = await runner.pullRequest(pull.number);
  expect(runs.map(r => [r.file, r.conclusion])).toEqual([
    ['mainline-pr.yaml', 'success'],
  ]);
  const before = mainSha();
  const merged = await api(
    'PUT',
    `/repos/${OWNER}/${SERVICE}/pulls/${pull.number}/merge`,
    { merge_method: 'merge' },
  );
  expect(merged.status).toBe(200);
  return { ref: 'refs/heads/main', before, after: merged.body.sha as string };
}

const byFile = (runs: WorkflowRun[], file: string) =>
  runs.filter(r => r.file === file);

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-git-'));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-work-'));
  github = await startGitHubTestServer({
    root,
    token: ADMIN,
    tokens: {
      [REVIEWER]: { login: 'reviewer', role: 'write' },
      [DEPLOYER]: { login: 'deployer', role: 'write' },
      // A person the tag rulesets let create release tags (a bypass team's member).
      [RELEASER]: {
        login: 'releaser',
        role: 'write',
        teams: [`${OWNER}/releasers`],
      },
    },
  });
  ecr = await startEcrTestServer({ region: 'eu-west-1' });
  ecr.createRepository(SERVICE);
  image = ecr.repositoryUri(SERVICE);
  stage = await startRecordingServer(() =>
    stageBroken
      ? { status: 503, body: 'unavailable', contentType: 'text/plain' }
      : { status: 200, body: `${SERVICE}\n`, contentType: 'text/plain' },
  );
  for (const name of [SERVICE, MANIFESTS]) {
    await created(api('POST', `/orgs/${OWNER}/repos`, { name }));
  }
  await commitFiles(
    MANIFESTS,
    'main',
    manifestFiles({
      service: SERVICE,
      image,
      initialTag: 'latest',
      manifestRepoUrl: github.gitUrl(OWNER, MANIFESTS),
      namespace: SERVICE,
      branch: 'main',
    }),
    'Register checkout',
  );
  argo = await startArgoCdStub({
    gitDir: path.join(root, OWNER, `${MANIFESTS}.git`),
    branch: 'main',
    kustomization: app => {
      const environment = new RegExp(`^${SERVICE}-(\\w+)$`).exec(app)?.[1];
      return environment
        ? `apps/${SERVICE}/overlays/${environment}/kustomization.yaml`
        : undefined;
    },
  });
  const entity = yaml.parse(skeletonFiles()['catalog-info.yaml']);
  backend = await startTestBackend({
    features: [
      promotionPlugin,
      // The adapters this service needs: GitHub, GitOps manifests, ECR images.
      promotionModuleGithub,
      promotionModuleGitops,
      promotionModuleAws,
      promotionModuleLocal,
      catalogServiceMock.factory({
        entities: [
          {
            ...entity,
            metadata: {
              ...entity.metadata,
              namespace: 'default',
              // This service keeps release/* branches: the discouraged exception is on.
              annotations: {
                ...entity.metadata.annotations,
                'mainline.dev/release-branches': 'true',
              },
            },
            relations: [{ type: 'ownedBy', targetRef: 'group:default/team-a' }],
          },
        ],
      }),
      scheduler.factory({ skipTaskRunOnStartup: true }),
      mockServices.rootConfig.factory({
        data: {
          integrations: {
            github: [
              { host: github.host, apiBaseUrl: github.baseUrl, token: ADMIN },
            ],
          },
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
            source: { provider: 'github' },
            github: { host: github.host },
            artifacts: { ecr: { endpoint: ecr.endpoint } },
            local: { dataDir: path.join(work, 'promotion'), demoData: false },
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
      }),
    ],
  });
  mainlineUrl = `http://127.0.0.1:${
    (backend.server.address() as AddressInfo).port
  }`;
  const workflows = renderWorkflows({
    kind: 'container',
    entityRef: `component:default/${SERVICE}`,
    mainlineUrl,
    awsRegion: 'eu-west-1',
    validationCommand: 'npm run validate:stage',
    ecrRepository: image,
    manifestRepo: `${OWNER}/${MANIFESTS}`,
    manifestPath: `apps/${SERVICE}/overlays/{environment}/kustomization.yaml`,
    manifestBranch: 'main',
    argocdUrl: argo.url,
    argocdApplication: `${SERVICE}-{environment}`,
  });
  await commitFiles(
    SERVICE,
    'main',
    {
      ...skeletonFiles(),
      ...Object.fromEntries(
        Object.entries(workflows).map(([f, c]) => [
          `.github/workflows/${f}`,
          c,
        ]),
      ),
    },
    'Scaffolded',
  );
  const team = await created(
    api('POST', `/orgs/${OWNER}/teams`, { name: 'releasers' }),
  );
  for (const ruleset of mainlineRulesets({
    requiredStatusChecks: ['build'],
    requiredApprovals: 1,
    bypassActors: [
      { actor_type: 'Team', actor_id: team.id, bypass_mode: 'always' },
    ],
  })) {
    await created(api('POST', `/repos/${OWNER}/${SERVICE}/rulesets`, ruleset));
  }
  // The first pass over the repository's tags (none yet) is its baseline.
  await scheduler.triggerTask('promotion-reconcile-tags');
  runner = new WorkflowRunner({
    github,
    owner: OWNER,
    repo: SERVICE,
    adminToken: ADMIN,
    workRoot: path.join(work, 'runner'),
    secrets: {
      AWS_DEPLOY_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
      MANIFEST_REPO_TOKEN: DEPLOYER,
      ARGOCD_AUTH_TOKEN: 'argocd-token',
      MAINLINE_TOKEN,
    },
    vars: { STAGE_URL: stage.url },
    env: {
      AWS_ENDPOINT_URL_ECR: ecr.endpoint,
      npm_config_update_notifier: 'false',
    },
  });
});

afterAll(async () => {
  await backend?.stop();
  await Promise.all([
    github?.close(),
    ecr?.close(),
    stage?.close(),
    argo?.close(),
  ]);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const ENTITY_API = `/api/promotion/v1/entities/component/default/${SERVICE}`;

async function mainline(pathname: string): Promise<any> {
  const res = await fetch(`${mainlineUrl}${ENTITY_API}${pathname}`, {
    headers: { authorization: mockCredentials.user.header() },
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** The commits the backend has yanked. */
const yanks = async (): Promise<Array<{ sha: string; reason: string }>> =>
  (await mainline('/yanks')).items;

interface Promotion {
  environment: string;
  sha: string;
  tag: string | null;
  status: string;
  error: string | null;
  requestedBy: string;
  steps: Array<{ name: string; status: string }>;
}

/** Runs the backend's reconcile pass, then waits until the tag's promotion has ended. */
async function promotedTag(tag: string): Promise<Promotion[]> {
  await scheduler.triggerTask('promotion-reconcile-tags');
  for (let i = 0; i < 300; i++) {
    const found = (
      (await mainline('/promotions?limit=200')).items as Promotion[]
    ).filter(p => p.tag === tag);
    if (found.length > 0 && found.every(p => p.status !== 'running')) {
      return found;
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  throw new Error(`no finished promotion with tag ${tag}`);
}

let releaserClone: string | undefined;

/**
 * What a person does in their clone: an annotated tag on `sha` (main's head when absent; with
 * `offBranch`, on a new commit on top of it that no branch holds), pushed to the test server
 * with their own token. Resolves to the tagged commit.
 */
async function pushTag(tag: string, sha?: string, offBranch = false) {
  if (!releaserClone) {
    releaserClone = fs.mkdtempSync(path.join(work, 'releaser-'));
    await gitAsync(
      releaserClone,
      'clone',
      '--quiet',
      authedUrl(SERVICE, RELEASER),
      '.',
    );
  }
  const dir = releaserClone;
  await gitAsync(dir, 'fetch', '--quiet', 'origin');
  let target = sha ?? 'origin/main';
  if (offBranch) {
    target = await gitAsync(
      dir,
      'commit-tree',
      `${target}^{tree}`,
      '-p',
      target,
      '-m',
      'an experiment on no branch',
    );
  }
  await gitAsync(dir, 'tag', '-a', tag, '-m', `release ${tag}`, target);
  const tagObject = await gitAsync(dir, 'rev-parse', `refs/tags/${tag}`);
  await gitAsync(dir, 'push', '--quiet', 'origin', `refs/tags/${tag}`);
  const commit = await gitAsync(dir, 'rev-parse', `${tag}^{commit}`);
  // The push event a tag makes: no workflow runs for it, Mainline promotes it.
  const runs = await runner.push({
    ref: `refs/tags/${tag}`,
    before: '0'.repeat(40),
    after: tagObject,
    actor: 'releaser',
  });
  expect(runs).toEqual([]);
  return commit;
}

const overlayTag = (environment: string) =>
  yaml.parse(
    git(
      path.join(root, OWNER, `${MANIFESTS}.git`),
      'show',
      `main:apps/${SERVICE}/overlays/${environment}/kustomization.yaml`,
    ),
  ).images[0].newTag as string;

/** The commit statuses the backend set on `sha`, by context. */
async function statusesOf(sha: string) {
  const res = await api(
    'GET',
    `/repos/${OWNER}/${SERVICE}/commits/${sha}/statuses`,
  );
  expect(res.status).toBe(200);
  return res.body as Array<{
    context: string;
    state: string;
    description: string;
  }>;
}

/** The full sha of the commit stage runs (its overlay names the short one). */
async function stageSha(): Promise<string> {
  return git(
    path.join(root, OWNER, `${SERVICE}.git`),
    'rev-parse',
    `${stageTag()}^{commit}`,
  );
}

describe('a scaffolded container service, its workflows executed', () => {
  it('a pull request gets its build check, and only then may it merge', async () => {
    const pull = await openPullRequest({ 'greeting.txt': 'hello\n' });
    const early = await api(
      'PUT',
      `/repos/${OWNER}/${SERVICE}/pulls/${pull.number}/merge`,
      {},
    );
    expect(early.status).toBe(405);
    expect(early.body.message).toContain(
      'Required status check "build" is expected',
    );

    const runs = await runner.pullRequest(pull.number);
    expect(runs.map(r => [r.file, r.conclusion])).toEqual([
      ['mainline-pr.yaml', 'success'],
    ]);
    const checks = await api(
      'GET',
      `/repos/${OWNER}/${SERVICE}/commits/${pull.head}/check-runs`,
    );
    expect(
      checks.body.check_runs.map((c: any) => [c.name, c.status, c.conclusion]),
    ).toEqual([['build', 'completed', 'success']]);
    // The PR job's token could read the repository and nothing more.
    expect(runs[0].jobs.build.permissions).toEqual({ contents: 'read' });

    const merged = await api(
      'PUT',
      `/repos/${OWNER}/${SERVICE}/pulls/${pull.number}/merge`,
      {},
    );
    expect(merged.status).toBe(200);
  });

  it('a merge builds one image :<shortsha>, points stage at it, and validation goes green', async () => {
    const push = await checkAndMerge({ 'feature.txt': 'one\n' });
    const imagesBefore = ecr.repository(SERVICE)!.imageCount;
    const runs = await runner.push(push);
    const short = push.after.slice(0, 7);

    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.conclusion).toBe('success');
    expect(ecr.repository(SERVICE)!.imageCount).toBe(imagesBefore + 1);
    const stored = ecr.image(SERVICE, { tag: short })!;
    expect(JSON.parse(stored.manifest).annotations).toMatchObject({
      'org.opencontainers.image.revision': push.after,
    });
    expect(stageTag()).toBe(short);
    expect(
      git(
        path.join(root, OWNER, `${MANIFESTS}.git`),
        'log',
        '-1',
        '--format=%an %s',
        'main',
      ),
    ).toBe(`mainline-ci[bot] stage: ${image} ${short}`);

    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('success');
    expect(
      validate.jobs.validate.steps.find(s => s.name.startsWith('End-to-end'))!
        .outcome,
    ).toBe('success');
    expect(stage.requests.length).toBeGreaterThan(0);
    expect(await yanks()).toEqual([]);
  });

  it('a docs-only merge builds and deploys nothing', async () => {
    const push = await checkAndMerge({
      'docs/operations.md': '# Operations\n',
    });
    const images = ecr.repository(SERVICE)!.imageCount;
    const manifests = git(
      path.join(root, OWNER, `${MANIFESTS}.git`),
      'rev-parse',
      'main',
    );
    const runs = await runner.push(push);
    expect(runs).toEqual([]);
    expect(ecr.repository(SERVICE)!.imageCount).toBe(images);
    expect(
      git(path.join(root, OWNER, `${MANIFESTS}.git`), 'rev-parse', 'main'),
    ).toBe(manifests);
  });

  it('three quick merges give three images, no build cancelled', async () => {
    const pushes = [];
    for (const n of [1, 2, 3]) {
      pushes.push(await checkAndMerge({ [`quick-${n}.txt`]: `${n}\n` }));
    }
    const images = ecr.repository(SERVICE)!.imageCount;
    const runs = (await Promise.all(pushes.map(p => runner.push(p)))).flat();
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
    expect(await yanks()).toEqual([]);
  });

  it('a person pushes rc-* on a main commit: the backend deploys the digest stage ran to demo', async () => {
    const sha = await stageSha();
    const stageDigest = ecr.image(SERVICE, { tag: sha.slice(0, 7) })!.digest;
    const images = ecr.repository(SERVICE)!.imageCount;
    await pushTag('rc-1', sha);
    const [promotion, ...others] = await promotedTag('rc-1');
    expect(others).toEqual([]);
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      sha,
      requestedBy: 'github:unknown',
    });
    // Retagged, not rebuilt: the same digest under the release tag, no new image.
    expect(ecr.image(SERVICE, { tag: 'rc-1' })?.digest).toBe(stageDigest);
    expect(ecr.repository(SERVICE)!.imageCount).toBe(images);
    expect(overlayTag('demo')).toBe('rc-1');
    const demo = (await mainline('/lineage')).environments.find(
      (e: { name: string }) => e.name === 'demo',
    );
    expect({ sha: demo.current?.sha, tag: demo.current?.tag }).toEqual({
      sha,
      tag: 'rc-1',
    });
  });

  it('then v* takes the same digest to prod', async () => {
    const sha = await stageSha();
    const digest = ecr.image(SERVICE, { tag: 'rc-1' })!.digest;
    await pushTag('v1.0.0', sha);
    const [promotion] = await promotedTag('v1.0.0');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'prod',
      sha,
    });
    expect(ecr.image(SERVICE, { tag: 'v1.0.0' })?.digest).toBe(digest);
    expect(overlayTag('prod')).toBe('v1.0.0');
  });

  it('a tag on a commit on neither main nor release/* is refused and reported on the commit', async () => {
    const demoBefore = overlayTag('demo');
    const manifests = git(
      path.join(root, OWNER, `${MANIFESTS}.git`),
      'rev-parse',
      'main',
    );
    const side = await pushTag('rc-2', undefined, true);
    const [refused] = await promotedTag('rc-2');
    // Refused at its checks: the record fails there, before any step changed something.
    expect(refused).toMatchObject({
      status: 'failed',
      sha: side,
      steps: [{ name: 'checks', status: 'failed' }],
    });
    expect(refused.error).toMatch(/not on main/);
    const status = (await statusesOf(side)).find(
      s => s.context === 'mainline/demo',
    );
    expect(status).toMatchObject({ state: 'failure' });
    expect(status!.description).toMatch(/not on main/);
    expect(overlayTag('demo')).toBe(demoBefore);
    expect(
      git(path.join(root, OWNER, `${MANIFESTS}.git`), 'rev-parse', 'main'),
    ).toBe(manifests);
    expect(ecr.image(SERVICE, { tag: 'rc-2' })).toBeUndefined();
  });

  it('a v* on a release/* commit follows the discouraged exception: its own build, straight to prod, flagged', async () => {
    const base = await stageSha();
    const before = git(
      path.join(root, OWNER, `${SERVICE}.git`),
      'rev-parse',
      'main',
    );
    const dir = fs.mkdtempSync(path.join(work, 'release-'));
    await gitAsync(dir, 'clone', '--quiet', authedUrl(SERVICE), '.');
    await gitAsync(dir, 'checkout', '--quiet', '-b', 'release/1.0', base);
    fs.writeFileSync(path.join(dir, 'hotfix.txt'), 'fixed\n');
    await gitAsync(dir, 'add', '-A');
    await gitAsync(dir, 'commit', '--quiet', '-m', 'fix: the hotfix');
    await gitAsync(
      dir,
      'push',
      '--quiet',
      'origin',
      'HEAD:refs/heads/release/1.0',
    );
    const fix = await gitAsync(dir, 'rev-parse', 'HEAD');
    const stageBefore = stageTag();
    const runs = await runner.push({
      ref: 'refs/heads/release/1.0',
      before: base,
      after: fix,
    });
    // Built once, not deployed to stage, not validated there.
    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.jobs.build.result).toBe('success');
    expect(build.jobs['deploy-stage'].result).toBe('skipped');
    expect(
      byFile(runs, 'mainline-validate-stage.yaml').map(
        r => r.jobs.validate.result,
      ),
    ).toEqual(['skipped']);
    expect(stageTag()).toBe(stageBefore);
    const digest = ecr.image(SERVICE, { tag: fix.slice(0, 7) })!.digest;
    expect(
      git(path.join(root, OWNER, `${SERVICE}.git`), 'rev-parse', 'main'),
    ).toBe(before);

    await pushTag('v1.0.1', fix);
    const [promotion] = await promotedTag('v1.0.1');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'prod',
      sha: fix,
    });
    expect(ecr.image(SERVICE, { tag: 'v1.0.1' })?.digest).toBe(digest);
    expect(overlayTag('prod')).toBe('v1.0.1');
    // Marked as the exception wherever the commit is shown.
    expect(JSON.stringify(await mainline('/lineage?limit=100'))).toContain(
      'release/1.0',
    );
  });

  it('a failing stage validation yanks the commit through the Mainline API, and a tag on it is refused and reported', async () => {
    const push = await checkAndMerge({ 'broken.txt': 'stage will fail\n' });
    stageBroken = true;
    let runs: WorkflowRun[];
    try {
      runs = await runner.push(push);
    } finally {
      stageBroken = false;
    }
    expect(byFile(runs, 'mainline-build.yaml')[0].conclusion).toBe('success');
    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('failure');
    // The backend took the yank: recorded with the run's reason, the image gone from ECR.
    expect(await yanks()).toEqual([
      expect.objectContaining({
        sha: push.after,
        reason: expect.stringMatching(/^Stage validation failed: http/),
      }),
    ]);
    expect(ecr.image(SERVICE, { tag: push.after.slice(0, 7) })).toBeUndefined();

    const demoBefore = overlayTag('demo');
    await pushTag('rc-50', push.after);
    const [refused, ...others] = await promotedTag('rc-50');
    expect(others).toEqual([]);
    expect(refused).toMatchObject({
      status: 'failed',
      environment: 'demo',
      sha: push.after,
      steps: [{ name: 'checks', status: 'failed' }],
    });
    expect(refused.error).toMatch(/yanked/i);
    expect(overlayTag('demo')).toBe(demoBefore);
    const status = (await statusesOf(push.after)).find(
      s => s.context === 'mainline/demo',
    );
    expect(status).toMatchObject({ state: 'failure' });
    expect(status!.description).toMatch(/yanked/i);
  });
});
