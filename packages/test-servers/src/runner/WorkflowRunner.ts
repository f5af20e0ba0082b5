import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import yaml from 'yaml';
import type { GitHubTestServer } from '../github';
import {
  condition,
  interpolate,
  interpolateDeep,
  StatusState,
} from './expressions';

const execFileAsync = promisify(execFile);

/** The GitHub Actions App's id on github.com: check runs and job tokens act as it. */
export const GITHUB_ACTIONS_APP_ID = 15368;

export type JobResult = 'success' | 'failure' | 'skipped' | 'cancelled';

export interface StepRun {
  name: string;
  id?: string;
  outcome: JobResult;
  log: string;
}

export interface JobRun {
  id: string;
  result: JobResult;
  outputs: Record<string, string>;
  steps: StepRun[];
  /** What the job's `GITHUB_TOKEN` was allowed, after the workflow's and job's `permissions`. */
  permissions: Record<string, string>;
  summary: string;
  /**
   * What GitHub annotates a job with that never started, e.g. the deployment branch policy of
   * its environment refusing the run's ref.
   */
  annotations?: string[];
}

export interface WorkflowRun {
  id: number;
  /** The file under .github/workflows. */
  file: string;
  name: string;
  event: string;
  headSha: string;
  headBranch: string;
  conclusion: JobResult;
  jobs: Record<string, JobRun>;
  /** A dispatched run's inputs (`workflow_dispatch`), as the dispatch gave them. */
  inputs?: Record<string, string>;
}

export interface WorkflowRunnerOptions {
  github: GitHubTestServer;
  owner: string;
  repo: string;
  /** A token of the test server with admin rights: the runner reads the repository with it. */
  adminToken: string;
  /** Where checkouts, logs and temp files go. */
  workRoot: string;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  /** The machine's environment for every step (e.g. AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_S3). */
  env?: Record<string, string>;
  /** What `aws-actions/configure-aws-credentials` exports. */
  awsCredentials?: { accessKeyId: string; secretAccessKey: string };
  /** Kills a step after this long (default 120 s): a stuck wait loop fails the job, not the suite. */
  stepTimeoutMs?: number;
}

type Workflow = {
  name?: string;
  on: unknown;
  env?: Record<string, string>;
  permissions?: unknown;
  concurrency?: unknown;
  jobs: Record<string, Job>;
};
type Job = {
  name?: string;
  needs?: string | string[];
  if?: string | boolean;
  permissions?: unknown;
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  concurrency?: unknown;
  environment?: unknown;
  defaults?: { run?: { 'working-directory'?: string } };
  'timeout-minutes'?: number;
  steps: Step[];
};
type Step = {
  name?: string;
  id?: string;
  if?: string | boolean;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  'working-directory'?: string;
  'continue-on-error'?: boolean;
  'timeout-minutes'?: number;
};

interface Event {
  name: string;
  sha: string;
  ref: string;
  payload: Record<string, unknown>;
  /** Files the event changed, for `paths` / `paths-ignore`. */
  changedFiles?: string[];
  actor: string;
  /** Only this workflow file (workflow_dispatch). */
  file?: string;
  /** The test server's run this event executes (a dispatch it queued); else one is recorded. */
  serverRunId?: number;
}

/**
 * GitHub Actions' concurrency groups: at most one running and one pending member per group; a
 * newcomer cancels the pending one (always) and the running one (with `cancel-in-progress`).
 */
class ConcurrencyGroups {
  private groups = new Map<
    string,
    {
      running?: { cancel(): void };
      pending?: { resolve(go: boolean): void; cancel(): void };
    }
  >();

  async acquire(
    group: string,
    cancelInProgress: boolean,
    cancel: () => void,
  ): Promise<{ acquired: boolean; release(): void }> {
    const slot = this.groups.get(group) ?? {};
    this.groups.set(group, slot);
    slot.pending?.resolve(false);
    slot.pending = undefined;
    if (slot.running && cancelInProgress) slot.running.cancel();
    const member = { cancel };
    const release = () => {
      if (slot.running !== member) return;
      slot.running = undefined;
      const next = slot.pending;
      slot.pending = undefined;
      next?.resolve(true);
    };
    if (!slot.running) {
      slot.running = member;
      return { acquired: true, release };
    }
    const go = await new Promise<boolean>(resolve => {
      slot.pending = { resolve, cancel };
    });
    if (go) slot.running = member;
    return { acquired: go, release };
  }
}

function concurrencyOf(
  value: unknown,
  context: Record<string, unknown>,
): { group: string; cancelInProgress: boolean } | undefined {
  if (!value) return undefined;
  if (typeof value === 'string') {
    return { group: interpolate(value, context), cancelInProgress: false };
  }
  const v = value as { group: string; 'cancel-in-progress'?: unknown };
  const cancel = v['cancel-in-progress'];
  return {
    group: interpolate(v.group, context),
    cancelInProgress:
      cancel === true ||
      (typeof cancel === 'string' && interpolate(cancel, context) === 'true'),
  };
}

/** A GitHub filter pattern (`*`, `**`, `?`) as a regular expression. */
function globRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** GitHub's include list with `!` negations: the last matching pattern decides. */
function matchesList(patterns: string[], value: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globRegExp(p.slice(1)).test(value)) matched = false;
    } else if (globRegExp(p).test(value)) matched = true;
  }
  return matched;
}

/** Whether the workflow's `on:` runs for the event, with its filters. */
export function eventMatches(
  on: unknown,
  event: Pick<Event, 'name' | 'ref' | 'payload' | 'changedFiles'>,
): boolean {
  let triggers: Record<string, Record<string, unknown> | null>;
  if (typeof on === 'string') triggers = { [on]: null };
  else if (Array.isArray(on)) {
    triggers = Object.fromEntries(on.map(e => [e, null]));
  } else triggers = (on ?? {}) as typeof triggers;
  if (!(event.name in triggers)) return false;
  const filter = triggers[event.name] ?? {};
  const list = (key: string) =>
    Array.isArray(filter[key]) ? (filter[key] as string[]) : undefined;
  const types = list('types');
  const action = event.payload.action as string | undefined;
  if (types && action && !types.includes(action)) return false;
  if (event.name === 'workflow_run') {
    const run = event.payload.workflow_run as {
      name: string;
      head_branch: string;
    };
    const workflows = list('workflows');
    if (workflows && !workflows.includes(run.name)) return false;
    const branches = list('branches');
    if (branches && !matchesList(branches, run.head_branch)) return false;
    return true;
  }
  let refName = event.ref;
  let kind: 'branches' | 'tags' = 'branches';
  if (event.name === 'pull_request') {
    refName = (event.payload.pull_request as { base: { ref: string } }).base
      .ref;
  } else if (refName.startsWith('refs/tags/')) {
    kind = 'tags';
    refName = refName.slice('refs/tags/'.length);
  } else refName = refName.replace(/^refs\/heads\//, '');
  if (event.name === 'push' || event.name === 'pull_request') {
    const include = list(kind);
    const ignore = list(`${kind}-ignore`);
    const other =
      event.name === 'push'
        ? list(kind === 'branches' ? 'tags' : 'branches') ??
          list(kind === 'branches' ? 'tags-ignore' : 'branches-ignore')
        : undefined;
    // A push filter that names only tags does not run for branches, and the other way round.
    if (!include && !ignore && other) return false;
    if (include && !matchesList(include, refName)) return false;
    if (ignore && matchesList(ignore, refName)) return false;
    // Path filters are not evaluated for tag pushes.
    if (kind === 'branches' && event.changedFiles) {
      const paths = list('paths');
      const pathsIgnore = list('paths-ignore');
      if (paths && !event.changedFiles.some(f => matchesList(paths, f))) {
        return false;
      }
      if (
        pathsIgnore &&
        event.changedFiles.every(f => matchesList(pathsIgnore, f))
      ) {
        return false;
      }
    }
  }
  return true;
}

const ZERO_SHA = '0'.repeat(40);

/** `permissions:` as the job token's grant, with GitHub's default (contents and metadata read). */
export function tokenPermissions(
  workflow: unknown,
  job: unknown,
): Record<string, string> {
  const value = job ?? workflow;
  const all = [
    'actions',
    'checks',
    'contents',
    'deployments',
    'id-token',
    'issues',
    'packages',
    'pages',
    'pull-requests',
    'statuses',
  ];
  if (value === undefined) return { contents: 'read', packages: 'read' };
  if (value === 'read-all' || value === 'write-all') {
    const level = value === 'read-all' ? 'read' : 'write';
    return Object.fromEntries(all.map(p => [p, level]));
  }
  return Object.fromEntries(
    Object.entries(value as Record<string, string>).filter(
      ([, level]) => level !== 'none',
    ),
  );
}

/** The test server's permission names for a workflow's (`pull-requests` → `pull_requests`). */
function serverPermissions(granted: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(granted)
      .filter(([name]) => name !== 'id-token')
      .map(([name, level]) => [name.replace(/-/g, '_'), level]),
  ) as Record<string, 'read' | 'write'>;
}

/**
 * Runs a repository's GitHub Actions workflows, as read from the event's commit on the GitHub
 * test server, for events the test raises: `run:` steps in bash with the machine's tools, and
 * stand-ins only for the `uses:` actions that cannot run here (see README).
 */
export class WorkflowRunner {
  readonly runs: WorkflowRun[] = [];
  private nextRunId = 1000;
  private tokenCount = 0;
  private readonly concurrency = new ConcurrencyGroups();
  private readonly mirror: string;
  private readonly checksToken: string;
  private readonly binDir: string;
  private mirrorLock: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WorkflowRunnerOptions) {
    fs.mkdirSync(options.workRoot, { recursive: true });
    this.mirror = path.join(options.workRoot, 'mirror.git');
    // The stand-in commands ship next to this file (the package runs from source in tests).
    // eslint-disable-next-line no-restricted-syntax
    this.binDir = path.join(__dirname, 'bin');
    this.checksToken = `ghs_checks_${crypto.randomBytes(8).toString('hex')}`;
    options.github.addToken(this.checksToken, {
      login: 'github-actions',
      appId: GITHUB_ACTIONS_APP_ID,
      permissions: { checks: 'write', contents: 'read' },
    });
  }

  private get repository() {
    return `${this.options.owner}/${this.options.repo}`;
  }

  private authHeader(token: string) {
    return `AUTHORIZATION: basic ${Buffer.from(
      `x-access-token:${token}`,
    ).toString('base64')}`;
  }

  private async git(args: string[], cwd?: string): Promise<string> {
    const { stdout } = await execFileAsync('git', args, {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }

  /** Brings the runner's mirror of the repository up to date (its own reads, admin token). */
  private async syncMirror(): Promise<void> {
    const sync = this.mirrorLock.then(async () => {
      const url = this.options.github.gitUrl(
        this.options.owner,
        this.options.repo,
      );
      if (!fs.existsSync(this.mirror)) {
        await this.git(['init', '--quiet', '--bare', this.mirror]);
      }
      await this.git([
        '--git-dir',
        this.mirror,
        '-c',
        `http.extraheader=${this.authHeader(this.options.adminToken)}`,
        'fetch',
        '--quiet',
        '--prune',
        url,
        '+refs/heads/*:refs/heads/*',
        '+refs/tags/*:refs/tags/*',
      ]);
    });
    this.mirrorLock = sync.catch(() => undefined);
    await sync;
  }

  private async changedFiles(from: string, to: string): Promise<string[]> {
    const out =
      from === ZERO_SHA
        ? await this.git([
            '--git-dir',
            this.mirror,
            'ls-tree',
            '-r',
            '--name-only',
            to,
          ])
        : await this.git([
            '--git-dir',
            this.mirror,
            'diff',
            '--name-only',
            `${from}...${to}`,
          ]);
    return out.split('\n').filter(Boolean);
  }

  private async workflowsAt(
    sha: string,
  ): Promise<Array<{ file: string; workflow: Workflow }>> {
    const names = (
      await this.git([
        '--git-dir',
        this.mirror,
        'ls-tree',
        '--name-only',
        `${sha}:.github/workflows`,
      ]).catch(() => '')
    )
      .split('\n')
      .filter(n => /\.ya?ml$/.test(n));
    return Promise.all(
      names.map(async file => ({
        file,
        workflow: yaml.parse(
          await this.git([
            '--git-dir',
            this.mirror,
            'show',
            `${sha}:.github/workflows/${file}`,
          ]),
        ) as Workflow,
      })),
    );
  }

  /** A push of `ref` from `before` to `after` (as `git push` or a merge made it). */
  async push(event: {
    ref: string;
    before: string;
    after: string;
    actor?: string;
  }): Promise<WorkflowRun[]> {
    await this.syncMirror();
    const tag = event.ref.startsWith('refs/tags/');
    if (/^0+$/.test(event.after)) return [];
    const sha = tag
      ? (
          await this.git([
            '--git-dir',
            this.mirror,
            'rev-parse',
            `${event.after}^{commit}`,
          ])
        ).trim()
      : event.after;
    return this.trigger({
      name: 'push',
      sha,
      ref: event.ref,
      actor: event.actor ?? 'mainline-bot',
      payload: {
        ref: event.ref,
        before: event.before,
        after: event.after,
        repository: { full_name: this.repository },
      },
      changedFiles: tag
        ? undefined
        : await this.changedFiles(event.before, event.after),
    });
  }

  /** A pull request event (`opened`, `synchronize`, …) for a pull request the server stores. */
  async pullRequest(
    number: number,
    action: string = 'opened',
  ): Promise<WorkflowRun[]> {
    await this.syncMirror();
    const pull = this.options.github
      .pullRequests(this.options.owner, this.options.repo)
      .find(p => p.number === number);
    if (!pull) throw new Error(`pull request #${number} is not stored`);
    const rev = async (ref: string) =>
      (
        await this.git([
          '--git-dir',
          this.mirror,
          'rev-parse',
          `refs/heads/${ref}`,
        ])
      ).trim();
    const head = { ref: pull.head, sha: await rev(pull.head) };
    const baseSha = await rev(pull.base);
    const p = { base: { ref: pull.base }, user: { login: pull.author } };
    return this.trigger({
      name: 'pull_request',
      // GitHub runs on the test merge commit; the head commit is what this runner checks out.
      sha: head.sha,
      ref: `refs/pull/${number}/merge`,
      actor: p.user?.login ?? 'mainline-bot',
      payload: {
        action,
        number,
        pull_request: {
          number,
          head: { ref: head.ref, sha: head.sha },
          base: { ref: p.base.ref, sha: baseSha },
        },
      },
      changedFiles: await this.changedFiles(baseSha, head.sha),
    });
  }

  /** `workflow_dispatch` of one workflow file at `ref`. */
  async dispatch(
    file: string,
    ref: string,
    inputs: Record<string, string>,
  ): Promise<WorkflowRun[]> {
    await this.syncMirror();
    const sha = (
      await this.git(['--git-dir', this.mirror, 'rev-parse', ref])
    ).trim();
    return this.trigger({
      name: 'workflow_dispatch',
      sha,
      ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`,
      actor: 'mainline-bot',
      file,
      payload: { inputs },
    });
  }

  /**
   * Executes the runs the test server's dispatch API queues for this repository (dispatched by
   * a workflow's curl or by the promotion backend), as GitHub's runners pick them up: each is
   * marked in progress, run with its inputs at the commit and ref it was dispatched on, and
   * completed with its conclusion, which is what the dispatcher then reads back from the API.
   * `runs` lists what was executed; `stop` waits for those still running.
   */
  serveDispatches(pollMs = 100): {
    runs: WorkflowRun[];
    stop(): Promise<void>;
  } {
    const { github, owner, repo } = this.options;
    const taken = new Set<number>();
    const running = new Set<Promise<void>>();
    const runs: WorkflowRun[] = [];
    const execute = async (queued: {
      id: number;
      workflow: string;
      ref: string;
      refType: 'branch' | 'tag';
      headSha: string;
      inputs: Record<string, string>;
      actor?: string;
    }) => {
      github.startWorkflowRun(queued.id);
      let conclusion: 'success' | 'failure' = 'failure';
      let executed: WorkflowRun | undefined;
      try {
        await this.syncMirror();
        const git = (...args: string[]) =>
          this.git(['--git-dir', this.mirror, ...args]).then(o => o.trim());
        const sha = await git('rev-parse', `${queued.headSha}^{commit}`);
        const isTag = queued.refType === 'tag';
        const [run] = await this.trigger({
          name: 'workflow_dispatch',
          sha,
          ref: `refs/${isTag ? 'tags' : 'heads'}/${queued.ref}`,
          actor: queued.actor ?? 'mainline-bot',
          file: queued.workflow,
          payload: { inputs: queued.inputs },
          serverRunId: queued.id,
        });
        if (run) {
          executed = { ...run, inputs: queued.inputs };
          runs.push(executed);
          if (run.conclusion === 'success') conclusion = 'success';
        }
      } finally {
        github.completeWorkflowRun(queued.id, conclusion);
      }
    };
    const timer = setInterval(() => {
      for (const queued of github.workflowRuns(owner, repo)) {
        if (queued.status !== 'queued' || taken.has(queued.id)) continue;
        taken.add(queued.id);
        const done: Promise<void> = execute(queued)
          .catch(() => undefined)
          .finally(() => running.delete(done));
        running.add(done);
      }
    }, pollMs);
    return {
      runs,
      stop: async () => {
        clearInterval(timer);
        await Promise.all([...running]);
      },
    };
  }

  /**
   * Runs every workflow the event matches (concurrently, as GitHub does), then the
   * `workflow_run` workflows each finished run triggers; resolves to all of them.
   */
  private async trigger(event: Event): Promise<WorkflowRun[]> {
    const workflows = (await this.workflowsAt(event.sha)).filter(
      w =>
        (!event.file || w.file === event.file) &&
        eventMatches(w.workflow.on, event),
    );
    const results = await Promise.all(
      workflows.map(async ({ file, workflow }) => {
        // GitHub lists every run (and sends its `workflow_run` webhooks), not only dispatched ones.
        const recorded =
          event.serverRunId === undefined
            ? this.options.github.recordWorkflowRun({
                owner: this.options.owner,
                name: this.options.repo,
                workflow: file,
                workflowName: workflow.name,
                event: event.name as 'push',
                ref:
                  event.name === 'pull_request'
                    ? (event.payload.pull_request as { head: { ref: string } })
                        .head.ref
                    : event.ref.replace(/^refs\/(heads|tags)\//, ''),
                refType: event.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
                headSha: event.sha,
                actor: event.actor,
              })
            : undefined;
        let conclusion: JobResult = 'failure';
        let run: WorkflowRun;
        try {
          run = await this.runWorkflow(file, workflow, event);
          conclusion = run.conclusion;
        } finally {
          if (recorded) {
            this.options.github.completeWorkflowRun(recorded.id, conclusion);
          }
        }
        const chained = await this.workflowRunCompleted(run);
        return [run, ...chained];
      }),
    );
    return results.flat();
  }

  private async workflowRunCompleted(run: WorkflowRun): Promise<WorkflowRun[]> {
    await this.syncMirror();
    // workflow_run workflows run from the default branch.
    const sha = (
      await this.git(['--git-dir', this.mirror, 'rev-parse', 'refs/heads/main'])
    ).trim();
    return this.trigger({
      name: 'workflow_run',
      sha,
      ref: 'refs/heads/main',
      actor: 'mainline-bot',
      payload: {
        action: 'completed',
        workflow_run: {
          id: run.id,
          name: run.name,
          event: run.event,
          status: 'completed',
          conclusion: run.conclusion,
          head_sha: run.headSha,
          head_branch: run.headBranch,
        },
      },
    });
  }

  private async api(
    method: string,
    pathname: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.options.github.baseUrl}${pathname}`, {
      method,
      headers: {
        authorization: `token ${this.checksToken}`,
        'content-type': 'application/json',
        accept: 'application/vnd.github+json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
    }
    return text ? JSON.parse(text) : {};
  }

  private async runWorkflow(
    file: string,
    workflow: Workflow,
    event: Event,
  ): Promise<WorkflowRun> {
    const id = this.nextRunId++;
    const headBranch =
      event.name === 'pull_request'
        ? (event.payload.pull_request as { head: { ref: string } }).head.ref
        : event.ref.replace(/^refs\/(heads|tags)\//, '');
    const run: WorkflowRun = {
      id,
      file,
      name: workflow.name ?? `.github/workflows/${file}`,
      event: event.name,
      headSha: event.sha,
      headBranch,
      conclusion: 'success',
      jobs: {},
    };
    this.runs.push(run);
    const github = this.githubContext(event, run, workflow);
    const base = {
      github,
      inputs: (event.payload.inputs as Record<string, string>) ?? {},
      vars: this.options.vars ?? {},
      secrets: this.options.secrets ?? {},
    };
    let cancelled = false;
    const cancellers = new Set<() => void>();
    const cancelRun = () => {
      cancelled = true;
      cancellers.forEach(c => c());
    };
    const group = concurrencyOf(workflow.concurrency, base);
    const lock = group
      ? await this.concurrency.acquire(
          group.group,
          group.cancelInProgress,
          cancelRun,
        )
      : undefined;
    try {
      if (lock && !lock.acquired) {
        for (const jobId of Object.keys(workflow.jobs)) {
          run.jobs[jobId] = this.emptyJob(jobId, 'cancelled');
        }
        run.conclusion = 'cancelled';
        return run;
      }
      const order = this.jobOrder(workflow.jobs);
      for (const jobId of order) {
        const job = workflow.jobs[jobId];
        const needs = ([] as string[]).concat(job.needs ?? []);
        const needsContext = Object.fromEntries(
          needs.map(n => [
            n,
            { result: run.jobs[n].result, outputs: run.jobs[n].outputs },
          ]),
        );
        const results = needs.map(n => run.jobs[n].result);
        const status: StatusState = {
          success: results.every(r => r === 'success') && !cancelled,
          failure: results.some(r => r === 'failure'),
          cancelled,
        };
        const context = { ...base, needs: needsContext };
        if (!condition(job.if, context, status)) {
          run.jobs[jobId] = this.emptyJob(jobId, 'skipped');
          await this.reportCheck(run, jobId, job, 'skipped');
          continue;
        }
        run.jobs[jobId] = await this.runJob(
          run,
          workflow,
          jobId,
          job,
          { ...context, env: workflow.env ?? {} },
          cancellers,
        );
      }
      const results = Object.values(run.jobs).map(j => j.result);
      if (results.includes('failure')) run.conclusion = 'failure';
      else if (results.includes('cancelled')) run.conclusion = 'cancelled';
      else run.conclusion = 'success';
      return run;
    } finally {
      lock?.release();
    }
  }

  private emptyJob(id: string, result: JobResult): JobRun {
    return { id, result, outputs: {}, steps: [], permissions: {}, summary: '' };
  }

  private jobOrder(jobs: Record<string, Job>): string[] {
    const order: string[] = [];
    const visit = (id: string, trail: string[]) => {
      if (order.includes(id)) return;
      if (trail.includes(id))
        throw new Error(`jobs depend on each other: ${id}`);
      if (!jobs[id]) throw new Error(`a job needs the unknown job ${id}`);
      for (const need of ([] as string[]).concat(jobs[id].needs ?? [])) {
        visit(need, [...trail, id]);
      }
      order.push(id);
    };
    Object.keys(jobs).forEach(id => visit(id, []));
    return order;
  }

  private githubContext(event: Event, run: WorkflowRun, workflow: Workflow) {
    return {
      event_name: event.name,
      event: event.payload,
      sha: event.sha,
      ref: event.ref,
      ref_name: event.ref.replace(/^refs\/(heads|tags)\//, ''),
      ref_type: event.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
      head_ref:
        event.name === 'pull_request'
          ? (event.payload.pull_request as { head: { ref: string } }).head.ref
          : '',
      base_ref:
        event.name === 'pull_request'
          ? (event.payload.pull_request as { base: { ref: string } }).base.ref
          : '',
      repository: this.repository,
      repository_owner: this.options.owner,
      run_id: String(run.id),
      run_number: String(run.id),
      run_attempt: '1',
      actor: event.actor,
      triggering_actor: event.actor,
      workflow: workflow.name ?? run.file,
      server_url: this.options.github.htmlUrl,
      api_url: this.options.github.baseUrl,
      graphql_url: `${this.options.github.baseUrl}/graphql`,
      token: '',
    };
  }

  /** The job's check run on the commit, as the GitHub Actions App reports it. */
  private async reportCheck(
    run: WorkflowRun,
    jobId: string,
    job: Job,
    state: 'in_progress' | JobResult,
    existing?: number,
  ): Promise<number> {
    const repo = `/repos/${this.repository}/check-runs`;
    const name = job.name ?? jobId;
    const completed =
      state === 'in_progress'
        ? { status: 'in_progress' }
        : { status: 'completed', conclusion: state };
    if (existing !== undefined) {
      await this.api('PATCH', `${repo}/${existing}`, completed);
      return existing;
    }
    const created = await this.api('POST', repo, {
      name,
      head_sha: run.headSha,
      external_id: String(run.id),
      ...completed,
    });
    return created.id as number;
  }

  private async runJob(
    run: WorkflowRun,
    workflow: Workflow,
    jobId: string,
    job: Job,
    baseContext: Record<string, unknown>,
    cancellers: Set<() => void>,
  ): Promise<JobRun> {
    const permissions = tokenPermissions(workflow.permissions, job.permissions);
    const token = `ghs_job_${++this.tokenCount}_${crypto
      .randomBytes(6)
      .toString('hex')}`;
    this.options.github.addToken(token, {
      login: 'github-actions',
      appId: GITHUB_ACTIONS_APP_ID,
      permissions: serverPermissions(permissions),
    });
    const github = {
      ...(baseContext.github as Record<string, unknown>),
      token,
      job: jobId,
    };
    const secrets = { ...(baseContext.secrets as object), GITHUB_TOKEN: token };
    const jobRun: JobRun = {
      id: jobId,
      result: 'success',
      outputs: {},
      steps: [],
      permissions,
      summary: '',
    };
    // GitHub checks the environment's deployment branch policy before the job starts: a ref
    // it does not allow fails the job, no step run.
    const environmentValue = job.environment as
      | string
      | { name?: string }
      | undefined;
    const environmentName =
      typeof environmentValue === 'string'
        ? environmentValue
        : environmentValue?.name;
    if (environmentName) {
      const environment = interpolate(environmentName, {
        ...baseContext,
        github,
        secrets,
      });
      const refusal = this.options.github.deploymentRefusal(
        this.options.owner,
        this.options.repo,
        environment,
        String((baseContext.github as { ref?: string }).ref ?? ''),
      );
      if (refusal) {
        jobRun.result = 'failure';
        jobRun.annotations = [refusal];
        await this.reportCheck(run, jobId, job, 'failure');
        return jobRun;
      }
    }
    let checkId: number | undefined;
    const controller = new AbortController();
    const cancel = () => controller.abort();
    const group = concurrencyOf(job.concurrency, {
      ...baseContext,
      github,
      secrets,
    });
    const lock = group
      ? await this.concurrency.acquire(
          group.group,
          group.cancelInProgress,
          cancel,
        )
      : undefined;
    if (lock && !lock.acquired) {
      jobRun.result = 'cancelled';
      await this.reportCheck(run, jobId, job, 'cancelled');
      return jobRun;
    }
    cancellers.add(cancel);
    const dir = path.join(this.options.workRoot, 'runs', String(run.id), jobId);
    const workspace = path.join(dir, 'workspace');
    const temp = path.join(dir, 'temp');
    fs.mkdirSync(workspace, { recursive: true });
    fs.mkdirSync(temp, { recursive: true });
    const summaryFile = path.join(temp, 'step_summary');
    fs.writeFileSync(summaryFile, '');
    try {
      checkId = await this.reportCheck(run, jobId, job, 'in_progress');
      const workflowEnv = interpolateDeep(workflow.env ?? {}, {
        ...baseContext,
        github,
        secrets,
      });
      let jobContext: Record<string, unknown> = {
        ...baseContext,
        github,
        secrets,
        env: workflowEnv,
        runner: { temp, os: 'Linux', arch: 'X64', name: 'mainline-test' },
        job: { status: 'success' },
        steps: {},
      };
      const jobEnv = {
        ...workflowEnv,
        ...interpolateDeep(job.env ?? {}, jobContext),
      };
      jobContext = { ...jobContext, env: jobEnv };
      const exported: Record<string, string> = {};
      const pathAdditions: string[] = [];
      const steps: Record<string, unknown> = {};
      let failed = false;
      for (const [index, step] of job.steps.entries()) {
        const stepName =
          step.name ?? step.uses ?? (step.run ?? '').split('\n')[0];
        const context = {
          ...jobContext,
          env: { ...jobEnv, ...exported },
          steps,
        };
        const status: StatusState = {
          success: !failed && !controller.signal.aborted,
          failure: failed,
          cancelled: controller.signal.aborted,
        };
        let runIt: boolean;
        try {
          runIt = condition(step.if, context, status);
        } catch (error) {
          jobRun.steps.push({
            name: stepName,
            id: step.id,
            outcome: 'failure',
            log: `The step's if: could not be evaluated: ${error}`,
          });
          failed = true;
          continue;
        }
        if (!runIt) {
          jobRun.steps.push({
            name: stepName,
            id: step.id,
            outcome: 'skipped',
            log: '',
          });
          if (step.id) {
            steps[step.id] = {
              outputs: {},
              outcome: 'skipped',
              conclusion: 'skipped',
            };
          }
          continue;
        }
        const stepEnv = {
          ...jobEnv,
          ...exported,
          ...interpolateDeep(step.env ?? {}, context),
        };
        const files = {
          output: path.join(temp, `output_${index}`),
          env: path.join(temp, `env_${index}`),
          path: path.join(temp, `path_${index}`),
        };
        Object.values(files).forEach(f => fs.writeFileSync(f, ''));
        let outcome: JobResult;
        let log: string;
        let outputs: Record<string, string> = {};
        try {
          if (step.uses) {
            const done = await this.standIn(
              step,
              {
                ...context,
                env: stepEnv,
              },
              {
                workspace,
                temp,
                token,
                permissions,
                exported,
              },
            );
            outputs = done.outputs;
            log = done.log;
            outcome = 'success';
          } else {
            const workingDirectory =
              step['working-directory'] ??
              job.defaults?.run?.['working-directory'];
            const script = interpolate(step.run ?? '', {
              ...context,
              env: stepEnv,
            });
            const result = await this.bash(script, {
              cwd: workingDirectory
                ? path.resolve(
                    workspace,
                    interpolate(workingDirectory, context),
                  )
                : workspace,
              env: {
                ...this.machineEnv(run, github, workspace, temp, pathAdditions),
                ...stepEnv,
                GITHUB_OUTPUT: files.output,
                GITHUB_ENV: files.env,
                GITHUB_PATH: files.path,
                GITHUB_STEP_SUMMARY: summaryFile,
              },
              timeoutMs:
                (step['timeout-minutes'] ?? 0) * 60_000 ||
                this.options.stepTimeoutMs ||
                120_000,
              signal: controller.signal,
            });
            log = result.log;
            if (controller.signal.aborted) outcome = 'cancelled';
            else outcome = result.code === 0 ? 'success' : 'failure';
            outputs = parseKeyValues(fs.readFileSync(files.output, 'utf8'));
            Object.assign(
              exported,
              parseKeyValues(fs.readFileSync(files.env, 'utf8')),
            );
            pathAdditions.unshift(
              ...fs
                .readFileSync(files.path, 'utf8')
                .split('\n')
                .filter(Boolean),
            );
          }
        } catch (error) {
          outcome = 'failure';
          log = error instanceof Error ? error.message : String(error);
        }
        const conclusion =
          outcome === 'failure' && step['continue-on-error']
            ? 'success'
            : outcome;
        jobRun.steps.push({ name: stepName, id: step.id, outcome, log });
        if (step.id) steps[step.id] = { outputs, outcome, conclusion };
        if (conclusion === 'failure') failed = true;
      }
      jobRun.outputs = Object.fromEntries(
        Object.entries(job.outputs ?? {}).map(([k, v]) => [
          k,
          interpolate(v, { ...jobContext, steps }),
        ]),
      );
      jobRun.summary = fs.readFileSync(summaryFile, 'utf8');
      if (controller.signal.aborted) jobRun.result = 'cancelled';
      else jobRun.result = failed ? 'failure' : 'success';
    } catch (error) {
      jobRun.result = 'failure';
      jobRun.steps.push({
        name: 'Set up job',
        outcome: 'failure',
        log:
          error instanceof Error ? error.stack ?? error.message : String(error),
      });
    } finally {
      cancellers.delete(cancel);
      lock?.release();
    }
    await this.reportCheck(run, jobId, job, jobRun.result, checkId);
    return jobRun;
  }

  private machineEnv(
    run: WorkflowRun,
    github: Record<string, unknown>,
    workspace: string,
    temp: string,
    pathAdditions: string[],
  ): Record<string, string> {
    const str = (v: unknown) => String(v ?? '');
    return {
      PATH: [this.binDir, ...pathAdditions, process.env.PATH ?? ''].join(':'),
      HOME: temp,
      LANG: 'C.UTF-8',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_SHA: str(github.sha),
      GITHUB_REF: str(github.ref),
      GITHUB_REF_NAME: str(github.ref_name),
      GITHUB_REF_TYPE: str(github.ref_type),
      GITHUB_HEAD_REF: str(github.head_ref),
      GITHUB_BASE_REF: str(github.base_ref),
      GITHUB_EVENT_NAME: str(github.event_name),
      GITHUB_REPOSITORY: this.repository,
      GITHUB_REPOSITORY_OWNER: this.options.owner,
      GITHUB_RUN_ID: String(run.id),
      GITHUB_RUN_NUMBER: String(run.id),
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_ACTOR: str(github.actor),
      GITHUB_WORKFLOW: str(github.workflow),
      GITHUB_JOB: str(github.job),
      GITHUB_SERVER_URL: this.options.github.htmlUrl,
      GITHUB_API_URL: this.options.github.baseUrl,
      GITHUB_GRAPHQL_URL: `${this.options.github.baseUrl}/graphql`,
      GITHUB_WORKSPACE: workspace,
      RUNNER_TEMP: temp,
      RUNNER_OS: 'Linux',
      ...(this.options.env ?? {}),
    };
  }

  private bash(
    script: string,
    options: {
      cwd: string;
      env: Record<string, string>;
      timeoutMs: number;
      signal: AbortSignal;
    },
  ): Promise<{ code: number; log: string }> {
    const file = path.join(
      options.env.RUNNER_TEMP,
      `step-${crypto.randomBytes(4).toString('hex')}.sh`,
    );
    fs.writeFileSync(file, script);
    return new Promise(resolve => {
      // GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
      const child = spawn(
        'bash',
        ['--noprofile', '--norc', '-eo', 'pipefail', file],
        {
          cwd: options.cwd,
          env: options.env,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let log = '';
      child.stdout.on('data', d => (log += d));
      child.stderr.on('data', d => (log += d));
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => {
        log += `\n##[error]The step exceeded ${options.timeoutMs} ms and was killed`;
        kill();
      }, options.timeoutMs);
      options.signal.addEventListener('abort', kill, { once: true });
      child.on('error', error => {
        clearTimeout(timer);
        resolve({ code: 1, log: `${log}\n${error.message}` });
      });
      child.on('close', code => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', kill);
        resolve({ code: code ?? 1, log });
      });
    });
  }

  /** The `uses:` actions that cannot run here, replaced by what they do (see README). */
  private async standIn(
    step: Step,
    context: Record<string, unknown>,
    job: {
      workspace: string;
      temp: string;
      token: string;
      permissions: Record<string, string>;
      exported: Record<string, string>;
    },
  ): Promise<{ outputs: Record<string, string>; log: string }> {
    const action = (step.uses ?? '').split('@')[0];
    const input = interpolateDeep(step.with ?? {}, context) as Record<
      string,
      unknown
    >;
    const str = (key: string, fallback = '') =>
      input[key] === undefined || input[key] === ''
        ? fallback
        : String(input[key]);
    const github = context.github as Record<string, string>;
    switch (action) {
      case 'actions/checkout': {
        const repository = str('repository', github.repository);
        const [owner, name] = repository.split('/');
        const token = str('token', job.token);
        const dir = path.resolve(job.workspace, str('path', '.'));
        const url = this.options.github.gitUrl(owner, name);
        const header = this.authHeader(token);
        fs.mkdirSync(dir, { recursive: true });
        await this.git(['init', '--quiet', dir]);
        await this.git(['remote', 'add', 'origin', url], dir);
        const fullHistory = str('fetch-depth', '1') === '0';
        await this.git(
          [
            '-c',
            `http.extraheader=${header}`,
            'fetch',
            '--quiet',
            ...(fullHistory ? ['--tags'] : ['--no-tags']),
            'origin',
            '+refs/heads/*:refs/remotes/origin/*',
          ],
          dir,
        );
        const ref = str(
          'ref',
          repository === github.repository ? github.sha : '',
        );
        let log: string;
        if (!ref) {
          const head = (
            await this.git(
              ['ls-remote', '--symref', 'origin', 'HEAD'],
              dir,
            ).catch(() => '')
          ).match(/refs\/heads\/(\S+)\s+HEAD/)?.[1];
          await this.git(
            [
              'checkout',
              '--quiet',
              '-B',
              head ?? 'main',
              `origin/${head ?? 'main'}`,
            ],
            dir,
          );
          log = `checked out ${repository} ${head ?? 'main'}`;
        } else if (/^[0-9a-f]{40}$/.test(ref)) {
          await this.git(
            [
              '-c',
              `http.extraheader=${header}`,
              'fetch',
              '--quiet',
              'origin',
              ref,
            ],
            dir,
          ).catch(() => undefined);
          await this.git(['checkout', '--quiet', '--detach', ref], dir);
          log = `checked out ${repository} at ${ref}`;
        } else {
          const branch = ref.replace(/^refs\/heads\//, '');
          await this.git(
            [
              'checkout',
              '--quiet',
              '-B',
              branch,
              `refs/remotes/origin/${branch}`,
            ],
            dir,
          );
          log = `checked out ${repository} ${branch}`;
        }
        if (str('persist-credentials', 'true') !== 'false') {
          await this.git(
            ['config', '--local', 'http.extraheader', header],
            dir,
          );
        }
        return {
          outputs: {
            ref,
            commit: (await this.git(['rev-parse', 'HEAD'], dir)).trim(),
          },
          log,
        };
      }
      case 'aws-actions/configure-aws-credentials': {
        const region = str('aws-region');
        if (!region)
          throw new Error('Input required and not supplied: aws-region');
        if (str('role-to-assume') && job.permissions['id-token'] !== 'write') {
          // What the action says when the job's token may not mint an OIDC token.
          throw new Error(
            'Could not load credentials from any providers: the job has no `id-token: write` permission for role-to-assume',
          );
        }
        const credentials = this.options.awsCredentials ?? {
          accessKeyId: 'AKIDTESTRUNNER',
          secretAccessKey: 'test-runner-secret',
        };
        Object.assign(job.exported, {
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          AWS_REGION: region,
          AWS_DEFAULT_REGION: region,
        });
        return { outputs: {}, log: `credentials for ${region} exported` };
      }
      case 'aws-actions/amazon-ecr-login':
      case 'docker/setup-buildx-action':
      case 'actions/setup-node':
        // The docker stand-in pushes through the AWS CLI (no login); node is the machine's.
        return { outputs: {}, log: `${action}: nothing to do on this runner` };
      default:
        throw new Error(
          `The workflow runner has no stand-in for the action ${step.uses}`,
        );
    }
  }
}

/** `$GITHUB_OUTPUT` / `$GITHUB_ENV` lines: `key=value` and `key<<DELIMITER` … `DELIMITER`. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) {
        value.push(lines[i]);
      }
      out[heredoc[1]] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}
