import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { actionsRoutes, runTitle, workflowId } from './actions';
import { checksRoutes } from './checks';
import { resolveCommitish } from './git';
import { contentsRoutes } from './contents';
import { gitDataRoutes } from './gitData';
import { graphqlRoutes } from './graphql';
import { hookRoutes, StoredDelivery, WebhookDeliverer } from './hooks';
import { ApiError, RepoContext, RequestContext } from './http';
import { mergePull } from './pulls';
import { repositoryRoutes } from './repositories';
import { GitHubTestLimits, repoGit, Route, ServerEnv } from './routes';
import { deploymentRefusal } from './environments';
import { settingsRoutes } from './settings';
import { checkPermission } from './permissions';
import { isGitPath, serveGit } from './smartHttp';
import {
  Identity,
  ServerState,
  StoredEnvironment,
  StoredPull,
  WorkflowRun,
  WorkflowRunConclusion,
} from './state';
import { pullRoutes } from './pulls';

export type { GitHubTestLimits } from './routes';
export type {
  Identity as GitHubTestIdentity,
  StoredPull as GitHubTestPullRequest,
  WorkflowRun as GitHubTestWorkflowRun,
  WorkflowRunConclusion as GitHubTestWorkflowConclusion,
} from './state';
export type {
  StoredHook as GitHubTestWebhook,
  StoredDelivery as GitHubTestWebhookDelivery,
} from './hooks';

/** Options of {@link startGitHubTestServer}. */
export interface GitHubTestServerOptions {
  /** Bare repositories live at `<root>/<owner>/<name>.git` (the local adapter's layout). */
  root: string;
  /** When set, API calls need `Authorization: token <t>` / `Bearer <t>`, git calls Basic auth with it. */
  token?: string;
  /** Delay before each answer, to make round trips visible in timings. */
  latencyMs?: number;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * The hourly budget per resource (REST `core`, `graphql` points). Default 5,000, a GitHub App
   * installation's lowest; 12,500 is a large organisation's.
   */
  rateLimit?: number;
  /**
   * How long one rate-limit window lasts before the budget is whole again (default: it never
   * resets within a test). A bench that compresses an hour compresses the window with it.
   */
  rateLimitWindowMs?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** The token's user (`GET /user`, `POST /user/repos`). Default `mainline-bot`. */
  login?: string;
  /**
   * More tokens and who each is: a user (`{ login: 'alice', role: 'write' }`) or an App
   * installation (`{ login: 'mainline', appId: 42, permissions: { contents: 'write' } }`, acting
   * as `mainline[bot]`). `token` stays the `login` user with admin rights.
   */
  tokens?: Record<string, Identity>;
  /** Accept dispatches of workflows whose file is not in the repository at the ref. */
  acceptAnyWorkflow?: boolean;
  /**
   * Move dispatched runs to `in_progress` after half of `afterMs` and complete them after
   * `afterMs`, with the conclusion `conclusion(run)` chooses (default `success`); a run whose
   * job names an environment that refuses its ref (`run.refusal`) concludes `failure`.
   */
  autoCompleteRuns?: {
    afterMs: number;
    conclusion?: (run: WorkflowRun) => WorkflowRunConclusion;
  };
  /** Real GitHub limits to produce from the start (see also `setLimits`). */
  limits?: GitHubTestLimits;
}

/** One request the server answered, for counting upstream calls and rounds in tests. */
export interface GitHubTestRequest {
  /** `api` for the REST API, `git` for smart HTTP. */
  kind: 'api' | 'git';
  method: string;
  /** The path without the query string, as sent (Octokit percent-encodes `/` in parameters). */
  path: string;
  /** The query string without `?` (empty when none). */
  query: string;
  status: number;
  /** Answered 304 Not Modified to an `If-None-Match`: free of rate limit on GitHub. */
  conditional: boolean;
  /** When the request arrived and when its answer was recorded (`performance.now()`, ms). */
  startedAt: number;
  finishedAt: number;
}

export interface GitHubTestServer {
  /** The REST API base (use as Octokit `baseUrl` / integration `apiBaseUrl`), e.g. `http://127.0.0.1:PORT`. */
  baseUrl: string;
  /** The web UI base used in `html_url` fields (the same origin). */
  htmlUrl: string;
  /** `host:port`, for an integration `host` entry. */
  host: string;
  root: string;
  /** The smart-HTTP clone URL of a repository, served by the same server. */
  gitUrl(owner: string, name: string): string;
  /** Every request answered since start or the last reset (a live array). */
  requests: GitHubTestRequest[];
  resetRequests(): void;
  setLatency(ms: number): void;
  /** Switches real GitHub limits on (or off, with `undefined` values) from now on. */
  setLimits(limits: GitHubTestLimits): void;
  /**
   * Renames a repository as GitHub's settings page does: the old name answers 301 with the new
   * location from then on (git and API alike keep working under the new name).
   */
  renameRepository(owner: string, name: string, newName: string): Promise<void>;
  /**
   * Sets the remaining rate limit of `resource` (default `core`, REST; `graphql` for GraphQL,
   * counted separately as on GitHub); at 0 its calls are answered 403 until it is raised again.
   */
  setRateLimitRemaining(remaining: number, resource?: 'core' | 'graphql'): void;
  /** Workflow runs started by dispatches, oldest first, with the inputs they were dispatched with. */
  workflowRuns(owner?: string, name?: string): WorkflowRun[];
  startWorkflowRun(id: number): void;
  /**
   * Why the repository's environment refuses a job on `ref` (`refs/heads/…`, `refs/tags/…`) by
   * its deployment branch policy, as GitHub's annotation says it; undefined when it may deploy.
   */
  deploymentRefusal(
    owner: string,
    name: string,
    environment: string,
    ref: string,
  ): string | undefined;
  /**
   * Records a finished dispatched run as history (what CI deployed before the test began), with
   * its title rendered from the workflow file's `run-name` at `ref` when there is one.
   */
  seedWorkflowRun(run: {
    owner: string;
    name: string;
    workflow: string;
    inputs: Record<string, string>;
    createdAt: Date;
    conclusion: WorkflowRunConclusion;
    actor?: string;
    ref?: string;
  }): Promise<WorkflowRun>;
  completeWorkflowRun(id: number, conclusion: WorkflowRunConclusion): void;
  /**
   * Records a run GitHub started for an event other than a dispatch (a push, a pull request, a
   * finished run), in progress, as the workflow runner picks it up: its `workflow_run` webhooks
   * (`requested`, `in_progress`) are delivered, and `completed` when `completeWorkflowRun` ends it.
   */
  recordWorkflowRun(run: {
    owner: string;
    name: string;
    /** The file under .github/workflows. */
    workflow: string;
    /** The workflow's `name:`. */
    workflowName?: string;
    event: 'push' | 'pull_request' | 'workflow_run' | 'workflow_dispatch';
    /** The branch or tag (short name) the run is for. */
    ref: string;
    refType?: 'branch' | 'tag';
    headSha: string;
    actor?: string;
    title?: string;
  }): WorkflowRun;
  /**
   * What the repositories' webhooks delivered (oldest first), with the request as sent and the
   * receiver's status; `owner`/`name` narrow it to one repository.
   */
  webhookDeliveries(owner?: string, name?: string): StoredDelivery[];
  /** Resolves once every webhook delivery queued so far has been answered or has failed. */
  webhooksSettled(): Promise<void>;
  pullRequests(owner: string, name: string): StoredPull[];
  /** Merges an open pull request as a reviewer would in the web UI; resolves to the merge commit. */
  mergePullRequest(
    owner: string,
    name: string,
    number: number,
    options?: {
      method?: 'merge' | 'squash';
      merger?: { name: string; email: string };
      /** Whose merge the rules judge (default: the `login` user, the repositories' admin). */
      actor?: Identity;
    },
  ): Promise<{ sha: string }>;
  /** Accepts another token from now on, as `identity`. */
  addToken(token: string, identity: Identity): void;
  /** Stored repository settings, as the API returns them to clients. */
  rulesets(owner: string, name: string): Array<Record<string, unknown>>;
  environments(owner: string, name: string): StoredEnvironment[];
  branchProtection(
    owner: string,
    name: string,
    branch: string,
  ): Record<string, unknown> | undefined;
  topics(owner: string, name: string): string[];
  close(): Promise<void>;
}

const ROUTES: Route[] = [
  // More specific templates first: `branches/*/protection` before `branches/*`.
  ...settingsRoutes,
  ...checksRoutes,
  ...gitDataRoutes,
  ...graphqlRoutes,
  ...contentsRoutes,
  ...pullRoutes,
  ...actionsRoutes,
  ...hookRoutes,
  ...repositoryRoutes,
];

const DEFAULT_RATE_LIMIT = 5000;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The tokens an Authorization header may carry: API `token`/`Bearer`, git Basic (either half). */
function presentedTokens(header: string | undefined): string[] {
  const bearer = /^(token|bearer)\s+(.+)$/i.exec(header ?? '');
  if (bearer) return [bearer[2]];
  const basic = /^basic\s+(.+)$/i.exec(header ?? '');
  if (!basic) return [];
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0
    ? [decoded]
    : [decoded.slice(colon + 1), decoded.slice(0, colon)];
}

/**
 * Starts a loopback server speaking GitHub's REST API (and git smart HTTP) over the bare
 * repositories under `root`, driven by the `git` binary.
 */
export async function startGitHubTestServer(
  options: GitHubTestServerOptions,
): Promise<GitHubTestServer> {
  const root = path.resolve(options.root);
  const state = new ServerState();
  const requests: GitHubTestRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let latencyMs = options.latencyMs ?? 0;
  /** Requests counted per rate-limit resource: REST (`core`) and GraphQL, as GitHub keeps them. */
  const used = { core: 0, graphql: 0 };
  const remainingOverride: { core?: number; graphql?: number } = {};
  const RATE_LIMIT = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const windowMs = options.rateLimitWindowMs;
  let windowStart = Date.now();
  /** A new window makes the budget whole again, as GitHub's hourly reset does. */
  const rollWindow = () => {
    if (windowMs && Date.now() - windowStart >= windowMs) {
      windowStart +=
        Math.floor((Date.now() - windowStart) / windowMs) * windowMs;
      used.core = 0;
      used.graphql = 0;
    }
  };
  const resetAt = () =>
    windowMs
      ? Math.ceil((windowStart + windowMs) / 1000)
      : Math.floor(Date.now() / 1000) + 3600;
  let origin = '';
  /** `owner/old` → `owner/new` of renamed repositories. */
  const renamed = new Map<string, string>();

  const hooks = new WebhookDeliverer();
  const updateRun = (id: number, update: Partial<WorkflowRun>) => {
    const run = state.runs.find(r => r.id === id);
    if (!run) throw new Error(`No workflow run ${id}`);
    const before = run.status;
    Object.assign(run, update, {
      updatedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    if (run.status !== before) {
      if (run.status === 'in_progress') hooks.workflowRun(run, 'in_progress');
      if (run.status === 'completed') hooks.workflowRun(run, 'completed');
    }
  };

  const tokens = new Map<string, Identity>(
    Object.entries(options.tokens ?? {}),
  );
  const serverLogin = options.login ?? 'mainline-bot';
  const admin: Identity = {
    login: serverLogin,
    role: 'admin',
    orgAdmin: true,
  };
  /** Who a request is, or undefined when its credentials are not accepted (401). */
  const identify = (header: string | undefined): Identity | undefined => {
    const presented = presentedTokens(header);
    for (const t of presented) {
      const known = tokens.get(t);
      if (known) return known;
    }
    if (options.token === undefined) return admin;
    return presented.includes(options.token) ? admin : undefined;
  };

  const env: ServerEnv = {
    state,
    root,
    get htmlBase() {
      return origin;
    },
    login: serverLogin,
    owner: admin,
    gitUrl: (owner, name) => `${origin}/${owner}/${name}.git`,
    repoDir: (owner, name) => path.join(root, owner, `${name}.git`),
    acceptAnyWorkflow: options.acceptAnyWorkflow ?? false,
    limits: { ...options.limits },
    hooks,
    onDispatch(id) {
      const dispatched = state.runs.find(r => r.id === id);
      if (dispatched) hooks.workflowRun(dispatched, 'requested');
      const auto = options.autoCompleteRuns;
      if (!auto) return;
      const later = (ms: number, fn: () => void) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          fn();
        }, ms);
        timer.unref();
        timers.add(timer);
      };
      later(auto.afterMs / 2, () => {
        const run = state.runs.find(r => r.id === id);
        if (run?.status === 'queued') updateRun(id, { status: 'in_progress' });
      });
      later(auto.afterMs, () => {
        const run = state.runs.find(r => r.id === id);
        if (run && run.status !== 'completed') {
          updateRun(id, {
            status: 'completed',
            conclusion: run.refusal
              ? 'failure'
              : auto.conclusion?.(run) ?? 'success',
          });
        }
      });
    },
  };

  hooks.bind(env);

  const remaining = (resource: 'core' | 'graphql' = 'core') => {
    rollWindow();
    return remainingOverride[resource] !== undefined
      ? remainingOverride[resource]!
      : Math.max(0, RATE_LIMIT - used[resource]);
  };

  async function handleApi(
    req: http.IncomingMessage,
    url: URL,
  ): Promise<{
    status: number;
    headers: Record<string, string>;
    body?: Buffer;
  }> {
    const method = req.method ?? 'GET';
    const resource = url.pathname === '/graphql' ? 'graphql' : 'core';
    const rateHeaders = () => ({
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(remaining(resource)),
      'x-ratelimit-used': String(RATE_LIMIT - remaining(resource)),
      'x-ratelimit-reset': String(resetAt()),
      'x-ratelimit-resource': resource,
    });
    const json = (
      status: number,
      body: unknown,
      headers: Record<string, string> = {},
    ) => ({
      status,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        ...rateHeaders(),
        ...headers,
      },
      body: Buffer.from(JSON.stringify(body)),
    });

    const actor = identify(req.headers.authorization);
    if (!actor) {
      return json(401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    }
    if (method === 'GET' && url.pathname === '/rate_limit') {
      const of = (r: 'core' | 'graphql') => ({
        limit: RATE_LIMIT,
        remaining: remaining(r),
        used: RATE_LIMIT - remaining(r),
        reset: resetAt(),
      });
      const core = of('core');
      return json(200, {
        resources: { core, graphql: of('graphql') },
        rate: core,
      });
    }
    const secondary = env.limits.secondaryRateLimit;
    if (
      secondary &&
      secondary.count > 0 &&
      (!secondary.path || secondary.path.test(url.pathname))
    ) {
      secondary.count -= 1;
      return json(
        secondary.status ?? 403,
        {
          message:
            'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          status: String(secondary.status ?? 403),
        },
        { 'retry-after': String(secondary.retryAfterSeconds) },
      );
    }
    const moved = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const movedTo = moved && renamed.get(`${moved[1]}/${moved[2]}`);
    if (movedTo) {
      // GitHub answers the old name of a renamed repository with a permanent redirect.
      return json(
        301,
        {
          message: 'Moved Permanently',
          url: `${origin}/repos/${movedTo}${moved[3] ?? ''}${url.search}`,
          documentation_url:
            'https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects',
        },
        {
          location: `${origin}/repos/${movedTo}${moved[3] ?? ''}${url.search}`,
        },
      );
    }
    if (remaining(resource) <= 0) {
      return json(403, {
        message: 'API rate limit exceeded for user ID 1.',
        documentation_url:
          'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        status: '403',
      });
    }

    const raw = await readBody(req);
    let body: Record<string, any> = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        used[resource] += 1;
        return json(400, {
          message: 'Problems parsing JSON',
          documentation_url: 'https://docs.github.com/rest',
          status: '400',
        });
      }
      if (body === null || typeof body !== 'object') body = {};
    }

    let reply;
    try {
      const match = ROUTES.map(r => ({
        r,
        m: r.method === method && r.pattern.exec(url.pathname),
      })).find(x => x.m);
      if (!match || !match.m) throw new ApiError(404, 'Not Found');
      let params: string[];
      try {
        params = match.m.slice(1).map(p => decodeURIComponent(p));
      } catch {
        throw new ApiError(404, 'Not Found');
      }
      const ctx: RequestContext = {
        method,
        params,
        query: url.searchParams,
        body,
        apiBase: origin,
        pathname: url.pathname,
        actor,
      };
      checkPermission(actor, method, url.pathname);
      if (match.r.repo) {
        const [owner, name] = params;
        const repoCtx: RepoContext = {
          ...ctx,
          owner,
          name,
          git: await repoGit(env, owner, name),
        };
        reply = await (
          match.r.handler as (c: RepoContext, e: ServerEnv) => Promise<any>
        )(repoCtx, env);
      } else {
        reply = await (
          match.r.handler as (c: RequestContext, e: ServerEnv) => Promise<any>
        )(ctx, env);
      }
    } catch (error) {
      if (error instanceof ApiError) {
        used[resource] += 1;
        return json(error.status, error.body(), error.headers);
      }
      used[resource] += 1;
      return json(500, {
        message: `Server Error: ${(error as Error).message}`,
      });
    }

    if (reply.body === undefined) {
      used[resource] += 1;
      return {
        status: reply.status,
        headers: { ...rateHeaders(), ...reply.headers },
      };
    }
    const text = JSON.stringify(reply.body);
    const etag = `W/"${crypto.createHash('sha1').update(text).digest('hex')}"`;
    const conditional =
      method === 'GET' &&
      reply.status === 200 &&
      (req.headers['if-none-match'] ?? '')
        .split(',')
        .map(t => t.trim())
        .includes(etag);
    if (conditional) {
      // GitHub does not count 304s against the rate limit.
      return {
        status: 304,
        headers: { etag, ...rateHeaders(), ...reply.headers },
      };
    }
    used[resource] += 1;
    return json(reply.status, reply.body, {
      ...(method === 'GET'
        ? { etag, 'cache-control': 'private, max-age=60, s-maxage=60' }
        : {}),
      vary: 'Accept, Authorization, Cookie',
      ...reply.headers,
    });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const startedAt = performance.now();
    const record = (kind: 'api' | 'git', status: number, conditional = false) =>
      requests.push({
        kind,
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        status,
        conditional,
        startedAt,
        finishedAt: performance.now(),
      });
    const respond = async () => {
      if (latencyMs > 0) await new Promise(r => setTimeout(r, latencyMs));
      if (isGitPath(url.pathname)) {
        const actor = identify(req.headers.authorization);
        if (!actor) {
          res
            .writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' })
            .end();
          record('git', 401);
          return;
        }
        const status = await serveGit(req, res, {
          root,
          pathname: url.pathname,
          search: url.search,
          actor,
          env,
        });
        record('git', status);
        return;
      }
      const answer = await handleApi(req, url);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      record('api', answer.status, answer.status === 304);
    };
    respond().catch(error => {
      if (!res.headersSent)
        res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          message: `Server Error: ${(error as Error).message}`,
        }),
      );
      record('api', 500);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () =>
      resolve(),
    );
  });
  const address = server.address() as AddressInfo;
  const host = `${options.host ?? '127.0.0.1'}:${address.port}`;
  origin = `http://${host}`;

  return {
    baseUrl: origin,
    htmlUrl: origin,
    host,
    root,
    gitUrl: env.gitUrl,
    requests,
    addToken(token, identity) {
      tokens.set(token, identity);
    },
    resetRequests() {
      requests.length = 0;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    setLimits(limits) {
      Object.assign(env.limits, limits);
    },
    async renameRepository(owner, name, newName) {
      await fs.rename(env.repoDir(owner, name), env.repoDir(owner, newName));
      state.renameRepo(owner, name, newName);
      renamed.set(`${owner}/${name}`, `${owner}/${newName}`);
      renamed.delete(`${owner}/${newName}`);
      // The repository keeps its webhooks, which hear of the rename.
      for (const hook of state.hooks) {
        if (hook.owner === owner && hook.repo === name) hook.repo = newName;
      }
      hooks.emit(
        owner,
        newName,
        'repository',
        {
          action: 'renamed',
          changes: { repository: { name: { from: name } } },
        },
        admin,
      );
    },
    setRateLimitRemaining(n, resource = 'core') {
      remainingOverride[resource] = Math.max(0, Math.floor(n));
    },
    workflowRuns(owner, name) {
      return state.runs.filter(
        r => (!owner || r.owner === owner) && (!name || r.repo === name),
      );
    },
    async seedWorkflowRun(seed) {
      const git = await repoGit(env, seed.owner, seed.name);
      const ref = seed.ref ?? 'main';
      const headSha = (await resolveCommitish(git, ref)) ?? '0'.repeat(40);
      const definition = (
        await git.run([
          'cat-file',
          'blob',
          `${headSha}:.github/workflows/${seed.workflow}`,
        ])
      ).stdout.toString('utf8');
      const id = state.id();
      const at = seed.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
      const run: WorkflowRun = {
        id,
        owner: seed.owner,
        repo: seed.name,
        workflow: seed.workflow,
        workflowId: workflowId(seed.owner, seed.name, seed.workflow),
        event: 'workflow_dispatch',
        ref: ref.replace(/^refs\/(heads|tags)\//, ''),
        refType:
          ref.startsWith('refs/tags/') ||
          (!ref.startsWith('refs/') &&
            !(await git.revParse(`refs/heads/${ref}^{commit}`)))
            ? 'tag'
            : 'branch',
        headSha,
        inputs: seed.inputs,
        displayTitle: runTitle(
          seed.workflow,
          definition || undefined,
          seed.inputs,
        ),
        actor: seed.actor,
        status: 'completed',
        conclusion: seed.conclusion,
        runNumber:
          state.runs.filter(
            r =>
              r.owner === seed.owner &&
              r.repo === seed.name &&
              r.workflow === seed.workflow,
          ).length + 1,
        createdAt: at,
        updatedAt: at,
        htmlUrl: `${env.htmlBase}/${seed.owner}/${seed.name}/actions/runs/${id}`,
      };
      state.runs.push(run);
      return run;
    },
    startWorkflowRun(id) {
      updateRun(id, { status: 'in_progress' });
    },
    deploymentRefusal(owner, name, environment, ref) {
      return deploymentRefusal(state, owner, name, environment, ref);
    },
    completeWorkflowRun(id, conclusion) {
      updateRun(id, { status: 'completed', conclusion });
    },
    recordWorkflowRun(record) {
      const id = state.id();
      const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const run: WorkflowRun = {
        id,
        owner: record.owner,
        repo: record.name,
        workflow: record.workflow,
        workflowId: workflowId(record.owner, record.name, record.workflow),
        event: record.event,
        ...(record.workflowName ? { name: record.workflowName } : {}),
        ref: record.ref,
        refType: record.refType ?? 'branch',
        headSha: record.headSha,
        inputs: {},
        displayTitle: record.title ?? record.workflowName ?? record.workflow,
        actor: record.actor,
        status: 'queued',
        conclusion: null,
        runNumber:
          state.runs.filter(
            r =>
              r.owner === record.owner &&
              r.repo === record.name &&
              r.workflow === record.workflow,
          ).length + 1,
        createdAt: at,
        updatedAt: at,
        htmlUrl: `${env.htmlBase}/${record.owner}/${record.name}/actions/runs/${id}`,
      };
      state.runs.push(run);
      hooks.workflowRun(run, 'requested');
      updateRun(id, { status: 'in_progress' });
      return run;
    },
    webhookDeliveries(owner, name) {
      return state.deliveries.filter(
        d =>
          (!owner || d.owner.toLowerCase() === owner.toLowerCase()) &&
          (!name || d.repo.toLowerCase() === name.toLowerCase()),
      );
    },
    webhooksSettled() {
      return hooks.settled();
    },
    pullRequests(owner, name) {
      return state.repo(owner, name).pulls;
    },
    mergePullRequest(owner, name, number, mergeOptions) {
      return mergePull(env, owner, name, number, mergeOptions);
    },
    rulesets(owner, name) {
      return state
        .repo(owner, name)
        .rulesets.map(r => ({ ...r.body, id: r.id }));
    },
    environments(owner, name) {
      return [...state.repo(owner, name).environments.values()];
    },
    branchProtection(owner, name, branch) {
      return state.repo(owner, name).protections.get(branch);
    },
    topics(owner, name) {
      return state.repo(owner, name).topics;
    },
    async close() {
      await hooks.settled();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}
