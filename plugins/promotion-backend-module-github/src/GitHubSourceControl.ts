import { CacheService, LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import {
  ConflictError,
  ForwardedError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import { checkTagName } from '@mainline/plugin-promotion-common';
import type { Endpoints } from '@octokit/types';
import pLimit from 'p-limit';
import {
  existingTagOutcome,
  FileChange,
  CommitCheck,
  CommitPullRequest,
  CommitStatus,
  NewTag,
  SourceCommit,
  SourceComparison,
  SourceControl,
  SourceFile,
  SourceRef,
  patchIdentity,
} from '@mainline/plugin-promotion-node';
import {
  createGitHubClient,
  GitHubClient,
  GitHubClientForRepo,
  GitHubClients,
  githubFailure,
  missingPermission,
} from './GitHubClients';

type CommitItem =
  Endpoints['GET /repos/{owner}/{repo}/commits']['response']['data'][number];

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const PAGE = 100;
/** GitHub lists at most 3,000 files of a commit, 300 per page. */
const COMMIT_FILE_PAGES = 10;

/**
 * How many commit pages one `listCommits` may read: the first-parent walk normally needs
 * ⌈limit/100⌉ pages (fewer when side branches are short), so a lineage read of a 10,000-commit
 * repository costs a handful of requests. Histories whose side branches are far longer than their
 * first-parent chain stop at this bound and list fewer commits rather than read everything.
 *
 * @internal
 */
export function commitPageBound(limit: number): number {
  return 5 + Math.ceil(limit / 20);
}

/**
 * GitHub's own words when it refuses a write on principle rather than on state: a repository rule
 * (`Repository rule violations found` and the rules, any status) or a token lacking a permission
 * (403, `Resource not accessible by integration`). Only that JSON message is read, one line, bounded.
 *
 * @internal
 */
export function githubRefusal(error: unknown): string | undefined {
  const status = httpStatus(error);
  const message = (error as { response?: { data?: { message?: unknown } } })
    ?.response?.data?.message;
  if (typeof message !== 'string') return undefined;
  const rule = message.startsWith('Repository rule violations found');
  if (!rule && status !== 403) return undefined;
  const [heading, ...rules] = message
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x09\x0b-\x1f\x7f]/g, '')
    .split(/\n+/)
    .map(line => line.trim())
    .filter(Boolean);
  const permission = missingPermission(error);
  const text =
    (rules.length > 0 ? `${heading}: ${rules.join(' ')}` : heading) +
    (permission ? ` (needs ${permission})` : '');
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
}

/** A commit from its parts, as both the REST and the GraphQL API give them. */
function sourceCommit(commit: {
  sha: string;
  parents: string[];
  message: string;
  author: { name?: string | null; email?: string | null } | null | undefined;
  committedAt: string | number;
}): SourceCommit {
  const { message } = commit;
  const newline = message.indexOf('\n');
  return {
    sha: commit.sha,
    parents: commit.parents,
    subject: newline < 0 ? message : message.slice(0, newline),
    body: newline < 0 ? '' : message.slice(newline + 1).trim(),
    author: {
      name: commit.author?.name ?? '',
      email: commit.author?.email ?? '',
    },
    committedAt: new Date(commit.committedAt).toISOString(),
  };
}

function toSourceCommit(item: CommitItem): SourceCommit {
  return sourceCommit({
    sha: item.sha,
    parents: item.parents.map(p => p.sha),
    message: item.commit.message,
    author: item.commit.author,
    committedAt: item.commit.committer?.date ?? item.commit.author?.date ?? 0,
  });
}

/** A repository-relative file path without empty, `.`, `..` or `.git` segments. */
function isFilePath(filePath: string): boolean {
  return (
    // eslint-disable-next-line no-control-regex
    !/[\x00-\x1f\x7f\\]/.test(filePath) &&
    filePath
      .split('/')
      .every(
        s => s !== '' && s !== '.' && s !== '..' && s.toLowerCase() !== '.git',
      )
  );
}

/** A branch name git would accept (the rules of `git check-ref-format`, briefly). */
function isBranchName(branch: string): boolean {
  return (
    branch.length > 0 &&
    !branch.startsWith('-') &&
    // eslint-disable-next-line no-control-regex
    !/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock$|\.$/.test(branch)
  );
}

/**
 * SourceControl over GitHub's REST API (github.com or GitHub Enterprise). Reads are conditional
 * (ETag → 304, free of rate limit) through the client's cache; the first-parent lineage is walked
 * over pages of the commits list, never one request per commit.
 *
 * @public
 */
export class GitHubSourceControl implements SourceControl {
  static fromConfig(
    config: Config,
    options: { cache: CacheService; logger: LoggerService; host?: string },
  ): GitHubSourceControl {
    const clients = GitHubClients.fromConfig(config, options);
    return new GitHubSourceControl(clients.forRepo, {
      webBaseUrl: clients.webBaseUrl,
    });
  }

  /** A client for one API base and token (tests, the benchmark, single-token setups). */
  static fromToken(options: {
    baseUrl: string;
    token?: string;
    webBaseUrl?: string;
    cache?: CacheService;
    logger?: LoggerService;
    waitUnitMs?: number;
    writeSpacingMs?: number;
  }): GitHubSourceControl {
    const client = createGitHubClient(options);
    return new GitHubSourceControl(async () => client, {
      // github.com serves its API on another host; GitHub Enterprise and test servers on theirs.
      webBaseUrl:
        options.webBaseUrl ??
        (new URL(options.baseUrl).host === 'api.github.com'
          ? 'https://github.com'
          : new URL(options.baseUrl).origin),
    });
  }

  constructor(
    private readonly clientFor: GitHubClientForRepo,
    private readonly options: { webBaseUrl: string },
  ) {}

  private slug(repo: string): { owner: string; name: string } {
    if (
      !SLUG.test(repo) ||
      repo.split('/').some(p => p === '.' || p === '..')
    ) {
      throw new NotFoundError(
        `Repository name "${repo}" is not of the form owner/name`,
      );
    }
    const [owner, name] = repo.split('/');
    return { owner, name };
  }

  /**
   * Runs one call; the statuses a caller expects come back as `undefined` through `expected`,
   * a 404 is the repository missing, anything else an upstream failure naming what was tried.
   */
  private async call<T>(
    repo: string,
    operation: string,
    fn: (client: GitHubClient) => Promise<T>,
    expected: number[] = [],
  ): Promise<T | undefined> {
    const client = await this.clientFor(repo);
    try {
      return await fn(client);
    } catch (error) {
      const status = httpStatus(error);
      if (status !== undefined && expected.includes(status)) return undefined;
      if (status === 404) {
        throw new NotFoundError(
          `GitHub repository ${repo} was not found, or the configured credentials cannot read it`,
        );
      }
      const permission = missingPermission(error);
      if (permission) {
        throw new NotAllowedError(
          `Could not ${operation} in ${repo} on GitHub: the configured credentials lack the ${permission} permission`,
        );
      }
      throw new ForwardedError(
        `Could not ${operation} in ${repo} on GitHub`,
        githubFailure(error),
      );
    }
  }

  private async commitsPage(
    repo: string,
    query: { sha: string; path?: string; page?: number },
  ): Promise<CommitItem[]> {
    const { owner, name } = this.slug(repo);
    const response = await this.call(repo, 'list commits', client =>
      client.rest.repos.listCommits({
        owner,
        repo: name,
        sha: query.sha,
        per_page: PAGE,
        ...(query.path !== undefined ? { path: query.path } : {}),
        ...(query.page && query.page > 1 ? { page: query.page } : {}),
      }),
    );
    return response!.data;
  }

  /** The first page of commits from a ref, or undefined when GitHub cannot list that ref. */
  private async firstPage(
    repo: string,
    ref: string,
  ): Promise<CommitItem[] | undefined> {
    if (!ref || ref.startsWith('-')) return undefined;
    const { owner, name } = this.slug(repo);
    const response = await this.call(
      repo,
      'list commits',
      client =>
        client.rest.repos.listCommits({
          owner,
          repo: name,
          sha: ref,
          per_page: PAGE,
        }),
      [404, 409, 422],
    );
    return response?.data;
  }

  async listCommits(
    repo: string,
    options: { ref: string; limit: number; path?: string },
  ): Promise<SourceCommit[]> {
    this.slug(repo);
    if (options.path !== undefined && !isFilePath(options.path)) {
      throw new InputError(`"${options.path}" is not a valid file path`);
    }
    const limit = Math.max(1, Math.floor(options.limit));
    const bound = commitPageBound(limit);
    const known = new Map<string, CommitItem>();
    const chain: CommitItem[] = [];
    let pages = 0;
    // The first page starts at the ref itself (a branch, tag or sha), so the usual read is one
    // request; only a ref GitHub cannot list is resolved separately, to tell "no such ref"
    // (an empty lineage) from "no such repository" (a 404).
    const first = await this.firstPage(repo, options.ref);
    const head =
      first?.[0]?.sha ?? (await this.resolveCommit(repo, options.ref));
    if (!head) return [];
    if (first?.length) {
      pages = 1;
      for (const item of first) known.set(item.sha, item);
    }

    // Walk first parents; each missing commit costs one page that starts at it and usually
    // brings the next hundred first-parent commits along.
    const extend = async (enough: () => boolean) => {
      let next: string | undefined =
        chain.length === 0 ? head : chain[chain.length - 1].parents[0]?.sha;
      while (next && !enough()) {
        let commit = known.get(next);
        if (!commit) {
          if (pages >= bound) return false;
          pages += 1;
          for (const item of await this.commitsPage(repo, { sha: next })) {
            known.set(item.sha, item);
          }
          commit = known.get(next);
          if (!commit) return false;
        }
        chain.push(commit);
        next = commit.parents[0]?.sha;
      }
      return Boolean(next);
    };

    if (options.path === undefined) {
      await extend(() => chain.length >= limit);
      return chain.map(toSourceCommit);
    }
    return this.firstParentTouching(repo, head, options.path, limit, {
      chain,
      known,
      extend,
    });
  }

  /**
   * First-parent commits that changed `path` compared with their first parent: GitHub's
   * path-filtered list is not first-parent (it lists the side-branch commits, not the merge that
   * brought them in), so each listed side commit is credited to the oldest first-parent merge
   * that reaches it — the merge that brought it onto the branch.
   */
  private async firstParentTouching(
    repo: string,
    head: string,
    path: string,
    limit: number,
    walk: {
      chain: CommitItem[];
      known: Map<string, CommitItem>;
      extend: (enough: () => boolean) => Promise<boolean>;
    },
  ): Promise<SourceCommit[]> {
    const touching = new Set<string>();
    let pathPage = 0;
    let pathDone = false;
    const oldest = () => walk.chain[walk.chain.length - 1];
    const timeOf = (c: CommitItem) =>
      Date.parse(c.commit.committer?.date ?? '') || 0;

    const matches = (): CommitItem[] => {
      const onChain = new Set(walk.chain.map(c => c.sha));
      const claimed = new Set<string>();
      const result: CommitItem[] = [];
      for (let i = walk.chain.length - 1; i >= 0; i--) {
        const commit = walk.chain[i];
        let hit = touching.has(commit.sha);
        const stack = commit.parents.slice(1).map(p => p.sha);
        while (stack.length > 0) {
          const sha = stack.pop()!;
          if (onChain.has(sha) || claimed.has(sha)) continue;
          claimed.add(sha);
          if (touching.has(sha)) hit = true;
          walk.known.get(sha)?.parents.forEach(p => stack.push(p.sha));
        }
        if (hit) result.push(commit);
      }
      return result.reverse();
    };

    let oldestTouching = Infinity;
    for (;;) {
      const target = walk.chain.length + PAGE;
      const more = await walk.extend(() => walk.chain.length >= target);
      // Path pages until they reach back past the walked part of the chain.
      const reach = walk.chain.length > 0 ? timeOf(oldest()) : 0;
      while (!pathDone && (pathPage === 0 || oldestTouching >= reach)) {
        pathPage += 1;
        const page = await this.commitsPage(repo, {
          sha: head,
          path,
          page: pathPage,
        });
        for (const item of page) {
          touching.add(item.sha);
          if (!walk.known.has(item.sha)) walk.known.set(item.sha, item);
          oldestTouching = Math.min(oldestTouching, timeOf(item));
        }
        if (page.length < PAGE || pathPage >= 10) pathDone = true;
      }
      if (pathDone && touching.size === 0) return [];
      const found = matches();
      if (found.length >= limit || !more) {
        return found.slice(0, limit).map(toSourceCommit);
      }
    }
  }

  async listTags(repo: string): Promise<SourceRef[]> {
    const { owner, name } = this.slug(repo);
    // Every tag in one request, whatever their number, through git's own ref advertisement
    // (which does not count against the API rate limit); the REST list (a page per hundred
    // tags) when the git endpoint cannot be used with these credentials.
    const advertised = await this.advertisedRefs(repo);
    if (advertised) {
      return [...advertised.entries()]
        .filter(([ref]) => ref.startsWith('refs/tags/'))
        .map(([ref, sha]) => ({ name: ref.slice('refs/tags/'.length), sha }));
    }
    const tags = await this.call(repo, 'list tags', client =>
      client.paginate(client.rest.repos.listTags, {
        owner,
        repo: name,
        per_page: PAGE,
      }),
    );
    return tags!.map(tag => ({ name: tag.name, sha: tag.commit.sha }));
  }

  /**
   * `git ls-remote` over smart HTTP: every ref with its object, annotated tags peeled to their
   * commit. Undefined when the git endpoint refuses (then the caller uses the REST API).
   */
  private async advertisedRefs(
    repo: string,
  ): Promise<Map<string, string> | undefined> {
    const client = await this.clientFor(repo);
    let token: string | undefined;
    try {
      token = ((await client.auth()) as { token?: string }).token;
    } catch {
      token = undefined;
    }
    let body: Buffer;
    try {
      const response = await fetch(
        `${this.options.webBaseUrl}/${repo}.git/info/refs?service=git-upload-pack`,
        {
          headers: {
            'user-agent': 'git/2.39 mainline',
            ...(token
              ? {
                  authorization: `Basic ${Buffer.from(
                    `x-access-token:${token}`,
                  ).toString('base64')}`,
                }
              : {}),
          },
          // A redirect (to wherever) is not the git endpoint: the REST API answers instead.
          redirect: 'manual',
        },
      );
      if (
        !response.ok ||
        response.headers.get('content-type') !==
          'application/x-git-upload-pack-advertisement'
      ) {
        return undefined;
      }
      body = Buffer.from(await response.arrayBuffer());
    } catch {
      return undefined;
    }
    return parseRefAdvertisement(body);
  }

  async listBranches(
    repo: string,
    options?: { prefix?: string },
  ): Promise<SourceRef[]> {
    const { owner, name } = this.slug(repo);
    const refs = await this.call(repo, 'list branches', client =>
      client.paginate(client.rest.git.listMatchingRefs, {
        owner,
        repo: name,
        ref: `heads/${options?.prefix ?? ''}`,
        per_page: PAGE,
      }),
    );
    return refs!.map(ref => ({
      name: ref.ref.replace(/^refs\/heads\//, ''),
      sha: ref.object.sha,
    }));
  }

  async resolveCommit(repo: string, ref: string): Promise<string | undefined> {
    const { owner, name } = this.slug(repo);
    if (!ref || ref.startsWith('-')) return undefined;
    // An unknown ref is a 422 on GitHub; only a missing repository is a 404.
    const response = await this.call(
      repo,
      `resolve ${ref}`,
      client => client.rest.repos.getCommit({ owner, repo: name, ref }),
      [422],
    );
    return response?.data.sha;
  }

  private async compareRaw(
    repo: string,
    base: string,
    head: string,
    page: number,
    perPage: number,
  ) {
    const { owner, name } = this.slug(repo);
    const response = await this.call(
      repo,
      `compare ${base}...${head}`,
      client =>
        client.rest.repos.compareCommitsWithBasehead({
          owner,
          repo: name,
          basehead: `${base}...${head}`,
          per_page: perPage,
          page,
        }),
      [404],
    );
    return response?.data;
  }

  async compare(
    repo: string,
    base: string,
    head: string,
  ): Promise<SourceComparison> {
    const [baseSha, headSha] = await Promise.all([
      this.resolveCommit(repo, base),
      this.resolveCommit(repo, head),
    ]);
    if (!baseSha || !headSha) {
      throw new NotFoundError(
        `Cannot compare ${base}...${head} in ${repo}: ${
          !baseSha ? base : head
        } is not a commit there`,
      );
    }
    const first = await this.compareRaw(repo, baseSha, headSha, 1, PAGE);
    if (!first) {
      throw new NotFoundError(`Cannot compare ${base}...${head} in ${repo}`);
    }
    const all = new Map(first.commits.map(c => [c.sha, c]));
    // Commits come oldest first in pages; a bounded number of pages covers any lineage view.
    for (let page = 2; all.size < first.ahead_by && page <= 30; page++) {
      const next = await this.compareRaw(repo, baseSha, headSha, page, PAGE);
      if (!next || next.commits.length === 0) break;
      next.commits.forEach(c => all.set(c.sha, c));
    }
    const commits: SourceCommit[] = [];
    for (
      let at = all.get(headSha);
      at;
      at = at.parents[0] ? all.get(at.parents[0].sha) : undefined
    ) {
      commits.push(toSourceCommit(at));
    }
    return { aheadBy: first.ahead_by, behindBy: first.behind_by, commits };
  }

  async isOnBranch(
    repo: string,
    sha: string,
    branch: string,
  ): Promise<boolean> {
    if (!isBranchName(branch)) return false;
    // A full sha needs no resolving: an unknown one makes the comparison a 404 (false).
    const commit = /^[0-9a-f]{40}$/.test(sha)
      ? sha
      : await this.resolveCommit(repo, sha);
    if (!commit) return false;
    const comparison = await this.compareRaw(repo, branch, commit, 1, 1);
    return (
      comparison?.status === 'behind' || comparison?.status === 'identical'
    );
  }

  async readFile(
    repo: string,
    ref: string,
    filePath: string,
  ): Promise<SourceFile | undefined> {
    const { owner, name } = this.slug(repo);
    if (!ref || ref.startsWith('-') || !isFilePath(filePath)) return undefined;
    const client = await this.clientFor(repo);
    const response = await this.call(
      repo,
      `read ${filePath} at ${ref}`,
      () =>
        client.rest.repos.getContent({
          owner,
          repo: name,
          path: filePath,
          ref,
        }),
      [404],
    );
    if (!response) {
      // A missing file, ref or repository are all 404s: tell the last apart.
      await this.call(repo, 'read the repository', () =>
        client.rest.repos.get({ owner, repo: name }),
      );
      return undefined;
    }
    const data = response.data;
    if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) {
      return undefined;
    }
    let content = data.content;
    if (data.encoding === 'none' || (content === '' && data.size > 0)) {
      // Over 1 MB the contents API leaves the content out; the blob has it.
      const blob = await this.call(repo, `read ${filePath} at ${ref}`, () =>
        client.rest.git.getBlob({ owner, repo: name, file_sha: data.sha }),
      );
      content = blob!.data.content;
    }
    return {
      content: Buffer.from(content, 'base64').toString('utf8'),
      blobSha: data.sha,
    };
  }

  webUrl(repo: string, path: string): string | undefined {
    return `${this.options.webBaseUrl}/${repo}/${path}`;
  }

  async readFilesWithLastChange(
    repo: string,
    ref: string,
    paths: string[],
  ): Promise<Array<{ file?: SourceFile; lastChange?: SourceCommit }>> {
    const { owner, name } = this.slug(repo);
    if (paths.length === 0) return [];
    if (!isBranchName(ref)) return paths.map(() => ({}));
    // One GraphQL request: each file as a blob at the ref, and its path's history (first 1).
    const variables: Record<string, string> = {
      owner,
      name,
      ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`,
    };
    const fields: string[] = [];
    const histories: string[] = [];
    paths.forEach((filePath, i) => {
      if (!isFilePath(filePath)) return;
      variables[`e${i}`] = `${ref}:${filePath}`;
      variables[`p${i}`] = filePath;
      fields.push(
        `f${i}: object(expression: $e${i}) { ... on Blob { oid text isBinary isTruncated } }`,
      );
      histories.push(
        `h${i}: history(first: 1, path: $p${i}) { nodes { ...change } }`,
      );
    });
    const declarations = Object.keys(variables)
      .map(key => `$${key}: String!`)
      .join(', ');
    const query = `query(${declarations}) {
      repository(owner: $owner, name: $name) {
        ref(qualifiedName: $ref) { target { ... on Commit { ${histories.join(
          ' ',
        )} } } }
        ${fields.join('\n')}
      }
    }
    fragment change on Commit {
      oid message committedDate author { name email } parents(first: 2) { nodes { oid } }
    }`;
    type Change = {
      oid: string;
      message: string;
      committedDate: string;
      author: { name: string; email: string };
      parents: { nodes: Array<{ oid: string }> };
    };
    type Data = {
      repository: Record<string, any> & {
        ref: { target: Record<string, { nodes: Change[] }> } | null;
      };
    };
    const client = await this.clientFor(repo);
    let data: Data;
    try {
      data = await client.graphql<Data>(query, variables);
    } catch (error) {
      // Octokit's own GraphqlResponseError has `errors`; the throttling plugin's error for a
      // used-up GraphQL budget (answered 200) has them under `data`.
      const failed = error as {
        errors?: Array<{ type?: string }>;
        data?: { errors?: Array<{ type?: string }> };
      };
      const errors = failed.errors ?? failed.data?.errors;
      if (errors?.some(e => e.type === 'NOT_FOUND')) {
        throw new NotFoundError(
          `GitHub repository ${repo} was not found, or the configured credentials cannot read it`,
        );
      }
      if (Array.isArray(errors)) {
        // GitHub answered 200 with errors (its GraphQL rate limit among them): the REST API has
        // its own budget and reads the same files, a few requests more.
        return this.readFilesThroughRest(repo, ref, paths);
      }
      throw new ForwardedError(
        `Could not read ${paths.join(', ')} in ${repo} on GitHub`,
        githubFailure(error),
      );
    }
    const target = data.repository.ref?.target ?? {};
    return Promise.all(
      paths.map(async (_, i) => {
        const blob = data.repository[`f${i}`] as
          | {
              oid?: string;
              text?: string | null;
              isBinary?: boolean;
              isTruncated?: boolean;
            }
          | null
          | undefined;
        if (!blob?.oid || blob.isBinary || typeof blob.text !== 'string') {
          return {};
        }
        const change = target[`h${i}`]?.nodes?.[0];
        // A large blob's text is cut in GraphQL: the whole file comes through REST, so nothing
        // written back from this read is ever shortened.
        const file = blob.isTruncated
          ? { content: await this.blobText(repo, blob.oid), blobSha: blob.oid }
          : { content: blob.text, blobSha: blob.oid };
        return {
          file,
          lastChange: change
            ? sourceCommit({
                sha: change.oid,
                parents: change.parents.nodes.map(p => p.oid),
                message: change.message,
                author: change.author,
                committedAt: change.committedDate,
              })
            : undefined,
        };
      }),
    );
  }

  /** A blob's whole text through REST's git data API (any size up to GitHub's 100 MB). */
  private async blobText(repo: string, sha: string): Promise<string> {
    const { owner, name } = this.slug(repo);
    const blob = await this.call(repo, `read blob ${sha.slice(0, 7)}`, client =>
      client.rest.git.getBlob({ owner, repo: name, file_sha: sha }),
    );
    return Buffer.from(blob!.data.content, 'base64').toString('utf8');
  }

  /** The files and their last changes through REST: two requests per file. */
  private async readFilesThroughRest(
    repo: string,
    ref: string,
    paths: string[],
  ): Promise<Array<{ file?: SourceFile; lastChange?: SourceCommit }>> {
    return Promise.all(
      paths.map(async filePath => {
        if (!isFilePath(filePath)) return {};
        const [file, history] = await Promise.all([
          this.readFile(repo, ref, filePath),
          this.commitsPage(repo, { sha: ref, path: filePath }),
        ]);
        return file
          ? {
              file,
              lastChange: history[0] ? toSourceCommit(history[0]) : undefined,
            }
          : {};
      }),
    );
  }

  async patchIds(repo: string, shas: string[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    // One commit read each (ETag-cached, so a repeated view costs no rate limit), a few at a time.
    const limit = pLimit(8);
    await Promise.all(
      shas
        .filter(sha => /^[0-9a-f]{40}$/.test(sha))
        .map(sha =>
          limit(async () => {
            const files = await this.commitFiles(repo, sha);
            const id = files && patchIdentity(files);
            if (id) ids.set(sha, id);
          }),
        ),
    );
    return ids;
  }

  /**
   * Every changed file of a commit with its patch, over all pages (GitHub pages a commit's files
   * 300 at a time, up to 3,000). Undefined when the change cannot be known whole: a text file
   * whose patch GitHub left out (a large diff), or more files than GitHub lists. An id from part
   * of a change could link a cherry-pick to the wrong commit; no id leaves it unlinked.
   */
  private async commitFiles(
    repo: string,
    sha: string,
  ): Promise<Array<{ filename: string; patch?: string }> | undefined> {
    const { owner, name } = this.slug(repo);
    const files: Array<{ filename: string; patch?: string }> = [];
    for (let page = 1; page <= COMMIT_FILE_PAGES; page++) {
      const response = await this.call(
        repo,
        `read commit ${sha.slice(0, 7)}`,
        client =>
          client.rest.repos.getCommit({
            owner,
            repo: name,
            ref: sha,
            ...(page > 1 ? { page } : {}),
          }),
        [422],
      );
      if (!response) return undefined;
      for (const file of response.data.files ?? []) {
        // Binary files have no patch and no line counts; a text change without one is cut.
        if (file.patch === undefined && file.changes > 0) return undefined;
        files.push({ filename: file.filename, patch: file.patch });
      }
      if (!/\brel="next"/.test(response.headers.link ?? '')) return files;
    }
    return undefined;
  }

  /** The commit a tag points at (peeling annotated tags), or undefined when there is no tag. */
  private async tagTarget(
    repo: string,
    tag: string,
  ): Promise<string | undefined> {
    const { owner, name } = this.slug(repo);
    const ref = await this.call(
      repo,
      `read tag ${tag}`,
      client =>
        client.rest.git.getRef({ owner, repo: name, ref: `tags/${tag}` }),
      [404],
    );
    if (!ref) return undefined;
    let object = ref.data.object;
    for (let depth = 0; object.type === 'tag' && depth < 5; depth++) {
      const sha = object.sha;
      const annotated = await this.call(repo, `read tag ${tag}`, client =>
        client.rest.git.getTag({ owner, repo: name, tag_sha: sha }),
      );
      object = annotated!.data.object;
    }
    return object.sha;
  }

  async reportCommitStatus(repo: string, status: CommitStatus): Promise<void> {
    const { owner, name } = this.slug(repo);
    const description =
      status.description.length > 140
        ? `${status.description.slice(0, 139)}…`
        : status.description;
    await this.call(repo, `set status ${status.context}`, client =>
      client.rest.repos.createCommitStatus({
        owner,
        repo: name,
        sha: status.sha,
        state: status.state,
        context: status.context,
        description,
        target_url: status.targetUrl,
      }),
    );
  }

  /**
   * The newest check run of each name (`GET /commits/{ref}/check-runs`, needing `checks: read`)
   * and the newest status of each context (`GET /commits/{ref}/statuses`), read together.
   */
  async listCommitChecks(repo: string, sha: string): Promise<CommitCheck[]> {
    const { owner, name } = this.slug(repo);
    const [runs, statuses] = await Promise.all([
      this.call(repo, `list the check runs of ${sha.slice(0, 7)}`, client =>
        client.paginate(client.rest.checks.listForRef, {
          owner,
          repo: name,
          ref: sha,
          filter: 'latest',
          per_page: PAGE,
        }),
      ),
      this.call(repo, `list the statuses of ${sha.slice(0, 7)}`, client =>
        client.paginate(client.rest.repos.listCommitStatusesForRef, {
          owner,
          repo: name,
          ref: sha,
          per_page: PAGE,
        }),
      ),
    ]);
    const checks = new Map<string, CommitCheck & { id: number }>();
    for (const run of runs ?? []) {
      const held = checks.get(run.name);
      if (held && held.id > run.id) continue;
      let state: CommitCheck['state'] = 'failure';
      if (run.status !== 'completed') state = 'pending';
      else if (['success', 'neutral', 'skipped'].includes(run.conclusion ?? ''))
        state = 'success';
      checks.set(run.name, {
        id: run.id,
        name: run.name,
        kind: 'check-run',
        state,
        url: run.html_url ?? undefined,
      });
    }
    const contexts = new Set<string>();
    const result: CommitCheck[] = [...checks.values()].map(
      ({ id: _, ...check }) => check,
    );
    // Newest first, as GitHub lists them: the first of each context is its state.
    for (const status of statuses ?? []) {
      if (contexts.has(status.context)) continue;
      contexts.add(status.context);
      let state: CommitCheck['state'] = 'failure';
      if (status.state === 'success') state = 'success';
      else if (status.state === 'pending') state = 'pending';
      result.push({
        name: status.context,
        kind: 'status',
        state,
        url: status.target_url ?? undefined,
      });
    }
    return result;
  }

  /**
   * `GET /repos/{o}/{r}/commits/{sha}/pulls` (needs `pull_requests: read` for an App): one
   * request, read only in the checks round of a promotion an approvals policy applies to. The
   * lineage reads commits over REST, so GraphQL's `associatedPullRequests` would save nothing. An
   * unknown commit (422) has none.
   */
  async listCommitPullRequests(
    repo: string,
    sha: string,
  ): Promise<CommitPullRequest[]> {
    const { owner, name } = this.slug(repo);
    const response = await this.call(
      repo,
      `list the pull requests of ${sha.slice(0, 7)}`,
      client =>
        client.rest.repos.listPullRequestsAssociatedWithCommit({
          owner,
          repo: name,
          commit_sha: sha,
          per_page: PAGE,
        }),
      [422],
    );
    return (response?.data ?? []).map(pull => ({
      number: pull.number,
      ...(pull.user?.login ? { authorLogin: pull.user.login } : {}),
      state: pull.merged_at
        ? 'merged'
        : (pull.state as CommitPullRequest['state']),
      url: pull.html_url,
    }));
  }

  async createTag(repo: string, tag: NewTag): Promise<{ created: boolean }> {
    const { owner, name } = this.slug(repo);
    const problem = checkTagName(tag.name);
    if (problem) {
      throw new InputError(`tag "${tag.name}": ${problem}`);
    }
    // One round, asked together: whether the commit exists, whether the tag already does, and
    // (for an annotated tag) the tag object, written before knowing. An unneeded tag object is
    // unreferenced and collected by git; a commit that does not exist makes it fail as well.
    const tagObject = tag.annotated
      ? this.call(repo, `create tag ${tag.name}`, client =>
          client.rest.git
            .createTag({
              owner,
              repo: name,
              tag: tag.name,
              message: tag.message,
              object: tag.sha,
              type: 'commit',
              tagger: {
                name: tag.tagger.name,
                email: tag.tagger.email,
                date: new Date().toISOString(),
              },
            })
            .catch(error => {
              // A token without contents: write: GitHub's words, reported like a refused ref.
              const refused = githubRefusal(error);
              if (refused) return { refused };
              throw error;
            }),
        )
      : Promise.resolve(undefined);
    const [commit, existingTarget, createdObject] = await Promise.all([
      /^[0-9a-f]{40}$/.test(tag.sha)
        ? this.call(
            repo,
            `read commit ${tag.sha}`,
            client =>
              client.rest.git.getCommit({
                owner,
                repo: name,
                commit_sha: tag.sha,
              }),
            [404, 422],
          )
        : undefined,
      this.tagTarget(repo, tag.name).catch(() => undefined),
      tagObject.catch(error => error as Error),
    ]);
    if (!commit) {
      // Tell a missing repository from a missing commit.
      await this.call(repo, 'read the repository', client =>
        client.rest.repos.get({ owner, repo: name }),
      );
      throw new NotFoundError(`${tag.sha} is not a commit of ${repo}`);
    }

    if (existingTarget) return existingTagOutcome(repo, tag, existingTarget);
    // The commit exists, so a refused tag object is GitHub's error to report as it is.
    if (createdObject instanceof Error) throw createdObject;
    if (createdObject && 'refused' in createdObject) {
      throw new NotAllowedError(
        `GitHub refused tag ${tag.name}: ${createdObject.refused}`,
      );
    }
    const target = createdObject ? createdObject.data.sha : tag.sha;
    // Creating a ref never moves an existing one: 422 when someone else created it first.
    let failure: unknown;
    const ref = await this.call(repo, `create tag ${tag.name}`, client =>
      client.rest.git
        .createRef({
          owner,
          repo: name,
          ref: `refs/tags/${tag.name}`,
          sha: target,
        })
        .catch(error => {
          const status = httpStatus(error);
          if (status !== 403 && status !== 422) throw error;
          failure = error;
          return undefined;
        }),
    );
    if (!ref) {
      // A rule or the token's permissions refused it: GitHub's words say which, and nothing moved.
      const refused = githubRefusal(failure);
      if (refused) {
        throw new NotAllowedError(`GitHub refused tag ${tag.name}: ${refused}`);
      }
      // Someone else created it first (or a ref is in the way): see where it points now.
      return existingTagOutcome(
        repo,
        tag,
        await this.tagTarget(repo, tag.name),
        new Error(
          `GitHub answered ${httpStatus(failure)} to the tag reference`,
        ),
      );
    }
    return { created: true };
  }

  async commitFile(
    repo: string,
    change: FileChange,
  ): Promise<{ commitSha: string }> {
    const { owner, name } = this.slug(repo);
    if (!isFilePath(change.path)) {
      throw new InputError(`"${change.path}" is not a valid file path`);
    }
    if (!isBranchName(change.branch)) {
      throw new InputError(`"${change.branch}" is not a valid branch name`);
    }
    const client = await this.clientFor(repo);
    try {
      // The blob sha is the contents API's compare-and-swap: a stale one is a 409, a missing one
      // for an existing file a 422, and a branch that moved under the write a 409.
      const response = await client.rest.repos.createOrUpdateFileContents({
        owner,
        repo: name,
        path: change.path,
        branch: change.branch,
        message: change.message,
        content: Buffer.from(change.content, 'utf8').toString('base64'),
        ...(change.expectedBlobSha ? { sha: change.expectedBlobSha } : {}),
        author: change.author,
        committer: change.author,
      });
      return { commitSha: response.data.commit.sha! };
    } catch (error) {
      const status = httpStatus(error);
      if (status === 409 || status === 422) {
        throw new ConflictError(
          `${repo}:${change.path} changed since it was read (${
            githubFailure(error).message
          })`,
        );
      }
      if (status === 404) {
        throw new NotFoundError(
          `GitHub repository ${repo} or its branch ${change.branch} was not found`,
        );
      }
      const permission = missingPermission(error);
      if (permission) {
        throw new NotAllowedError(
          `Could not commit ${change.path} to ${repo} on GitHub: the configured credentials lack the ${permission} permission`,
        );
      }
      throw new ForwardedError(
        `Could not commit ${change.path} to ${repo} on GitHub`,
        githubFailure(error),
      );
    }
  }
}

/**
 * Reads git's smart-HTTP ref advertisement (pkt-lines: `<sha> <ref>[\0capabilities]`, annotated
 * tags followed by their peeled `<ref>^{}` line) into ref → commit.
 *
 * @internal
 */
export function parseRefAdvertisement(body: Buffer): Map<string, string> {
  const refs = new Map<string, string>();
  let offset = 0;
  while (offset + 4 <= body.length) {
    const length = parseInt(body.subarray(offset, offset + 4).toString(), 16);
    if (Number.isNaN(length)) break;
    if (length === 0) {
      offset += 4;
      continue;
    }
    const line = body
      .subarray(offset + 4, offset + length)
      .toString('utf8')
      .replace(/\n$/, '')
      .split('\0')[0];
    offset += length;
    const match = /^([0-9a-f]{40}) (refs\/\S+)$/.exec(line);
    if (!match) continue;
    const [, sha, ref] = match;
    if (ref.endsWith('^{}')) refs.set(ref.slice(0, -3), sha);
    else if (!refs.has(ref)) refs.set(ref, sha);
  }
  return refs;
}
