import { ConflictError } from '@backstage/errors';

/**
 * A commit as the lineage shows it.
 *
 * @public
 */
export interface SourceCommit {
  sha: string;
  parents: string[];
  /** First line of the message. */
  subject: string;
  /** The rest of the message, without the subject. */
  body: string;
  author: { name: string; email: string };
  /** ISO 8601 commit time. */
  committedAt: string;
}

/**
 * A ref name with the commit it points at (tags peeled to their commit).
 *
 * @public
 */
export interface SourceRef {
  name: string;
  sha: string;
}

/**
 * The commits reachable from `head` and not from `base`, and how far the two have diverged.
 *
 * @public
 */
export interface SourceComparison {
  aheadBy: number;
  behindBy: number;
  /** Newest first, following first parents (one entry per merge to the branch). */
  commits: SourceCommit[];
}

/**
 * A file read from a repository at a ref.
 *
 * @public
 */
export interface SourceFile {
  content: string;
  /** Git blob sha: the optimistic-concurrency token for a later write. */
  blobSha: string;
}

/**
 * Read access to a service's git repository (or the GitOps manifest repository). Repositories are
 * named `owner/name`. A repository the adapter cannot find is a NotFoundError; a ref it cannot
 * resolve is `undefined`, never an exception.
 *
 * @public
 */
export interface SourceControl {
  /** Commits reachable from `ref`, newest first, first parents only, at most `limit`. */
  listCommits(
    repo: string,
    options: {
      ref: string;
      limit: number;
      /** Only commits that changed something under this folder (a monorepo component). */
      path?: string;
    },
  ): Promise<SourceCommit[]>;
  /** Every tag, peeled to its commit. */
  listTags(repo: string): Promise<SourceRef[]>;
  /** Branches whose name starts with `prefix` (all when absent). */
  listBranches(
    repo: string,
    options?: { prefix?: string },
  ): Promise<SourceRef[]>;
  /** The full sha of a commit named by sha, short sha, tag or branch; undefined when unknown. */
  resolveCommit(repo: string, ref: string): Promise<string | undefined>;
  /** What `head` has that `base` has not (and the reverse count). */
  compare(repo: string, base: string, head: string): Promise<SourceComparison>;
  /** Whether the commit is reachable from the branch (e.g. "is this sha on main?"). */
  isOnBranch(repo: string, sha: string, branch: string): Promise<boolean>;
  /** A file's content at a ref; undefined when the file does not exist there. */
  readFile(
    repo: string,
    ref: string,
    path: string,
  ): Promise<SourceFile | undefined>;
  /** A link into the repository's web UI (e.g. `pull/12`), when it has one. */
  webUrl(repo: string, path: string): string | undefined;
  /**
   * Several files at a ref, each with the newest commit that changed it: what each environment's
   * manifest pins, and since when. One request where the adapter can (GitHub's GraphQL API);
   * a missing file is `{}`.
   */
  readFilesWithLastChange(
    repo: string,
    ref: string,
    paths: string[],
  ): Promise<Array<{ file?: SourceFile; lastChange?: SourceCommit }>>;

  /**
   * The patch identity of each commit (see `patchIdentity`), for tracing cherry-picks; a merge
   * commit's is that of its change against the first parent. Commits without a text change, or
   * whose change the host cannot give whole (GitHub leaves large patches out), are left out of
   * the map: an id from part of a change could tie a pick to the wrong commit.
   */
  patchIds(repo: string, shas: string[]): Promise<Map<string, string>>;

  /**
   * Creates a release tag, never moving an existing one: when the tag already points at `sha`
   * the call succeeds with `created: false` (a retried promotion), when it points elsewhere it is a
   * ConflictError naming that commit.
   */
  createTag(repo: string, tag: NewTag): Promise<{ created: boolean }>;
  /**
   * Commits one file change on a branch with optimistic concurrency: `expectedBlobSha` is the
   * blob the change was computed from (undefined for a new file). When the file changed meanwhile,
   * or the branch moved under the write, it is a ConflictError and nothing is written.
   */
  commitFile(repo: string, change: FileChange): Promise<{ commitSha: string }>;
  /**
   * Sets a commit status on a commit, where the person who pushed a release tag looks (a refused
   * tag names its reason). Absent where the source has no such place (local git).
   */
  reportCommitStatus?(repo: string, status: CommitStatus): Promise<void>;
  /**
   * The check runs and commit statuses on a commit (the newest of each name), for an environment's
   * required checks. Absent where the source keeps none; a commit without any answers `[]`.
   */
  listCommitChecks?(repo: string, sha: string): Promise<CommitCheck[]>;
  /**
   * The pull requests the host associates with a commit: the merged one that brought it to the
   * default branch, or for a commit elsewhere the open and merged ones carrying it. Read for an
   * approvals policy, whose approvers may not include a pull request's author. Absent where the
   * source has no pull requests (local git); a commit without any answers `[]`.
   */
  listCommitPullRequests?(
    repo: string,
    sha: string,
  ): Promise<CommitPullRequest[]>;
}

/**
 * A pull request associated with a commit, as far as the approval rules need it.
 *
 * @public
 */
export interface CommitPullRequest {
  /** Its number in the repository. */
  number: number;
  /** The login of who opened it (GitHub's `user.login`); absent for a deleted account. */
  authorLogin?: string;
  /** `merged`, or `open`/`closed` for one that was not merged. */
  state: 'open' | 'closed' | 'merged';
  /** Where to see it, when the source says. */
  url?: string;
}

/**
 * A check on a commit: a check run (GitHub Actions jobs, apps) or a commit status, by its name
 * (the check run's name, the status's context).
 *
 * @public
 */
export interface CommitCheck {
  name: string;
  kind: 'check-run' | 'status';
  /**
   * `success` (a check run's success, neutral or skipped conclusion, as GitHub's required status
   * checks count them), `pending` (queued or in progress), `failure` (anything else).
   */
  state: 'success' | 'failure' | 'pending';
  /** Where to see it, when the source says. */
  url?: string;
}

/**
 * A commit status, as GitHub shows it next to the commit.
 *
 * @public
 */
export interface CommitStatus {
  sha: string;
  /** The status's name, e.g. `mainline/demo`; a later status of the same name replaces it. */
  context: string;
  state: 'success' | 'failure' | 'pending' | 'error';
  /** At most 140 characters (GitHub's limit); longer text is cut. */
  description: string;
  targetUrl?: string;
}

/**
 * What creating a tag that already exists (or could not be created) means: the same commit is a
 * retried promotion (`created: false`); another commit, or none at all (a ref in the way, such
 * as `rc-1` blocking `rc-1/x`), is a ConflictError — tags are never moved.
 *
 * @public
 */
export function existingTagOutcome(
  repo: string,
  tag: NewTag,
  existing: string | undefined,
  failure?: unknown,
): { created: boolean } {
  if (existing === tag.sha) return { created: false };
  if (!existing) {
    throw new ConflictError(
      `tag ${tag.name} cannot be created in ${repo}: ${
        (failure as Error)?.message
      }`,
    );
  }
  throw new ConflictError(
    `tag ${tag.name} already exists on ${existing.slice(
      0,
      7,
    )} in ${repo}; tags are never moved`,
  );
}

/**
 * A release tag to create.
 *
 * @public
 */
export interface NewTag {
  name: string;
  sha: string;
  /** Annotated tags carry the tagger and a message; lightweight tags only point. */
  annotated: boolean;
  message: string;
  tagger: { name: string; email: string };
}

/**
 * One file change to commit.
 *
 * @public
 */
export interface FileChange {
  branch: string;
  path: string;
  content: string;
  expectedBlobSha: string | undefined;
  message: string;
  author: { name: string; email: string };
}
