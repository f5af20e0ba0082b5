import type { Endpoints } from '@octokit/types';
import { Git, resolveCommitish } from './git';
import { base64Lines } from './gitData';
import {
  ApiError,
  personFrom,
  RepoContext,
  requireString,
  validationFailed,
} from './http';
import { gitCommitJson, repoApiUrl } from './json';
import { enforce } from './rules';
import { route, Route, ServerEnv } from './routes';
import { actorLogin } from './state';

type FileCommitJson =
  Endpoints['PUT /repos/{owner}/{repo}/contents/{path}']['response']['data'];

/** GitHub leaves `content` empty for files over 1 MB; clients then read the blob. */
const MAX_INLINE_BYTES = 1024 * 1024;

interface TreeEntry {
  mode: string;
  type: string;
  sha: string;
  size: number;
  path: string;
}

function validPath(path: string): boolean {
  return path
    .split('/')
    .every(
      s => s !== '' && s !== '.' && s !== '..' && s.toLowerCase() !== '.git',
    );
}

/** The entry at exactly `path` in a commit, and the entries under it when it is a tree. */
async function lsTree(
  git: Git,
  commit: string,
  path: string,
): Promise<TreeEntry[]> {
  const out = (
    await git.run(
      [
        'ls-tree',
        '-z',
        '-l',
        '--full-tree',
        commit,
        '--',
        ...(path ? [path] : []),
      ],
      {
        env: { GIT_LITERAL_PATHSPECS: '1' },
      },
    )
  ).stdout.toString('utf8');
  return out
    .split('\0')
    .filter(Boolean)
    .map(line => {
      const [meta, entryPath] = line.split('\t');
      const [mode, type, sha, size] = meta.split(/\s+/);
      return { mode, type, sha, size: Number(size) || 0, path: entryPath };
    });
}

function contentType(
  entry: TreeEntry,
): 'dir' | 'submodule' | 'symlink' | 'file' {
  if (entry.type === 'tree') return 'dir';
  if (entry.type === 'commit') return 'submodule';
  return entry.mode === '120000' ? 'symlink' : 'file';
}

function entryJson(
  ctx: RepoContext,
  env: ServerEnv,
  ref: string,
  entry: TreeEntry,
): {
  type: 'dir' | 'submodule' | 'symlink' | 'file';
  size: number;
  name: string;
  path: string;
  sha: string;
  url: string;
  git_url: string;
  html_url: string;
  download_url: string | undefined;
  _links: { self: string; git: string; html: string };
} {
  const api = repoApiUrl(ctx, ctx.owner, ctx.name);
  const kind = entry.type === 'tree' ? 'tree' : 'blob';
  const self = `${api}/contents/${entry.path}?ref=${ref}`;
  const html = `${env.htmlBase}/${ctx.owner}/${ctx.name}/${kind}/${ref}/${entry.path}`;
  const git = `${api}/git/${kind}s/${entry.sha}`;
  return {
    type: contentType(entry),
    size: entry.size,
    name: entry.path.split('/').pop()!,
    path: entry.path,
    sha: entry.sha,
    url: self,
    git_url: git,
    html_url: html,
    download_url:
      entry.type === 'blob'
        ? `${env.htmlBase}/${ctx.owner}/${ctx.name}/raw/${ref}/${entry.path}`
        : undefined,
    _links: { self, git, html },
  };
}

async function getContents(ctx: RepoContext, env: ServerEnv) {
  const { git } = ctx;
  const path = (ctx.params[2] ?? '').replace(/\/+$/, '');
  if (await git.isEmpty()) throw new ApiError(404, 'This repository is empty.');
  const ref = ctx.query.get('ref') ?? (await git.defaultBranch());
  const commit = await resolveCommitish(git, ref);
  if (!commit) throw new ApiError(404, `No commit found for the ref ${ref}`);
  if (path === '') {
    const entries = await lsTree(git, commit, '');
    return { status: 200, body: entries.map(e => entryJson(ctx, env, ref, e)) };
  }
  if (!validPath(path)) throw new ApiError(404, 'Not Found');
  const [entry] = await lsTree(git, commit, path);
  if (!entry || entry.path !== path) throw new ApiError(404, 'Not Found');
  if (entry.type === 'tree') {
    const entries = await lsTree(git, commit, `${path}/`);
    return { status: 200, body: entries.map(e => entryJson(ctx, env, ref, e)) };
  }
  const json = entryJson(ctx, env, ref, entry);
  if (json.type !== 'file') return { status: 200, body: json };
  const inline = entry.size <= MAX_INLINE_BYTES;
  const bytes = inline
    ? (await git.run(['cat-file', 'blob', entry.sha])).stdout
    : Buffer.alloc(0);
  const body: Endpoints['GET /repos/{owner}/{repo}/contents/{path}']['response']['data'] =
    {
      ...json,
      download_url: json.download_url ?? null,
      type: 'file',
      encoding: inline ? 'base64' : 'none',
      content: base64Lines(bytes),
    };
  return { status: 200, body };
}

/**
 * Creates, updates or deletes one file with a commit on a branch. The file's blob sha is the
 * optimistic-concurrency token; the branch moves with a compare-and-swap, so a commit that lands
 * meanwhile makes this write a 409 rather than a lost update.
 */
async function writeContents(
  ctx: RepoContext,
  env: ServerEnv,
  mode: 'put' | 'delete',
) {
  const { git } = ctx;
  const path = ctx.params[2] ?? '';
  if (!validPath(path)) {
    throw validationFailed('Commit', [{ field: 'path', code: 'invalid' }]);
  }
  const message = requireString(ctx.body, 'message', 'Commit');
  const content =
    mode === 'put' ? requireString(ctx.body, 'content', 'Commit') : undefined;
  if (content !== undefined && !/^[A-Za-z0-9+/=\s]*$/.test(content)) {
    throw validationFailed('Commit', [
      { field: 'content', message: 'content is not valid Base64' },
    ]);
  }
  const sha = ctx.body.sha;
  if (sha !== undefined && sha !== null && typeof sha !== 'string') {
    throw validationFailed('Commit', [{ field: 'sha' }]);
  }
  const branch =
    typeof ctx.body.branch === 'string'
      ? ctx.body.branch
      : await git.defaultBranch();
  const ref = `refs/heads/${branch}`;
  const head = await git.revParse(`${ref}^{commit}`);
  if (!head && !(mode === 'put' && (await git.isEmpty()))) {
    throw new ApiError(404, `Branch ${branch} not found`);
  }

  const [current] = head ? await lsTree(git, head, path) : [];
  const existing = current && current.path === path ? current : undefined;
  if (existing?.type === 'tree') {
    throw validationFailed('Commit', [
      { field: 'path', message: `${path} is a directory` },
    ]);
  }
  if (existing && !sha) {
    throw new ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
  }
  if (mode === 'delete' && !existing) throw new ApiError(404, 'Not Found');
  if (sha && existing?.sha !== sha) {
    throw new ApiError(409, `${path} does not match ${sha}`);
  }

  const login = actorLogin(ctx.actor);
  const fallback = { name: login, email: `${login}@users.noreply` };
  const committer = personFrom(
    ctx.body.committer,
    'committer',
    'Commit',
    fallback,
  );
  const author = ctx.body.author
    ? personFrom(ctx.body.author, 'author', 'Commit', fallback)
    : committer;
  const blob =
    content === undefined
      ? null
      : await git.writeBlob(Buffer.from(content, 'base64'));
  const baseTree = head ? await git.revParse(`${head}^{tree}`) : undefined;
  const tree = await git.writeTree(baseTree, [
    { path, mode: existing?.mode ?? '100644', sha: blob },
  ]);
  const commitSha = await git.commitTree({
    tree,
    parents: head ? [head] : [],
    message,
    author,
    committer,
  });
  await enforce(
    env,
    ctx.owner,
    ctx.name,
    git,
    ctx.actor,
    { ref, before: head, after: commitSha, fastForward: true },
    'contents',
  );
  if (!(await git.compareAndSwap(ref, commitSha, head))) {
    throw new ApiError(
      409,
      `${ref} is at another commit than ${head}: it moved during the write`,
    );
  }
  await env.hooks.refsChanged(ctx.owner, ctx.name, ctx.actor, [
    { ref, before: head, after: commitSha },
  ]);
  const commit = (await git.readCommit(commitSha))!;
  const [written] = blob ? await lsTree(git, commitSha, path) : [];
  const body: FileCommitJson = {
    content: written ? entryJson(ctx, env, branch, written) : null,
    commit: gitCommitJson(ctx, env, ctx.owner, ctx.name, commit),
  };
  return { status: mode === 'put' && !existing ? 201 : 200, body };
}

export const contentsRoutes: Route[] = [
  route('GET', '/repos/:owner/:repo/contents', getContents),
  route('GET', '/repos/:owner/:repo/contents/*', getContents),
  route('PUT', '/repos/:owner/:repo/contents/*', (ctx: RepoContext, env) =>
    writeContents(ctx, env, 'put'),
  ),
  route('DELETE', '/repos/:owner/:repo/contents/*', (ctx: RepoContext, env) =>
    writeContents(ctx, env, 'delete'),
  ),
];
