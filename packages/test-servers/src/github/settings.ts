import {
  ApiError,
  notFound,
  paged,
  RepoContext,
  requireString,
  validationFailed,
} from './http';
import { repoApiUrl } from './json';
import { route, Route, ServerEnv } from './routes';
import { StoredEnvironment, StoredRuleset } from './state';

/*
 * Repository settings the scaffolder writes: kept as the JSON the client sent (plus ids and
 * timestamps), validated enough that an obviously wrong request is a 422 as on GitHub.
 */

const RULE_TYPES = new Set([
  'creation',
  'update',
  'deletion',
  'required_linear_history',
  'required_deployments',
  'required_signatures',
  'pull_request',
  'required_status_checks',
  'non_fast_forward',
  'commit_message_pattern',
  'commit_author_email_pattern',
  'committer_email_pattern',
  'branch_name_pattern',
  'tag_name_pattern',
  'file_path_restriction',
  'max_file_path_length',
  'file_extension_restriction',
  'max_file_size',
  'workflows',
  'code_scanning',
  'merge_queue',
]);

function validateRuleset(body: Record<string, any>, partial: boolean) {
  const problems: Array<{ field: string; message?: string }> = [];
  if (!partial || body.name !== undefined) {
    if (typeof body.name !== 'string' || body.name.length === 0)
      problems.push({ field: 'name' });
  }
  if (!partial || body.enforcement !== undefined) {
    if (!['disabled', 'active', 'evaluate'].includes(body.enforcement)) {
      problems.push({ field: 'enforcement' });
    }
  }
  if (
    body.target !== undefined &&
    !['branch', 'tag', 'push'].includes(body.target)
  ) {
    problems.push({ field: 'target' });
  }
  if (body.rules !== undefined) {
    if (
      !Array.isArray(body.rules) ||
      body.rules.some(
        (r: any) => typeof r?.type !== 'string' || !RULE_TYPES.has(r.type),
      )
    ) {
      problems.push({ field: 'rules', message: 'Invalid rule type' });
    }
  }
  const include = body.conditions?.ref_name?.include;
  if (
    body.conditions !== undefined &&
    (typeof body.conditions !== 'object' ||
      (include !== undefined &&
        (!Array.isArray(include) ||
          include.some((p: unknown) => typeof p !== 'string'))))
  ) {
    problems.push({ field: 'conditions' });
  }
  if (
    body.bypass_actors !== undefined &&
    (!Array.isArray(body.bypass_actors) ||
      body.bypass_actors.some(
        (a: any) =>
          ![
            'Integration',
            'OrganizationAdmin',
            'RepositoryRole',
            'Team',
            'DeployKey',
          ].includes(a?.actor_type) ||
          (a.bypass_mode !== undefined &&
            !['always', 'pull_request'].includes(a.bypass_mode)),
      ))
  ) {
    problems.push({ field: 'bypass_actors' });
  }
  if (problems.length > 0) {
    throw new ApiError(
      422,
      'Invalid request',
      problems.map(p => ({ resource: 'Ruleset', code: 'invalid', ...p })),
    );
  }
}

function rulesetJson(ctx: RepoContext, ruleset: StoredRuleset) {
  return {
    target: 'branch',
    rules: [],
    bypass_actors: [],
    ...ruleset.body,
    id: ruleset.id,
    source_type: 'Repository',
    source: `${ctx.owner}/${ctx.name}`,
    created_at: ruleset.createdAt,
    updated_at: ruleset.updatedAt,
    _links: {
      self: {
        href: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/rulesets/${ruleset.id}`,
      },
    },
  };
}

function findRuleset(ctx: RepoContext, env: ServerEnv): StoredRuleset {
  const ruleset = env.state
    .repo(ctx.owner, ctx.name)
    .rulesets.find(r => r.id === Number(ctx.params[2]));
  if (!ruleset) throw notFound();
  return ruleset;
}

function checkUniqueName(
  ctx: RepoContext,
  env: ServerEnv,
  name: unknown,
  except?: number,
) {
  if (
    env.state
      .repo(ctx.owner, ctx.name)
      .rulesets.some(r => r.body.name === name && r.id !== except)
  ) {
    throw new ApiError(422, 'Validation Failed', [
      {
        resource: 'Ruleset',
        field: 'name',
        code: 'custom',
        message: 'Name must be unique',
      },
    ]);
  }
}

const PROTECTION_KEYS = [
  'required_status_checks',
  'enforce_admins',
  'required_pull_request_reviews',
  'restrictions',
];

async function putProtection(ctx: RepoContext, env: ServerEnv) {
  const branch = ctx.params[2];
  if (!(await ctx.git.revParse(`refs/heads/${branch}^{commit}`))) {
    throw new ApiError(404, 'Branch not found');
  }
  const missing = PROTECTION_KEYS.filter(k => !(k in ctx.body));
  const checks = ctx.body.required_status_checks;
  const reviews = ctx.body.required_pull_request_reviews;
  if (
    missing.length > 0 ||
    (checks !== null &&
      (typeof checks !== 'object' || typeof checks.strict !== 'boolean')) ||
    (ctx.body.enforce_admins !== null &&
      typeof ctx.body.enforce_admins !== 'boolean') ||
    (reviews !== null &&
      reviews !== undefined &&
      (typeof reviews !== 'object' ||
        (reviews.required_approving_review_count !== undefined &&
          !(
            Number.isInteger(reviews.required_approving_review_count) &&
            reviews.required_approving_review_count >= 0 &&
            reviews.required_approving_review_count <= 6
          ))))
  ) {
    throw new ApiError(
      422,
      'Invalid request.',
      (missing.length > 0 ? missing : ['required_status_checks']).map(
        field => ({
          resource: 'Protection',
          field,
          code: missing.includes(field) ? 'missing_field' : 'invalid',
        }),
      ),
    );
  }
  const url = `${repoApiUrl(
    ctx,
    ctx.owner,
    ctx.name,
  )}/branches/${branch}/protection`;
  const stored = {
    url,
    required_status_checks: checks,
    enforce_admins: {
      url: `${url}/enforce_admins`,
      enabled: ctx.body.enforce_admins === true,
    },
    required_pull_request_reviews: reviews,
    restrictions: ctx.body.restrictions,
    required_linear_history: {
      enabled: ctx.body.required_linear_history === true,
    },
    allow_force_pushes: { enabled: ctx.body.allow_force_pushes === true },
    allow_deletions: { enabled: ctx.body.allow_deletions === true },
    required_conversation_resolution: {
      enabled: ctx.body.required_conversation_resolution === true,
    },
  };
  env.state.repo(ctx.owner, ctx.name).protections.set(branch, stored);
  return { status: 200, body: stored };
}

function environmentJson(
  ctx: RepoContext,
  env: ServerEnv,
  stored: StoredEnvironment,
) {
  const body = stored.body;
  return {
    id: stored.id,
    node_id: `EN_${stored.id}`,
    name: stored.name,
    url: `${repoApiUrl(
      ctx,
      ctx.owner,
      ctx.name,
    )}/environments/${encodeURIComponent(stored.name)}`,
    html_url: `${env.htmlBase}/${ctx.owner}/${
      ctx.name
    }/deployments/activity_log?environments_filter=${encodeURIComponent(
      stored.name,
    )}`,
    created_at: stored.createdAt,
    updated_at: stored.updatedAt,
    protection_rules: [
      ...(typeof body.wait_timer === 'number' && body.wait_timer > 0
        ? [
            {
              id: stored.id * 10 + 1,
              node_id: 'GA_wait',
              type: 'wait_timer',
              wait_timer: body.wait_timer,
            },
          ]
        : []),
      ...(Array.isArray(body.reviewers) && body.reviewers.length > 0
        ? [
            {
              id: stored.id * 10 + 2,
              node_id: 'GA_reviewers',
              type: 'required_reviewers',
              prevent_self_review: body.prevent_self_review === true,
              reviewers: body.reviewers,
            },
          ]
        : []),
    ],
    deployment_branch_policy: body.deployment_branch_policy ?? null,
  };
}

async function putEnvironment(ctx: RepoContext, env: ServerEnv) {
  const name = ctx.params[2];
  const body = ctx.body;
  const policy = body.deployment_branch_policy;
  const problems: string[] = [];
  // eslint-disable-next-line no-control-regex
  if (!/^[^/\\\x00-\x1f]{1,255}$/.test(name)) problems.push('name');
  if (
    body.wait_timer !== undefined &&
    !(
      Number.isInteger(body.wait_timer) &&
      body.wait_timer >= 0 &&
      body.wait_timer <= 43200
    )
  ) {
    problems.push('wait_timer');
  }
  if (
    body.reviewers !== undefined &&
    body.reviewers !== null &&
    (!Array.isArray(body.reviewers) ||
      body.reviewers.length > 6 ||
      body.reviewers.some(
        (r: any) =>
          !['User', 'Team'].includes(r?.type) || !Number.isInteger(r?.id),
      ))
  ) {
    problems.push('reviewers');
  }
  if (
    policy !== undefined &&
    policy !== null &&
    (typeof policy.protected_branches !== 'boolean' ||
      typeof policy.custom_branch_policies !== 'boolean' ||
      policy.protected_branches === policy.custom_branch_policies)
  ) {
    problems.push('deployment_branch_policy');
  }
  if (problems.length > 0) {
    throw validationFailed(
      'Environment',
      problems.map(field => ({ field })),
    );
  }
  const record = env.state.repo(ctx.owner, ctx.name);
  const now = new Date().toISOString();
  const existing = record.environments.get(name);
  const stored: StoredEnvironment = existing
    ? { ...existing, body: { ...existing.body, ...body }, updatedAt: now }
    : {
        id: env.state.id(),
        name,
        body,
        branchPolicies: [],
        createdAt: now,
        updatedAt: now,
      };
  record.environments.set(name, stored);
  return { status: 200, body: environmentJson(ctx, env, stored) };
}

function findEnvironment(ctx: RepoContext, env: ServerEnv): StoredEnvironment {
  const stored = env.state
    .repo(ctx.owner, ctx.name)
    .environments.get(ctx.params[2]);
  if (!stored) throw notFound();
  return stored;
}

export const settingsRoutes: Route[] = [
  route(
    'GET',
    '/repos/:owner/:repo/rulesets',
    async (ctx: RepoContext, env) => {
      const page = paged(ctx, env.state.repo(ctx.owner, ctx.name).rulesets);
      return {
        status: 200,
        body: page.items.map(r => {
          const {
            rules: _rules,
            conditions: _conditions,
            bypass_actors: _actors,
            ...summary
          } = rulesetJson(ctx, r) as Record<string, unknown>;
          return summary;
        }),
        headers: page.headers,
      };
    },
  ),
  route(
    'POST',
    '/repos/:owner/:repo/rulesets',
    async (ctx: RepoContext, env) => {
      validateRuleset(ctx.body, false);
      checkUniqueName(ctx, env, ctx.body.name);
      const now = new Date().toISOString();
      const ruleset: StoredRuleset = {
        id: env.state.id(),
        body: ctx.body,
        createdAt: now,
        updatedAt: now,
      };
      env.state.repo(ctx.owner, ctx.name).rulesets.push(ruleset);
      return { status: 201, body: rulesetJson(ctx, ruleset) };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/rulesets/:id',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: rulesetJson(ctx, findRuleset(ctx, env)),
    }),
  ),
  route(
    'PUT',
    '/repos/:owner/:repo/rulesets/:id',
    async (ctx: RepoContext, env) => {
      const ruleset = findRuleset(ctx, env);
      validateRuleset(ctx.body, true);
      if (ctx.body.name !== undefined)
        checkUniqueName(ctx, env, ctx.body.name, ruleset.id);
      ruleset.body = { ...ruleset.body, ...ctx.body };
      ruleset.updatedAt = new Date().toISOString();
      return { status: 200, body: rulesetJson(ctx, ruleset) };
    },
  ),
  route(
    'DELETE',
    '/repos/:owner/:repo/rulesets/:id',
    async (ctx: RepoContext, env) => {
      const ruleset = findRuleset(ctx, env);
      const record = env.state.repo(ctx.owner, ctx.name);
      record.rulesets = record.rulesets.filter(r => r !== ruleset);
      return { status: 204 };
    },
  ),
  route('PUT', '/repos/:owner/:repo/branches/*/protection', putProtection),
  route(
    'GET',
    '/repos/:owner/:repo/branches/*/protection',
    async (ctx: RepoContext, env) => {
      const stored = env.state
        .repo(ctx.owner, ctx.name)
        .protections.get(ctx.params[2]);
      if (!stored) throw new ApiError(404, 'Branch not protected');
      return { status: 200, body: stored };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/environments',
    async (ctx: RepoContext, env) => {
      const all = [
        ...env.state.repo(ctx.owner, ctx.name).environments.values(),
      ];
      const page = paged(ctx, all);
      return {
        status: 200,
        body: {
          total_count: all.length,
          environments: page.items.map(e => environmentJson(ctx, env, e)),
        },
        headers: page.headers,
      };
    },
  ),
  route('PUT', '/repos/:owner/:repo/environments/:name', putEnvironment),
  route(
    'GET',
    '/repos/:owner/:repo/environments/:name',
    async (ctx: RepoContext, env) => ({
      status: 200,
      body: environmentJson(ctx, env, findEnvironment(ctx, env)),
    }),
  ),
  route(
    'POST',
    '/repos/:owner/:repo/environments/:name/deployment-branch-policies',
    async (ctx: RepoContext, env) => {
      const stored = findEnvironment(ctx, env);
      const name = requireString(ctx.body, 'name', 'DeploymentBranchPolicy');
      const type = ctx.body.type ?? 'branch';
      if (!['branch', 'tag'].includes(type)) {
        throw validationFailed('DeploymentBranchPolicy', [{ field: 'type' }]);
      }
      const branchPolicy = stored.body.deployment_branch_policy as
        | { custom_branch_policies?: boolean }
        | undefined;
      if (branchPolicy?.custom_branch_policies !== true) {
        throw new ApiError(
          404,
          'Custom branch policies are not enabled for this environment',
        );
      }
      let policy = stored.branchPolicies.find(
        p => p.name === name && p.type === type,
      );
      if (!policy) {
        policy = { id: env.state.id(), name, type };
        stored.branchPolicies.push(policy);
      }
      return { status: 200, body: { ...policy, node_id: `DBP_${policy.id}` } };
    },
  ),
  route(
    'GET',
    '/repos/:owner/:repo/environments/:name/deployment-branch-policies',
    async (ctx: RepoContext, env) => {
      const stored = findEnvironment(ctx, env);
      const page = paged(ctx, stored.branchPolicies);
      return {
        status: 200,
        body: {
          total_count: stored.branchPolicies.length,
          branch_policies: page.items.map(p => ({
            ...p,
            node_id: `DBP_${p.id}`,
          })),
        },
        headers: page.headers,
      };
    },
  ),
];
