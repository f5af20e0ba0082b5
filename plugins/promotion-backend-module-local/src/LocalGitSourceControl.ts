import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import { checkTagName } from '@mainline/plugin-promotion-common';
import {
  BareRepoBuilder,
  GitRunner,
  filePatchesOfDiff,
  patchIdentity,
  existingTagOutcome,
  CommitCheck,
  FileChange,
  NewTag,
  SourceCommit,
  SourceComparison,
  SourceControl,
  SourceFile,
  SourceRef,
} from '@mainline/plugin-promotion-node';
import { COMMIT_FORMAT, FIELD, RECORD } from './gitLog';

/**
 * Where the embedded default keeps the checks of a commit: a git note, one JSON line per result.
 *
 * @public
 */
export const CHECKS_NOTES_REF = 'refs/notes/mainline-checks';

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parses `git log --format=COMMIT_FORMAT` output.
 *
 * @public
 */
export function parseCommits(output: string): SourceCommit[] {
  return output
    .split(RECORD)
    .map(record => record.replace(/^\n/, ''))
    .filter(record => record.length > 0)
    .map(record => {
      const [sha, parents, name, email, committedAt, subject, body] =
        record.split(FIELD);
      return {
        sha,
        parents: parents ? parents.split(' ') : [],
        author: { name, email },
        committedAt: new Date(committedAt).toISOString(),
        subject,
        body: (body ?? '').trim(),
      };
    });
}

/**
 * SourceControl over bare git repositories on the local filesystem (the embedded default), laid
 * out as `<root>/<owner>/<name>.git` and read with the `git` binary.
 *
 * @public
 */
export class LocalGitSourceControl implements SourceControl {
  constructor(
    private readonly root: string,
    private readonly options: {
      /** Told of every git process's exit code (-1: not started) and subcommand. */
      onGitExit?: (code: number, command: string) => void;
    } = {},
  ) {}

  /** The bare repository directory of `owner/name`; the slug is validated, never trusted. */
  repoPath(repo: string): string {
    if (
      !SLUG.test(repo) ||
      repo.split('/').some(p => p === '.' || p === '..')
    ) {
      throw new NotFoundError(
        `Repository name "${repo}" is not of the form owner/name`,
      );
    }
    return path.join(this.root, `${repo}.git`);
  }

  private git(repo: string): GitRunner {
    const dir = this.repoPath(repo);
    if (!fs.existsSync(dir)) {
      throw new NotFoundError(`Repository ${repo} does not exist`);
    }
    return new GitRunner(dir, {}, { onExit: this.options.onGitExit });
  }

  async listCommits(
    repo: string,
    options: { ref: string; limit: number; path?: string },
  ): Promise<SourceCommit[]> {
    const git = this.git(repo);
    const sha = await this.resolveCommit(repo, options.ref);
    if (!sha) {
      return [];
    }
    if (options.path !== undefined) {
      checkFilePath(options.path);
    }
    const out = await git.output(
      [
        'log',
        '--first-parent',
        `--max-count=${Math.max(1, Math.floor(options.limit))}`,
        `--format=${COMMIT_FORMAT}`,
        sha,
        '--',
        ...(options.path !== undefined ? [options.path] : []),
      ],
      { env: { GIT_LITERAL_PATHSPECS: '1' } },
    );
    return parseCommits(out);
  }

  async listTags(repo: string): Promise<SourceRef[]> {
    const out = await this.git(repo).output([
      'for-each-ref',
      '--format=%(refname:strip=2)%09%(objectname)%09%(*objectname)',
      'refs/tags',
    ]);
    return out
      .split('\n')
      .filter(Boolean)
      .map(line => {
        const [name, object, peeled] = line.split('\t');
        return { name, sha: peeled || object };
      });
  }

  async listBranches(
    repo: string,
    options?: { prefix?: string },
  ): Promise<SourceRef[]> {
    const out = await this.git(repo).output([
      'for-each-ref',
      '--format=%(refname:strip=2)%09%(objectname)',
      'refs/heads',
    ]);
    return out
      .split('\n')
      .filter(Boolean)
      .map(line => {
        const [name, sha] = line.split('\t');
        return { name, sha };
      })
      .filter(ref => !options?.prefix || ref.name.startsWith(options.prefix));
  }

  async resolveCommit(repo: string, ref: string): Promise<string | undefined> {
    if (!ref || ref.startsWith('-')) {
      return undefined;
    }
    const git = this.git(repo);
    // Branch and tag names first, so that a hex-looking tag name is not taken for a short sha.
    for (const candidate of [`refs/heads/${ref}`, `refs/tags/${ref}`, ref]) {
      const result = await git.run([
        'rev-parse',
        '--verify',
        '--quiet',
        '--end-of-options',
        `${candidate}^{commit}`,
      ]);
      if (result.code === 0) {
        return result.stdout.trim();
      }
    }
    return undefined;
  }

  async compare(
    repo: string,
    base: string,
    head: string,
  ): Promise<SourceComparison> {
    const git = this.git(repo);
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
    const [counts, log] = await Promise.all([
      git.output([
        'rev-list',
        '--left-right',
        '--count',
        `${baseSha}...${headSha}`,
      ]),
      git.output([
        'log',
        '--first-parent',
        `--format=${COMMIT_FORMAT}`,
        `${baseSha}..${headSha}`,
        '--',
      ]),
    ]);
    const [behindBy, aheadBy] = counts.trim().split(/\s+/).map(Number);
    return { aheadBy, behindBy, commits: parseCommits(log) };
  }

  /**
   * The checks recorded on a commit (`recordCommitCheck`, the demo's CI): the note of
   * `refs/notes/mainline-checks`, the newest line of each name. No note is no checks.
   */
  async listCommitChecks(repo: string, sha: string): Promise<CommitCheck[]> {
    const git = this.git(repo);
    const result = await git.run([
      'notes',
      `--ref=${CHECKS_NOTES_REF}`,
      'show',
      sha,
    ]);
    if (result.code !== 0) return [];
    const checks = new Map<string, CommitCheck>();
    for (const line of result.stdout.split('\n')) {
      if (!line.trim()) continue;
      try {
        const check = JSON.parse(line) as CommitCheck;
        if (
          typeof check.name === 'string' &&
          ['success', 'failure', 'pending'].includes(check.state)
        ) {
          checks.set(check.name, {
            name: check.name,
            kind: check.kind === 'check-run' ? 'check-run' : 'status',
            state: check.state,
          });
        }
      } catch {
        // A line someone wrote by hand that is not a check: not a result.
      }
    }
    return [...checks.values()];
  }

  /** Records a check result on a commit (appended to its note; the newest line of a name counts). */
  async recordCommitCheck(
    repo: string,
    sha: string,
    check: Omit<CommitCheck, 'url'>,
  ): Promise<void> {
    const git = this.git(repo);
    await git.output([
      '-c',
      'user.name=mainline',
      '-c',
      'user.email=mainline@mainline.invalid',
      'notes',
      `--ref=${CHECKS_NOTES_REF}`,
      'append',
      '-m',
      JSON.stringify({
        name: check.name,
        kind: check.kind,
        state: check.state,
      }),
      sha,
    ]);
  }

  async isOnBranch(
    repo: string,
    sha: string,
    branch: string,
  ): Promise<boolean> {
    const git = this.git(repo);
    const commit = await this.resolveCommit(repo, sha);
    if (!commit) {
      return false;
    }
    const result = await git.run([
      'merge-base',
      '--is-ancestor',
      commit,
      `refs/heads/${branch}`,
    ]);
    return result.code === 0;
  }

  async readFile(
    repo: string,
    ref: string,
    filePath: string,
  ): Promise<SourceFile | undefined> {
    const git = this.git(repo);
    const commit = await this.resolveCommit(repo, ref);
    return commit ? this.fileAt(git, commit, filePath) : undefined;
  }

  /** A file at a resolved commit; undefined when it is not a file there. */
  private async fileAt(
    git: GitRunner,
    commit: string,
    filePath: string,
  ): Promise<SourceFile | undefined> {
    const listing = await git.output(
      ['ls-tree', '-z', '--full-tree', commit, '--', filePath],
      { env: { GIT_LITERAL_PATHSPECS: '1' } },
    );
    // `dir/` lists the directory's entries: only an entry named exactly `filePath` is the file.
    const match = /^\d+ blob ([0-9a-f]+)\t([^\0]*)\0/.exec(listing);
    if (!match || match[2] !== filePath) {
      return undefined;
    }
    const content = await git.output(['cat-file', 'blob', match[1]]);
    return { content, blobSha: match[1] };
  }

  webUrl(): string | undefined {
    // Local repositories have no web UI.
    return undefined;
  }

  async readFilesWithLastChange(
    repo: string,
    ref: string,
    paths: string[],
  ): Promise<Array<{ file?: SourceFile; lastChange?: SourceCommit }>> {
    const git = this.git(repo);
    // The ref resolved once: every file and its last change are read at the same commit.
    const commit = await this.resolveCommit(repo, ref);
    if (!commit) {
      return paths.map(() => ({}));
    }
    return Promise.all(
      paths.map(async filePath => {
        const [file, lastChange] = await Promise.all([
          this.fileAt(git, commit, filePath),
          this.lastChangeAt(git, commit, filePath),
        ]);
        return file ? { file, lastChange } : {};
      }),
    );
  }

  /** The newest commit reachable from a resolved commit that changed `filePath`. */
  private async lastChangeAt(
    git: GitRunner,
    commit: string,
    filePath: string,
  ): Promise<SourceCommit | undefined> {
    // Literal pathspecs: a path such as `*.md` names a file, it is not a glob.
    const out = await git.output(
      [
        'log',
        '--max-count=1',
        `--format=${COMMIT_FORMAT}`,
        commit,
        '--',
        filePath,
      ],
      { env: { GIT_LITERAL_PATHSPECS: '1' } },
    );
    return parseCommits(out)[0];
  }

  async patchIds(repo: string, shas: string[]): Promise<Map<string, string>> {
    const known = shas.filter(sha => /^[0-9a-f]{40}$/.test(sha));
    const ids = new Map<string, string>();
    if (known.length === 0) return ids;
    // One git process for all: each commit's diff follows a line with its sha (unknown commits
    // print nothing). A merge's change is what it brought to its first parent: one diff, against
    // that parent (`-m --first-parent` would be one per parent, diff-tree ignores --first-parent).
    const out = await this.git(repo).output(
      [
        'diff-tree',
        '--stdin',
        '-p',
        '-r',
        '--root',
        '--no-renames',
        '--diff-merges=first-parent',
      ],
      { input: `${known.join('\n')}\n` },
    );
    const sections = out.split(/^([0-9a-f]{40})$/m);
    for (let i = 1; i + 1 < sections.length; i += 2) {
      const id = patchIdentity(filePatchesOfDiff(sections[i + 1]));
      if (id) ids.set(sections[i], id);
    }
    return ids;
  }

  private async tagTarget(
    git: GitRunner,
    name: string,
  ): Promise<string | undefined> {
    const result = await git.run([
      'rev-parse',
      '--verify',
      '--quiet',
      '--end-of-options',
      `refs/tags/${name}^{commit}`,
    ]);
    return result.code === 0 ? result.stdout.trim() : undefined;
  }

  async createTag(repo: string, tag: NewTag): Promise<{ created: boolean }> {
    const problem = checkTagName(tag.name);
    if (problem) {
      throw new InputError(`tag "${tag.name}": ${problem}`);
    }
    const git = this.git(repo);
    const sha = await this.resolveCommit(repo, tag.sha);
    if (!sha || sha !== tag.sha) {
      throw new NotFoundError(`${tag.sha} is not a commit of ${repo}`);
    }
    const existing = await this.tagTarget(git, tag.name);
    if (existing) {
      return existingTagOutcome(repo, tag, existing);
    }
    const builder = await BareRepoBuilder.open(this.repoPath(repo));
    try {
      // update-ref with an all-zero old value: creation is atomic, an existing tag is never moved.
      await builder.tag(
        tag.name,
        sha,
        tag.annotated ? { ...tag.tagger, date: new Date() } : undefined,
        tag.message,
      );
    } catch (error) {
      // Refused: another creator got there first (or a ref is in the way); see where it points.
      return existingTagOutcome(
        repo,
        tag,
        await this.tagTarget(git, tag.name),
        error,
      );
    }
    return { created: true };
  }

  async commitFile(
    repo: string,
    change: FileChange,
  ): Promise<{ commitSha: string }> {
    const git = this.git(repo);
    checkFilePath(change.path);
    const validBranch = await git.run([
      'check-ref-format',
      `refs/heads/${change.branch}`,
    ]);
    if (!change.branch || validBranch.code !== 0) {
      throw new InputError(`"${change.branch}" is not a valid branch name`);
    }
    const builder = await BareRepoBuilder.open(this.repoPath(repo));
    const head = await builder.head(change.branch);
    if (!head) {
      throw new NotFoundError(`${repo} has no branch ${change.branch}`);
    }
    const current = await this.readFile(repo, head, change.path);
    if (current?.blobSha !== change.expectedBlobSha) {
      throw new ConflictError(
        `${repo}:${change.path} changed since it was read`,
      );
    }
    // Built on the head just read; the branch moves only if it is still there, else the
    // builder's ConflictError (another commit landed between the read and the write).
    const commitSha = await builder.commit({
      branch: change.branch,
      files: { [change.path]: change.content },
      message: change.message,
      author: { ...change.author, date: new Date() },
      parents: [head],
      expectedHead: head,
    });
    return { commitSha };
  }
}

/**
 * A repository-relative file path: no empty, `.`, `..` or `.git` segment (so no leading or
 * trailing `/`), no backslash or control character.
 */
function checkFilePath(filePath: string): void {
  const segments = filePath.split('/');
  if (
    // eslint-disable-next-line no-control-regex
    /[\x00-\x1f\x7f\\]/.test(filePath) ||
    segments.some(
      segment =>
        segment === '' ||
        segment === '.' ||
        segment === '..' ||
        segment.toLowerCase() === '.git',
    )
  ) {
    throw new InputError(`"${filePath}" is not a valid file path`);
  }
}
