import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
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
  GitHubTestServer,
  RecordingServer,
  S3rverServer,
  WorkflowRun,
  WorkflowRunner,
  startGitHubTestServer,
  startRecordingServer,
  startS3rver,
} from '@mainline/test-servers';
// The promotion backend the scaffolded service is released with, as packages/backend runs it
// beside this module: the module itself never imports the plugin.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import promotionPlugin from '@mainline/plugin-promotion-backend';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleGithub from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleLocal from '@mainline/plugin-promotion-backend-module-local';
import { mainlineRulesets } from '../actions/githubRulesetsCreate';
import { renderWorkflows } from './renderWorkflows';

/*
 * A scaffolded Serverless service taken through its life by executing the rendered workflows
 * (packages/test-servers' WorkflowRunner) against the GitHub test server and s3rver, released by
 * a real promotion backend in GitHub mode that dispatches the deploy workflow, which the runner
 * then executes. What is stood in for: the two Serverless v3 commands `serverless package` and
 * `serverless deploy` (the runner's `serverless-v3-stand-in`: the framework is not installable
 * without the network and there is no AWS to deploy to). It compiles the stage into each
 * package as v3 does, refuses a package of another stage, and records each deploy in a file
 * this test reads. Everything else, the AWS CLI's S3 copies included, runs for real.
 */

// Each scenario runs real workflows (git, shell, the packaging stand-in) against real servers;
// on a busy two-core machine one takes minutes.
jest.setTimeout(300_000);

const ADMIN = 'admin-token';
const REVIEWER = 'reviewer-token';
const RELEASER = 'releaser-token';
const MAINLINE_TOKEN = mockCredentials.user.token();
const OWNER = 'acme';
const SERVICE = 'invoices';
const BUCKET = 'builds';
const REGION = 'eu-west-1';
const templateDir = path.resolve(
  __dirname,
  '../../templates/build-once-service',
);

let root: string;
let work: string;
let github: GitHubTestServer;
let s3: S3rverServer;
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let stage: RecordingServer;
let runner: WorkflowRunner;
let dispatches: ReturnType<WorkflowRunner['serveDispatches']>;
let deploysFile: string;
const scheduler = mockServices.scheduler() as SchedulerService & {
  factory(options: { skipTaskRunOnStartup: boolean }): ServiceFactory;
};

const gitEnv = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.com',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.com',
};

/** git that may talk to the in-process test server: never blocks its event loop. */
async function git(cwd: string, ...args: string[]): Promise<string> {
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

const authedUrl = (token = ADMIN) =>
  github
    .gitUrl(OWNER, SERVICE)
    .replace('http://', `http://x-access-token:${token}@`);

/** Writes `files` into a fresh clone of `from` (or a new history), commits and pushes `branch`. */
async function commitFiles(
  branch: string,
  files: Record<string, string>,
  message: string,
  from?: string,
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(work, 'clone-'));
  if (from) {
    await git(dir, 'clone', '--quiet', authedUrl(), '.');
    await git(dir, 'checkout', '--quiet', '-b', branch, `origin/${from}`);
  } else {
    await git(dir, 'init', '--quiet', '-b', branch);
    await git(dir, 'remote', 'add', 'origin', authedUrl());
  }
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '--quiet', '-m', message);
  await git(dir, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return git(dir, 'rev-parse', 'HEAD');
}

/** The Serverless skeleton as fetch:template renders it. */
function skeletonFiles(): Record<string, string> {
  const values: Record<string, string> = {
    name: SERVICE,
    owner: 'team-a',
    awsRegion: REGION,
    packageLocation: `s3://${BUCKET}/${SERVICE}`,
    repoSlug: `${OWNER}/${SERVICE}`,
  };
  const files: Record<string, string> = {};
  const from = path.join(templateDir, 'skeleton-serverless');
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
  git(path.join(root, OWNER, `${SERVICE}.git`), 'rev-parse', 'main');

/** The objects under the service's prefix in the bucket, as paths below it. */
function packageObjects(): string[] {
  const base = path.join(s3.directory, BUCKET, SERVICE);
  if (!fs.existsSync(base)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('._S3rver_object')) {
        out.push(path.relative(base, full).replace(/\._S3rver_object$/, ''));
      }
    }
  };
  walk(base);
  return out.sort();
}

/** The commits that have a package: the `<sha>/` prefixes. */
const packagedShas = () =>
  [
    ...new Set(
      packageObjects()
        .map(p => p.split('/')[0])
        .filter(p => /^[0-9a-f]{40}$/.test(p)),
    ),
  ].sort();

const storedSha256 = (key: string) =>
  crypto
    .createHash('sha256')
    .update(
      fs.readFileSync(
        path.join(s3.directory, BUCKET, SERVICE, `${key}._S3rver_object`),
      ),
    )
    .digest('hex');

/** What the Serverless stand-in deployed, in order. */
const deploys = (): Array<{
  stage: string;
  function: string;
  codeSha256: string;
}> =>
  fs
    .readFileSync(deploysFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line));

let branchCount = 0;

/** A reviewed pull request with `files`, its `build` check run, merged: the push it made. */
async function checkAndMerge(files: Record<string, string>) {
  const branch = `change-${++branchCount}`;
  await commitFiles(branch, files, `Change ${branchCount}`, 'main');
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
  const runs = await runner.pullRequest(pull.body.number);
  expect(runs.map(r => [r.file, r.conclusion])).toEqual([
    ['mainline-pr.yaml', 'success'],
  ]);
  const before = await mainSha();
  const merged = await api(
    'PUT',
    `/repos/${OWNER}/${SERVICE}/pulls/${pull.body.number}/merge`,
    { merge_method: 'merge' },
  );
  expect(merged.status).toBe(200);
  return { ref: 'refs/heads/main', before, after: merged.body.sha as string };
}

const byFile = (runs: WorkflowRun[], file: string) =>
  runs.filter(r => r.file === file);

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-sls-git-'));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-sls-work-'));
  deploysFile = path.join(work, 'serverless-deploys.jsonl');
  fs.writeFileSync(deploysFile, '');
  github = await startGitHubTestServer({
    root,
    token: ADMIN,
    tokens: {
      [REVIEWER]: { login: 'reviewer', role: 'write' },
      [RELEASER]: {
        login: 'releaser',
        role: 'write',
        teams: [`${OWNER}/releasers`],
      },
    },
  });
  s3 = await startS3rver({ buckets: [BUCKET] });
  stage = await startRecordingServer(() => ({
    status: 200,
    body: SERVICE,
    contentType: 'text/plain',
  }));
  await created(api('POST', `/orgs/${OWNER}/repos`, { name: SERVICE }));

  const entity = yaml.parse(skeletonFiles()['catalog-info.yaml']);
  backend = await startTestBackend({
    features: [
      promotionPlugin,
      // The adapters this service needs: GitHub (source, deploy workflow runs), S3 packages.
      promotionModuleGithub,
      promotionModuleAws,
      promotionModuleLocal,
      catalogServiceMock.factory({
        entities: [
          {
            ...entity,
            metadata: { ...entity.metadata, namespace: 'default' },
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
            mainAccount: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
          },
          promotion: {
            source: { provider: 'github' },
            // Lambda deploys dispatch the rendered mainline-deploy.yaml and follow its run.
            github: { host: github.host, lambdaDeploys: 'workflow' },
            artifacts: {
              s3: {
                endpoint: s3.endpoint,
                forcePathStyle: true,
                buckets: [BUCKET],
              },
            },
            local: { dataDir: path.join(work, 'promotion'), demoData: false },
            writeScope: {
              grants: [
                {
                  owners: ['group:default/team-a'],
                  repositories: [`${OWNER}/*`],
                  artifactLocations: [`s3://${BUCKET}/*`],
                  serverlessServices: [SERVICE],
                },
              ],
            },
          },
        },
      }),
    ],
  });
  const mainlineUrl = `http://127.0.0.1:${
    (backend.server.address() as AddressInfo).port
  }`;

  const workflows = renderWorkflows({
    kind: 'serverless',
    entityRef: `component:default/${SERVICE}`,
    mainlineUrl,
    awsRegion: REGION,
    validationCommand: 'npm run validate:stage',
    packageLocation: `s3://${BUCKET}/${SERVICE}`,
  });
  await commitFiles(
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
  // The template's environments and their deployment branch policies (stage: main, demo:
  // rc-*, prod: v* tags), as its github:environment:create steps make them.
  const template = yaml.parse(
    fs.readFileSync(path.join(templateDir, 'template.yaml'), 'utf8'),
  );
  for (const step of template.spec.steps) {
    if (step.action !== 'github:environment:create') continue;
    const input = step.input;
    const environment = await api(
      'PUT',
      `/repos/${OWNER}/${SERVICE}/environments/${input.name}`,
      { deployment_branch_policy: input.deploymentBranchPolicy },
    );
    if (environment.status !== 200) {
      throw new Error(`environment ${input.name}: ${environment.status}`);
    }
    for (const [type, names] of [
      ['branch', input.customBranchPolicyNames ?? []],
      ['tag', input.customTagPolicyNames ?? []],
    ]) {
      for (const name of names) {
        const policy = await api(
          'POST',
          `/repos/${OWNER}/${SERVICE}/environments/${input.name}/deployment-branch-policies`,
          { name, type },
        );
        if (policy.status !== 200) {
          throw new Error(`${input.name} policy ${name}: ${policy.status}`);
        }
      }
    }
  }
  await scheduler.triggerTask('promotion-reconcile-tags');
  runner = new WorkflowRunner({
    github,
    owner: OWNER,
    repo: SERVICE,
    adminToken: ADMIN,
    workRoot: path.join(work, 'runner'),
    secrets: {
      AWS_DEPLOY_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
      MAINLINE_TOKEN,
    },
    vars: { STAGE_URL: stage.url },
    awsCredentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    env: {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      SERVERLESS_STAND_IN_DEPLOYS: deploysFile,
      npm_config_update_notifier: 'false',
    },
  });
  // Dispatched deploy runs (by the build's stage deploy or by the backend) execute as queued.
  dispatches = runner.serveDispatches();
});

afterAll(async () => {
  await dispatches?.stop();
  await backend?.stop();
  await Promise.all([github?.close(), s3?.close(), stage?.close()]);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

async function mainline(pathname: string): Promise<any> {
  const res = await fetch(
    `http://127.0.0.1:${
      (backend.server.address() as AddressInfo).port
    }/api/promotion/v1/entities/component/default/${SERVICE}${pathname}`,
    { headers: { authorization: mockCredentials.user.header() } },
  );
  expect(res.status).toBe(200);
  return res.json();
}

describe('a scaffolded Serverless service, its workflows executed', () => {
  let stageSha: string;

  it('a pull request gets its build check (tests, a package per stage, nothing uploaded)', async () => {
    const push = await checkAndMerge({ 'notes.txt': 'hello\n' });
    expect(push.after).toMatch(/^[0-9a-f]{40}$/);
    expect(packageObjects()).toEqual([]);
    expect(deploys()).toEqual([]);
  });

  it('a merge builds one package under <sha>/, deploys it to stage from that package, and validation goes green', async () => {
    const push = await checkAndMerge({ 'feature.txt': 'one\n' });
    const runs = await runner.push(push);
    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.conclusion).toBe('success');
    expect(packagedShas()).toEqual([push.after]);
    expect(packageObjects()).toEqual(
      ['demo', 'prod', 'stage'].flatMap(s => [
        `${push.after}/${s}/cloudformation-template-update-stack.json`,
        `${push.after}/${s}/${SERVICE}.zip`,
        `${push.after}/${s}/serverless-state.json`,
      ]),
    );
    // One build: the code zip is the same bytes for every stage.
    const zips = ['stage', 'demo', 'prod'].map(s =>
      storedSha256(`${push.after}/${s}/${SERVICE}.zip`),
    );
    expect(new Set(zips).size).toBe(1);
    // The stage deploy ran in the deploy workflow, dispatched by the build and awaited by it.
    const [deployRun] = dispatches.runs.filter(
      r => r.file === 'mainline-deploy.yaml',
    );
    expect(deployRun).toMatchObject({
      conclusion: 'success',
      headBranch: 'main',
    });
    expect(deploys()).toEqual([
      {
        service: SERVICE,
        stage: 'stage',
        region: REGION,
        function: `${SERVICE}-stage-handler`,
        codeSha256: zips[0],
      },
    ]);
    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('success');
    expect(
      validate.jobs.validate.steps.find(s => s.name.startsWith('End-to-end'))!
        .outcome,
    ).toBe('success');
    stageSha = push.after;
  });

  it('a docs-only merge builds and deploys nothing', async () => {
    const push = await checkAndMerge({ 'docs/runbook.md': '# Runbook\n' });
    const packaged = packagedShas();
    const deployed = deploys().length;
    expect(await runner.push(push)).toEqual([]);
    expect(packagedShas()).toEqual(packaged);
    expect(deploys()).toHaveLength(deployed);
  });

  it('three quick merges give three packages, no build cancelled', async () => {
    const pushes = [];
    for (const n of [1, 2, 3]) {
      pushes.push(await checkAndMerge({ [`quick-${n}.txt`]: `${n}\n` }));
    }
    const before = packagedShas();
    const runs = (await Promise.all(pushes.map(p => runner.push(p)))).flat();
    const builds = byFile(runs, 'mainline-build.yaml');
    expect(builds.map(b => b.jobs.build.result)).toEqual([
      'success',
      'success',
      'success',
    ]);
    expect(packagedShas()).toEqual(
      [...before, ...pushes.map(p => p.after)].sort(),
    );
    // Stage ends on the newest that deployed (a pending stage deploy may be replaced).
    const lastStage = deploys()
      .filter(d => d.stage === 'stage')
      .at(-1)!;
    const runsStage = pushes.filter(
      p =>
        storedSha256(`${p.after}/stage/${SERVICE}.zip`) ===
        lastStage.codeSha256,
    );
    expect(runsStage.length).toBeGreaterThan(0);
    stageSha = runsStage.at(-1)!.after;
  });

  it('a person pushes rc-* on the commit stage runs: the backend dispatches the deploy of that package to demo', async () => {
    const clone = fs.mkdtempSync(path.join(work, 'releaser-'));
    await git(clone, 'clone', '--quiet', authedUrl(RELEASER), '.');
    await git(clone, 'tag', '-a', 'rc-1', '-m', 'release rc-1', stageSha);
    await git(clone, 'push', '--quiet', 'origin', 'refs/tags/rc-1');
    expect(
      await runner.push({
        ref: 'refs/tags/rc-1',
        before: '0'.repeat(40),
        after: await git(clone, 'rev-parse', 'refs/tags/rc-1'),
      }),
    ).toEqual([]);
    const deployed = deploys().length;
    await scheduler.triggerTask('promotion-reconcile-tags');
    let promotion:
      | { status: string; environment: string; sha: string }
      | undefined;
    for (let i = 0; i < 120 && !promotion; i++) {
      const found = (await mainline('/promotions?limit=50')).items.find(
        (p: { tag: string | null; status: string }) =>
          p.tag === 'rc-1' && p.status !== 'running',
      );
      if (found) promotion = found;
      else {
        // What the workflow_run webhook does on GitHub: the waiting promotion looks at its run.
        await scheduler.triggerTask('promotion-follow-waiting');
        await new Promise(resolve => setTimeout(resolve, 500));
      }
    }
    if (!promotion) {
      throw new Error(
        `rc-1 not promoted: ${JSON.stringify(
          (await mainline('/promotions?limit=50')).items,
        )}`,
      );
    }
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      sha: stageSha,
    });
    // The deploy workflow ran on the tag, which demo's policy allows (main would be refused),
    // from the commit's demo package: the same code zip as stage's.
    // Found by its stage: a stage deploy of an earlier merge may finish after it on a busy machine.
    const demoRun = dispatches.runs
      .filter(
        r => r.file === 'mainline-deploy.yaml' && r.inputs?.stage === 'demo',
      )
      .at(-1)!;
    expect(demoRun).toMatchObject({
      conclusion: 'success',
      headBranch: 'rc-1',
    });
    expect(demoRun.jobs.deploy.annotations).toBeUndefined();
    expect(demoRun.jobs.deploy.steps.map(s => s.outcome)).not.toContain(
      'failure',
    );
    expect(deploys().slice(deployed)).toEqual([
      {
        service: SERVICE,
        stage: 'demo',
        region: REGION,
        function: `${SERVICE}-demo-handler`,
        codeSha256: storedSha256(`${stageSha}/stage/${SERVICE}.zip`),
      },
    ]);
  });

  it("a demo deploy dispatched on main is refused by demo's branch policy before any step runs", async () => {
    const deployed = deploys().length;
    const executed = dispatches.runs.length;
    const dispatched = await api(
      'POST',
      `/repos/${OWNER}/${SERVICE}/actions/workflows/mainline-deploy.yaml/dispatches`,
      {
        ref: 'main',
        inputs: {
          stage: 'demo',
          sha: stageSha,
          version: 'rc-1',
          request: 'on-main',
          actor: 'user:default/guest',
        },
      },
    );
    expect(dispatched.status).toBe(204);
    for (let i = 0; i < 100 && dispatches.runs.length === executed; i++) {
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    const [run] = dispatches.runs.slice(executed);
    expect(run).toMatchObject({ conclusion: 'failure', headBranch: 'main' });
    expect(run.jobs.deploy).toMatchObject({
      result: 'failure',
      steps: [],
      annotations: [
        'Branch "main" is not allowed to deploy to demo due to environment protection rules.',
      ],
    });
    const queued = github
      .workflowRuns(OWNER, SERVICE)
      .find(r => r.inputs.request === 'on-main')!;
    expect(queued.conclusion).toBe('failure');
    expect(deploys()).toHaveLength(deployed);
  });
});
