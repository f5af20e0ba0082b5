/* eslint-disable jest/no-standalone-expect -- the harness's steps assert as they go; every one is
   called from inside a test of executed.test.ts or executedServerless.test.ts */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  BackendFeature,
  SchedulerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { JsonObject } from '@backstage/types';
import {
  GitHubTestServer,
  RecordingServer,
  WorkflowRun,
  WorkflowRunner,
  WorkflowRunnerOptions,
  startGitHubTestServer,
  startRecordingServer,
} from '@mainline/test-servers';
// The promotion backend the scaffolded service is released with, as packages/backend runs it
// beside this module: the module itself never imports the plugin.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import promotionPlugin from '@mainline/plugin-promotion-backend';
import promotionModuleGithub from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleLocal from '@mainline/plugin-promotion-backend-module-local';
import { mainlineRulesets } from '../../actions/githubRulesetsCreate';
import {
  PipelineEnvironments,
  readPipelineEnvironments,
} from '../../actions/environments';
import { environmentSettings } from '../../actions/pipelineRead';

/*
 * What the executed-workflow suites share: a scaffolded service on the GitHub test server (the
 * skeleton and rendered workflows on main, the template's rulesets and environments), a real
 * promotion backend in GitHub mode that hears the repository's webhooks through Backstage's
 * events plugin (the repository's webhook, set up as its settings page would, delivered by the
 * GitHub test server itself: a pushed tag's `create`, a merge's `push`, a run's `workflow_run`),
 * and the WorkflowRunner that executes the workflows.
 */

export const ADMIN = 'admin-token';
export const REVIEWER = 'reviewer-token';
export const RELEASER = 'releaser-token';
/** The Backstage token the validation job yanks with (the test backend's mock user). */
export const MAINLINE_TOKEN = mockCredentials.user.token();
export const OWNER = 'acme';
const WEBHOOK_SECRET = 'executed-webhook-secret';
export const templateDir = path.resolve(
  __dirname,
  '../../../templates/build-once-service',
);

const gitEnv = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.com',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.com',
};

/** git that may talk to the in-process test server: never blocks its event loop. */
export async function gitAsync(cwd: string, ...args: string[]) {
  const { stdout } = await promisify(execFile)('git', args, {
    cwd,
    env: { ...process.env, ...gitEnv },
  });
  return stdout.trim();
}

/** A promotion as the backend's API lists it. */
export interface Promotion {
  environment: string;
  sha: string;
  tag: string | null;
  status: string;
  error: string | null;
  requestedBy: string;
  steps: Array<{ name: string; status: string }>;
}

export const byFile = (runs: WorkflowRun[], file: string) =>
  runs.filter(r => r.file === file);

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** The GitHub events modules (signature check, routing by type), loaded past their feature loader. */
function githubEventsModules(): BackendFeature[] {
  const dir = path.dirname(
    require.resolve(
      '@backstage/plugin-events-backend-module-github/package.json',
    ),
  );
  // The package's default export loads these with import(), which jest's CommonJS runtime can't.
  return [
    'dist/service/eventsModuleGithubWebhook.cjs.js',
    'dist/service/eventsModuleGithubEventRouter.cjs.js',
  ].map(file => require(path.join(dir, file)).default);
}

/** One scaffolded service of `kind` and everything it is released with. */
export class ScaffoldedService {
  root = '';
  work = '';
  github!: GitHubTestServer;
  backend!: Awaited<ReturnType<typeof startTestBackend>>;
  runner!: WorkflowRunner;
  /** The stage environment the validation job checks (`vars.STAGE_URL`). */
  stage!: RecordingServer;
  /** While true, stage answers 503 and its validation fails. */
  stageBroken = false;
  mainlineUrl = '';
  /** The pipeline the backend is configured with (and the template reads). */
  environments!: PipelineEnvironments;
  // Scheduled tasks run when the test says so: the reconcile pass is the task's own function.
  readonly scheduler = mockServices.scheduler() as SchedulerService & {
    factory(options: { skipTaskRunOnStartup: boolean }): ServiceFactory;
  };
  private branchCount = 0;
  private releaserClone?: string;

  constructor(
    readonly service: string,
    readonly kind: 'container' | 'serverless',
  ) {}

  /** The GitHub test server with the service's repository (and `repos`), and the people. */
  async startGitHub(repos: string[] = []) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-git-'));
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), 'executed-work-'));
    this.github = await startGitHubTestServer({
      root: this.root,
      token: ADMIN,
      tokens: {
        [REVIEWER]: { login: 'reviewer', role: 'write' },
        // A person the tag rulesets let create release tags (a bypass team's member).
        [RELEASER]: {
          login: 'releaser',
          role: 'write',
          teams: [`${OWNER}/releasers`],
        },
      },
    });
    for (const name of [this.service, ...repos]) {
      await this.created(this.api('POST', `/orgs/${OWNER}/repos`, { name }));
    }
    // What the skeleton's service answers once deployed: the container's server its name and a
    // newline, the Lambda handler its name.
    const answer =
      this.kind === 'container' ? `${this.service}\n` : this.service;
    this.stage = await startRecordingServer(() =>
      this.stageBroken
        ? { status: 503, body: 'unavailable', contentType: 'text/plain' }
        : { status: 200, body: answer, contentType: 'text/plain' },
    );
  }

  async api(
    method: string,
    pathname: string,
    body?: unknown,
    token = ADMIN,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.github.baseUrl}${pathname}`, {
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
  async created(request: Promise<{ status: number; body: any }>) {
    const res = await request;
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(
        `setup request refused: ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
    return res.body;
  }

  authedUrl(repo = this.service, token = ADMIN) {
    return this.github
      .gitUrl(OWNER, repo)
      .replace('http://', `http://x-access-token:${token}@`);
  }

  /** The bare repository on the test server. */
  gitDir(repo = this.service) {
    return path.join(this.root, OWNER, `${repo}.git`);
  }

  /** git on a bare repository of the test server. */
  git(repo: string, ...args: string[]) {
    return gitAsync(this.gitDir(repo), ...args);
  }

  /** Writes `files` into a fresh clone of `from` (or a new history), commits and pushes `branch`. */
  async commitFiles(
    repo: string,
    branch: string,
    files: Record<string, string>,
    message: string,
    from?: string,
  ): Promise<string> {
    const dir = fs.mkdtempSync(path.join(this.work, `${repo}-`));
    if (from) {
      await gitAsync(dir, 'clone', '--quiet', this.authedUrl(repo), '.');
      await gitAsync(dir, 'checkout', '--quiet', '-b', branch, from);
    } else {
      await gitAsync(dir, 'init', '--quiet', '-b', branch);
      await gitAsync(dir, 'remote', 'add', 'origin', this.authedUrl(repo));
    }
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), content);
    }
    await gitAsync(dir, 'add', '-A');
    await gitAsync(dir, 'commit', '--quiet', '-m', message);
    await gitAsync(
      dir,
      'push',
      '--quiet',
      'origin',
      `HEAD:refs/heads/${branch}`,
    );
    return await gitAsync(dir, 'rev-parse', 'HEAD');
  }

  /** The skeleton of this kind as fetch:template renders it with `values`. */
  skeletonFiles(values: Record<string, string>): Record<string, string> {
    const files: Record<string, string> = {};
    const from = path.join(templateDir, `skeleton-${this.kind}`);
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

  /**
   * A real promotion backend in GitHub mode with `modules`, the catalog holding `entity` (owned
   * by team-a), Backstage's events plugin taking GitHub's webhooks, and `config` merged in
   * (`aws`, and `promotion` beside the source, GitHub and local settings).
   */
  async startBackend(options: {
    entity: JsonObject;
    modules: BackendFeature[];
    config: { aws: JsonObject; promotion: JsonObject };
  }) {
    const entity = options.entity as any;
    const promotion = {
      source: { provider: 'github' },
      local: { dataDir: path.join(this.work, 'promotion'), demoData: false },
      ...options.config.promotion,
      github: {
        host: this.github.host,
        ...(options.config.promotion.github as JsonObject | undefined),
      },
    };
    this.environments = readPipelineEnvironments(
      mockServices.rootConfig({ data: { promotion } }),
    );
    this.backend = await startTestBackend({
      features: [
        promotionPlugin,
        promotionModuleGithub,
        promotionModuleLocal,
        ...options.modules,
        eventsPlugin,
        ...githubEventsModules(),
        eventsServiceFactory,
        catalogServiceMock.factory({
          entities: [
            {
              ...entity,
              metadata: { ...entity.metadata, namespace: 'default' },
              relations: [
                { type: 'ownedBy', targetRef: 'group:default/team-a' },
              ],
            },
          ],
        }),
        this.scheduler.factory({ skipTaskRunOnStartup: true }),
        mockServices.rootConfig.factory({
          data: {
            events: {
              http: { topics: ['github'] },
              modules: { github: { webhookSecret: WEBHOOK_SECRET } },
            },
            integrations: {
              github: [
                {
                  host: this.github.host,
                  apiBaseUrl: this.github.baseUrl,
                  token: ADMIN,
                },
              ],
            },
            aws: options.config.aws,
            promotion,
          },
        }),
      ],
    });
    this.mainlineUrl = `http://127.0.0.1:${
      (this.backend.server.address() as AddressInfo).port
    }`;
  }

  /**
   * The scaffolded repository: `files` on main, the template's rulesets (the releasers team
   * bypassing the tag rules) and environments with their deployment branch policies, and the
   * backend's first pass over the (still tagless) repository, which is its baseline.
   */
  async scaffold(files: Record<string, string>) {
    await this.commitFiles(
      this.service,
      this.environments.branch,
      files,
      'Scaffolded',
    );
    const team = await this.created(
      this.api('POST', `/orgs/${OWNER}/teams`, { name: 'releasers' }),
    );
    for (const ruleset of mainlineRulesets({
      requiredStatusChecks: ['build'],
      requiredApprovals: 1,
      bypassActors: [
        { actor_type: 'Team', actor_id: team.id, bypass_mode: 'always' },
      ],
      environments: this.environments,
    })) {
      await this.created(
        this.api('POST', `/repos/${OWNER}/${this.service}/rulesets`, ruleset),
      );
    }
    // What the template's github:environment:create steps make of the configured pipeline.
    for (const environment of environmentSettings(this.environments)) {
      const base = `/repos/${OWNER}/${this.service}/environments/${environment.name}`;
      await this.created(
        this.api('PUT', base, {
          deployment_branch_policy: environment.deploymentBranchPolicy,
        }),
      );
      for (const [type, names] of [
        ['branch', environment.customBranchPolicyNames ?? []],
        ['tag', environment.customTagPolicyNames ?? []],
      ] as const) {
        for (const name of names) {
          await this.created(
            this.api('POST', `${base}/deployment-branch-policies`, {
              name,
              type,
            }),
          );
        }
      }
    }
    await this.scheduler.triggerTask('promotion-reconcile-tags');
  }

  /** The repository's webhook to the backend's events endpoint, once `startRunner` made it. */
  hookId = 0;

  /** The events endpoint the webhook delivers to. */
  get webhookUrl() {
    return `${this.mainlineUrl}/api/events/http/github`;
  }

  /**
   * The runner for the service's repository, and the repository's webhook to the backend (as an
   * admin adds it in the repository's settings: JSON, signed with the secret, the events
   * Mainline's GitHub module subscribes to).
   */
  async startRunner(
    options: Pick<WorkflowRunnerOptions, 'secrets' | 'env' | 'awsCredentials'>,
  ) {
    const hook = await this.created(
      this.api('POST', `/repos/${OWNER}/${this.service}/hooks`, {
        name: 'web',
        config: {
          url: this.webhookUrl,
          content_type: 'json',
          secret: WEBHOOK_SECRET,
        },
        events: [
          'push',
          'create',
          'delete',
          'workflow_run',
          'pull_request',
          'repository',
        ],
        active: true,
      }),
    );
    this.hookId = hook.id;
    this.runner = new WorkflowRunner({
      github: this.github,
      owner: OWNER,
      repo: this.service,
      adminToken: ADMIN,
      workRoot: path.join(this.work, 'runner'),
      ...options,
      secrets: { MAINLINE_TOKEN, ...options.secrets },
      vars: { STAGE_URL: this.stage.url },
      env: { npm_config_update_notifier: 'false', ...options.env },
    });
    return this.runner;
  }

  /** What the repository's webhook delivered, once every queued delivery has been answered. */
  async deliveries(event?: string) {
    await this.github.webhooksSettled();
    return this.github
      .webhookDeliveries(OWNER, this.service)
      .filter(d => d.hookId === this.hookId && (!event || d.event === event));
  }

  /**
   * While `during` runs the backend is unreachable for GitHub (the webhook's URL answers
   * nothing): its deliveries fail and are listed as failed, as a receiver's downtime makes them.
   */
  async whileUnreachable<T>(during: () => Promise<T>): Promise<T> {
    const hookPath = `/repos/${OWNER}/${this.service}/hooks/${this.hookId}/config`;
    const down = await this.api('PATCH', hookPath, {
      url: 'http://127.0.0.1:9/api/events/http/github',
    });
    expect(down.status).toBe(200);
    try {
      const result = await during();
      await this.github.webhooksSettled();
      return result;
    } finally {
      await this.api('PATCH', hookPath, { url: this.webhookUrl });
    }
  }

  async close() {
    await this.backend?.stop();
    await this.github?.close();
    await this.stage?.close();
    fs.rmSync(this.root, { recursive: true, force: true });
    fs.rmSync(this.work, { recursive: true, force: true });
  }

  mainSha() {
    return this.git(this.service, 'rev-parse', 'refs/heads/main');
  }

  /** Opens a reviewed pull request with `files`; its `build` check has not run yet. */
  async openPullRequest(files: Record<string, string>) {
    const n = ++this.branchCount;
    const branch = `change-${n}`;
    const head = await this.commitFiles(
      this.service,
      branch,
      files,
      `Change ${n}`,
      'origin/main',
    );
    const repo = `/repos/${OWNER}/${this.service}`;
    const pull = await this.api('POST', `${repo}/pulls`, {
      title: `Change ${n}`,
      head: branch,
      base: 'main',
    });
    expect(pull.status).toBe(201);
    const review = await this.api(
      'POST',
      `${repo}/pulls/${pull.body.number}/reviews`,
      { event: 'APPROVE' },
      REVIEWER,
    );
    expect(review.status).toBe(200);
    return { number: pull.body.number as number, head };
  }

  /** The pull request's check, then its merge; resolves to the push the merge made. */
  async checkAndMerge(files: Record<string, string>) {
    const pull = await this.openPullRequest(files);
    const runs = await this.runner.pullRequest(pull.number);
    expect(runs.map(r => [r.file, r.conclusion])).toEqual([
      ['mainline-pr.yaml', 'success'],
    ]);
    const before = await this.mainSha();
    const merged = await this.api(
      'PUT',
      `/repos/${OWNER}/${this.service}/pulls/${pull.number}/merge`,
      { merge_method: 'merge' },
    );
    expect(merged.status).toBe(200);
    return { ref: 'refs/heads/main', before, after: merged.body.sha as string };
  }

  /**
   * A person cuts `release/1.0` from `base` with a fix on top and pushes it: its build makes
   * its own artifact, which is neither deployed to stage nor validated there. Resolves to the
   * fix's commit and the runs.
   */
  async pushReleaseBranch(base: string) {
    const fix = await this.commitFiles(
      this.service,
      'release/1.0',
      { 'hotfix.txt': 'fixed\n' },
      'fix: the hotfix',
      base,
    );
    const runs = await this.runner.push({
      ref: 'refs/heads/release/1.0',
      before: '0'.repeat(40),
      after: fix,
    });
    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.jobs.build.result).toBe('success');
    expect(build.jobs['deploy-stage'].result).toBe('skipped');
    expect(
      byFile(runs, 'mainline-validate-stage.yaml').map(
        r => r.jobs.validate.result,
      ),
    ).toEqual(['skipped']);
    return { fix, runs };
  }

  /** The release/* exception is marked wherever the commit is shown. */
  async expectReleaseBranchFlagged() {
    expect(JSON.stringify(await this.mainline('/lineage?limit=100'))).toContain(
      'release/1.0',
    );
  }

  /**
   * A merge whose stage validation fails (stage answers 503): its build succeeds, the validation
   * fails and yanks the commit through the backend's API, which records the run's reason.
   * Resolves to the merge's push.
   */
  async mergeFailingValidation() {
    const push = await this.checkAndMerge({
      'broken.txt': 'stage will fail\n',
    });
    this.stageBroken = true;
    let runs: WorkflowRun[];
    try {
      runs = await this.runner.push(push);
    } finally {
      this.stageBroken = false;
    }
    expect(byFile(runs, 'mainline-build.yaml')[0].conclusion).toBe('success');
    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('failure');
    expect(await this.yanks()).toEqual([
      expect.objectContaining({
        sha: push.after,
        reason: expect.stringMatching(/^Stage validation failed: http/),
      }),
    ]);
    return push;
  }

  /**
   * The tag's promotion (one, to `environment`) was refused at its checks with `reason`,
   * before any step changed something, and the refusal is on the commit: a failing
   * `mainline/<environment>` status naming it.
   */
  async expectRefusedTag(
    tag: string,
    sha: string,
    reason: RegExp,
    environment = 'demo',
  ) {
    const [refused, ...others] = await this.promotedTag(tag);
    expect(others).toEqual([]);
    expect(refused).toMatchObject({
      status: 'failed',
      environment,
      sha,
      steps: [{ name: 'checks', status: 'failed' }],
    });
    expect(refused.error).toMatch(reason);
    const status = await this.statusOf(sha, `mainline/${environment}`);
    expect(status).toMatchObject({ state: 'failure' });
    expect(status!.description).toMatch(reason);
  }

  /** GET on the entity's part of the promotion API. */
  async mainline(pathname: string): Promise<any> {
    const res = await fetch(
      `${this.mainlineUrl}/api/promotion/v1/entities/component/default/${this.service}${pathname}`,
      { headers: { authorization: mockCredentials.user.header() } },
    );
    expect(res.status).toBe(200);
    return res.json();
  }

  /** The commits the backend has yanked. */
  async yanks(): Promise<Array<{ sha: string; reason: string }>> {
    return (await this.mainline('/yanks')).items;
  }

  /**
   * Waits until the tag's promotion has ended (the webhook is handled in the background); with
   * `reconcile`, runs the backend's reconcile pass first (a delivery that never arrived).
   */
  async promotedTag(tag: string, reconcile = false): Promise<Promotion[]> {
    if (reconcile) await this.scheduler.triggerTask('promotion-reconcile-tags');
    for (let i = 0; i < 600; i++) {
      const found = (
        (await this.mainline('/promotions?limit=200')).items as Promotion[]
      ).filter(p => p.tag === tag);
      if (found.length > 0 && found.every(p => p.status !== 'running')) {
        return found;
      }
      await sleep(200);
    }
    throw new Error(
      `no finished promotion with tag ${tag}: ${JSON.stringify(
        (await this.mainline('/promotions?limit=20')).items,
      )}`,
    );
  }

  /** The promotions with `tag` right now (none while a lost webhook went unnoticed). */
  async promotionsOf(tag: string): Promise<Promotion[]> {
    return (
      (await this.mainline('/promotions?limit=200')).items as Promotion[]
    ).filter(p => p.tag === tag);
  }

  /**
   * What a person does in their clone: an annotated tag on `sha` (main's head when absent; with
   * `offBranch`, on a new commit on top of it that no branch holds), pushed to the test server
   * with their own token (the test server delivers its webhooks), and the runner's events for
   * it (no workflow runs for a tag). Resolves to the tagged commit.
   */
  async pushTag(tag: string, sha?: string, offBranch = false) {
    if (!this.releaserClone) {
      this.releaserClone = fs.mkdtempSync(path.join(this.work, 'releaser-'));
      await gitAsync(
        this.releaserClone,
        'clone',
        '--quiet',
        this.authedUrl(this.service, RELEASER),
        '.',
      );
    }
    const dir = this.releaserClone;
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
    const runs = await this.runner.push({
      ref: `refs/tags/${tag}`,
      before: '0'.repeat(40),
      after: tagObject,
      actor: 'releaser',
    });
    expect(runs).toEqual([]);
    return commit;
  }

  /** The commit status `context` the backend set on `sha`, once it is there. */
  async statusOf(sha: string, context: string) {
    for (let i = 0; i < 100; i++) {
      const res = await this.api(
        'GET',
        `/repos/${OWNER}/${this.service}/commits/${sha}/statuses`,
      );
      expect(res.status).toBe(200);
      const found = (
        res.body as Array<{
          context: string;
          state: string;
          description: string;
        }>
      ).find(s => s.context === context);
      if (found) return found;
      await sleep(100);
    }
    return undefined;
  }
}
