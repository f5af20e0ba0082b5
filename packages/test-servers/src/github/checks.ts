import { resolveCommitish } from './git';
import {
  ApiError,
  notFound,
  paged,
  RepoContext,
  requireString,
  validationFailed,
} from './http';
import { repoApiUrl, userJson } from './json';
import { route, Route, ServerEnv } from './routes';
import { actorLogin, StoredCheckRun, StoredStatus } from './state';

/*
 * Check runs and commit statuses: what required status checks read. Only a GitHub App creates
 * check runs (GitHub answers a user token 403); statuses any writer may set.
 */

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const CONCLUSIONS = [
  'action_required',
  'cancelled',
  'failure',
  'neutral',
  'success',
  'skipped',
  'stale',
  'timed_out',
];

function checkRunJson(ctx: RepoContext, env: ServerEnv, run: StoredCheckRun) {
  const api = repoApiUrl(ctx, ctx.owner, ctx.name);
  return {
    id: run.id,
    node_id: `CR_${run.id}`,
    head_sha: run.headSha,
    external_id: run.externalId,
    url: `${api}/check-runs/${run.id}`,
    html_url: `${env.htmlBase}/${ctx.owner}/${ctx.name}/runs/${run.id}`,
    details_url: run.detailsUrl,
    status: run.status,
    conclusion: run.conclusion,
    started_at: run.startedAt,
    completed_at: run.completedAt,
    output: {
      title: null,
      summary: null,
      text: null,
      annotations_count: 0,
      annotations_url: `${api}/check-runs/${run.id}/annotations`,
      ...(run.output ?? {}),
    },
    name: run.name,
    check_suite: { id: run.id },
    app: {
      id: run.appId,
      slug: run.appSlug,
      name: run.appSlug,
      node_id: `A_${run.appId}`,
      owner: null,
    },
    pull_requests: [],
  };
}

function applyRunFields(run: StoredCheckRun, body: Record<string, any>) {
  if (body.status !== undefined) {
    if (!['queued', 'in_progress', 'completed'].includes(body.status)) {
      throw validationFailed('CheckRun', [{ field: 'status' }]);
    }
    run.status = body.status;
  }
  if (body.conclusion !== undefined && body.conclusion !== null) {
    if (!CONCLUSIONS.includes(body.conclusion)) {
      throw validationFailed('CheckRun', [{ field: 'conclusion' }]);
    }
    // Giving a conclusion completes the run, as on GitHub.
    run.conclusion = body.conclusion;
    run.status = 'completed';
  }
  if (run.status === 'completed' && !run.conclusion) {
    throw validationFailed('CheckRun', [
      { field: 'conclusion', code: 'missing_field' },
    ]);
  }
  if (run.status === 'completed') run.completedAt ??= now();
  if (typeof body.details_url === 'string') run.detailsUrl = body.details_url;
  if (typeof body.external_id === 'string') run.externalId = body.external_id;
  if (body.output && typeof body.output === 'object') run.output = body.output;
}

function findRun(ctx: RepoContext, env: ServerEnv): StoredCheckRun {
  const run = env.state.checkRuns.find(
    r =>
      r.id === Number(ctx.params[2]) &&
      r.owner.toLowerCase() === ctx.owner.toLowerCase() &&
      r.repo.toLowerCase() === ctx.name.toLowerCase(),
  );
  if (!run) throw notFound();
  return run;
}

function statusJson(ctx: RepoContext, env: ServerEnv, status: StoredStatus) {
  return {
    id: status.id,
    node_id: `SC_${status.id}`,
    url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/statuses/${status.sha}`,
    state: status.state,
    description: status.description,
    target_url: status.targetUrl,
    context: status.context,
    avatar_url: null,
    created_at: status.createdAt,
    updated_at: status.createdAt,
    creator: userJson(ctx, env, status.creator, 'User'),
  };
}

async function commitOf(ctx: RepoContext): Promise<string> {
  const sha = await resolveCommitish(ctx.git, ctx.params[2]);
  if (!sha)
    throw new ApiError(422, `No commit found for SHA: ${ctx.params[2]}`);
  return sha;
}

function statusesOf(env: ServerEnv, ctx: RepoContext, sha: string) {
  return env.state.statuses
    .filter(
      s =>
        s.sha === sha &&
        s.owner.toLowerCase() === ctx.owner.toLowerCase() &&
        s.repo.toLowerCase() === ctx.name.toLowerCase(),
    )
    .reverse();
}

export const checksRoutes: Route[] = [
  route(
    'POST',
    '/repos/:owner/:repo/check-runs',
    async (ctx: RepoContext, env) => {
      if (ctx.actor.appId === undefined) {
        throw new ApiError(403, 'You must authenticate via a GitHub App.');
      }
      const name = requireString(ctx.body, 'name', 'CheckRun');
      const headSha = requireString(ctx.body, 'head_sha', 'CheckRun');
      if ((await ctx.git.objectType(headSha)) !== 'commit') {
        throw validationFailed('CheckRun', [
          { field: 'head_sha', message: 'No commit found for SHA' },
        ]);
      }
      const run: StoredCheckRun = {
        id: env.state.id(),
        owner: ctx.owner,
        repo: ctx.name,
        name,
        headSha,
        status: 'queued',
        conclusion: null,
        appId: ctx.actor.appId,
        appSlug: ctx.actor.login,
        detailsUrl: null,
        externalId: null,
        output: null,
        startedAt:
          typeof ctx.body.started_at === 'string' ? ctx.body.started_at : now(),
        completedAt: null,
      };
      applyRunFields(run, ctx.body);
      env.state.checkRuns.push(run);
      return { status: 201, body: checkRunJson(ctx, env, run) };
    },
  ),
  route(
    'PATCH',
    '/repos/:owner/:repo/check-runs/:id',
    async (ctx: RepoContext, env) => {
      const run = findRun(ctx, env);
      if (ctx.actor.appId !== run.appId) {
        throw new ApiError(
          403,
          `Invalid app_id \`${ctx.actor.appId}\` - check run can only be modified by the GitHub App that created it.`,
        );
      }
      applyRunFields(run, ctx.body);
      return { status: 200, body: checkRunJson(ctx, env, run) };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/check-runs/:id',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: checkRunJson(ctx, env, findRun(ctx, env)),
    }),
  ),
  route(
    'GET',
    '/repos/:owner/:repo/commits/*/check-runs',
    async (ctx: RepoContext, env) => {
      const sha = await commitOf(ctx);
      const name = ctx.query.get('check_name');
      const runs = env.state.checkRuns
        .filter(
          r =>
            r.headSha === sha &&
            r.owner.toLowerCase() === ctx.owner.toLowerCase() &&
            r.repo.toLowerCase() === ctx.name.toLowerCase() &&
            (!name || r.name === name),
        )
        .reverse();
      const page = paged(ctx, runs);
      return {
        status: 200,
        body: {
          total_count: runs.length,
          check_runs: page.items.map(r => checkRunJson(ctx, env, r)),
        },
        headers: page.headers,
      };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/statuses/:sha',
    async (ctx: RepoContext, env) => {
      const sha = ctx.params[2];
      if ((await ctx.git.objectType(sha)) !== 'commit') {
        throw validationFailed('Status', [
          { field: 'sha', message: `No commit found for SHA: ${sha}` },
        ]);
      }
      const state = ctx.body.state;
      if (!['error', 'failure', 'pending', 'success'].includes(state)) {
        throw validationFailed('Status', [{ field: 'state' }]);
      }
      const status: StoredStatus = {
        id: env.state.id(),
        owner: ctx.owner,
        repo: ctx.name,
        sha,
        state,
        context:
          typeof ctx.body.context === 'string' ? ctx.body.context : 'default',
        description:
          typeof ctx.body.description === 'string'
            ? ctx.body.description
            : null,
        targetUrl:
          typeof ctx.body.target_url === 'string' ? ctx.body.target_url : null,
        creator: actorLogin(ctx.actor),
        createdAt: now(),
      };
      env.state.statuses.push(status);
      return { status: 201, body: statusJson(ctx, env, status) };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/commits/*/statuses',
    async (ctx: RepoContext, env) => {
      const page = paged(ctx, statusesOf(env, ctx, await commitOf(ctx)));
      return {
        status: 200,
        body: page.items.map(s => statusJson(ctx, env, s)),
        headers: page.headers,
      };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/commits/*/status',
    async (ctx: RepoContext, env) => {
      const sha = await commitOf(ctx);
      const latest = new Map<string, StoredStatus>();
      for (const s of statusesOf(env, ctx, sha)) {
        if (!latest.has(s.context)) latest.set(s.context, s);
      }
      const statuses = [...latest.values()];
      let state = 'success';
      if (statuses.some(s => s.state === 'error' || s.state === 'failure')) {
        state = 'failure';
      } else if (
        statuses.length === 0 ||
        statuses.some(s => s.state === 'pending')
      ) {
        state = 'pending';
      }
      return {
        status: 200,
        body: {
          state,
          sha,
          total_count: statuses.length,
          statuses: statuses.map(s => statusJson(ctx, env, s)),
          commit_url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/commits/${sha}`,
          url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/commits/${sha}/status`,
        },
      };
    },
  ),
];
