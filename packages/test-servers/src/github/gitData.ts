import type { Endpoints } from '@octokit/types';
import { resolveCommitish, ZERO_SHA } from './git';
import {
  ApiError,
  linkHeader,
  notFound,
  optionalString,
  pageParams,
  personFrom,
  RepoContext,
  requireString,
  validationFailed,
} from './http';
import { gitCommitJson, gitRefJson, GitTagJson, repoApiUrl } from './json';
import { enforce, isFastForward, RefChange } from './rules';
import { route, Route, ServerEnv } from './routes';

const SHA = /^[0-9a-f]{40}$/;

/** A ref change through the refs API, judged by the repository's rules for the token's identity. */
function judge(ctx: RepoContext, env: ServerEnv, change: RefChange) {
  return enforce(env, ctx.owner, ctx.name, ctx.git, ctx.actor, change, 'api');
}

/** GitHub's git data API answers 409 on a repository without commits. */
export async function requireCommits(ctx: RepoContext): Promise<void> {
  if (await ctx.git.isEmpty()) {
    throw new ApiError(409, 'Git Repository is empty.');
  }
}

async function checkRefFormat(ctx: RepoContext, ref: string): Promise<boolean> {
  const result = await ctx.git.run(['check-ref-format', ref]);
  return result.code === 0 && ref.split('/').length >= 3 && !ref.includes('@{');
}

async function refJson(ctx: RepoContext, ref: string) {
  const sha = await ctx.git.revParse(ref);
  if (!sha) return undefined;
  const type = (await ctx.git.objectType(sha)) ?? 'commit';
  return gitRefJson(ctx, ctx.owner, ctx.name, ref, sha, type);
}

async function matchingRefs(ctx: RepoContext) {
  await requireCommits(ctx);
  const prefix = `refs/${ctx.params[2] ?? ''}`;
  const out = await ctx.git.text([
    'for-each-ref',
    '--format=%(refname)%09%(objectname)%09%(objecttype)',
    'refs/',
  ]);
  // A string prefix, not a path: `tags/v1` matches `refs/tags/v1.0.0`.
  const refs = out
    .split('\n')
    .filter(Boolean)
    .map(line => line.split('\t'))
    .filter(([ref]) => ref.startsWith(prefix));
  const { perPage, page } = pageParams(ctx.query, 100);
  return {
    status: 200,
    body: refs
      .slice((page - 1) * perPage, page * perPage)
      .map(([ref, sha, type]) =>
        gitRefJson(ctx, ctx.owner, ctx.name, ref, sha, type),
      ),
    headers: linkHeader(
      ctx,
      page,
      Math.max(1, Math.ceil(refs.length / perPage)),
    ),
  };
}

async function createRef(ctx: RepoContext, env: ServerEnv) {
  await requireCommits(ctx);
  const ref = requireString(ctx.body, 'ref', 'Reference');
  const sha = requireString(ctx.body, 'sha', 'Reference');
  if (!ref.startsWith('refs/') || !(await checkRefFormat(ctx, ref))) {
    throw new ApiError(422, `${ref} is not a valid ref name.`);
  }
  if (!SHA.test(sha) || !(await ctx.git.objectType(sha))) {
    throw new ApiError(422, 'Object does not exist');
  }
  if (!(await ctx.git.revParse(ref))) {
    await judge(ctx, env, {
      ref,
      before: undefined,
      after: sha,
      fastForward: true,
    });
  }
  if (!(await ctx.git.compareAndSwap(ref, sha, ZERO_SHA))) {
    if (await ctx.git.revParse(ref)) {
      throw new ApiError(422, 'Reference already exists');
    }
    // e.g. `refs/tags/rc-1/x` while `refs/tags/rc-1` exists.
    throw new ApiError(422, 'Reference cannot be created');
  }
  await env.hooks.refsChanged(ctx.owner, ctx.name, ctx.actor, [
    { ref, after: sha },
  ]);
  return { status: 201, body: await refJson(ctx, ref) };
}

async function updateRef(ctx: RepoContext, env: ServerEnv) {
  await requireCommits(ctx);
  const ref = `refs/${ctx.params[2]}`;
  const sha = requireString(ctx.body, 'sha', 'Reference');
  const current = await ctx.git.revParse(ref);
  if (!current || !(await checkRefFormat(ctx, ref))) {
    throw new ApiError(422, 'Reference does not exist');
  }
  if (!SHA.test(sha) || !(await ctx.git.objectType(sha))) {
    throw new ApiError(422, 'Object does not exist');
  }
  const fastForward = await isFastForward(ctx.git, current, sha);
  if (ctx.body.force !== true && !fastForward) {
    throw new ApiError(422, 'Update is not a fast forward');
  }
  await judge(ctx, env, { ref, before: current, after: sha, fastForward });
  if (!(await ctx.git.compareAndSwap(ref, sha, current))) {
    throw new ApiError(422, 'Reference cannot be updated');
  }
  await env.hooks.refsChanged(ctx.owner, ctx.name, ctx.actor, [
    { ref, before: current, after: sha },
  ]);
  return { status: 200, body: await refJson(ctx, ref) };
}

async function deleteRef(ctx: RepoContext, env: ServerEnv) {
  await requireCommits(ctx);
  const ref = `refs/${ctx.params[2]}`;
  const current = (await checkRefFormat(ctx, ref))
    ? await ctx.git.revParse(ref)
    : undefined;
  if (!current) throw new ApiError(422, 'Reference does not exist');
  await judge(ctx, env, {
    ref,
    before: current,
    after: undefined,
    fastForward: true,
  });
  const result = await ctx.git.run([
    'update-ref',
    '-d',
    '--end-of-options',
    ref,
    current,
  ]);
  if (result.code !== 0) throw new ApiError(422, 'Reference cannot be deleted');
  await env.hooks.refsChanged(ctx.owner, ctx.name, ctx.actor, [
    { ref, before: current },
  ]);
  return { status: 204 };
}

async function readTag(ctx: RepoContext, sha: string): Promise<GitTagJson> {
  if ((await ctx.git.objectType(sha)) !== 'tag') throw notFound();
  const raw = await ctx.git.text(['cat-file', 'tag', sha]);
  const [header, ...message] = raw.split('\n\n');
  const field = (name: string) =>
    new RegExp(`^${name} (.*)$`, 'm').exec(header)?.[1] ?? '';
  const tagger = /^(.*) <(.*)> (\d+) [+-]\d{4}$/.exec(field('tagger'));
  const api = repoApiUrl(ctx, ctx.owner, ctx.name);
  const objectSha = field('object');
  const objectType = field('type');
  return {
    node_id: `TAG_${sha.slice(0, 16)}`,
    tag: field('tag'),
    sha,
    url: `${api}/git/tags/${sha}`,
    message: message.join('\n\n'),
    tagger: {
      name: tagger?.[1] ?? '',
      email: tagger?.[2] ?? '',
      date: new Date(Number(tagger?.[3] ?? 0) * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
    },
    object: {
      sha: objectSha,
      type: objectType,
      url: `${api}/git/${objectType}s/${objectSha}`,
    },
    verification: {
      verified: false,
      reason: 'unsigned',
      signature: null,
      payload: null,
      verified_at: null,
    },
  };
}

async function createTag(ctx: RepoContext, env: ServerEnv) {
  await requireCommits(ctx);
  const tag = requireString(ctx.body, 'tag', 'Tag');
  const message = typeof ctx.body.message === 'string' ? ctx.body.message : '';
  const object = requireString(ctx.body, 'object', 'Tag');
  const type = requireString(ctx.body, 'type', 'Tag');
  if (!['commit', 'tree', 'blob', 'tag'].includes(type)) {
    throw validationFailed('Tag', [{ field: 'type' }]);
  }
  if (!(await checkRefFormat(ctx, `refs/tags/${tag}`))) {
    throw validationFailed('Tag', [{ field: 'tag' }]);
  }
  if ((await ctx.git.objectType(object)) !== type) {
    throw new ApiError(422, 'Object does not exist');
  }
  const tagger = personFrom(ctx.body.tagger, 'tagger', 'Tag', {
    name: env.login,
    email: `${env.login}@users.noreply`,
  });
  const seconds = Math.floor(Date.parse(tagger.date) / 1000);
  const content =
    `object ${object}\ntype ${type}\ntag ${tag}\n` +
    `tagger ${tagger.name} <${tagger.email}> ${seconds} +0000\n\n${message}`;
  const mktag = await ctx.git.run(['mktag'], {
    input: content.endsWith('\n') ? content : `${content}\n`,
  });
  if (mktag.code !== 0) {
    throw validationFailed('Tag', [
      { field: 'tag', message: mktag.stderr.trim() },
    ]);
  }
  const sha = mktag.stdout.toString('utf8').trim();
  return { status: 201, body: await readTag(ctx, sha) };
}

async function createBlob(ctx: RepoContext) {
  await requireCommits(ctx);
  const content = ctx.body.content;
  const encoding = ctx.body.encoding ?? 'utf-8';
  if (typeof content !== 'string') {
    throw validationFailed('Blob', [
      { field: 'content', code: 'missing_field' },
    ]);
  }
  if (!['utf-8', 'utf8', 'base64'].includes(encoding)) {
    throw validationFailed('Blob', [{ field: 'encoding' }]);
  }
  const bytes = Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8');
  const sha = await ctx.git.writeBlob(bytes);
  return {
    status: 201,
    body: {
      sha,
      url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/git/blobs/${sha}`,
    },
  };
}

async function getBlob(ctx: RepoContext) {
  await requireCommits(ctx);
  const sha = ctx.params[2];
  if ((await ctx.git.objectType(sha)) !== 'blob') throw notFound();
  const bytes = (await ctx.git.run(['cat-file', 'blob', sha])).stdout;
  const body: Endpoints['GET /repos/{owner}/{repo}/git/blobs/{file_sha}']['response']['data'] =
    {
      sha,
      node_id: `B_${sha.slice(0, 16)}`,
      size: bytes.length,
      url: `${repoApiUrl(ctx, ctx.owner, ctx.name)}/git/blobs/${sha}`,
      content: base64Lines(bytes),
      encoding: 'base64',
    };
  return { status: 200, body };
}

/** Base64 wrapped at 60 characters, as GitHub sends file content. */
export function base64Lines(bytes: Buffer): string {
  const text = bytes.toString('base64');
  return text.length === 0 ? '' : `${text.match(/.{1,60}/g)!.join('\n')}\n`;
}

const MODES: Record<string, 'blob' | 'tree' | 'commit'> = {
  '100644': 'blob',
  '100755': 'blob',
  '120000': 'blob',
  '040000': 'tree',
  '160000': 'commit',
};

async function createTree(ctx: RepoContext) {
  await requireCommits(ctx);
  const entries = ctx.body.tree;
  if (!Array.isArray(entries)) {
    throw validationFailed('Tree', [{ field: 'tree', code: 'missing_field' }]);
  }
  const baseTreeSha = optionalString(ctx.body, 'base_tree', 'Tree');
  let baseTree: string | undefined;
  if (baseTreeSha) {
    baseTree = await ctx.git.revParse(`${baseTreeSha}^{tree}`);
    if (!SHA.test(baseTreeSha) || !baseTree) {
      throw new ApiError(422, 'base_tree is not a valid tree oid');
    }
  }
  const changes = [];
  for (const entry of entries) {
    const path = typeof entry?.path === 'string' ? entry.path : '';
    const type = MODES[entry?.mode];
    if (
      !path ||
      path
        .split('/')
        .some(
          (s: string) => s === '' || s === '.' || s === '..' || s === '.git',
        ) ||
      !type ||
      (entry.type !== undefined && entry.type !== type)
    ) {
      throw new ApiError(
        422,
        `tree.path or tree.mode is invalid for ${JSON.stringify(path)}`,
      );
    }
    if (type === 'tree') {
      throw new ApiError(
        422,
        'Tree entries of type tree are not supported by this test server',
      );
    }
    if (entry.sha === null) {
      changes.push({ path, mode: entry.mode, sha: null });
    } else if (typeof entry.content === 'string') {
      const sha = await ctx.git.writeBlob(Buffer.from(entry.content, 'utf8'));
      changes.push({ path, mode: entry.mode, sha });
    } else if (
      typeof entry.sha === 'string' &&
      (await ctx.git.objectType(entry.sha)) === type
    ) {
      changes.push({ path, mode: entry.mode, sha: entry.sha });
    } else {
      throw new ApiError(422, `tree.sha ${entry.sha} is not a valid ${type}`);
    }
  }
  const sha = await ctx.git.writeTree(baseTree, changes);
  return { status: 201, body: await treeJson(ctx, sha, false) };
}

async function treeJson(ctx: RepoContext, sha: string, recursive: boolean) {
  const out = (
    await ctx.git.run([
      'ls-tree',
      '-z',
      '-l',
      ...(recursive ? ['-r', '-t'] : []),
      sha,
    ])
  ).stdout.toString('utf8');
  const api = repoApiUrl(ctx, ctx.owner, ctx.name);
  const tree = out
    .split('\0')
    .filter(Boolean)
    .map(line => {
      const [meta, path] = line.split('\t');
      const [mode, type, objectSha, size] = meta.split(/\s+/);
      return {
        path,
        mode,
        type,
        sha: objectSha,
        ...(type === 'blob' ? { size: Number(size) } : {}),
        url: `${api}/git/${type}s/${objectSha}`,
      };
    });
  const body: Endpoints['GET /repos/{owner}/{repo}/git/trees/{tree_sha}']['response']['data'] =
    { sha, url: `${api}/git/trees/${sha}`, tree, truncated: false };
  return body;
}

async function getTree(ctx: RepoContext) {
  await requireCommits(ctx);
  const ref = ctx.params[2];
  const commitish = await resolveCommitish(ctx.git, ref);
  let sha: string | undefined;
  if (commitish) {
    sha = await ctx.git.revParse(`${commitish}^{tree}`);
  } else if (SHA.test(ref) && (await ctx.git.objectType(ref)) === 'tree') {
    sha = ref;
  }
  if (!sha) throw notFound();
  const recursive = ['1', 'true'].includes(ctx.query.get('recursive') ?? '');
  return { status: 200, body: await treeJson(ctx, sha, recursive) };
}

async function createCommit(ctx: RepoContext, env: ServerEnv) {
  await requireCommits(ctx);
  const message = requireString(ctx.body, 'message', 'Commit');
  const tree = requireString(ctx.body, 'tree', 'Commit');
  const parents = ctx.body.parents ?? [];
  if (!SHA.test(tree) || (await ctx.git.objectType(tree)) !== 'tree') {
    throw new ApiError(422, 'Tree SHA does not exist');
  }
  if (!Array.isArray(parents)) {
    throw validationFailed('Commit', [{ field: 'parents' }]);
  }
  for (const parent of parents) {
    if (
      typeof parent !== 'string' ||
      (await ctx.git.objectType(parent)) !== 'commit'
    ) {
      throw new ApiError(
        422,
        'Parent SHA does not exist or is not a commit object',
      );
    }
  }
  const fallback = { name: env.login, email: `${env.login}@users.noreply` };
  const author = personFrom(ctx.body.author, 'author', 'Commit', fallback);
  const committer = ctx.body.committer
    ? personFrom(ctx.body.committer, 'committer', 'Commit', fallback)
    : {
        ...author,
        date: ctx.body.author?.date ? author.date : new Date().toISOString(),
      };
  const sha = await ctx.git.commitTree({
    tree,
    parents,
    message,
    author,
    committer,
  });
  const commit = (await ctx.git.readCommit(sha))!;
  return {
    status: 201,
    body: gitCommitJson(ctx, env, ctx.owner, ctx.name, commit),
  };
}

export const gitDataRoutes: Route[] = [
  route('GET', '/repos/:owner/:repo/git/matching-refs/*', matchingRefs),
  route('GET', '/repos/:owner/:repo/git/matching-refs', matchingRefs),
  route('GET', '/repos/:owner/:repo/git/ref/*', async (ctx: RepoContext) => {
    await requireCommits(ctx);
    const ref = `refs/${ctx.params[2]}`;
    const json = (await checkRefFormat(ctx, ref))
      ? await refJson(ctx, ref)
      : undefined;
    if (!json) throw notFound();
    return { status: 200, body: json };
  }),
  route('POST', '/repos/:owner/:repo/git/refs', createRef),
  route('PATCH', '/repos/:owner/:repo/git/refs/*', updateRef),
  route('DELETE', '/repos/:owner/:repo/git/refs/*', deleteRef),
  route('POST', '/repos/:owner/:repo/git/tags', createTag),
  route(
    'GET',
    '/repos/:owner/:repo/git/tags/:sha',
    async (ctx: RepoContext) => {
      await requireCommits(ctx);
      return { status: 200, body: await readTag(ctx, ctx.params[2]) };
    },
  ),
  route('POST', '/repos/:owner/:repo/git/blobs', createBlob),
  route('GET', '/repos/:owner/:repo/git/blobs/:sha', getBlob),
  route('POST', '/repos/:owner/:repo/git/trees', createTree),
  route('GET', '/repos/:owner/:repo/git/trees/*', getTree),
  route('POST', '/repos/:owner/:repo/git/commits', createCommit),
  route(
    'GET',
    '/repos/:owner/:repo/git/commits/:sha',
    async (ctx: RepoContext, env) => {
      await requireCommits(ctx);
      const commit = await ctx.git.readCommit(ctx.params[2]);
      if (!commit) throw notFound();
      return {
        status: 200,
        body: gitCommitJson(ctx, env, ctx.owner, ctx.name, commit),
      };
    },
  ),
];
