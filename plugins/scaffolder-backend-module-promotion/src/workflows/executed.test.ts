import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'yaml';
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
import { manifestFiles } from '../actions/gitopsRegister';
import { mainlineRulesets } from '../actions/githubRulesetsCreate';
import { renderWorkflows } from './renderWorkflows';

/*
 * A scaffolded container service taken through its life by executing the rendered workflows
 * (packages/test-servers' WorkflowRunner) for real events against the GitHub and ECR test
 * servers: every result is read back from those servers, not from the runner.
 */

const ADMIN = 'admin-token';
const REVIEWER = 'reviewer-token';
const DEPLOYER = 'deployer-token';
const MAINLINE_TOKEN = 'mainline-api-token';
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
let mainline: RecordingServer;
let stage: RecordingServer;
let argo: ArgoCdStub;
let runner: WorkflowRunner;
let stageBroken = false;
let image: string;

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
}

function authedUrl(repo: string) {
  return github
    .gitUrl(OWNER, repo)
    .replace('http://', `http://x-access-token:${ADMIN}@`);
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
    },
  });
  ecr = await startEcrTestServer({ region: 'eu-west-1' });
  ecr.createRepository(SERVICE);
  image = ecr.repositoryUri(SERVICE);
  mainline = await startRecordingServer(() => ({ status: 201, body: '{}' }));
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
  const workflows = renderWorkflows({
    kind: 'container',
    entityRef: `component:default/${SERVICE}`,
    mainlineUrl: mainline.url,
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
  for (const ruleset of mainlineRulesets({
    requiredStatusChecks: ['build'],
    requiredApprovals: 1,
    bypassActors: [],
  })) {
    await created(api('POST', `/repos/${OWNER}/${SERVICE}/rulesets`, ruleset));
  }
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
  await Promise.all([
    github?.close(),
    ecr?.close(),
    mainline?.close(),
    stage?.close(),
    argo?.close(),
  ]);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const yanks = () => mainline.requests.filter(r => r.path.endsWith('/yanks'));

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
    expect(yanks()).toEqual([]);
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
    expect(yanks()).toEqual([]);
  });

  it('a failing stage validation yanks the commit through the Mainline API', async () => {
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
    expect(yanks()).toHaveLength(1);
    const [yank] = yanks();
    expect(yank.method).toBe('POST');
    expect(yank.path).toBe(
      `/api/promotion/v1/entities/component/default/${SERVICE}/yanks`,
    );
    expect(yank.headers.authorization).toBe(`Bearer ${MAINLINE_TOKEN}`);
    expect(JSON.parse(yank.body)).toMatchObject({
      sha: push.after,
      force: true,
    });
  });
});
