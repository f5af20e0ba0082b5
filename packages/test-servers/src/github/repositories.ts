import fs from 'node:fs/promises';
import type { Endpoints } from '@octokit/types';
import { Git, resolveCommitish } from './git';
import {
  ApiError,
  linkHeader,
  notFound,
  pageParams,
  RepoContext,
  RequestContext,
  requireString,
  validationFailed,
} from './http';
import { commitJson, repoJson, userJson } from './json';
import { notAccessible } from './permissions';
import { isName, route, Route, ServerEnv } from './routes';
import { nodeId, StoredTeam } from './state';

type CompareJson =
  Endpoints['GET /repos/{owner}/{repo}/compare/{basehead}']['response']['data'];
type DiffEntry = NonNullable<CompareJson['files']>[number];

async function sizeKb(git: Git): Promise<number> {
  const out = await git.text(['count-objects', '-v']);
  const match = /size-pack: (\d+)/.exec(out);
  const loose = /^size: (\d+)/m.exec(out);
  return Number(match?.[1] ?? 0) + Number(loose?.[1] ?? 0);
}

async function showRepo(
  ctx: RequestContext,
  env: ServerEnv,
  owner: string,
  name: string,
  git: Git,
) {
  return repoJson(
    ctx,
    env,
    owner,
    name,
    await git.defaultBranch(),
    (await git.isEmpty()) ? 0 : Math.max(1, await sizeKb(git)),
  );
}

/** Creates an empty bare repository (or one with a README when `auto_init`), as GitHub does. */
async function createRepo(ctx: RequestContext, env: ServerEnv, owner: string) {
  const name = requireString(ctx.body, 'name', 'Repository');
  if (!isName(name) || name.endsWith('.git')) {
    throw validationFailed('Repository', [{ field: 'name', code: 'invalid' }]);
  }
  const dir = env.repoDir(owner, name);
  try {
    await fs.access(dir);
    throw new ApiError(422, 'Repository creation failed.', [
      {
        resource: 'Repository',
        code: 'custom',
        field: 'name',
        message: 'name already exists on this account',
      },
    ]);
  } catch (error) {
    if (error instanceof ApiError) throw error;
  }
  await fs.mkdir(dir, { recursive: true });
  const git = new Git(dir);
  await git.text(['init', '--quiet', '--bare', '--initial-branch=main']);
  // Pushes over smart HTTP go through `git http-backend`, which refuses them unless enabled.
  await git.text(['config', 'http.receivepack', 'true']);
  const record = env.state.repo(owner, name);
  record.private =
    ctx.body.private === true || ctx.body.visibility === 'private';
  record.description =
    typeof ctx.body.description === 'string' ? ctx.body.description : null;
  if (ctx.body.auto_init === true) {
    const blob = await git.writeBlob(Buffer.from(`# ${name}\n`));
    const tree = await git.writeTree(undefined, [
      { path: 'README.md', mode: '100644', sha: blob },
    ]);
    const now = new Date().toISOString();
    const person = {
      name: env.login,
      email: `${env.login}@users.noreply`,
      date: now,
    };
    const commit = await git.commitTree({
      tree,
      parents: [],
      message: 'Initial commit',
      author: person,
      committer: person,
    });
    await git.compareAndSwap('refs/heads/main', commit, undefined);
  }
  return { status: 201, body: await showRepo(ctx, env, owner, name, git) };
}

function teamJson(ctx: RequestContext, env: ServerEnv, team: StoredTeam) {
  const url = `${ctx.apiBase}/orgs/${team.org}/teams/${team.slug}`;
  return {
    id: team.id,
    node_id: nodeId('T', team.id),
    name: team.name,
    slug: team.slug,
    description: team.description,
    privacy: team.privacy,
    notification_setting: 'notifications_enabled',
    permission: 'pull',
    url,
    html_url: `${env.htmlBase}/orgs/${team.org}/teams/${team.slug}`,
    members_url: `${url}/members{/member}`,
    repositories_url: `${url}/repos`,
    parent: null,
    members_count: 0,
    repos_count: 0,
    organization: userJson(ctx, env, team.org, 'Organization'),
  };
}

/** Creates a team with the slug GitHub derives from its name; a taken name is a 422. */
async function createTeam(ctx: RequestContext, env: ServerEnv) {
  const [org] = ctx.params;
  if (!isName(org) || org === env.login) throw notFound();
  const name = requireString(ctx.body, 'name', 'Team');
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0) {
    throw validationFailed('Team', [{ field: 'name' }]);
  }
  const privacy = ctx.body.privacy ?? 'secret';
  if (!['secret', 'closed'].includes(privacy)) {
    throw validationFailed('Team', [{ field: 'privacy' }]);
  }
  const key = `${org}/${slug}`.toLowerCase();
  if (env.state.teams.has(key)) {
    throw validationFailed('Team', [
      {
        field: 'name',
        code: 'already_exists',
        message: 'Name must be unique for this org',
      },
    ]);
  }
  const team: StoredTeam = {
    id: env.state.id(),
    org,
    name,
    slug,
    description:
      typeof ctx.body.description === 'string' ? ctx.body.description : null,
    privacy,
  };
  env.state.teams.set(key, team);
  return { status: 201, body: teamJson(ctx, env, team) };
}

async function listCommits(ctx: RepoContext, env: ServerEnv) {
  const { git } = ctx;
  const ref = ctx.query.get('sha') ?? 'HEAD';
  if (await git.isEmpty()) {
    throw new ApiError(409, 'Git Repository is empty.');
  }
  const sha = await resolveCommitish(git, ref);
  if (!sha) throw new ApiError(404, `No commit found for SHA: ${ref}`);
  const path = ctx.query.get('path') ?? undefined;
  const paths = path ? [path.replace(/^\/+|\/+$/g, '')] : undefined;
  const { perPage, page } = pageParams(ctx.query);
  const range = [sha];
  for (const [param, flag] of [
    ['since', '--since'],
    ['until', '--until'],
  ] as const) {
    const value = ctx.query.get(param);
    if (value !== null) {
      if (Number.isNaN(Date.parse(value))) {
        throw validationFailed('Commit', [{ field: param }]);
      }
      range.push(`${flag}=${value}`);
    }
  }
  const total = Number(
    (
      await git.text(
        ['rev-list', '--count', ...range, '--', ...(paths ?? [])],
        {
          env: { GIT_LITERAL_PATHSPECS: '1' },
        },
      )
    ).trim(),
  );
  const commits = await git.logCommits(
    [`--max-count=${perPage}`, `--skip=${(page - 1) * perPage}`, ...range],
    paths,
  );
  return {
    status: 200,
    body: commits.map(c => commitJson(ctx, env, ctx.owner, ctx.name, c)),
    headers: linkHeader(ctx, page, Math.max(1, Math.ceil(total / perPage))),
  };
}

async function getCommit(ctx: RepoContext, env: ServerEnv) {
  if (await ctx.git.isEmpty()) {
    throw new ApiError(409, 'Git Repository is empty.');
  }
  const ref = ctx.params[2];
  const sha = await resolveCommitish(ctx.git, ref);
  if (!sha) throw new ApiError(422, `No commit found for SHA: ${ref}`);
  const commit = (await ctx.git.readCommit(sha))!;
  const files = await diffEntries(ctx, env, commit.parents[0], sha);
  const perFilesPage = env.limits.commitFilesPerPage;
  if (perFilesPage === undefined) {
    return {
      status: 200,
      body: { ...commitJson(ctx, env, ctx.owner, ctx.name, commit), files },
    };
  }
  // Over a page of files GitHub pages them (Link headers), the commit repeated on each page.
  const page = Math.max(1, Math.floor(Number(ctx.query.get('page') ?? 1)) || 1);
  const perPage = Math.min(
    perFilesPage,
    Math.max(
      1,
      Math.floor(Number(ctx.query.get('per_page') ?? perFilesPage)) ||
        perFilesPage,
    ),
  );
  return {
    status: 200,
    body: {
      ...commitJson(ctx, env, ctx.owner, ctx.name, commit),
      files: files.slice((page - 1) * perPage, page * perPage),
    },
    headers: linkHeader(
      ctx,
      page,
      Math.max(1, Math.ceil(files.length / perPage)),
    ),
  };
}

async function diffEntries(
  ctx: RepoContext,
  env: ServerEnv,
  from: string | undefined,
  to: string,
): Promise<DiffEntry[]> {
  const args = from
    ? ['diff-tree', '-r', '-z', '--no-renames', '--numstat', from, to]
    : ['diff-tree', '-r', '-z', '--no-renames', '--numstat', '--root', to];
  const numstat = (await ctx.git.text(args)).split('\0').filter(Boolean);
  const statusArgs = from
    ? ['diff-tree', '-r', '-z', '--no-renames', '--raw', from, to]
    : ['diff-tree', '-r', '-z', '--no-renames', '--raw', '--root', to];
  const raw = (await ctx.git.text(statusArgs)).split('\0').filter(Boolean);
  const byPath = new Map<string, { sha: string; status: string }>();
  for (let i = 0; i < raw.length; i++) {
    const match = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) ([A-Z])/.exec(raw[i]);
    if (match) {
      byPath.set(raw[i + 1], { sha: match[1], status: match[2] });
      i += 1;
    }
  }
  // Each file's hunks, as GitHub's `patch` field carries them.
  const patches = new Map<string, string>();
  const diff = await ctx.git.text(
    from
      ? ['diff-tree', '-p', '-r', '--no-renames', from, to]
      : ['diff-tree', '-p', '-r', '--no-renames', '--root', to],
  );
  for (const section of diff.split(/^diff --git /m).slice(1)) {
    const file = /^a\/(.+?) b\/(.+)$/m.exec(section)?.[2];
    const hunks = section.indexOf('\n@@');
    if (file && hunks >= 0) {
      patches.set(file, section.slice(hunks + 1).replace(/\n$/, ''));
    }
  }
  const html = `${env.htmlBase}/${ctx.owner}/${ctx.name}`;
  return numstat.flatMap(line => {
    const [added, deleted, filename] = line.split('\t');
    if (filename === undefined) return [];
    const entry = byPath.get(filename);
    const status = ({ A: 'added', D: 'removed', M: 'modified' } as const)[
      (entry?.status ?? 'M') as 'A' | 'D' | 'M'
    ];
    const additions = Number(added) || 0;
    const deletions = Number(deleted) || 0;
    return [
      {
        sha: entry?.sha ?? '',
        filename,
        status: status ?? 'changed',
        additions,
        deletions,
        changes: additions + deletions,
        // A large diff comes without its patch on GitHub.
        ...(patches.has(filename) &&
        (env.limits.patchBytes === undefined ||
          patches.get(filename)!.length <= env.limits.patchBytes)
          ? { patch: patches.get(filename) }
          : {}),
        blob_url: `${html}/blob/${to}/${filename}`,
        raw_url: `${html}/raw/${to}/${filename}`,
        contents_url: `${ctx.apiBase}/repos/${ctx.owner}/${ctx.name}/contents/${filename}?ref=${to}`,
      },
    ];
  });
}

async function compare(ctx: RepoContext, env: ServerEnv) {
  const { git } = ctx;
  const basehead = ctx.params[2];
  const parts = basehead.split('...');
  if (parts.length !== 2) throw notFound();
  const [baseSha, headSha] = await Promise.all(
    parts.map(ref => resolveCommitish(git, ref)),
  );
  if (!baseSha || !headSha) throw notFound();
  const mergeBase = (await git.run(['merge-base', baseSha, headSha])).stdout
    .toString('utf8')
    .trim();
  const [behindBy, aheadBy] = (
    await git.text([
      'rev-list',
      '--left-right',
      '--count',
      `${baseSha}...${headSha}`,
    ])
  )
    .trim()
    .split(/\s+/)
    .map(Number);
  let status: CompareJson['status'] = 'diverged';
  if (aheadBy === 0 && behindBy === 0) status = 'identical';
  else if (behindBy === 0) status = 'ahead';
  else if (aheadBy === 0) status = 'behind';
  // Oldest first, like GitHub; without paging parameters GitHub lists up to 250 commits.
  const paging = ctx.query.has('per_page') || ctx.query.has('page');
  const { perPage, page } = paging
    ? pageParams(ctx.query)
    : { perPage: 250, page: 1 };
  const shas = (
    await git.text(['rev-list', '--reverse', `${baseSha}..${headSha}`])
  )
    .split('\n')
    .filter(Boolean)
    .slice((page - 1) * perPage, page * perPage);
  const commits =
    shas.length === 0
      ? []
      : await git.logCommits(['--no-walk=unsorted', ...shas]);
  const base = (await git.readCommit(baseSha))!;
  const mergeBaseCommit = mergeBase ? (await git.readCommit(mergeBase))! : base;
  const html = `${env.htmlBase}/${ctx.owner}/${ctx.name}`;
  const body: CompareJson = {
    url: `${ctx.apiBase}/repos/${ctx.owner}/${ctx.name}/compare/${basehead}`,
    html_url: `${html}/compare/${basehead}`,
    permalink_url: `${html}/compare/${baseSha}...${headSha}`,
    diff_url: `${html}/compare/${basehead}.diff`,
    patch_url: `${html}/compare/${basehead}.patch`,
    base_commit: commitJson(ctx, env, ctx.owner, ctx.name, base),
    merge_base_commit: commitJson(
      ctx,
      env,
      ctx.owner,
      ctx.name,
      mergeBaseCommit,
    ),
    status,
    ahead_by: aheadBy,
    behind_by: behindBy,
    total_commits: aheadBy,
    commits: commits.map(c => commitJson(ctx, env, ctx.owner, ctx.name, c)),
    // Like GitHub, the changed files come with the first page only.
    ...(page === 1 && mergeBase
      ? { files: await diffEntries(ctx, env, mergeBase, headSha) }
      : {}),
  };
  return {
    status: 200,
    body,
    headers: paging
      ? linkHeader(ctx, page, Math.max(1, Math.ceil(aheadBy / perPage)))
      : {},
  };
}

async function listTags(ctx: RepoContext, env: ServerEnv) {
  const out = await ctx.git.text([
    'for-each-ref',
    '--sort=-v:refname',
    '--format=%(refname:strip=2)%09%(objectname)%09%(*objectname)',
    'refs/tags',
  ]);
  const tags = out
    .split('\n')
    .filter(Boolean)
    .map(line => {
      const [name, object, peeled] = line.split('\t');
      return { name, sha: peeled || object };
    });
  const { perPage, page } = pageParams(ctx.query);
  const api = `${ctx.apiBase}/repos/${ctx.owner}/${ctx.name}`;
  const body: Endpoints['GET /repos/{owner}/{repo}/tags']['response']['data'] =
    tags.slice((page - 1) * perPage, page * perPage).map(tag => ({
      name: tag.name,
      commit: { sha: tag.sha, url: `${api}/commits/${tag.sha}` },
      zipball_url: `${api}/zipball/refs/tags/${tag.name}`,
      tarball_url: `${api}/tarball/refs/tags/${tag.name}`,
      node_id: `REF_${Buffer.from(`${api}/${tag.name}`).toString('base64url')}`,
    }));
  void env;
  return {
    status: 200,
    body,
    headers: linkHeader(
      ctx,
      page,
      Math.max(1, Math.ceil(tags.length / perPage)),
    ),
  };
}

async function listBranches(ctx: RepoContext, env: ServerEnv) {
  const out = await ctx.git.text([
    'for-each-ref',
    '--format=%(refname:strip=2)%09%(objectname)',
    'refs/heads',
  ]);
  const record = env.state.repo(ctx.owner, ctx.name);
  const branches = out
    .split('\n')
    .filter(Boolean)
    .map(line => line.split('\t'));
  const { perPage, page } = pageParams(ctx.query);
  const api = `${ctx.apiBase}/repos/${ctx.owner}/${ctx.name}`;
  const body: Endpoints['GET /repos/{owner}/{repo}/branches']['response']['data'] =
    branches.slice((page - 1) * perPage, page * perPage).map(([name, sha]) => ({
      name,
      commit: { sha, url: `${api}/commits/${sha}` },
      protected: record.protections.has(name),
      protection_url: `${api}/branches/${name}/protection`,
    }));
  return {
    status: 200,
    body,
    headers: linkHeader(
      ctx,
      page,
      Math.max(1, Math.ceil(branches.length / perPage)),
    ),
  };
}

export const repositoryRoutes: Route[] = [
  route('GET', '/user', async (ctx: RequestContext, env) => {
    // An installation token is no user: GitHub refuses it here.
    if (ctx.actor.appId !== undefined) throw notAccessible(ctx.actor);
    return { status: 200, body: userJson(ctx, env, ctx.actor.login, 'User') };
  }),
  route('GET', '/users/:username', async (ctx: RequestContext, env) => {
    const [login] = ctx.params;
    if (!isName(login)) throw notFound();
    return {
      status: 200,
      // Any owner other than the token's user is an organization here.
      body: userJson(
        ctx,
        env,
        login,
        login === env.login ? 'User' : 'Organization',
      ),
    };
  }),
  route('GET', '/orgs/:org', async (ctx: RequestContext, env) => {
    const [login] = ctx.params;
    if (!isName(login) || login === env.login) throw notFound();
    return { status: 200, body: userJson(ctx, env, login, 'Organization') };
  }),
  route('POST', '/orgs/:org/teams', createTeam),
  route(
    'GET',
    '/orgs/:org/teams/:team_slug',
    async (ctx: RequestContext, env) => {
      const [org, slug] = ctx.params;
      const team = env.state.teams.get(`${org}/${slug}`.toLowerCase());
      if (!team) throw notFound();
      return { status: 200, body: teamJson(ctx, env, team) };
    },
  ),
  route('POST', '/orgs/:org/repos', async (ctx: RequestContext, env) => {
    const [org] = ctx.params;
    if (!isName(org)) throw notFound();
    return createRepo(ctx, env, org);
  }),
  route('POST', '/user/repos', async (ctx: RequestContext, env) =>
    createRepo(ctx, env, env.login),
  ),
  route('GET', '/repos/:owner/:repo', async (ctx: RepoContext, env) => ({
    status: 200,
    body: await showRepo(ctx, env, ctx.owner, ctx.name, ctx.git),
  })),
  route('PATCH', '/repos/:owner/:repo', async (ctx: RepoContext, env) => {
    const record = env.state.repo(ctx.owner, ctx.name);
    if (ctx.body.description !== undefined) {
      record.description = ctx.body.description;
    }
    if (typeof ctx.body.private === 'boolean')
      record.private = ctx.body.private;
    if (typeof ctx.body.default_branch === 'string') {
      if (!(await ctx.git.revParse(`refs/heads/${ctx.body.default_branch}`))) {
        throw validationFailed('Repository', [{ field: 'default_branch' }]);
      }
      await ctx.git.text([
        'symbolic-ref',
        'HEAD',
        `refs/heads/${ctx.body.default_branch}`,
      ]);
    }
    return {
      status: 200,
      body: await showRepo(ctx, env, ctx.owner, ctx.name, ctx.git),
    };
  }),
  route('PUT', '/repos/:owner/:repo/topics', async (ctx: RepoContext, env) => {
    const names = ctx.body.names;
    if (
      !Array.isArray(names) ||
      names.some(
        n => typeof n !== 'string' || !/^[a-z0-9][a-z0-9-]{0,49}$/.test(n),
      )
    ) {
      throw validationFailed('Repository', [{ field: 'names' }]);
    }
    env.state.repo(ctx.owner, ctx.name).topics = names;
    return { status: 200, body: { names } };
  }),
  route('GET', '/repos/:owner/:repo/commits', listCommits),
  route('GET', '/repos/:owner/:repo/commits/*', getCommit),
  route('GET', '/repos/:owner/:repo/compare/*', compare),
  route('GET', '/repos/:owner/:repo/tags', listTags),
  route('GET', '/repos/:owner/:repo/branches', listBranches),
  route(
    'GET',
    '/repos/:owner/:repo/branches/*',
    async (ctx: RepoContext, env) => {
      const branch = ctx.params[2];
      const sha = await ctx.git.revParse(`refs/heads/${branch}^{commit}`);
      if (!sha || !/^[^~^:]+$/.test(branch)) {
        throw new ApiError(404, 'Branch not found');
      }
      const commit = (await ctx.git.readCommit(sha))!;
      const api = `${ctx.apiBase}/repos/${ctx.owner}/${ctx.name}`;
      return {
        status: 200,
        body: {
          name: branch,
          commit: commitJson(ctx, env, ctx.owner, ctx.name, commit),
          protected: env.state
            .repo(ctx.owner, ctx.name)
            .protections.has(branch),
          protection_url: `${api}/branches/${branch}/protection`,
          _links: {
            self: `${api}/branches/${branch}`,
            html: `${env.htmlBase}/${ctx.owner}/${ctx.name}/tree/${branch}`,
          },
        },
      };
    },
  ),
];
