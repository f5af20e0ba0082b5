import type { Endpoints } from '@octokit/types';
import { Git } from './git';
import {
  ApiError,
  notFound,
  paged,
  RepoContext,
  RequestContext,
  requireString,
  validationFailed,
} from './http';
import { repoApiUrl, userJson } from './json';
import { repoGit, route, Route, ServerEnv } from './routes';
import { enforce } from './rules';
import { actorLogin, Identity, StoredPull } from './state';

type PullJson =
  Endpoints['GET /repos/{owner}/{repo}/pulls/{pull_number}']['response']['data'];

/** `branch` or `owner:branch` (a fork's head is not supported: the owner must be the repo's). */
function headBranch(owner: string, head: string): string | undefined {
  const [prefix, ...rest] = head.split(':');
  if (rest.length === 0) return head;
  return prefix.toLowerCase() === owner.toLowerCase()
    ? rest.join(':')
    : undefined;
}

/** Whether head merges cleanly into base, and the tree of that merge. */
async function mergeTree(
  git: Git,
  base: string,
  head: string,
): Promise<string | undefined> {
  const result = await git.run(['merge-tree', '--write-tree', base, head]);
  return result.code === 0
    ? result.stdout.toString('utf8').split('\n')[0].trim()
    : undefined;
}

async function pullJson(
  ctx: RequestContext,
  env: ServerEnv,
  owner: string,
  name: string,
  git: Git,
  pull: StoredPull,
): Promise<PullJson> {
  const api = repoApiUrl(ctx, owner, name);
  const html = `${env.htmlBase}/${owner}/${name}/pull/${pull.number}`;
  const [headSha, baseSha] = await Promise.all([
    git.revParse(`refs/heads/${pull.head}^{commit}`),
    git.revParse(`refs/heads/${pull.base}^{commit}`),
  ]);
  const mergeable =
    pull.state === 'open' && headSha && baseSha
      ? (await mergeTree(git, baseSha, headSha)) !== undefined
      : null;
  const user = userJson(ctx, env, pull.author ?? env.login, 'User');
  const side = (ref: string, sha: string | undefined) => ({
    label: `${owner}:${ref}`,
    ref,
    sha: sha ?? '',
    user,
    repo: null,
  });
  const json: Partial<PullJson> = {
    url: `${api}/pulls/${pull.number}`,
    id: pull.number,
    node_id: `PR_${owner}_${name}_${pull.number}`,
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: `${api}/issues/${pull.number}`,
    commits_url: `${api}/pulls/${pull.number}/commits`,
    statuses_url: `${api}/statuses/${headSha}`,
    number: pull.number,
    state: pull.state,
    locked: false,
    title: pull.title,
    body: pull.body,
    user,
    draft: pull.draft,
    created_at: pull.createdAt,
    updated_at: pull.updatedAt,
    closed_at: pull.closedAt,
    merged_at: pull.mergedAt,
    merge_commit_sha: pull.mergeCommitSha,
    merged: pull.merged,
    mergeable,
    mergeable_state: mergeable === false ? 'dirty' : 'clean',
    head: side(pull.head, headSha) as unknown as PullJson['head'],
    base: side(pull.base, baseSha) as unknown as PullJson['base'],
  };
  return json as PullJson;
}

/**
 * Merges an open pull request with a merge commit (or a squash) onto its base, moving the base
 * with a compare-and-swap. Shared by the API and by tests that merge "as a reviewer would".
 */
export async function mergePull(
  env: ServerEnv,
  owner: string,
  name: string,
  number: number,
  options: {
    method?: 'merge' | 'squash';
    title?: string;
    message?: string;
    expectedHeadSha?: string;
    merger?: { name: string; email: string };
    /** Who merges (default: the repositories' admin); the rules are judged for them. */
    actor?: Identity;
  } = {},
): Promise<{ sha: string }> {
  const git = await repoGit(env, owner, name);
  const pull = env.state.repo(owner, name).pulls.find(p => p.number === number);
  if (!pull) throw notFound();
  if (pull.state !== 'open') {
    throw new ApiError(405, 'Pull Request is not mergeable');
  }
  const [headSha, baseSha] = await Promise.all([
    git.revParse(`refs/heads/${pull.head}^{commit}`),
    git.revParse(`refs/heads/${pull.base}^{commit}`),
  ]);
  if (!headSha || !baseSha) {
    throw new ApiError(405, 'Pull Request is not mergeable');
  }
  if (options.expectedHeadSha && options.expectedHeadSha !== headSha) {
    throw new ApiError(
      409,
      'Head branch was modified. Review and try the merge again.',
    );
  }
  const tree = await mergeTree(git, baseSha, headSha);
  if (!tree) throw new ApiError(405, 'Pull Request is not mergeable');
  // The merge moves the base branch: its rules are judged for the merger, with the pull request's
  // required checks on the head commit and its approving reviews.
  await enforce(
    env,
    owner,
    name,
    git,
    options.actor ?? env.owner,
    {
      ref: `refs/heads/${pull.base}`,
      before: baseSha,
      after: baseSha,
      fastForward: true,
      pull,
      headSha,
    },
    'merge',
  );
  const now = new Date().toISOString();
  const person = {
    ...(options.merger ?? {
      name: env.login,
      email: `${env.login}@users.noreply`,
    }),
    date: now,
  };
  const method = options.method ?? 'merge';
  const title =
    options.title ??
    (method === 'merge'
      ? `Merge pull request #${number} from ${owner}/${pull.head}`
      : `${pull.title} (#${number})`);
  const message = `${title}\n\n${
    options.message ?? (method === 'merge' ? pull.title : '')
  }`.trimEnd();
  const sha = await git.commitTree({
    tree,
    parents: method === 'merge' ? [baseSha, headSha] : [baseSha],
    message,
    author: person,
    committer: person,
  });
  if (!(await git.compareAndSwap(`refs/heads/${pull.base}`, sha, baseSha))) {
    throw new ApiError(
      409,
      'Base branch was modified. Review and try the merge again.',
    );
  }
  await env.hooks.refsChanged(owner, name, options.actor ?? env.owner, [
    { ref: `refs/heads/${pull.base}`, before: baseSha, after: sha },
  ]);
  Object.assign(pull, {
    state: 'closed',
    merged: true,
    mergeCommitSha: sha,
    mergedAt: now,
    closedAt: now,
    updatedAt: now,
  });
  return { sha };
}

async function createPull(ctx: RepoContext, env: ServerEnv) {
  const title = requireString(ctx.body, 'title', 'PullRequest');
  const head = headBranch(
    ctx.owner,
    requireString(ctx.body, 'head', 'PullRequest'),
  );
  const base = requireString(ctx.body, 'base', 'PullRequest');
  const [headSha, baseSha] = await Promise.all([
    head ? ctx.git.revParse(`refs/heads/${head}^{commit}`) : undefined,
    ctx.git.revParse(`refs/heads/${base}^{commit}`),
  ]);
  if (!head || !headSha) {
    throw validationFailed('PullRequest', [{ field: 'head' }]);
  }
  if (!baseSha) throw validationFailed('PullRequest', [{ field: 'base' }]);
  const record = env.state.repo(ctx.owner, ctx.name);
  if (
    record.pulls.some(
      p => p.state === 'open' && p.head === head && p.base === base,
    )
  ) {
    throw new ApiError(422, 'Validation Failed', [
      {
        resource: 'PullRequest',
        code: 'custom',
        message: `A pull request already exists for ${ctx.owner}:${head}.`,
      },
    ]);
  }
  const ahead = await ctx.git.text([
    'rev-list',
    '--count',
    `${baseSha}..${headSha}`,
  ]);
  if (Number(ahead.trim()) === 0) {
    throw new ApiError(422, 'Validation Failed', [
      {
        resource: 'PullRequest',
        code: 'custom',
        message: `No commits between ${base} and ${head}`,
      },
    ]);
  }
  const now = new Date().toISOString();
  const pull: StoredPull = {
    number: record.pulls.length + 1,
    title,
    body: typeof ctx.body.body === 'string' ? ctx.body.body : null,
    head,
    base,
    state: 'open',
    draft: ctx.body.draft === true,
    merged: false,
    mergeCommitSha: null,
    createdAt: now,
    updatedAt: now,
    closedAt: null,
    mergedAt: null,
    author: actorLogin(ctx.actor),
    reviews: [],
  };
  record.pulls.push(pull);
  return {
    status: 201,
    body: await pullJson(ctx, env, ctx.owner, ctx.name, ctx.git, pull),
  };
}

async function listPulls(ctx: RepoContext, env: ServerEnv) {
  const state = ctx.query.get('state') ?? 'open';
  if (!['open', 'closed', 'all'].includes(state)) {
    throw validationFailed('PullRequest', [{ field: 'state' }]);
  }
  const headFilter = ctx.query.get('head');
  const head = headFilter ? headBranch(ctx.owner, headFilter) : undefined;
  const base = ctx.query.get('base');
  const pulls = env.state
    .repo(ctx.owner, ctx.name)
    .pulls.filter(
      p =>
        (state === 'all' || p.state === state) &&
        (!headFilter || p.head === head) &&
        (!base || p.base === base),
    )
    .reverse();
  const page = paged(ctx, pulls);
  return {
    status: 200,
    body: await Promise.all(
      page.items.map(p => pullJson(ctx, env, ctx.owner, ctx.name, ctx.git, p)),
    ),
    headers: page.headers,
  };
}

function reviewJson(
  ctx: RepoContext,
  env: ServerEnv,
  pull: StoredPull,
  review: StoredPull['reviews'][number],
) {
  const html = `${env.htmlBase}/${ctx.owner}/${ctx.name}/pull/${pull.number}`;
  return {
    id: review.id,
    node_id: `PRR_${review.id}`,
    user: userJson(ctx, env, review.user, 'User'),
    body: review.body,
    state: review.state,
    commit_id: review.commitId,
    submitted_at: review.submittedAt,
    author_association: 'MEMBER',
    html_url: `${html}#pullrequestreview-${review.id}`,
    pull_request_url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/pulls/${
      pull.number
    }`,
    _links: {
      html: { href: `${html}#pullrequestreview-${review.id}` },
      pull_request: {
        href: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/pulls/${pull.number}`,
      },
    },
  };
}

function findPull(ctx: RepoContext, env: ServerEnv): StoredPull {
  const number = Number(ctx.params[2]);
  const pull = env.state
    .repo(ctx.owner, ctx.name)
    .pulls.find(p => p.number === number);
  if (!pull) throw notFound();
  return pull;
}

export const pullRoutes: Route[] = [
  route('POST', '/repos/:owner/:repo/pulls', createPull),
  route('GET', '/repos/:owner/:repo/pulls', listPulls),
  route(
    'GET',
    '/repos/:owner/:repo/pulls/:number',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: await pullJson(
        ctx,
        env,
        ctx.owner,
        ctx.name,
        ctx.git,
        findPull(ctx, env),
      ),
    }),
  ),
  route(
    'PATCH',
    '/repos/:owner/:repo/pulls/:number',
    async (ctx: RepoContext, env) => {
      const pull = findPull(ctx, env);
      if (typeof ctx.body.title === 'string') pull.title = ctx.body.title;
      if (typeof ctx.body.body === 'string') pull.body = ctx.body.body;
      if (
        ctx.body.state === 'closed' &&
        pull.state === 'open' &&
        !pull.merged
      ) {
        pull.state = 'closed';
        pull.closedAt = new Date().toISOString();
      } else if (
        ctx.body.state === 'open' &&
        pull.state === 'closed' &&
        !pull.merged
      ) {
        pull.state = 'open';
        pull.closedAt = null;
      }
      pull.updatedAt = new Date().toISOString();
      return {
        status: 200,
        body: await pullJson(ctx, env, ctx.owner, ctx.name, ctx.git, pull),
      };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/pulls/:number/merge',
    async (ctx: RepoContext, env) => ({
      status: findPull(ctx, env).merged ? 204 : 404,
    }),
  ),
  route(
    'PUT',
    '/repos/:owner/:repo/pulls/:number/merge',
    async (ctx: RepoContext, env) => {
      const pull = findPull(ctx, env);
      const method = ctx.body.merge_method ?? 'merge';
      if (!['merge', 'squash'].includes(method)) {
        throw validationFailed('PullRequest', [
          {
            field: 'merge_method',
            message: 'this test server merges with merge or squash',
          },
        ]);
      }
      const { sha } = await mergePull(env, ctx.owner, ctx.name, pull.number, {
        method,
        title:
          typeof ctx.body.commit_title === 'string'
            ? ctx.body.commit_title
            : undefined,
        message:
          typeof ctx.body.commit_message === 'string'
            ? ctx.body.commit_message
            : undefined,
        expectedHeadSha:
          typeof ctx.body.sha === 'string' ? ctx.body.sha : undefined,
        actor: ctx.actor,
      });
      const body: Endpoints['PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge']['response']['data'] =
        { sha, merged: true, message: 'Pull Request successfully merged' };
      return { status: 200, body };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/pulls/:number/reviews',
    async (ctx: RepoContext, env) => {
      const pull = findPull(ctx, env);
      const event = ctx.body.event;
      const states = {
        APPROVE: 'APPROVED',
        REQUEST_CHANGES: 'CHANGES_REQUESTED',
        COMMENT: 'COMMENTED',
      } as const;
      if (!(event in states)) {
        throw validationFailed('PullRequestReview', [{ field: 'event' }]);
      }
      const user = actorLogin(ctx.actor);
      if (event !== 'COMMENT' && user === pull.author) {
        throw new ApiError(422, 'Unprocessable Entity', [
          {
            resource: 'PullRequestReview',
            code: 'custom',
            message: `Can not ${
              event === 'APPROVE' ? 'approve' : 'request changes on'
            } your own pull request`,
          },
        ]);
      }
      const head = await ctx.git.revParse(`refs/heads/${pull.head}^{commit}`);
      const review = {
        id: env.state.id(),
        user,
        state: states[event as keyof typeof states],
        commitId:
          typeof ctx.body.commit_id === 'string'
            ? ctx.body.commit_id
            : head ?? '',
        body: typeof ctx.body.body === 'string' ? ctx.body.body : '',
        submittedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      pull.reviews.push(review);
      return { status: 200, body: reviewJson(ctx, env, pull, review) };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/pulls/:number/reviews',
    async (ctx: RepoContext, env) => {
      const pull = findPull(ctx, env);
      const page = paged(ctx, pull.reviews);
      return {
        status: 200,
        body: page.items.map(r => reviewJson(ctx, env, pull, r)),
        headers: page.headers,
      };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/pulls/:number/requested_reviewers',
    async (ctx: RepoContext, env) => ({
      status: 201,
      body: await pullJson(
        ctx,
        env,
        ctx.owner,
        ctx.name,
        ctx.git,
        findPull(ctx, env),
      ),
    }),
  ),
];
