import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const ZERO_SHA = '0'.repeat(40);

const RAW_FORMAT = [
  '%H',
  '%T',
  '%P',
  '%an',
  '%ae',
  '%aI',
  '%cn',
  '%ce',
  '%cI',
  '%B',
]
  .join('%x1f')
  .concat('%x1e');

/** One git invocation's outcome; a non-zero exit is an answer here, not an exception. */
export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** A git failure the server did not expect (a bug or a broken repository): answered with 500. */
export class GitFailure extends Error {}

/**
 * Runs the `git` binary on one bare repository, never through a shell. Callers pass anything that
 * came from a request after `--end-of-options` or `--`, or validate it first.
 */
export class Git {
  constructor(readonly gitDir: string) {}

  run(
    args: string[],
    options: { input?: string | Buffer; env?: Record<string, string> } = {},
  ): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'git',
        [`--git-dir=${this.gitDir}`, ...args],
        {
          encoding: 'buffer',
          maxBuffer: 512 * 1024 * 1024,
          env: {
            ...process.env,
            GIT_TERMINAL_PROMPT: '0',
            GIT_CONFIG_NOSYSTEM: '1',
            LC_ALL: 'C',
            ...options.env,
          },
        },
        (error, stdout, stderr) => {
          const code = error ? (error as { code?: unknown }).code : 0;
          if (typeof code !== 'number') {
            reject(error);
            return;
          }
          resolve({ code, stdout, stderr: stderr.toString('utf8') });
        },
      );
      if (options.input !== undefined) {
        child.stdin?.end(options.input);
      }
    });
  }

  /** stdout as text; a non-zero exit is a GitFailure with git's message. */
  async text(
    args: string[],
    options?: { input?: string | Buffer; env?: Record<string, string> },
  ): Promise<string> {
    const result = await this.run(args, options);
    if (result.code !== 0) {
      throw new GitFailure(
        `git ${args[0]} failed (${result.code}): ${result.stderr.trim()}`,
      );
    }
    return result.stdout.toString('utf8');
  }

  /** The object's type, or undefined when the repository has no such object. */
  async objectType(sha: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{40}$/.test(sha)) return undefined;
    const result = await this.run(['cat-file', '-t', sha]);
    return result.code === 0
      ? result.stdout.toString('utf8').trim()
      : undefined;
  }

  /** `rev-parse --verify` of an already validated expression; undefined when it names nothing. */
  async revParse(expression: string): Promise<string | undefined> {
    const result = await this.run([
      'rev-parse',
      '--verify',
      '--quiet',
      '--end-of-options',
      expression,
    ]);
    return result.code === 0
      ? result.stdout.toString('utf8').trim()
      : undefined;
  }

  async defaultBranch(): Promise<string> {
    const result = await this.run(['symbolic-ref', '--short', 'HEAD']);
    return result.code === 0 ? result.stdout.toString('utf8').trim() : 'main';
  }

  /** Whether the repository has no commits on any ref (freshly created). */
  async isEmpty(): Promise<boolean> {
    const out = await this.text(['for-each-ref', '--count=1', 'refs/']);
    return out.trim() === '';
  }

  /** Moves `ref` from `expectedOld` (all zeros: must not exist) to `sha`, atomically. */
  async compareAndSwap(
    ref: string,
    sha: string,
    expectedOld: string | undefined,
  ): Promise<boolean> {
    const result = await this.run([
      'update-ref',
      '--end-of-options',
      ref,
      sha,
      expectedOld ?? ZERO_SHA,
    ]);
    return result.code === 0;
  }

  /**
   * Writes a tree from `baseTree` (or empty) with some paths set or removed, through a throwaway
   * index so that concurrent writers never share state.
   */
  async writeTree(
    baseTree: string | undefined,
    changes: Array<{ path: string; mode: string; sha: string | null }>,
  ): Promise<string> {
    const index = path.join(
      os.tmpdir(),
      `github-test-server-index-${crypto.randomUUID()}`,
    );
    const env = { GIT_INDEX_FILE: index };
    try {
      await this.text(
        baseTree ? ['read-tree', baseTree] : ['read-tree', '--empty'],
        { env },
      );
      const add = changes.filter(c => c.sha !== null);
      const remove = changes.filter(c => c.sha === null);
      if (add.length > 0) {
        await this.text(['update-index', '-z', '--index-info'], {
          env,
          input: add.map(c => `${c.mode} ${c.sha}\t${c.path}\0`).join(''),
        });
      }
      if (remove.length > 0) {
        await this.text(['update-index', '--force-remove', '-z', '--stdin'], {
          env,
          input: remove.map(c => `${c.path}\0`).join(''),
        });
      }
      return (await this.text(['write-tree'], { env })).trim();
    } finally {
      await fs.rm(index, { force: true });
    }
  }

  async writeBlob(content: Buffer): Promise<string> {
    return (
      await this.text(['hash-object', '-w', '-t', 'blob', '--stdin'], {
        input: content,
      })
    ).trim();
  }

  async commitTree(options: {
    tree: string;
    parents: string[];
    message: string;
    author: Person;
    committer: Person;
  }): Promise<string> {
    return (
      await this.text(
        [
          'commit-tree',
          options.tree,
          ...options.parents.flatMap(p => ['-p', p]),
        ],
        {
          input: options.message,
          env: {
            GIT_AUTHOR_NAME: options.author.name,
            GIT_AUTHOR_EMAIL: options.author.email,
            GIT_AUTHOR_DATE: options.author.date,
            GIT_COMMITTER_NAME: options.committer.name,
            GIT_COMMITTER_EMAIL: options.committer.email,
            GIT_COMMITTER_DATE: options.committer.date,
          },
        },
      )
    ).trim();
  }

  /** Reads commits in `git log` order (the order GitHub's commits list uses). */
  async logCommits(args: string[], paths?: string[]): Promise<RawCommit[]> {
    const out = await this.text(
      ['log', `--format=${RAW_FORMAT}`, ...args, '--', ...(paths ?? [])],
      { env: { GIT_LITERAL_PATHSPECS: '1' } },
    );
    return parseRawCommits(out);
  }

  async readCommit(sha: string): Promise<RawCommit | undefined> {
    if ((await this.objectType(sha)) !== 'commit') return undefined;
    return (await this.logCommits(['--no-walk', sha]))[0];
  }
}

/** A person as GitHub shows one on a commit or tag. */
export interface Person {
  name: string;
  email: string;
  /** ISO 8601. */
  date: string;
}

export interface RawCommit {
  sha: string;
  tree: string;
  parents: string[];
  author: Person;
  committer: Person;
  message: string;
}

/** GitHub writes times in UTC without milliseconds. */
export function githubTime(date: string | Date): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseRawCommits(output: string): RawCommit[] {
  return output
    .split('\x1e')
    .map(record => record.replace(/^\n/, ''))
    .filter(record => record.length > 0)
    .map(record => {
      const [sha, tree, parents, an, ae, ad, cn, ce, cd, message] =
        record.split('\x1f');
      return {
        sha,
        tree,
        parents: parents ? parents.split(' ') : [],
        author: { name: an, email: ae, date: githubTime(ad) },
        committer: { name: cn, email: ce, date: githubTime(cd) },
        // git adds one newline after %B; GitHub returns the message without the trailing newline.
        message: (message ?? '').replace(/\n+$/, ''),
      };
    });
}

/**
 * Whether a ref name from a request is plain: no revision syntax (`~`, `^`, `:`, `..`, `@{`), no
 * option-like start. GitHub resolves names, not git revision expressions.
 */
export function isPlainRefName(ref: string): boolean {
  return (
    ref.length > 0 &&
    ref.length <= 255 &&
    !ref.startsWith('-') &&
    // eslint-disable-next-line no-control-regex
    !/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{/.test(ref)
  );
}

/**
 * Resolves a ref as GitHub's `{ref}` / `sha` parameters do: a full or abbreviated sha, a branch,
 * a tag (peeled to its commit), or a fully qualified `refs/...` name.
 */
export async function resolveCommitish(
  git: Git,
  ref: string,
): Promise<string | undefined> {
  if (!isPlainRefName(ref)) return undefined;
  if (/^[0-9a-f]{40}$/.test(ref)) {
    return (await git.objectType(ref)) === 'commit' ? ref : undefined;
  }
  let candidates = [`refs/heads/${ref}`, `refs/tags/${ref}`];
  if (ref === 'HEAD' || ref.startsWith('refs/')) candidates = [ref];
  if (/^[0-9a-f]{4,39}$/.test(ref)) candidates.push(ref);
  for (const candidate of candidates) {
    const sha = await git.revParse(`${candidate}^{commit}`);
    if (sha) return sha;
  }
  return undefined;
}
