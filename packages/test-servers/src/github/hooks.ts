import crypto from 'node:crypto';
import { Git, ZERO_SHA } from './git';
import {
  ApiError,
  notFound,
  paged,
  RepoContext,
  RequestContext,
  validationFailed,
} from './http';
import { userJson } from './json';
import { repoGit, route, Route, ServerEnv } from './routes';
import { actorLogin, Identity, nodeId, WorkflowRun } from './state';

/** A repository webhook (`POST /repos/{owner}/{repo}/hooks`), as GitHub stores it. */
export interface StoredHook {
  id: number;
  owner: string;
  repo: string;
  active: boolean;
  /** Event names, or `*` for every event. GitHub's default is `['push']`. */
  events: string[];
  config: {
    url: string;
    content_type: 'json' | 'form';
    insecure_ssl: '0' | '1';
    secret?: string;
  };
  createdAt: string;
  updatedAt: string;
  lastResponse: { code: number | null; status: string; message: string | null };
}

/** One delivery, as a webhook's "Recent Deliveries" (`GET .../hooks/{id}/deliveries`) lists it. */
export interface StoredDelivery {
  id: number;
  /** `X-GitHub-Delivery`: the same on a redelivery. */
  guid: string;
  hookId: number;
  owner: string;
  repo: string;
  event: string;
  action: string | null;
  redelivery: boolean;
  deliveredAt: string;
  /** Seconds, as GitHub reports it. */
  duration: number;
  /** `OK`, `Invalid HTTP Response: <code>`, `failed to connect to host`, `timed out`. */
  status: string;
  /** The receiver's status code; 0 when nothing answered. */
  statusCode: number;
  headers: Record<string, string>;
  /** The body as sent (JSON, or `payload=` form-encoded). */
  body: string;
  payload: Record<string, unknown>;
  responseBody: string | null;
}

/** GitHub gives up on a receiver after ten seconds. */
const DELIVERY_TIMEOUT_MS = 10_000;

const time = (date = new Date()) =>
  date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Delivers the webhooks of the server's repositories as GitHub does: asynchronously after the
 * event, once per subscribed active hook, never retried (a failed delivery stays failed until
 * someone asks for a redelivery), in order per hook.
 */
export class WebhookDeliverer {
  private readonly queues = new Map<number, Promise<unknown>>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Payloads are prepared one after another, so that deliveries keep the events' order. */
  private preparing: Promise<unknown> = Promise.resolve();

  private serverEnv?: ServerEnv;

  /** The server this delivers for (set once its environment exists). */
  bind(env: ServerEnv) {
    this.serverEnv = env;
  }

  private env(): ServerEnv {
    if (!this.serverEnv) throw new Error('webhooks are not bound to a server');
    return this.serverEnv;
  }

  /** Resolves once every delivery queued so far has been answered (or has failed). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) {
      await Promise.all([...this.pending]);
    }
  }

  /**
   * Queues `event` for every hook of the repository subscribed to it, with `repository` and
   * `sender` added as GitHub adds them.
   */
  emit(
    owner: string,
    repo: string,
    event: string,
    payload: Record<string, unknown>,
    sender: Identity | string,
    only?: StoredHook,
  ): void {
    const env = this.env();
    const hooks = only
      ? [only]
      : env.state.hooks.filter(
          h =>
            h.owner.toLowerCase() === owner.toLowerCase() &&
            h.repo.toLowerCase() === repo.toLowerCase() &&
            h.active &&
            (h.events.includes('*') || h.events.includes(event)),
        );
    if (hooks.length === 0) return;
    const work = this.preparing.then(async () => {
      const git = await repoGit(env, owner, repo);
      const repository = await webhookRepository(env, git, owner, repo);
      const body = {
        ...payload,
        repository,
        sender: senderJson(env, sender),
      };
      for (const hook of hooks) {
        this.enqueue(hook, {
          guid: crypto.randomUUID(),
          event,
          payload: body,
          redelivery: false,
        });
      }
    });
    this.preparing = work.catch(() => undefined);
    this.track(this.preparing);
  }

  /** Sends a stored delivery again, with its guid (`POST .../deliveries/{id}/attempts`). */
  redeliver(hook: StoredHook, delivery: StoredDelivery): void {
    this.enqueue(hook, {
      guid: delivery.guid,
      event: delivery.event,
      payload: delivery.payload,
      redelivery: true,
    });
  }

  /**
   * Counts as a pending delivery until released: for a change whose webhooks are prepared only
   * after its answer went out (a git push), so that `settled()` waits for them too.
   */
  hold(): () => void {
    let release!: () => void;
    this.track(new Promise<void>(resolve => (release = resolve)));
    return release;
  }

  private track(promise: Promise<unknown>) {
    this.pending.add(promise);
    promise.finally(() => this.pending.delete(promise));
  }

  private enqueue(
    hook: StoredHook,
    message: {
      guid: string;
      event: string;
      payload: Record<string, unknown>;
      redelivery: boolean;
    },
  ) {
    const previous = this.queues.get(hook.id) ?? Promise.resolve();
    const next = previous
      .then(() => this.send(hook, message))
      .catch(() => undefined);
    this.queues.set(hook.id, next);
    this.track(next);
  }

  private async send(
    hook: StoredHook,
    message: {
      guid: string;
      event: string;
      payload: Record<string, unknown>;
      redelivery: boolean;
    },
  ): Promise<void> {
    const env = this.env();
    const json = JSON.stringify(message.payload);
    const form = hook.config.content_type === 'form';
    const body = form ? `payload=${encodeURIComponent(json)}` : json;
    const record = env.state.repo(hook.owner, hook.repo);
    const headers: Record<string, string> = {
      accept: '*/*',
      'content-type': form
        ? 'application/x-www-form-urlencoded'
        : 'application/json',
      'user-agent': 'GitHub-Hookshot/test-servers',
      'x-github-delivery': message.guid,
      'x-github-event': message.event,
      'x-github-hook-id': String(hook.id),
      'x-github-hook-installation-target-id': String(record.id),
      'x-github-hook-installation-target-type': 'repository',
    };
    if (hook.config.secret) {
      const sign = (algorithm: string) =>
        crypto
          .createHmac(algorithm, hook.config.secret!)
          .update(body)
          .digest('hex');
      headers['x-hub-signature'] = `sha1=${sign('sha1')}`;
      headers['x-hub-signature-256'] = `sha256=${sign('sha256')}`;
    }
    const started = performance.now();
    let statusCode = 0;
    let status: string;
    let responseBody: string | null = null;
    try {
      const res = await fetch(hook.config.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      responseBody = await res.text();
      statusCode = res.status;
      status =
        res.status >= 200 && res.status < 300
          ? 'OK'
          : `Invalid HTTP Response: ${res.status}`;
    } catch (error) {
      status =
        (error as Error).name === 'TimeoutError'
          ? 'timed out'
          : 'failed to connect to host';
    }
    const delivery: StoredDelivery = {
      id: env.state.id(),
      guid: message.guid,
      hookId: hook.id,
      owner: hook.owner,
      repo: hook.repo,
      event: message.event,
      action:
        typeof message.payload.action === 'string'
          ? message.payload.action
          : null,
      redelivery: message.redelivery,
      deliveredAt: time(),
      duration: (performance.now() - started) / 1000,
      status,
      statusCode,
      headers,
      body,
      payload: message.payload,
      responseBody,
    };
    env.state.deliveries.push(delivery);
    hook.lastResponse = {
      code: statusCode || null,
      status: statusCode >= 200 && statusCode < 300 ? 'active' : 'failed',
      message: status,
    };
  }

  /**
   * The webhooks of ref changes that landed (a push, a ref created, moved or deleted through
   * the API, a merge, a file written): `create` or `delete` for a new or removed branch or
   * tag, then `push` for each.
   */
  async refsChanged(
    owner: string,
    repo: string,
    actor: Identity,
    changes: Array<{ ref: string; before?: string; after?: string }>,
  ): Promise<void> {
    // A webhook that cannot be prepared never fails the change itself.
    const work = this.refEvents(owner, repo, actor, changes).catch(
      () => undefined,
    );
    this.track(work);
    await work;
  }

  private async refEvents(
    owner: string,
    repo: string,
    actor: Identity,
    changes: Array<{ ref: string; before?: string; after?: string }>,
  ): Promise<void> {
    const env = this.env();
    if (
      !env.state.hooks.some(
        h =>
          h.owner.toLowerCase() === owner.toLowerCase() &&
          h.repo.toLowerCase() === repo.toLowerCase(),
      )
    ) {
      return;
    }
    const git = await repoGit(env, owner, repo);
    const defaultBranch = await git.defaultBranch();
    const html = `${env.htmlBase}/${owner}/${repo}`;
    const record = env.state.repo(owner, repo);
    for (const change of changes) {
      const match = /^refs\/(heads|tags)\/(.+)$/.exec(change.ref);
      if (!match) continue;
      const refType = match[1] === 'heads' ? 'branch' : 'tag';
      const short = match[2];
      if (!change.before) {
        this.emit(
          owner,
          repo,
          'create',
          {
            ref: short,
            ref_type: refType,
            master_branch: defaultBranch,
            description: record.description,
            pusher_type: 'user',
          },
          actor,
        );
      }
      if (!change.after) {
        this.emit(
          owner,
          repo,
          'delete',
          { ref: short, ref_type: refType, pusher_type: 'user' },
          actor,
        );
      }
      const before = change.before ?? ZERO_SHA;
      const after = change.after ?? ZERO_SHA;
      const commits = await pushedCommits(git, html, change);
      const head = change.after
        ? await commitJson(git, html, change.after, true)
        : null;
      this.emit(
        owner,
        repo,
        'push',
        {
          ref: change.ref,
          before,
          after,
          created: !change.before,
          deleted: !change.after,
          forced:
            !!change.before &&
            !!change.after &&
            (
              await git.run([
                'merge-base',
                '--is-ancestor',
                change.before,
                change.after,
              ])
            ).code !== 0,
          base_ref: null,
          compare: change.before
            ? `${html}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`
            : `${html}/compare/${short}`,
          commits,
          head_commit: head,
          pusher: {
            name: actorLogin(actor),
            email: `${actorLogin(actor)}@users.noreply.github.com`,
          },
        },
        actor,
      );
    }
  }

  /** `workflow_run` with `action` (requested, in_progress, completed) for a run. */
  workflowRun(
    current: WorkflowRun,
    action: 'requested' | 'in_progress' | 'completed',
  ): void {
    // The run as it is now: it moves on while the payload is prepared.
    const run = { ...current };
    const env = this.env();
    const api = `${env.htmlBase}/repos/${run.owner}/${run.repo}`;
    const html = `${env.htmlBase}/${run.owner}/${run.repo}`;
    const actor = run.actor ?? env.login;
    const work = this.preparing.then(async () => {
      const git = await repoGit(env, run.owner, run.repo);
      const commit = await git.readCommit(run.headSha);
      const repoRef = repositoryRef(env, run.owner, run.repo);
      const path = `.github/workflows/${run.workflow}`;
      const workflowRunJson = {
        id: run.id,
        name: run.name ?? run.workflow.replace(/\.ya?ml$/, ''),
        node_id: nodeId('WFR', run.id),
        check_suite_id: run.id + 1,
        check_suite_node_id: nodeId('CS', run.id + 1),
        head_branch: run.ref,
        head_sha: run.headSha,
        path,
        display_title: run.displayTitle,
        run_number: run.runNumber,
        run_attempt: 1,
        event: run.event,
        status: run.status,
        conclusion: run.status === 'completed' ? run.conclusion : null,
        workflow_id: run.workflowId,
        url: `${api}/actions/runs/${run.id}`,
        html_url: run.htmlUrl,
        jobs_url: `${api}/actions/runs/${run.id}/jobs`,
        logs_url: `${api}/actions/runs/${run.id}/logs`,
        check_suite_url: `${api}/check-suites/${run.id + 1}`,
        artifacts_url: `${api}/actions/runs/${run.id}/artifacts`,
        cancel_url: `${api}/actions/runs/${run.id}/cancel`,
        rerun_url: `${api}/actions/runs/${run.id}/rerun`,
        previous_attempt_url: null,
        workflow_url: `${api}/actions/workflows/${run.workflowId}`,
        created_at: run.createdAt,
        updated_at: run.updatedAt,
        run_started_at: run.createdAt,
        actor: userJson(apiCtx(env), env, actor, 'User'),
        triggering_actor: userJson(apiCtx(env), env, actor, 'User'),
        pull_requests: [],
        referenced_workflows: [],
        head_commit: commit
          ? {
              id: commit.sha,
              tree_id: commit.tree,
              message: commit.message,
              timestamp: commit.committer.date,
              author: { name: commit.author.name, email: commit.author.email },
              committer: {
                name: commit.committer.name,
                email: commit.committer.email,
              },
            }
          : null,
        repository: repoRef,
        head_repository: repoRef,
      };
      this.emit(
        run.owner,
        run.repo,
        'workflow_run',
        {
          action,
          workflow: {
            id: run.workflowId,
            node_id: nodeId('W', run.workflowId),
            name: run.name ?? run.workflow,
            path,
            state: 'active',
            created_at: run.createdAt,
            updated_at: run.createdAt,
            url: `${api}/actions/workflows/${run.workflowId}`,
            html_url: `${html}/blob/main/${path}`,
            badge_url: `${html}/workflows/${encodeURIComponent(
              run.name ?? run.workflow,
            )}/badge.svg`,
          },
          workflow_run: workflowRunJson,
        },
        actor,
      );
    });
    this.preparing = work.catch(() => undefined);
    this.track(this.preparing);
  }
}

function apiCtx(env: ServerEnv): RequestContext {
  return { apiBase: env.htmlBase } as RequestContext;
}

function senderJson(env: ServerEnv, sender: Identity | string) {
  if (typeof sender === 'string') {
    return userJson(apiCtx(env), env, sender, 'User');
  }
  const login = actorLogin(sender);
  return {
    ...userJson(apiCtx(env), env, login, 'User'),
    type: sender.appId !== undefined ? 'Bot' : 'User',
  };
}

/** The short repository object a workflow run names (`repository`, `head_repository`). */
function repositoryRef(env: ServerEnv, owner: string, name: string) {
  const record = env.state.repo(owner, name);
  const api = `${env.htmlBase}/repos/${owner}/${name}`;
  const ownerType = owner === env.login ? 'User' : 'Organization';
  return {
    ...repositoryUrls(api),
    id: record.id,
    node_id: nodeId('R', record.id),
    name,
    full_name: `${owner}/${name}`,
    private: record.private,
    owner: userJson(apiCtx(env), env, owner, ownerType),
    html_url: `${env.htmlBase}/${owner}/${name}`,
    description: record.description,
    fork: false,
    url: api,
  };
}

function repositoryUrls(api: string) {
  return {
    forks_url: `${api}/forks`,
    keys_url: `${api}/keys{/key_id}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    teams_url: `${api}/teams`,
    hooks_url: `${api}/hooks`,
    issue_events_url: `${api}/issues/events{/number}`,
    events_url: `${api}/events`,
    assignees_url: `${api}/assignees{/user}`,
    branches_url: `${api}/branches{/branch}`,
    tags_url: `${api}/tags`,
    blobs_url: `${api}/git/blobs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    trees_url: `${api}/git/trees{/sha}`,
    statuses_url: `${api}/statuses/{sha}`,
    languages_url: `${api}/languages`,
    stargazers_url: `${api}/stargazers`,
    contributors_url: `${api}/contributors`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    commits_url: `${api}/commits{/sha}`,
    git_commits_url: `${api}/git/commits{/sha}`,
    comments_url: `${api}/comments{/number}`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    contents_url: `${api}/contents/{+path}`,
    compare_url: `${api}/compare/{base}...{head}`,
    merges_url: `${api}/merges`,
    archive_url: `${api}/{archive_format}{/ref}`,
    downloads_url: `${api}/downloads`,
    issues_url: `${api}/issues{/number}`,
    pulls_url: `${api}/pulls{/number}`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    labels_url: `${api}/labels{/name}`,
    releases_url: `${api}/releases{/id}`,
    deployments_url: `${api}/deployments`,
  };
}

/** The repository as webhooks carry it (every `*_url`, counts, settings). */
async function webhookRepository(
  env: ServerEnv,
  git: Git,
  owner: string,
  name: string,
) {
  const record = env.state.repo(owner, name);
  const api = `${env.htmlBase}/repos/${owner}/${name}`;
  const ownerType = owner === env.login ? 'User' : 'Organization';
  const open = record.pulls.filter(p => p.state === 'open').length;
  return {
    ...repositoryRef(env, owner, name),
    owner: {
      ...userJson(apiCtx(env), env, owner, ownerType),
      name: owner,
      email: null,
    },
    created_at: record.createdAt.replace(/\.\d{3}Z$/, 'Z'),
    updated_at: record.createdAt.replace(/\.\d{3}Z$/, 'Z'),
    pushed_at: time(),
    git_url: env.gitUrl(owner, name),
    ssh_url: `git@${new URL(env.htmlBase).host}:${owner}/${name}.git`,
    clone_url: env.gitUrl(owner, name),
    svn_url: `${env.htmlBase}/${owner}/${name}`,
    homepage: null,
    size: 0,
    stargazers_count: 0,
    watchers_count: 0,
    language: null,
    has_issues: true,
    has_projects: false,
    has_downloads: false,
    has_wiki: false,
    has_pages: false,
    has_discussions: false,
    forks_count: 0,
    mirror_url: null,
    archived: false,
    disabled: false,
    open_issues_count: open,
    license: null,
    allow_forking: true,
    is_template: false,
    web_commit_signoff_required: false,
    topics: record.topics,
    visibility: record.private ? 'private' : 'public',
    forks: 0,
    open_issues: open,
    watchers: 0,
    default_branch: await git.defaultBranch(),
    url: api,
  };
}

/** A commit as push payloads list it: files added, removed and modified against its first parent. */
async function commitJson(
  git: Git,
  html: string,
  sha: string,
  distinct: boolean,
) {
  const commit = await git.readCommit(
    (await git.revParse(`${sha}^{commit}`)) ?? sha,
  );
  if (!commit) return null;
  const changes = await git.text([
    'diff-tree',
    '--no-commit-id',
    '--name-status',
    '-r',
    '--root',
    commit.sha,
  ]);
  const files = {
    added: [] as string[],
    removed: [] as string[],
    modified: [] as string[],
  };
  for (const line of changes.split('\n').filter(Boolean)) {
    const [kind, file] = line.split('\t');
    if (kind === 'A') files.added.push(file);
    else if (kind === 'D') files.removed.push(file);
    else files.modified.push(file);
  }
  return {
    id: commit.sha,
    tree_id: commit.tree,
    distinct,
    message: commit.message,
    timestamp: commit.committer.date,
    url: `${html}/commit/${commit.sha}`,
    author: { name: commit.author.name, email: commit.author.email },
    committer: { name: commit.committer.name, email: commit.committer.email },
    ...files,
  };
}

/**
 * The commits a push brought (newest last, at most 20 as GitHub lists): for a moved ref those
 * between before and after, for a new branch those no other branch had; none for a tag or a
 * deletion.
 */
async function pushedCommits(
  git: Git,
  html: string,
  change: { ref: string; before?: string; after?: string },
) {
  if (!change.after || change.ref.startsWith('refs/tags/')) return [];
  let range: string[];
  if (change.before) {
    range = [`${change.before}..${change.after}`];
  } else {
    const others = (
      await git.text(['for-each-ref', '--format=%(refname)', 'refs/heads/'])
    )
      .split('\n')
      .filter(r => r && r !== change.ref);
    range = [change.after, ...others.map(r => `^${r}`)];
  }
  const shas = (
    await git.text(['rev-list', '--reverse', '--max-count=20', ...range])
  )
    .split('\n')
    .filter(Boolean);
  const commits = [];
  for (const sha of shas) {
    const json = await commitJson(git, html, sha, true);
    if (json) commits.push(json);
  }
  return commits;
}

// The REST side: `/repos/{owner}/{repo}/hooks`.

function hookJson(ctx: RequestContext, hook: StoredHook) {
  const url = `${ctx.apiBase}/repos/${hook.owner}/${hook.repo}/hooks/${hook.id}`;
  return {
    type: 'Repository',
    id: hook.id,
    name: 'web',
    active: hook.active,
    events: hook.events,
    config: configJson(hook),
    updated_at: hook.updatedAt,
    created_at: hook.createdAt,
    url,
    test_url: `${url}/test`,
    ping_url: `${url}/pings`,
    deliveries_url: `${url}/deliveries`,
    last_response: hook.lastResponse,
  };
}

function configJson(hook: StoredHook) {
  return {
    content_type: hook.config.content_type,
    insecure_ssl: hook.config.insecure_ssl,
    url: hook.config.url,
    // GitHub never shows a secret back.
    ...(hook.config.secret ? { secret: '********' } : {}),
  };
}

/** Only repository admins see or change hooks; others get 404, as on GitHub. */
function hooksOf(ctx: RepoContext, env: ServerEnv): StoredHook[] {
  if (
    ctx.actor.appId === undefined &&
    (ctx.actor.role ?? 'admin') !== 'admin'
  ) {
    throw notFound();
  }
  return env.state.hooks.filter(
    h =>
      h.owner.toLowerCase() === ctx.owner.toLowerCase() &&
      h.repo.toLowerCase() === ctx.name.toLowerCase(),
  );
}

function findHook(ctx: RepoContext, env: ServerEnv): StoredHook {
  const id = Number(ctx.params[2]);
  const hook = hooksOf(ctx, env).find(h => h.id === id);
  if (!hook) throw notFound();
  return hook;
}

/** The hook and one of its deliveries named by the path (`.../hooks/{id}/deliveries/{id}`). */
function findDelivery(ctx: RepoContext, env: ServerEnv) {
  const hook = findHook(ctx, env);
  const delivery = env.state.deliveries.find(
    d => d.hookId === hook.id && d.id === Number(ctx.params[3]),
  );
  if (!delivery) throw notFound();
  return { hook, delivery };
}

/** The config fields of a create or update body, checked as GitHub checks them. */
function readConfig(
  value: unknown,
  current?: StoredHook['config'],
): StoredHook['config'] {
  if (value === undefined && current) return current;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw validationFailed('Hook', [{ field: 'config', code: 'invalid' }]);
  }
  const config = value as Record<string, unknown>;
  const url = config.url ?? current?.url;
  if (typeof url !== 'string' || url.length === 0) {
    throw new ApiError(422, 'Validation Failed', [
      {
        resource: 'Hook',
        code: 'custom',
        message: 'Config must contain URL for webhooks',
      },
    ]);
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    throw new ApiError(422, 'Validation Failed', [
      { resource: 'Hook', code: 'custom', message: 'url is not a valid URL' },
    ]);
  }
  const contentType = config.content_type ?? current?.content_type ?? 'form';
  if (contentType !== 'json' && contentType !== 'form') {
    throw validationFailed('Hook', [{ field: 'content_type' }]);
  }
  const insecure = String(config.insecure_ssl ?? current?.insecure_ssl ?? '0');
  if (insecure !== '0' && insecure !== '1') {
    throw validationFailed('Hook', [{ field: 'insecure_ssl' }]);
  }
  const secret = config.secret === undefined ? current?.secret : config.secret;
  if (secret !== undefined && secret !== null && typeof secret !== 'string') {
    throw validationFailed('Hook', [{ field: 'secret' }]);
  }
  return {
    url,
    content_type: contentType,
    insecure_ssl: insecure,
    ...(secret ? { secret } : {}),
  };
}

function readEvents(value: unknown, field: string): string[] {
  if (
    !Array.isArray(value) ||
    value.some(e => typeof e !== 'string' || !/^(\*|[a-z_]+)$/.test(e))
  ) {
    throw validationFailed('Hook', [{ field, code: 'invalid' }]);
  }
  return [...new Set(value as string[])];
}

function readActive(value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw validationFailed('Hook', [{ field: 'active', code: 'invalid' }]);
  }
  return value;
}

function ping(env: ServerEnv, ctx: RequestContext, hook: StoredHook) {
  env.hooks.emit(
    hook.owner,
    hook.repo,
    'ping',
    {
      zen: 'Design for failure.',
      hook_id: hook.id,
      hook: hookJson(ctx, hook),
    },
    ctx.actor,
    hook,
  );
}

function deliveryJson(delivery: StoredDelivery, repositoryId: number) {
  return {
    id: delivery.id,
    guid: delivery.guid,
    delivered_at: delivery.deliveredAt,
    redelivery: delivery.redelivery,
    duration: delivery.duration,
    status: delivery.status,
    status_code: delivery.statusCode,
    event: delivery.event,
    action: delivery.action,
    installation_id: null,
    repository_id: repositoryId,
    throttled_at: null,
  };
}

export const hookRoutes: Route[] = [
  route('POST', '/repos/:owner/:repo/hooks', async (ctx: RepoContext, env) => {
    const existing = hooksOf(ctx, env);
    const name = ctx.body.name ?? 'web';
    if (name !== 'web') {
      throw validationFailed('Hook', [{ field: 'name', code: 'invalid' }]);
    }
    const config = readConfig(ctx.body.config);
    const events =
      ctx.body.events === undefined
        ? ['push']
        : readEvents(ctx.body.events, 'events');
    const active = readActive(ctx.body.active, true);
    if (existing.some(h => h.config.url === config.url)) {
      throw new ApiError(422, 'Validation Failed', [
        {
          resource: 'Hook',
          code: 'custom',
          message: 'Hook already exists on this repository',
        },
      ]);
    }
    const now = time();
    const hook: StoredHook = {
      id: env.state.id(),
      owner: ctx.owner,
      repo: ctx.name,
      active,
      events,
      config,
      createdAt: now,
      updatedAt: now,
      lastResponse: { code: null, status: 'unused', message: null },
    };
    env.state.hooks.push(hook);
    // GitHub pings a new webhook right away.
    if (active) ping(env, ctx, hook);
    return { status: 201, body: hookJson(ctx, hook) };
  }),
  route('GET', '/repos/:owner/:repo/hooks', async (ctx: RepoContext, env) => {
    const page = paged(ctx, hooksOf(ctx, env));
    return {
      status: 200,
      body: page.items.map(h => hookJson(ctx, h)),
      headers: page.headers,
    };
  }),
  route(
    'GET',
    '/repos/:owner/:repo/hooks/:id',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: hookJson(ctx, findHook(ctx, env)),
    }),
  ),
  route(
    'PATCH',
    '/repos/:owner/:repo/hooks/:id',
    async (ctx: RepoContext, env) => {
      const hook = findHook(ctx, env);
      const config = readConfig(ctx.body.config, hook.config);
      let events =
        ctx.body.events === undefined
          ? hook.events
          : readEvents(ctx.body.events, 'events');
      if (ctx.body.add_events !== undefined) {
        events = [
          ...new Set([
            ...events,
            ...readEvents(ctx.body.add_events, 'add_events'),
          ]),
        ];
      }
      if (ctx.body.remove_events !== undefined) {
        const removed = readEvents(ctx.body.remove_events, 'remove_events');
        events = events.filter(e => !removed.includes(e));
      }
      const active = readActive(ctx.body.active, hook.active);
      Object.assign(hook, { config, events, active, updatedAt: time() });
      return { status: 200, body: hookJson(ctx, hook) };
    },
  ),
  route(
    'DELETE',
    '/repos/:owner/:repo/hooks/:id',
    async (ctx: RepoContext, env) => {
      const hook = findHook(ctx, env);
      env.state.hooks.splice(env.state.hooks.indexOf(hook), 1);
      return { status: 204 };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/hooks/:id/config',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: configJson(findHook(ctx, env)),
    }),
  ),
  route(
    'PATCH',
    '/repos/:owner/:repo/hooks/:id/config',
    async (ctx: RepoContext, env) => {
      const hook = findHook(ctx, env);
      hook.config = readConfig(ctx.body, hook.config);
      hook.updatedAt = time();
      return { status: 200, body: configJson(hook) };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/hooks/:id/pings',
    async (ctx: RepoContext, env) => {
      ping(env, ctx, findHook(ctx, env));
      return { status: 204 };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/hooks/:id/deliveries',
    async (ctx: RepoContext, env) => {
      const hook = findHook(ctx, env);
      const page = paged(
        ctx,
        env.state.deliveries.filter(d => d.hookId === hook.id).reverse(),
      );
      const repositoryId = env.state.repo(ctx.owner, ctx.name).id;
      return {
        status: 200,
        body: page.items.map(d => deliveryJson(d, repositoryId)),
        headers: page.headers,
      };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/hooks/:id/deliveries/:delivery',
    async (ctx: RepoContext, env) => {
      const { hook, delivery } = findDelivery(ctx, env);
      return {
        status: 200,
        body: {
          ...deliveryJson(delivery, env.state.repo(ctx.owner, ctx.name).id),
          url: hook.config.url,
          request: { headers: delivery.headers, payload: delivery.payload },
          response: { headers: {}, payload: delivery.responseBody },
        },
      };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/hooks/:id/deliveries/:delivery/attempts',
    async (ctx: RepoContext, env) => {
      const { hook, delivery } = findDelivery(ctx, env);
      env.hooks.redeliver(hook, delivery);
      return { status: 202, body: {} };
    },
  ),
];
