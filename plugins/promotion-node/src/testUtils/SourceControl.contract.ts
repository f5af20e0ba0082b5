/* eslint-disable jest/no-export -- a contract suite is a test suite that adapter tests import and run */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BareRepoBuilder, Signature } from '../git/BareRepoBuilder';
import { patchIdentity } from '../patchId';
import { NewTag, SourceCommit, SourceControl } from '../ports/SourceControl';

/*
 * The contract every SourceControl adapter passes. It talks to the adapter only through the
 * interface; the fixture repository is written as bare git repositories under a temp root, which
 * the adapter's setup serves however it reads repositories (directly for local git, through a
 * test server for GitHub).
 */

/**
 * The fixture repository's slug; it lives at `<root>/acme/service.git`.
 *
 * @public
 */
export const SOURCE_FIXTURE_REPO = 'acme/service';

const ADA = { name: 'Ada Lovelace', email: 'ada@example.com' };
const GRACE = { name: 'Grace Hopper', email: 'grace@example.com' };
const LINUS = { name: 'Linus Ops', email: 'linus@example.com' };
const MARGARET = { name: 'Margaret Hamilton', email: 'margaret@example.com' };

/** `app/payments.ts` as `feature/payments` leaves it (and its merge brings it onto main). */
const PAYMENTS =
  'export const pay = () => {\n  try {\n    return true;\n  } catch {\n    return false;\n  }\n};\n';

/**
 * A commit of the fixture as the adapter should report it.
 *
 * @public
 */
export interface FixtureCommit {
  sha: string;
  parents: string[];
  subject: string;
  body: string;
  author: { name: string; email: string };
  committedAt: string;
}

/**
 * What the fixture builder wrote, for assertions.
 *
 * @public
 */
export interface SourceControlFixture {
  repo: string;
  /** Every commit, by role. */
  commits: {
    initial: FixtureCommit;
    health: FixtureCommit;
    /** First commit of `feature/payments` (not first-parent on main). */
    paymentsClient: FixtureCommit;
    /** Second commit of `feature/payments` (not first-parent on main). */
    paymentsErrors: FixtureCommit;
    docsApi: FixtureCommit;
    /** The merge of `feature/payments` into main. */
    mergePayments: FixtureCommit;
    /** Tagged `rc-1` (lightweight). */
    logging: FixtureCommit;
    /** Tagged `v1.0.0` (annotated); `release/1.0` branches from it. */
    releaseDocs: FixtureCommit;
    /** Only on `release/1.0`. */
    hotfix: FixtureCommit;
    /** Authored and committed by different people at different times. */
    metrics: FixtureCommit;
    /** Head of main. */
    refactor: FixtureCommit;
  };
  /** main's first-parent history, newest first. */
  mainFirstParent: string[];
  /** `docs/README.md` as each commit that changed it left it. */
  readme: { initial: string; docsApi: string; releaseDocs: string };
}

function at(iso: string): Date {
  return new Date(iso);
}

/**
 * Writes the contract's fixture repository `acme/service` under `root` (as
 * `<root>/acme/service.git`): eight first-parent commits on main with distinct authors and dates,
 * one of them the merge commit of a two-commit feature branch, a lightweight tag `rc-1`, an
 * annotated tag `v1.0.0`, and a `release/1.0` branch with one commit of its own.
 *
 * @public
 */
export async function buildSourceControlFixture(
  root: string,
): Promise<SourceControlFixture> {
  const builder = await BareRepoBuilder.open(
    path.join(root, 'acme', 'service.git'),
  );

  const readme = {
    initial: '# Service\n',
    docsApi: '# Service\n\n## API\n\n`GET /healthz` answers 200.\n',
    releaseDocs:
      '# Service\n\n## API\n\n`GET /healthz` answers 200.\n\n## Releasing\n\nTag `v*` to release.\n',
  };

  const commits: Partial<SourceControlFixture['commits']> = {};
  const record = async (
    role: keyof SourceControlFixture['commits'],
    sha: string,
    message: string,
    author: { name: string; email: string },
    committedAt: Date,
  ) => {
    const [subject, ...rest] = message.split('\n');
    const parents = (
      await builder.git.output(['rev-list', '--parents', '-n', '1', sha])
    )
      .trim()
      .split(' ')
      .slice(1);
    commits[role] = {
      sha,
      parents,
      subject,
      body: rest.join('\n').trim(),
      author: { name: author.name, email: author.email },
      committedAt: committedAt.toISOString(),
    };
  };
  const commit = async (
    role: keyof SourceControlFixture['commits'],
    options: {
      branch: string;
      files: Record<string, string | null>;
      message: string;
      author: Signature;
      committer?: Signature;
    },
  ) => {
    const sha = await builder.commit(options);
    await record(
      role,
      sha,
      options.message,
      options.author,
      (options.committer ?? options.author).date,
    );
    return sha;
  };

  await commit('initial', {
    branch: 'main',
    files: {
      'README.md': '# acme/service\n',
      'docs/README.md': readme.initial,
      'app/main.ts': 'export const version = 1;\n',
    },
    message: 'Initial commit',
    author: { ...ADA, date: at('2024-01-01T10:00:00Z') },
  });
  const health = await commit('health', {
    branch: 'main',
    files: {
      'app/main.ts':
        'export const version = 1;\nexport const healthz = () => 200;\n',
    },
    message:
      'Add health check endpoint\n\nAdds /healthz.\n\nUsed by the load balancer.\n',
    author: { ...GRACE, date: at('2024-01-02T10:00:00Z') },
  });
  await builder.branch('feature/payments', health);
  await commit('paymentsClient', {
    branch: 'feature/payments',
    files: { 'app/payments.ts': 'export const pay = () => true;\n' },
    message: 'Add payment client',
    author: { ...LINUS, date: at('2024-01-03T10:00:00Z') },
  });
  await commit('paymentsErrors', {
    branch: 'feature/payments',
    files: { 'app/payments.ts': PAYMENTS },
    message: 'Handle payment errors',
    author: { ...LINUS, date: at('2024-01-04T10:00:00Z') },
  });
  await commit('docsApi', {
    branch: 'main',
    files: { 'docs/README.md': readme.docsApi },
    message: 'Document the API',
    author: { ...MARGARET, date: at('2024-01-05T10:00:00Z') },
  });
  const mergeMessage =
    'Merge pull request #1 from acme/feature/payments\n\nAdd the payment client\n';
  const mergeDate = at('2024-01-06T10:00:00Z');
  const merge = await builder.merge({
    into: 'main',
    from: 'feature/payments',
    message: mergeMessage,
    author: { ...ADA, date: mergeDate },
  });
  await record('mergePayments', merge, mergeMessage, ADA, mergeDate);
  const logging = await commit('logging', {
    branch: 'main',
    files: {
      'app/main.ts':
        'export const version = 1;\nexport const healthz = () => 200;\nexport const log = console.log;\n',
    },
    message: 'Tune logging',
    author: { ...GRACE, date: at('2024-01-07T10:00:00Z') },
  });
  await builder.tag('rc-1', logging);
  const releaseDocs = await commit('releaseDocs', {
    branch: 'main',
    files: { 'docs/README.md': readme.releaseDocs },
    message: 'Update docs for release',
    author: { ...MARGARET, date: at('2024-01-08T10:00:00Z') },
  });
  await builder.tag(
    'v1.0.0',
    releaseDocs,
    { ...ADA, date: at('2024-01-09T10:00:00Z') },
    'Release 1.0.0',
  );
  await builder.branch('release/1.0', releaseDocs);
  await commit('hotfix', {
    branch: 'release/1.0',
    files: {
      'app/main.ts':
        'export const version = 1;\nexport const healthz = () => 200;\nexport const log = console.log;\nexport const timeoutMs = 5000;\n',
    },
    message: 'Hotfix timeout on release branch',
    author: { ...LINUS, date: at('2024-01-10T10:00:00Z') },
  });
  await commit('metrics', {
    branch: 'main',
    files: {
      'app/main.ts':
        'export const version = 2;\nexport const healthz = () => 200;\nexport const log = console.log;\nexport const metrics = {};\n',
    },
    message: 'Add metrics\n\nCounts requests per route.',
    author: { ...ADA, date: at('2024-01-10T12:00:00Z') },
    committer: { ...GRACE, date: at('2024-01-11T10:00:00Z') },
  });
  await commit('refactor', {
    branch: 'main',
    files: {
      'app/main.ts':
        'export const version = 2;\nexport { healthz, log, metrics } from "./parts";\n',
      'app/parts.ts':
        'export const healthz = () => 200;\nexport const log = console.log;\nexport const metrics = {};\n',
    },
    message: 'Refactor main',
    author: { ...GRACE, date: at('2024-01-12T10:00:00Z') },
  });

  const all = commits as SourceControlFixture['commits'];
  return {
    repo: SOURCE_FIXTURE_REPO,
    commits: all,
    mainFirstParent: [
      all.refactor.sha,
      all.metrics.sha,
      all.releaseDocs.sha,
      all.logging.sha,
      all.mergePayments.sha,
      all.docsApi.sha,
      all.health.sha,
      all.initial.sha,
    ],
    readme,
  };
}

/** The git blob sha of a file's content (what `git hash-object` prints). */
function blobSha(content: string): string {
  return crypto
    .createHash('sha1')
    .update(`blob ${Buffer.byteLength(content)}\0`)
    .update(content)
    .digest('hex');
}

function byName<T extends { name: string }>(refs: T[]): T[] {
  return [...refs].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Runs the SourceControl contract against an adapter. `setup` receives the temp root the fixture
 * repositories were written under (`<root>/<owner>/<name>.git`) and returns the adapter reading
 * them.
 *
 * @public
 */
export function runSourceControlContract(
  adapterName: string,
  setup: (fixture: { root: string }) => Promise<SourceControl>,
): void {
  describe(`SourceControl contract: ${adapterName}`, () => {
    let root: string;
    let fixture: SourceControlFixture;
    let source: SourceControl;
    const repo = SOURCE_FIXTURE_REPO;

    beforeAll(async () => {
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'source-contract-'));
      fixture = await buildSourceControlFixture(root);
      source = await setup({ root });
    }, 30_000);

    afterAll(async () => {
      if (root) {
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    describe('listCommits', () => {
      it('lists main newest first, following first parents only', async () => {
        const commits = await source.listCommits(repo, {
          ref: 'main',
          limit: 50,
        });
        expect(commits.map(c => c.sha)).toEqual(fixture.mainFirstParent);
        const shas = commits.map(c => c.sha);
        expect(shas).toContain(fixture.commits.mergePayments.sha);
        expect(shas).not.toContain(fixture.commits.paymentsClient.sha);
        expect(shas).not.toContain(fixture.commits.paymentsErrors.sha);
        expect(shas).not.toContain(fixture.commits.hotfix.sha);
      });

      it('honours the limit', async () => {
        const commits = await source.listCommits(repo, {
          ref: 'main',
          limit: 3,
        });
        expect(commits.map(c => c.sha)).toEqual(
          fixture.mainFirstParent.slice(0, 3),
        );
      });

      it('starts from a tag or a branch', async () => {
        const fromTag = await source.listCommits(repo, {
          ref: 'v1.0.0',
          limit: 2,
        });
        expect(fromTag.map(c => c.sha)).toEqual([
          fixture.commits.releaseDocs.sha,
          fixture.commits.logging.sha,
        ]);
        const fromBranch = await source.listCommits(repo, {
          ref: 'release/1.0',
          limit: 2,
        });
        expect(fromBranch.map(c => c.sha)).toEqual([
          fixture.commits.hotfix.sha,
          fixture.commits.releaseDocs.sha,
        ]);
      });

      it('keeps only first-parent commits that changed a folder (a monorepo component)', async () => {
        const c = fixture.commits;
        const app = await source.listCommits(repo, {
          ref: 'main',
          limit: 50,
          path: 'app',
        });
        // The merge counts: it brought app/payments.ts onto main. The feature branch's own
        // commits do not appear, as in the unfiltered list.
        expect(app.map(commit => commit.sha)).toEqual([
          c.refactor.sha,
          c.metrics.sha,
          c.logging.sha,
          c.mergePayments.sha,
          c.health.sha,
          c.initial.sha,
        ]);
        const docs = await source.listCommits(repo, {
          ref: 'main',
          limit: 2,
          path: 'docs',
        });
        expect(docs.map(commit => commit.sha)).toEqual([
          c.releaseDocs.sha,
          c.docsApi.sha,
        ]);
        await expect(
          source.listCommits(repo, { ref: 'main', limit: 5, path: 'charts' }),
        ).resolves.toEqual([]);
      });

      it('parses author, commit time, subject, body and parents', async () => {
        const commits = await source.listCommits(repo, {
          ref: 'main',
          limit: 50,
        });
        const find = (sha: string) =>
          commits.find(c => c.sha === sha) as SourceCommit;
        const expectCommit = (expected: FixtureCommit) => {
          const actual = find(expected.sha);
          expect({
            ...actual,
            committedAt: new Date(actual.committedAt).toISOString(),
          }).toEqual(expected);
        };
        for (const role of [
          'initial',
          'health',
          'docsApi',
          'mergePayments',
          'logging',
          'releaseDocs',
          'metrics',
          'refactor',
        ] as const) {
          expectCommit(fixture.commits[role]);
        }

        const health = find(fixture.commits.health.sha);
        expect(health.subject).toBe('Add health check endpoint');
        expect(health.body).toBe(
          'Adds /healthz.\n\nUsed by the load balancer.',
        );
        expect(health.author).toEqual({
          name: 'Grace Hopper',
          email: 'grace@example.com',
        });
        expect(health.committedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
        expect(Date.parse(health.committedAt)).toBe(
          Date.parse('2024-01-02T10:00:00Z'),
        );

        expect(find(fixture.commits.initial.sha).parents).toEqual([]);
        expect(find(fixture.commits.initial.sha).body).toBe('');
        expect(find(fixture.commits.mergePayments.sha).parents).toEqual([
          fixture.commits.docsApi.sha,
          fixture.commits.paymentsErrors.sha,
        ]);

        // Authored by Ada on the 10th, committed by Grace on the 11th: the commit time counts.
        const metrics = find(fixture.commits.metrics.sha);
        expect(metrics.author.name).toBe('Ada Lovelace');
        expect(Date.parse(metrics.committedAt)).toBe(
          Date.parse('2024-01-11T10:00:00Z'),
        );
      });
    });

    describe('listTags', () => {
      it('lists every tag, annotated tags peeled to their commit', async () => {
        const tags = await source.listTags(repo);
        expect(byName(tags)).toEqual([
          { name: 'rc-1', sha: fixture.commits.logging.sha },
          { name: 'v1.0.0', sha: fixture.commits.releaseDocs.sha },
        ]);
      });
    });

    describe('listBranches', () => {
      it('lists every branch', async () => {
        const branches = await source.listBranches(repo);
        expect(byName(branches)).toEqual([
          {
            name: 'feature/payments',
            sha: fixture.commits.paymentsErrors.sha,
          },
          { name: 'main', sha: fixture.commits.refactor.sha },
          { name: 'release/1.0', sha: fixture.commits.hotfix.sha },
        ]);
      });

      it('filters by prefix', async () => {
        await expect(
          source.listBranches(repo, { prefix: 'release/' }),
        ).resolves.toEqual([
          { name: 'release/1.0', sha: fixture.commits.hotfix.sha },
        ]);
        await expect(
          source.listBranches(repo, { prefix: 'hotfix/' }),
        ).resolves.toEqual([]);
      });
    });

    describe('resolveCommit', () => {
      it('resolves a full sha, a short sha, a tag and a branch', async () => {
        const { releaseDocs, logging, hotfix, refactor } = fixture.commits;
        await expect(source.resolveCommit(repo, releaseDocs.sha)).resolves.toBe(
          releaseDocs.sha,
        );
        await expect(
          source.resolveCommit(repo, releaseDocs.sha.slice(0, 7)),
        ).resolves.toBe(releaseDocs.sha);
        await expect(source.resolveCommit(repo, 'v1.0.0')).resolves.toBe(
          releaseDocs.sha,
        );
        await expect(source.resolveCommit(repo, 'rc-1')).resolves.toBe(
          logging.sha,
        );
        await expect(source.resolveCommit(repo, 'release/1.0')).resolves.toBe(
          hotfix.sha,
        );
        await expect(source.resolveCommit(repo, 'main')).resolves.toBe(
          refactor.sha,
        );
      });

      it.each([
        ['an unknown name', 'no-such-ref'],
        ['an unknown sha', '0123456789abcdef0123456789abcdef01234567'],
        ['an option-like ref', '-x'],
        ['an option-like long ref', '--output=/tmp/x'],
        ['a revision past the root', 'HEAD~999'],
        ['an empty ref', ''],
      ])('is undefined for %s', async (_, ref) => {
        await expect(source.resolveCommit(repo, ref)).resolves.toBeUndefined();
      });
    });

    describe('compare', () => {
      it('counts what head has and base has not, commits newest first', async () => {
        const { logging, releaseDocs, metrics, refactor } = fixture.commits;
        const comparison = await source.compare(repo, 'rc-1', 'main');
        expect(comparison.aheadBy).toBe(3);
        expect(comparison.behindBy).toBe(0);
        expect(comparison.commits.map(c => c.sha)).toEqual([
          refactor.sha,
          metrics.sha,
          releaseDocs.sha,
        ]);
        expect(comparison.commits.map(c => c.sha)).not.toContain(logging.sha);
      });

      it('counts both sides of diverged refs', async () => {
        const comparison = await source.compare(repo, 'main', 'release/1.0');
        expect(comparison.aheadBy).toBe(1);
        expect(comparison.behindBy).toBe(2);
        expect(comparison.commits.map(c => c.sha)).toEqual([
          fixture.commits.hotfix.sha,
        ]);
        const commit = comparison.commits[0];
        expect(commit.subject).toBe('Hotfix timeout on release branch');
        expect(commit.author.name).toBe('Linus Ops');
      });

      it('lists one entry per merge across a merged branch', async () => {
        const { health, paymentsClient, paymentsErrors } = fixture.commits;
        const comparison = await source.compare(repo, health.sha, 'main');
        // Every commit counts, including the feature branch's own two...
        expect(comparison.aheadBy).toBe(8);
        expect(comparison.behindBy).toBe(0);
        // ...but the list follows first parents.
        expect(comparison.commits.map(c => c.sha)).toEqual(
          fixture.mainFirstParent.slice(0, 6),
        );
        const shas = comparison.commits.map(c => c.sha);
        expect(shas).not.toContain(paymentsClient.sha);
        expect(shas).not.toContain(paymentsErrors.sha);
      });

      it('is empty when head is base', async () => {
        const comparison = await source.compare(repo, 'main', 'main');
        expect(comparison).toEqual({ aheadBy: 0, behindBy: 0, commits: [] });
      });
    });

    describe('isOnBranch', () => {
      it('is true for a commit reachable from the branch', async () => {
        const { logging, initial, paymentsClient, hotfix } = fixture.commits;
        await expect(
          source.isOnBranch(repo, logging.sha, 'main'),
        ).resolves.toBe(true);
        await expect(
          source.isOnBranch(repo, initial.sha, 'main'),
        ).resolves.toBe(true);
        await expect(
          source.isOnBranch(repo, paymentsClient.sha, 'main'),
        ).resolves.toBe(true);
        await expect(
          source.isOnBranch(repo, hotfix.sha, 'release/1.0'),
        ).resolves.toBe(true);
      });

      it('is false for a commit only on another branch', async () => {
        await expect(
          source.isOnBranch(repo, fixture.commits.hotfix.sha, 'main'),
        ).resolves.toBe(false);
        await expect(
          source.isOnBranch(repo, fixture.commits.refactor.sha, 'release/1.0'),
        ).resolves.toBe(false);
      });

      it('is false for an unknown commit', async () => {
        await expect(
          source.isOnBranch(
            repo,
            '0123456789abcdef0123456789abcdef01234567',
            'main',
          ),
        ).resolves.toBe(false);
      });
    });

    describe('readFile', () => {
      it('returns the content and blob sha at a ref', async () => {
        const atMain = await source.readFile(repo, 'main', 'docs/README.md');
        expect(atMain).toEqual({
          content: fixture.readme.releaseDocs,
          blobSha: blobSha(fixture.readme.releaseDocs),
        });
        const atRc = await source.readFile(repo, 'rc-1', 'docs/README.md');
        expect(atRc).toEqual({
          content: fixture.readme.docsApi,
          blobSha: blobSha(fixture.readme.docsApi),
        });
        const atSha = await source.readFile(
          repo,
          fixture.commits.initial.sha,
          'docs/README.md',
        );
        expect(atSha?.content).toBe(fixture.readme.initial);
      });

      it('reads a nested file brought in by a merge', async () => {
        const file = await source.readFile(repo, 'v1.0.0', 'app/payments.ts');
        expect(file?.content).toContain('catch');
        await expect(
          source.readFile(repo, fixture.commits.health.sha, 'app/payments.ts'),
        ).resolves.toBeUndefined();
      });

      it('is undefined for a missing path, a directory or an unknown ref', async () => {
        await expect(
          source.readFile(repo, 'main', 'docs/MISSING.md'),
        ).resolves.toBeUndefined();
        await expect(
          source.readFile(repo, 'main', 'docs'),
        ).resolves.toBeUndefined();
        await expect(
          source.readFile(repo, 'main', 'docs/'),
        ).resolves.toBeUndefined();
        await expect(
          source.readFile(repo, 'main', 'docs/*.md'),
        ).resolves.toBeUndefined();
        await expect(
          source.readFile(repo, 'no-such-ref', 'docs/README.md'),
        ).resolves.toBeUndefined();
      });
    });

    describe('readFilesWithLastChange', () => {
      it('reads several files at a ref, each with the commit that last changed it', async () => {
        const { releaseDocs, refactor } = fixture.commits;
        const [docs, main, missing] = await source.readFilesWithLastChange(
          repo,
          'main',
          ['docs/README.md', 'app/main.ts', 'docs/MISSING.md'],
        );
        expect(docs.file).toEqual(
          await source.readFile(repo, 'main', 'docs/README.md'),
        );
        expect(docs.file?.content).toBe(fixture.readme.releaseDocs);
        // The whole commit: subject, body, author, commit time and parents.
        expect(docs.lastChange).toEqual(releaseDocs);
        expect(main.lastChange).toEqual(refactor);
        expect(missing).toEqual({});
      });

      it('reads at the branch asked for, and takes a path for a path, not a glob', async () => {
        const [main, glob] = await source.readFilesWithLastChange(
          repo,
          'release/1.0',
          ['app/main.ts', '*.md'],
        );
        expect(main.lastChange).toMatchObject({
          sha: fixture.commits.hotfix.sha,
          subject: 'Hotfix timeout on release branch',
          author: { name: 'Linus Ops', email: 'linus@example.com' },
        });
        expect(main.file).toEqual(
          await source.readFile(repo, 'release/1.0', 'app/main.ts'),
        );
        expect(glob).toEqual({});
      });

      it('answers nothing for an unknown ref, and a NotFoundError for an unknown repository', async () => {
        await expect(
          source.readFilesWithLastChange(repo, 'no-such-branch', [
            'docs/README.md',
          ]),
        ).resolves.toEqual([{}]);
        await expect(
          source.readFilesWithLastChange('acme/missing', 'main', [
            'docs/README.md',
          ]),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
      });
    });

    describe('patchIds', () => {
      it('gives a merge commit the id of its change against the first parent', async () => {
        const { mergePayments, docsApi } = fixture.commits;
        const ids = await source.patchIds(repo, [
          mergePayments.sha,
          docsApi.sha,
        ]);
        // The merge brought app/payments.ts onto main; against its second parent it would look
        // like docsApi's change instead.
        const added = PAYMENTS.replace(/\n$/, '')
          .split('\n')
          .map(line => `+${line}`);
        expect(ids.get(mergePayments.sha)).toBe(
          patchIdentity([
            {
              filename: 'app/payments.ts',
              patch: `@@ -0,0 +1,${added.length} @@\n${added.join('\n')}`,
            },
          ]),
        );
        expect(ids.get(mergePayments.sha)).not.toBe(ids.get(docsApi.sha));
      });
    });

    describe('unknown and unsafe repositories', () => {
      it.each(['acme/missing', 'nobody/service'])(
        'rejects %s with a NotFoundError',
        async missing => {
          await expect(
            source.listCommits(missing, { ref: 'main', limit: 5 }),
          ).rejects.toMatchObject({ name: 'NotFoundError' });
          await expect(source.listTags(missing)).rejects.toMatchObject({
            name: 'NotFoundError',
          });
          await expect(
            source.resolveCommit(missing, 'main'),
          ).rejects.toMatchObject({ name: 'NotFoundError' });
          await expect(
            source.readFile(missing, 'main', 'docs/README.md'),
          ).rejects.toMatchObject({ name: 'NotFoundError' });
        },
      );

      it.each([
        '../x',
        '../acme/service',
        'acme/../acme/service',
        'acme/service/../../x',
        '/acme/service',
        'acme',
        '',
      ])('rejects the slug %j with a NotFoundError', async slug => {
        await expect(
          source.listCommits(slug, { ref: 'main', limit: 5 }),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
        await expect(
          source.readFile(slug, 'main', 'docs/README.md'),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
      });
    });
  });

  describe(`SourceControl contract, writes: ${adapterName}`, () => {
    let root: string;
    let fixture: SourceControlFixture;
    let source: SourceControl;
    const repo = SOURCE_FIXTURE_REPO;
    const TAGGER = { name: 'Mainline', email: 'mainline@example.com' };
    const AUTHOR = { name: 'Ada Lovelace', email: 'ada@example.com' };
    const newTag = (name: string, sha: string, annotated = false): NewTag => ({
      name,
      sha,
      annotated,
      message: `Release ${name}`,
      tagger: TAGGER,
    });

    // One fixture for all write tests (each uses its own tag names and files, so none depends on
    // another's writes); fresh from the read tests' one.
    beforeAll(async () => {
      root = await fs.mkdtemp(
        path.join(os.tmpdir(), 'source-contract-writes-'),
      );
      fixture = await buildSourceControlFixture(root);
      source = await setup({ root });
    }, 30_000);

    afterAll(async () => {
      if (root) {
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    const tagsNamed = async (name: string) =>
      (await source.listTags(repo)).filter(t => t.name === name);
    const allTags = async () => byName(await source.listTags(repo));
    const head = () => source.resolveCommit(repo, 'main');

    describe('patchIds', () => {
      it('gives a cherry-pick made without a trailer the id of its original, and other changes other ids', async () => {
        const change = (branch: string, content: string, message: string) =>
          source.commitFile(repo, {
            branch,
            path: 'app/picked.ts',
            content,
            expectedBlobSha: undefined,
            message,
            author: AUTHOR,
          });
        const original = await change(
          'main',
          'export const picked = 1;\n',
          'Fix the picked value',
        );
        const pick = await change(
          'release/1.0',
          'export const picked = 1;\n',
          'Fix the picked value',
        );
        const other = await source.commitFile(repo, {
          branch: 'main',
          path: 'app/picked.ts',
          content: 'export const picked = 2;\n',
          expectedBlobSha: (
            await source.readFile(repo, 'main', 'app/picked.ts')
          )?.blobSha,
          message: 'Another value',
          author: AUTHOR,
        });
        const ids = await source.patchIds(repo, [
          original.commitSha,
          pick.commitSha,
          other.commitSha,
          'f'.repeat(40).replace(/^f/, 'e'),
        ]);
        expect(pick.commitSha).not.toBe(original.commitSha);
        expect(ids.get(original.commitSha)).toMatch(/^[0-9a-f]{40}$/);
        expect(ids.get(pick.commitSha)).toBe(ids.get(original.commitSha));
        expect(ids.get(other.commitSha)).toMatch(/^[0-9a-f]{40}$/);
        expect(ids.get(other.commitSha)).not.toBe(ids.get(original.commitSha));
      });
    });

    describe('createTag', () => {
      it('creates lightweight and annotated tags that peel to the commit', async () => {
        const sha = fixture.commits.metrics.sha;
        for (const [name, annotated] of [
          ['rc-2', false],
          ['v1.1.0', true],
        ] as const) {
          await expect(
            source.createTag(repo, newTag(name, sha, annotated)),
          ).resolves.toEqual({ created: true });
          expect(await tagsNamed(name)).toEqual([{ name, sha }]);
          expect(await source.resolveCommit(repo, name)).toBe(sha);
        }
      });

      it('succeeds without creating when the tag already points at the commit', async () => {
        const { refactor, logging, releaseDocs } = fixture.commits;
        await source.createTag(repo, newTag('rc-3', refactor.sha));
        await source.createTag(repo, newTag('v1.2.0', refactor.sha, true));
        const before = await allTags();

        for (const repeat of [
          newTag('rc-3', refactor.sha),
          newTag('v1.2.0', refactor.sha, true),
          // Whichever kind the existing tag is: it already points where asked.
          newTag('rc-3', refactor.sha, true),
          newTag('v1.2.0', refactor.sha),
          // The fixture's own lightweight and annotated tags.
          newTag('rc-1', logging.sha),
          newTag('v1.0.0', releaseDocs.sha, true),
        ]) {
          await expect(source.createTag(repo, repeat)).resolves.toEqual({
            created: false,
          });
        }
        expect(await allTags()).toEqual(before);
      });

      it('never moves a tag: another commit is a ConflictError naming the commit it points at', async () => {
        const { logging, releaseDocs, refactor } = fixture.commits;
        const before = await allTags();

        for (const [tag, pointsAt] of [
          [newTag('rc-1', refactor.sha), logging.sha],
          [newTag('rc-1', refactor.sha, true), logging.sha],
          [newTag('v1.0.0', refactor.sha, true), releaseDocs.sha],
        ] as const) {
          const moved = source.createTag(repo, tag);
          await expect(moved).rejects.toMatchObject({ name: 'ConflictError' });
          await expect(moved).rejects.toThrow(pointsAt.slice(0, 7));
        }

        expect(await allTags()).toEqual(before);
        expect(await source.resolveCommit(repo, 'rc-1')).toBe(logging.sha);
        expect(await source.resolveCommit(repo, 'v1.0.0')).toBe(
          releaseDocs.sha,
        );
      });

      it.each([
        ['empty', ''],
        ['with a space', 'rc 4'],
        ['option-like', '-rc-4'],
        ['with ..', 'rc 1..x'],
        ['with ~', 'v1.0~1'],
        ['with a colon', 'v1:0'],
        ['ending in .lock', 'v1.lock'],
        ['with a line break', 'rc-4\ntagger x'],
        ['too long', `v${'1'.repeat(200)}`],
      ])('refuses a tag name %s with an InputError', async (_, name) => {
        const before = await allTags();
        for (const annotated of [false, true]) {
          await expect(
            source.createTag(
              repo,
              newTag(name, fixture.commits.metrics.sha, annotated),
            ),
          ).rejects.toMatchObject({ name: 'InputError' });
        }
        expect(await allTags()).toEqual(before);
      });

      it('rejects a sha that is not a commit of the repository', async () => {
        await expect(
          source.createTag(
            repo,
            newTag('rc-404', '0123456789abcdef0123456789abcdef01234567'),
          ),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
        expect(await tagsNamed('rc-404')).toEqual([]);
      });

      it('rejects an unknown repository with a NotFoundError', async () => {
        await expect(
          source.createTag(
            'acme/missing',
            newTag('rc-1', fixture.commits.metrics.sha),
          ),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
      });

      it('lets exactly one of concurrent creators of one tag on different commits win', async () => {
        const shas = [
          fixture.commits.metrics.sha,
          fixture.commits.refactor.sha,
        ];
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            source.createTag(repo, newTag('rc-race', shas[i % 2], i % 3 === 0)),
          ),
        );
        const [winner] = await tagsNamed('rc-race');
        expect(shas).toContain(winner.sha);
        const outcomes = results.map((result, i) => ({
          wins: shas[i % 2] === winner.sha,
          outcome:
            result.status === 'fulfilled'
              ? 'fulfilled'
              : (result.reason as Error).name,
        }));
        expect(outcomes.filter(o => o.wins).map(o => o.outcome)).toEqual(
          Array(5).fill('fulfilled'),
        );
        expect(outcomes.filter(o => !o.wins).map(o => o.outcome)).toEqual(
          Array(5).fill('ConflictError'),
        );
        const created = results.filter(
          r =>
            r.status === 'fulfilled' &&
            (r.value as { created: boolean }).created,
        );
        expect(created).toHaveLength(1);
      });
    });

    describe('commitFile', () => {
      it('commits a new file on top of the branch, as the author', async () => {
        const before = await head();
        const startedAt = Math.floor(Date.now() / 1000) * 1000;
        const content = 'image:\n  tag: rc-1\n';

        const { commitSha } = await source.commitFile(repo, {
          branch: 'main',
          path: 'deploy/new/values.yaml',
          content,
          expectedBlobSha: undefined,
          message:
            'stage: service rc-1\n\nPromote rc-1.\nRequested-by: user:default/ada',
          author: AUTHOR,
        });

        expect(commitSha).toMatch(/^[0-9a-f]{40}$/);
        expect(await head()).toBe(commitSha);
        expect(
          await source.readFile(repo, 'main', 'deploy/new/values.yaml'),
        ).toEqual({ content, blobSha: blobSha(content) });
        const [commit] = await source.listCommits(repo, {
          ref: 'main',
          limit: 1,
        });
        expect(commit).toMatchObject({
          sha: commitSha,
          parents: [before],
          subject: 'stage: service rc-1',
          body: 'Promote rc-1.\nRequested-by: user:default/ada',
          author: AUTHOR,
        });
        expect(Date.parse(commit.committedAt)).toBeGreaterThanOrEqual(
          startedAt,
        );
        const [written] = await source.readFilesWithLastChange(repo, 'main', [
          'deploy/new/values.yaml',
        ]);
        expect(written.lastChange?.sha).toBe(commitSha);
        // Everything else is as it was.
        expect(await source.readFile(repo, 'main', 'app/parts.ts')).toEqual(
          await source.readFile(repo, before!, 'app/parts.ts'),
        );
      });

      it('updates a file from its current blob sha; a stale one is a ConflictError that writes nothing', async () => {
        const file = 'deploy/stage.yaml';
        await source.commitFile(repo, {
          branch: 'main',
          path: file,
          content: 'tag: a\n',
          expectedBlobSha: undefined,
          message: 'stage: a',
          author: AUTHOR,
        });
        const read = await source.readFile(repo, 'main', file);
        const second = await source.commitFile(repo, {
          branch: 'main',
          path: file,
          content: 'tag: b\n',
          expectedBlobSha: read!.blobSha,
          message: 'stage: b',
          author: AUTHOR,
        });
        expect(await head()).toBe(second.commitSha);
        expect(await source.readFile(repo, 'main', file)).toEqual({
          content: 'tag: b\n',
          blobSha: blobSha('tag: b\n'),
        });

        await expect(
          source.commitFile(repo, {
            branch: 'main',
            path: file,
            content: 'tag: c\n',
            expectedBlobSha: read!.blobSha,
            message: 'stage: c (stale)',
            author: AUTHOR,
          }),
        ).rejects.toMatchObject({ name: 'ConflictError' });

        expect(await head()).toBe(second.commitSha);
        expect((await source.readFile(repo, 'main', file))?.content).toBe(
          'tag: b\n',
        );
      });

      it('rejects creating a file that exists, or updating one that does not', async () => {
        const before = await head();
        const readme = await source.readFile(repo, 'main', 'README.md');

        await expect(
          source.commitFile(repo, {
            branch: 'main',
            path: 'README.md',
            content: '# Replaced\n',
            expectedBlobSha: undefined,
            message: 'Replace the README',
            author: AUTHOR,
          }),
        ).rejects.toMatchObject({ name: 'ConflictError' });
        await expect(
          source.commitFile(repo, {
            branch: 'main',
            path: 'deploy/missing.yaml',
            content: 'tag: a\n',
            expectedBlobSha: readme!.blobSha,
            message: 'Update a missing file',
            author: AUTHOR,
          }),
        ).rejects.toMatchObject({ name: 'ConflictError' });

        expect(await head()).toBe(before);
        expect(await source.readFile(repo, 'main', 'README.md')).toEqual(
          readme,
        );
      });

      it('lets exactly one of concurrent writers from the same blob win', async () => {
        const before = await head();
        const original = await source.readFile(repo, 'main', 'app/main.ts');

        const results = await Promise.allSettled(
          [1, 2, 3, 4, 5].map(n =>
            source.commitFile(repo, {
              branch: 'main',
              path: 'app/main.ts',
              content: `export const writer = ${n};\n`,
              expectedBlobSha: original!.blobSha,
              message: `Writer ${n}`,
              author: AUTHOR,
            }),
          ),
        );

        const won = results.flatMap((r, i) =>
          r.status === 'fulfilled'
            ? [{ n: i + 1, sha: r.value.commitSha }]
            : [],
        );
        expect(won).toHaveLength(1);
        expect(
          results
            .filter(r => r.status === 'rejected')
            .map(r => ((r as PromiseRejectedResult).reason as Error).name),
        ).toEqual(Array(4).fill('ConflictError'));
        expect(await head()).toBe(won[0].sha);
        expect(
          (await source.readFile(repo, 'main', 'app/main.ts'))?.content,
        ).toBe(`export const writer = ${won[0].n};\n`);
        const [commit] = await source.listCommits(repo, {
          ref: 'main',
          limit: 1,
        });
        expect(commit.parents).toEqual([before]);
      });

      it('rejects an unknown repository with a NotFoundError', async () => {
        await expect(
          source.commitFile('acme/missing', {
            branch: 'main',
            path: 'README.md',
            content: 'x\n',
            expectedBlobSha: undefined,
            message: 'x',
            author: AUTHOR,
          }),
        ).rejects.toMatchObject({ name: 'NotFoundError' });
      });
    });
  });
}
