import type { Endpoints } from '@octokit/types';
import { RawCommit } from './git';
import { RequestContext } from './http';
import { ServerEnv } from './routes';
import { nodeId } from './state';

export type CommitJson =
  Endpoints['GET /repos/{owner}/{repo}/commits/{ref}']['response']['data'];
export type GitCommitJson =
  Endpoints['GET /repos/{owner}/{repo}/git/commits/{commit_sha}']['response']['data'];
export type GitRefJson =
  Endpoints['GET /repos/{owner}/{repo}/git/ref/{ref}']['response']['data'];
export type GitTagJson =
  Endpoints['GET /repos/{owner}/{repo}/git/tags/{tag_sha}']['response']['data'];
export type UserJson = Endpoints['GET /users/{username}']['response']['data'];
export type RepoJson =
  Endpoints['GET /repos/{owner}/{repo}']['response']['data'];

const VERIFICATION = {
  verified: false,
  reason: 'unsigned',
  signature: null,
  payload: null,
  verified_at: null,
};

/** Where a repository's API objects live, for the `url` fields GitHub fills everywhere. */
export function repoApiUrl(ctx: RequestContext, owner: string, name: string) {
  return `${ctx.apiBase}/repos/${owner}/${name}`;
}

export function userJson(
  ctx: RequestContext,
  env: ServerEnv,
  login: string,
  type: 'User' | 'Organization',
): UserJson {
  const url = `${ctx.apiBase}/users/${login}`;
  return {
    login,
    id: Math.abs(hash(login)),
    node_id: nodeId(type === 'User' ? 'U' : 'O', login),
    avatar_url: `${env.htmlBase}/${login}.png`,
    gravatar_id: '',
    url,
    html_url: `${env.htmlBase}/${login}`,
    followers_url: `${url}/followers`,
    following_url: `${url}/following{/other_user}`,
    gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`,
    subscriptions_url: `${url}/subscriptions`,
    organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`,
    events_url: `${url}/events{/privacy}`,
    received_events_url: `${url}/received_events`,
    type,
    site_admin: false,
    name: login,
    company: null,
    blog: null,
    location: null,
    email: null,
    hireable: null,
    bio: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: '2020-01-01T00:00:00Z',
    updated_at: '2020-01-01T00:00:00Z',
  } as UserJson;
}

function hash(value: string): number {
  let h = 0;
  for (const c of value) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

/** A commit as the commits API shows it (`GET .../commits`, `.../commits/{ref}`, compare). */
export function commitJson(
  ctx: RequestContext,
  env: ServerEnv,
  owner: string,
  name: string,
  commit: RawCommit,
): CommitJson {
  const api = repoApiUrl(ctx, owner, name);
  const html = `${env.htmlBase}/${owner}/${name}`;
  return {
    sha: commit.sha,
    node_id: nodeId('C', commit.sha),
    url: `${api}/commits/${commit.sha}`,
    html_url: `${html}/commit/${commit.sha}`,
    comments_url: `${api}/commits/${commit.sha}/comments`,
    commit: {
      url: `${api}/git/commits/${commit.sha}`,
      author: commit.author,
      committer: commit.committer,
      message: commit.message,
      comment_count: 0,
      tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
      verification: VERIFICATION,
    },
    // Commits here are not linked to accounts, as on GitHub for unknown email addresses.
    author: null,
    committer: null,
    parents: commit.parents.map(sha => ({
      sha,
      url: `${api}/commits/${sha}`,
      html_url: `${html}/commit/${sha}`,
    })),
  };
}

/** A commit as the git data API shows it. */
export function gitCommitJson(
  ctx: RequestContext,
  env: ServerEnv,
  owner: string,
  name: string,
  commit: RawCommit,
): GitCommitJson {
  const api = repoApiUrl(ctx, owner, name);
  const html = `${env.htmlBase}/${owner}/${name}`;
  return {
    sha: commit.sha,
    node_id: nodeId('C', commit.sha),
    url: `${api}/git/commits/${commit.sha}`,
    html_url: `${html}/commit/${commit.sha}`,
    author: commit.author,
    committer: commit.committer,
    message: commit.message,
    tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
    parents: commit.parents.map(sha => ({
      sha,
      url: `${api}/git/commits/${sha}`,
      html_url: `${html}/commit/${sha}`,
    })),
    verification: VERIFICATION,
  };
}

export function gitRefJson(
  ctx: RequestContext,
  owner: string,
  name: string,
  ref: string,
  sha: string,
  type: string,
): GitRefJson {
  const api = repoApiUrl(ctx, owner, name);
  return {
    ref,
    node_id: nodeId('REF', `${owner}/${name}/${ref}`),
    url: `${api}/git/${ref}`,
    object: { sha, type, url: `${api}/git/${type}s/${sha}` },
  };
}

/** A repository as `GET /repos/{owner}/{repo}` shows it: the fields clients read. */
export async function repoJson(
  ctx: RequestContext,
  env: ServerEnv,
  owner: string,
  name: string,
  defaultBranch: string,
  sizeKb: number,
): Promise<RepoJson> {
  const record = env.state.repo(owner, name);
  const api = repoApiUrl(ctx, owner, name);
  const ownerType = owner === env.login ? 'User' : 'Organization';
  const repo: Partial<RepoJson> = {
    id: record.id,
    node_id: nodeId('R', record.id),
    name,
    full_name: `${owner}/${name}`,
    owner: userJson(ctx, env, owner, ownerType) as RepoJson['owner'],
    private: record.private,
    visibility: record.private ? 'private' : 'public',
    description: record.description,
    fork: false,
    url: api,
    html_url: `${env.htmlBase}/${owner}/${name}`,
    clone_url: env.gitUrl(owner, name),
    git_url: env.gitUrl(owner, name),
    ssh_url: `git@${new URL(env.htmlBase).host}:${owner}/${name}.git`,
    svn_url: `${env.htmlBase}/${owner}/${name}`,
    default_branch: defaultBranch,
    topics: record.topics,
    size: sizeKb,
    archived: false,
    disabled: false,
    created_at: record.createdAt,
    updated_at: record.createdAt,
    pushed_at: record.createdAt,
    // What the token may do here: its user's role (an App's installation is no collaborator).
    permissions: (() => {
      const rank = ['read', 'triage', 'write', 'maintain', 'admin'].indexOf(
        ctx.actor.appId !== undefined ? 'read' : ctx.actor.role ?? 'admin',
      );
      return {
        admin: rank >= 4,
        maintain: rank >= 3,
        push: rank >= 2,
        triage: rank >= 1,
        pull: true,
      };
    })(),
    allow_merge_commit: true,
    allow_squash_merge: true,
    allow_rebase_merge: false,
    delete_branch_on_merge: false,
    has_issues: true,
    has_projects: false,
    has_wiki: false,
    has_pages: false,
    has_downloads: false,
    forks_count: 0,
    stargazers_count: 0,
    watchers_count: 0,
    open_issues_count: record.pulls.filter(p => p.state === 'open').length,
    network_count: 0,
    subscribers_count: 0,
  };
  return repo as RepoJson;
}
