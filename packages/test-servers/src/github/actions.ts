import { deploymentRefusal, jobEnvironments } from './environments';
import { resolveCommitish } from './git';
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
import { route, Route, ServerEnv } from './routes';
import { WorkflowRun } from './state';

/** Stable numeric ids for workflow files, as GitHub gives each workflow one. */
export function workflowId(owner: string, name: string, file: string): number {
  let h = 7;
  for (const c of `${owner}/${name}/${file}`)
    h = (h * 31 + c.charCodeAt(0)) % 1_000_000_007;
  return h;
}

async function findWorkflow(
  ctx: RepoContext,
  env: ServerEnv,
  idOrFile: string,
  ref: string,
): Promise<{ file: string; definition: string | undefined }> {
  const git = ctx.git;
  const commit = await resolveCommitish(git, ref);
  if (!commit)
    throw validationFailed('Workflow', [
      { field: 'ref', message: `No ref found for: ${ref}` },
    ]);
  const listing = (
    await git.run([
      'ls-tree',
      '--name-only',
      '-z',
      commit,
      '--',
      '.github/workflows/',
    ])
  ).stdout
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .map(p => p.slice('.github/workflows/'.length));
  const file = /^\d+$/.test(idOrFile)
    ? listing.find(f => workflowId(ctx.owner, ctx.name, f) === Number(idOrFile))
    : listing.find(f => f === idOrFile);
  if (!file) {
    if (env.acceptAnyWorkflow && !/^\d+$/.test(idOrFile)) {
      return { file: idOrFile, definition: undefined };
    }
    throw notFound();
  }
  const definition = (
    await git.run(['cat-file', 'blob', `${commit}:.github/workflows/${file}`])
  ).stdout.toString('utf8');
  return { file, definition };
}

/**
 * The title GitHub gives a dispatched run: the workflow's `run-name` with `inputs.*` expressions
 * evaluated (the only context this server knows), else the workflow's file name without extension.
 */
export function runTitle(
  file: string,
  definition: string | undefined,
  inputs: Record<string, string>,
): string {
  const runName = definition
    ? /^run-name:\s*(['"]?)(.*)\1\s*$/m.exec(definition)?.[2]
    : undefined;
  if (!runName) return file.replace(/\.ya?ml$/, '');
  return runName.replace(
    /\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g,
    (_, name: string) => inputs[name] ?? '',
  );
}

async function dispatch(ctx: RepoContext, env: ServerEnv) {
  const ref = requireString(ctx.body, 'ref', 'Workflow');
  const inputs = ctx.body.inputs ?? {};
  if (
    typeof inputs !== 'object' ||
    Array.isArray(inputs) ||
    Object.values(inputs).some(
      v =>
        typeof v !== 'string' &&
        typeof v !== 'boolean' &&
        typeof v !== 'number',
    )
  ) {
    throw validationFailed('Workflow', [{ field: 'inputs' }]);
  }
  const { file, definition } = await findWorkflow(ctx, env, ctx.params[2], ref);
  if (definition !== undefined && !/\bworkflow_dispatch\b/.test(definition)) {
    throw new ApiError(
      422,
      "Workflow does not have 'workflow_dispatch' trigger",
    );
  }
  const headSha = (await resolveCommitish(ctx.git, ref))!;
  // A short name is the branch when there is one (as resolveCommitish reads it), else the tag.
  let fullRef = ref;
  if (!ref.startsWith('refs/')) {
    fullRef = (await ctx.git.revParse(`refs/heads/${ref}^{commit}`))
      ? `refs/heads/${ref}`
      : `refs/tags/${ref}`;
  }
  const runInputs = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, String(v)]),
  );
  const refusal = jobEnvironments(definition, runInputs)
    .map(environment =>
      deploymentRefusal(env.state, ctx.owner, ctx.name, environment, fullRef),
    )
    .find(Boolean);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const id = env.state.id();
  const previous = env.state.runs.filter(
    r => r.owner === ctx.owner && r.repo === ctx.name && r.workflow === file,
  ).length;
  const run: WorkflowRun = {
    id,
    owner: ctx.owner,
    repo: ctx.name,
    workflow: file,
    workflowId: workflowId(ctx.owner, ctx.name, file),
    event: 'workflow_dispatch',
    ref: fullRef.replace(/^refs\/(heads|tags)\//, ''),
    refType: fullRef.startsWith('refs/tags/') ? 'tag' : 'branch',
    headSha,
    inputs: runInputs,
    displayTitle: '',
    status: 'queued',
    conclusion: null,
    ...(refusal ? { refusal } : {}),
    runNumber: previous + 1,
    createdAt: now,
    updatedAt: now,
    htmlUrl: `${env.htmlBase}/${ctx.owner}/${ctx.name}/actions/runs/${id}`,
  };
  run.displayTitle = runTitle(file, definition, run.inputs);
  env.state.runs.push(run);
  env.onDispatch(id);
  return { status: 204 };
}

function runJson(ctx: RequestContext, env: ServerEnv, run: WorkflowRun) {
  const api = repoApiUrl(ctx, run.owner, run.repo);
  return {
    id: run.id,
    name: run.workflow.replace(/\.ya?ml$/, ''),
    node_id: `WFR_${run.id}`,
    head_branch: run.ref,
    head_sha: run.headSha,
    path: `.github/workflows/${run.workflow}`,
    display_title: run.displayTitle,
    run_number: run.runNumber,
    run_attempt: 1,
    event: run.event,
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: run.workflowId,
    url: `${api}/actions/runs/${run.id}`,
    html_url: run.htmlUrl,
    jobs_url: `${api}/actions/runs/${run.id}/jobs`,
    logs_url: `${api}/actions/runs/${run.id}/logs`,
    workflow_url: `${api}/actions/workflows/${run.workflowId}`,
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    run_started_at: run.createdAt,
    actor: userJson(ctx, env, run.actor ?? env.login, 'User'),
    triggering_actor: userJson(ctx, env, run.actor ?? env.login, 'User'),
    pull_requests: [],
  };
}

/** GitHub's `created` filter: `>=date`, `>date`, `<=date`, `<date`, `a..b` or a date prefix. */
function createdMatches(filter: string, createdAt: string): boolean {
  const time = Date.parse(createdAt);
  const range = /^(.+)\.\.(.+)$/.exec(filter);
  if (range) {
    return (
      (range[1] === '*' || time >= Date.parse(range[1])) &&
      (range[2] === '*' || time <= Date.parse(range[2]))
    );
  }
  const op = /^(>=|<=|>|<)(.+)$/.exec(filter);
  if (op) {
    const bound = Date.parse(op[2]);
    if (Number.isNaN(bound)) return false;
    const compare: Record<string, boolean> = {
      '>=': time >= bound,
      '<=': time <= bound,
      '>': time > bound,
      '<': time < bound,
    };
    return compare[op[1]];
  }
  return createdAt.startsWith(filter);
}

function listRuns(ctx: RepoContext, env: ServerEnv, workflow?: number) {
  const q = ctx.query;
  const runs = env.state.runs
    .filter(
      r =>
        r.owner === ctx.owner &&
        r.repo === ctx.name &&
        (workflow === undefined || r.workflowId === workflow) &&
        (!q.get('event') || r.event === q.get('event')) &&
        (!q.get('branch') || r.ref === q.get('branch')) &&
        (!q.get('head_sha') || r.headSha === q.get('head_sha')) &&
        (!q.get('status') ||
          r.status === q.get('status') ||
          r.conclusion === q.get('status')) &&
        (!q.get('created') || createdMatches(q.get('created')!, r.createdAt)),
    )
    .reverse();
  const page = paged(ctx, runs);
  return {
    status: 200,
    body: {
      total_count: runs.length,
      workflow_runs: page.items.map(r => runJson(ctx, env, r)),
    },
    headers: page.headers,
  };
}

export const actionsRoutes: Route[] = [
  route(
    'POST',
    '/repos/:owner/:repo/actions/workflows/:workflow/dispatches',
    dispatch,
  ),
  route(
    'GET',
    '/repos/:owner/:repo/actions/runs',
    async (ctx: RepoContext, env) => listRuns(ctx, env),
  ),
  route(
    'GET',
    '/repos/:owner/:repo/actions/workflows/:workflow/runs',
    async (ctx: RepoContext, env) => {
      const id = ctx.params[2];
      const numeric = /^\d+$/.test(id)
        ? Number(id)
        : workflowId(ctx.owner, ctx.name, id);
      return listRuns(ctx, env, numeric);
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/actions/runs/:id',
    async (ctx: RepoContext, env) => {
      const run = env.state.runs.find(
        r =>
          r.owner === ctx.owner &&
          r.repo === ctx.name &&
          r.id === Number(ctx.params[2]),
      );
      if (!run) throw notFound();
      return { status: 200, body: runJson(ctx, env, run) };
    },
  ),
];
