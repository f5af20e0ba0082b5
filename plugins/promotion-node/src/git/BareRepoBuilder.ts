import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConflictError } from '@backstage/errors';
import { GitRunner } from './git';

/**
 * A name or email as an ident line can hold it: `<`, `>` and line breaks would end the field or
 * the header (git drops them from commit idents itself, but `hash-object` writes a tag as given).
 */
function identPart(value: string): string {
  return value.replace(/[<>\r\n]/g, '').trim();
}

/**
 * A person and a time for a commit or an annotated tag.
 *
 * @public
 */
export interface Signature {
  name: string;
  email: string;
  date: Date;
}

function signatureEnv(author: Signature, committer: Signature = author) {
  return {
    GIT_AUTHOR_NAME: identPart(author.name),
    GIT_AUTHOR_EMAIL: identPart(author.email),
    GIT_AUTHOR_DATE: author.date.toISOString(),
    GIT_COMMITTER_NAME: identPart(committer.name),
    GIT_COMMITTER_EMAIL: identPart(committer.email),
    GIT_COMMITTER_DATE: committer.date.toISOString(),
  };
}

/**
 * Writes history into a bare repository with git's plumbing commands (no work tree), with chosen
 * authors and dates. Used to create the embedded default's demo repositories and test fixtures,
 * and by the local adapters to commit manifest changes.
 *
 * @public
 */
export class BareRepoBuilder {
  private constructor(readonly gitDir: string, readonly git: GitRunner) {}

  /** Opens a bare repository, creating it (default branch `main`) when absent. */
  static async open(gitDir: string): Promise<BareRepoBuilder> {
    const git = new GitRunner(gitDir);
    try {
      await fs.access(path.join(gitDir, 'HEAD'));
    } catch {
      await fs.mkdir(gitDir, { recursive: true });
      await git.output(['init', '--quiet', '--bare', '--initial-branch=main']);
    }
    return new BareRepoBuilder(gitDir, git);
  }

  async head(branch: string): Promise<string | undefined> {
    const result = await this.git.run([
      'rev-parse',
      '--verify',
      '--quiet',
      `refs/heads/${branch}^{commit}`,
    ]);
    return result.code === 0 ? result.stdout.trim() : undefined;
  }

  /**
   * Commits file changes (content, or null to delete) on top of `parents[0]` (default: the
   * branch head) and moves the branch with compare-and-swap, so a concurrent writer is detected:
   * when the branch no longer points at `expectedHead` (default: the head read here) it is a
   * ConflictError and the branch stays where the other writer put it.
   */
  async commit(options: {
    branch: string;
    files: Record<string, string | null>;
    message: string;
    author: Signature;
    committer?: Signature;
    parents?: string[];
    /** Move the branch only if it still points here (the head the change was computed on). */
    expectedHead?: string;
  }): Promise<string> {
    const current = options.expectedHead ?? (await this.head(options.branch));
    const parents = options.parents ?? (current ? [current] : []);
    const tree = await this.treeWith(parents[0], options.files);
    const sha = (
      await this.git.output(
        ['commit-tree', tree, ...parents.flatMap(p => ['-p', p])],
        {
          input: options.message,
          env: signatureEnv(options.author, options.committer),
        },
      )
    ).trim();
    const moved = await this.git.run([
      'update-ref',
      `refs/heads/${options.branch}`,
      sha,
      current ?? '0'.repeat(40),
    ]);
    if (moved.code !== 0) {
      // A lost race reads "cannot lock ref …: is at X but expected Y" (or "reference already
      // exists", or the ref's lock file held by the other writer).
      const error = `git update-ref failed: ${moved.stderr.trim()}`;
      throw /cannot lock ref/.test(moved.stderr)
        ? new ConflictError(
            `Branch ${options.branch} moved while committing to it (${error})`,
          )
        : new Error(error);
    }
    return sha;
  }

  /** Merges `from` into `into` with a merge commit, as a pull-request merge does. */
  async merge(options: {
    into: string;
    from: string;
    message: string;
    author: Signature;
  }): Promise<string> {
    const [base, other] = await Promise.all([
      this.head(options.into),
      this.head(options.from),
    ]);
    if (!base || !other) {
      throw new Error(
        `cannot merge ${options.from} into ${options.into}: missing branch`,
      );
    }
    const tree = (
      await this.git.output(['merge-tree', '--write-tree', base, other])
    ).split('\n')[0];
    const sha = (
      await this.git.output(['commit-tree', tree, '-p', base, '-p', other], {
        input: options.message,
        env: signatureEnv(options.author),
      })
    ).trim();
    await this.git.output([
      'update-ref',
      `refs/heads/${options.into}`,
      sha,
      base,
    ]);
    return sha;
  }

  /** Creates a branch at a commit; fails when it exists. */
  async branch(name: string, sha: string): Promise<void> {
    await this.git.output([
      'update-ref',
      `refs/heads/${name}`,
      sha,
      '0'.repeat(40),
    ]);
  }

  /** Creates a tag, annotated when a tagger is given; an existing tag is never moved. */
  async tag(
    name: string,
    sha: string,
    tagger?: Signature,
    message?: string,
  ): Promise<void> {
    let target = sha;
    if (tagger) {
      const object = [
        `object ${sha}`,
        'type commit',
        `tag ${name}`,
        `tagger ${identPart(tagger.name)} <${identPart(
          tagger.email,
        )}> ${Math.floor(tagger.date.getTime() / 1000)} +0000`,
        '',
        (message || name).replace(/\n+$/, ''),
        '',
      ].join('\n');
      target = (
        await this.git.output(['hash-object', '-t', 'tag', '-w', '--stdin'], {
          input: object,
        })
      ).trim();
    }
    await this.git.output([
      'update-ref',
      `refs/tags/${name}`,
      target,
      '0'.repeat(40),
    ]);
  }

  /** The files a commit changed relative to its first parent. */
  async changedFiles(sha: string): Promise<string[]> {
    const out = await this.git.output([
      'diff-tree',
      '--no-commit-id',
      '--name-only',
      '-r',
      '--root',
      '-m',
      '--first-parent',
      sha,
    ]);
    return out.split('\n').filter(Boolean);
  }

  private async treeWith(
    parent: string | undefined,
    files: Record<string, string | null>,
  ): Promise<string> {
    const indexDir = await fs.mkdtemp(
      path.join(os.tmpdir(), 'mainline-index-'),
    );
    const env = { GIT_INDEX_FILE: path.join(indexDir, 'index') };
    try {
      if (parent) {
        await this.git.output(['read-tree', parent], { env });
      }
      for (const [file, content] of Object.entries(files)) {
        if (content === null) {
          await this.git.output(
            ['update-index', '--force-remove', '--', file],
            { env },
          );
          continue;
        }
        const blob = (
          await this.git.output(['hash-object', '-w', '--stdin'], {
            input: content,
          })
        ).trim();
        await this.git.output(
          ['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`],
          { env },
        );
      }
      return (await this.git.output(['write-tree'], { env })).trim();
    } finally {
      await fs.rm(indexDir, { recursive: true, force: true });
    }
  }
}
