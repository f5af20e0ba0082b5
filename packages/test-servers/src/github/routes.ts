import fs from 'node:fs/promises';
import path from 'node:path';
import { Git } from './git';
import { ApiError, Reply, RepoContext, RequestContext } from './http';
import type { WebhookDeliverer } from './hooks';
import { Identity, ServerState } from './state';

/** What every handler can reach: the server's records and how it names things. */
export interface ServerEnv {
  state: ServerState;
  root: string;
  /** The web UI base for `html_url` fields (the server's own origin). */
  htmlBase: string;
  /** The login of the token's user (`GET /user`, `POST /user/repos`). */
  login: string;
  /** That user as an identity: the repositories' admin, who the server's own token is. */
  owner: Identity;
  gitUrl(owner: string, name: string): string;
  repoDir(owner: string, name: string): string;
  /** Accept dispatches of workflows that are not in the repository. */
  acceptAnyWorkflow: boolean;
  /** Called after each dispatch, so that the server can auto-complete runs. */
  onDispatch(runId: number): void;
  /** Real GitHub limits switched on for this server (see GitHubTestLimits). */
  limits: GitHubTestLimits;
  /** The repositories' webhooks: what events are delivered through. */
  hooks: WebhookDeliverer;
}

/**
 * Limits real GitHub imposes that clients must handle, off unless a test switches them on
 * (`startGitHubTestServer({ limits })` or `server.setLimits(...)`).
 */
export interface GitHubTestLimits {
  /**
   * The next `count` API requests (those whose path matches `path`, default all) are refused as
   * a secondary rate limit: `status` (default 403) with `retry-after` and GitHub's message.
   */
  secondaryRateLimit?: {
    count: number;
    retryAfterSeconds: number;
    status?: 403 | 429;
    path?: RegExp;
  };
  /**
   * The next `count` GraphQL queries are answered with status 200, `data: null` and one error
   * of `type` (`RATE_LIMITED` as GitHub answers a used-up GraphQL budget, or any other type).
   */
  graphqlErrors?: { count: number; type: string; message?: string };
  /** `Blob.text` is cut to this many bytes, with `isTruncated: true`, for larger blobs. */
  blobTextBytes?: number;
  /** Files per page of a commit (`GET /repos/{o}/{r}/commits/{ref}`); GitHub pages at 300. */
  commitFilesPerPage?: number;
  /** A file whose diff is larger than this many bytes comes without `patch`, as on GitHub. */
  patchBytes?: number;
}

type Handler<C> = (ctx: C, env: ServerEnv) => Promise<Reply>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** Repository routes start with `/repos/:owner/:repo`; those get the git directory. */
  repo: boolean;
  handler: Handler<RequestContext> | Handler<RepoContext>;
}

/**
 * A route from a GitHub-docs-style template: `:name` matches one segment, a trailing `*` the rest
 * of the path (ref names and file paths, which may contain `/` unencoded).
 */
export function route(
  method: string,
  template: string,
  handler: Handler<RepoContext>,
): Route;
export function route(
  method: string,
  template: string,
  handler: Handler<RequestContext>,
): Route;
export function route(
  method: string,
  template: string,
  handler: Handler<any>,
): Route {
  const source = template
    .replace(/[.]/g, '\\.')
    .replace(/:[a-z_]+/g, '([^/]+)')
    .replace(/\*/g, '(.+)');
  return {
    method,
    pattern: new RegExp(`^${source}$`),
    repo: template.startsWith('/repos/:owner/:repo'),
    handler,
  };
}

/** A safe owner or repository name (GitHub's own character set). */
export function isName(value: string): boolean {
  return (
    /^[A-Za-z0-9_.-]{1,100}$/.test(value) && value !== '.' && value !== '..'
  );
}

export async function repoGit(
  env: ServerEnv,
  owner: string,
  name: string,
): Promise<Git> {
  if (!isName(owner) || !isName(name)) throw new ApiError(404, 'Not Found');
  const dir = env.repoDir(owner, name);
  try {
    await fs.access(path.join(dir, 'HEAD'));
  } catch {
    throw new ApiError(404, 'Not Found');
  }
  return new Git(dir);
}
