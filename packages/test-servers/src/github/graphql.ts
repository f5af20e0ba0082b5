import { buildSchema, graphql } from 'graphql';
import { Git, RawCommit, githubTime, isPlainRefName } from './git';
import { RequestContext } from './http';
import { repoGit, route, Route, ServerEnv } from './routes';

/*
 * The part of GitHub's GraphQL API that reads git data: a repository's refs and objects (blobs by
 * `<rev>:<path>` expression, commits) and a commit's history filtered by path, with GitHub's
 * field names and error shapes. Backed by the same bare repositories as the REST API.
 */
const schema = buildSchema(`
  type Query {
    repository(owner: String!, name: String!): Repository
  }
  type Repository {
    name: String!
    ref(qualifiedName: String!): Ref
    object(expression: String, oid: String): GitObject
  }
  type Ref {
    name: String!
    target: GitObject
  }
  interface GitObject {
    oid: String!
  }
  type Commit implements GitObject {
    oid: String!
    message: String!
    messageHeadline: String!
    committedDate: String!
    author: GitActor
    committer: GitActor
    parents(first: Int): CommitConnection!
    history(first: Int, path: String): CommitHistoryConnection!
  }
  type CommitConnection {
    nodes: [Commit]
    totalCount: Int!
  }
  type CommitHistoryConnection {
    nodes: [Commit]
  }
  type Blob implements GitObject {
    oid: String!
    text: String
    isBinary: Boolean
    isTruncated: Boolean!
    byteSize: Int!
  }
  type Tree implements GitObject {
    oid: String!
  }
  type GitActor {
    name: String
    email: String
    date: String
  }
`);

/** GitHub's error for a repository that does not exist or cannot be seen. */
class NotFound extends Error {}

const MAX_FIRST = 100;

function commitNode(git: Git, raw: RawCommit) {
  return {
    __typename: 'Commit',
    oid: raw.sha,
    message: raw.message,
    messageHeadline: raw.message.split('\n')[0],
    committedDate: githubTime(raw.committer.date),
    author: { ...raw.author, date: githubTime(raw.author.date) },
    committer: { ...raw.committer, date: githubTime(raw.committer.date) },
    parents: async ({ first }: { first?: number }) => {
      const shas = raw.parents.slice(
        0,
        Math.min(first ?? MAX_FIRST, MAX_FIRST),
      );
      const commits = await Promise.all(shas.map(sha => git.readCommit(sha)));
      return {
        totalCount: raw.parents.length,
        nodes: commits.map(c => (c ? commitNode(git, c) : null)),
      };
    },
    history: async ({ first, path }: { first?: number; path?: string }) => {
      const count = Math.max(0, Math.min(first ?? MAX_FIRST, MAX_FIRST));
      const commits = await git.logCommits(
        [`--max-count=${count}`, raw.sha],
        path ? [path] : undefined,
      );
      return { nodes: commits.map(c => commitNode(git, c)) };
    },
  };
}

async function objectNode(git: Git, sha: string, env: ServerEnv) {
  const type = await git.objectType(sha);
  if (type === 'commit') {
    const raw = await git.readCommit(sha);
    return raw ? commitNode(git, raw) : null;
  }
  if (type === 'blob') {
    const content = (await git.run(['cat-file', 'blob', sha])).stdout;
    const isBinary = content.includes(0);
    // Above a size GitHub cuts `text` and says so in `isTruncated`.
    const cap = env.limits.blobTextBytes;
    const isTruncated = cap !== undefined && content.length > cap;
    return {
      __typename: 'Blob',
      oid: sha,
      byteSize: content.length,
      isBinary,
      isTruncated,
      text: isBinary
        ? null
        : (isTruncated ? content.subarray(0, cap) : content).toString('utf8'),
    };
  }
  return type
    ? { __typename: type === 'tree' ? 'Tree' : 'Blob', oid: sha }
    : null;
}

function repositoryNode(git: Git, name: string, env: ServerEnv) {
  return {
    name,
    ref: async ({ qualifiedName }: { qualifiedName: string }) => {
      const ref = qualifiedName.startsWith('refs/')
        ? qualifiedName
        : `refs/heads/${qualifiedName}`;
      if (!isPlainRefName(ref)) return null;
      const sha = await git.revParse(`${ref}^{commit}`);
      const raw = sha ? await git.readCommit(sha) : undefined;
      return raw
        ? {
            name: ref.replace(/^refs\/(heads|tags)\//, ''),
            target: commitNode(git, raw),
          }
        : null;
    },
    object: async ({
      expression,
      oid,
    }: {
      expression?: string;
      oid?: string;
    }) => {
      const rev = oid ?? expression;
      if (!rev || rev.startsWith('-') || /\.\.|@\{|\0/.test(rev)) return null;
      const sha = await git.revParse(rev);
      return sha ? objectNode(git, sha, env) : null;
    },
  };
}

async function graphqlHandler(ctx: RequestContext, env: ServerEnv) {
  const { query, variables } = ctx.body as {
    query?: unknown;
    variables?: Record<string, unknown>;
  };
  if (typeof query !== 'string') {
    return {
      status: 400,
      body: {
        message: 'A query attribute must be specified and must be a string.',
      },
    };
  }
  const failing = env.limits.graphqlErrors;
  if (failing && failing.count > 0) {
    failing.count -= 1;
    // GitHub answers GraphQL errors, its rate limit included, with status 200.
    return {
      status: 200,
      body: {
        data: null,
        errors: [
          {
            type: failing.type,
            message:
              failing.message ??
              (failing.type === 'RATE_LIMITED'
                ? 'API rate limit already exceeded for user ID 1.'
                : 'Something went wrong while executing your query.'),
          },
        ],
      },
    };
  }
  const result = await graphql({
    schema,
    source: query,
    variableValues: variables ?? {},
    rootValue: {
      repository: async ({ owner, name }: { owner: string; name: string }) => {
        try {
          return repositoryNode(await repoGit(env, owner, name), name, env);
        } catch {
          throw new NotFound(
            `Could not resolve to a Repository with the name '${owner}/${name}'.`,
          );
        }
      },
    },
  });
  const errors = result.errors?.map(error => ({
    ...(error.originalError instanceof NotFound ? { type: 'NOT_FOUND' } : {}),
    path: error.path,
    locations: error.locations,
    message: error.message,
  }));
  return {
    status: 200,
    body: { data: result.data ?? null, ...(errors ? { errors } : {}) },
  };
}

export const graphqlRoutes: Route[] = [
  route('POST', '/graphql', graphqlHandler),
  // GitHub Enterprise Server answers GraphQL under /api/graphql.
  route('POST', '/api/graphql', graphqlHandler),
];
