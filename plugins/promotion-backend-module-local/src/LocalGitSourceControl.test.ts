import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  BareRepoBuilder,
  UpstreamAnswer,
} from '@mainline/plugin-promotion-node';
import {
  buildSourceControlFixture,
  memoryCache,
  runSourceControlContract,
  SourceControlFixture,
} from '@mainline/plugin-promotion-node/testUtils';
import { LocalGitSourceControl } from './LocalGitSourceControl';
import { localSourceControlProvider } from './module';

runSourceControlContract(
  'local git',
  async ({ root }) => new LocalGitSourceControl(root),
);

describe('LocalGitSourceControl writes', () => {
  const repo = 'acme/service';
  const AUTHOR = { name: 'Argo Deployer', email: 'deployer@example.com' };
  let root: string;
  let fixture: SourceControlFixture;
  let builder: BareRepoBuilder;
  let source: LocalGitSourceControl;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'local-git-writes-'));
    fixture = await buildSourceControlFixture(root);
    builder = await BareRepoBuilder.open(path.join(root, 'acme/service.git'));
    source = new LocalGitSourceControl(root);
  }, 30_000);

  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('keeps check results in a git note, the newest line of each name counting', async () => {
    const sha = fixture.mainFirstParent[0];
    await expect(source.listCommitChecks(repo, sha)).resolves.toEqual([]);
    await source.recordCommitCheck(repo, sha, {
      name: 'build',
      kind: 'check-run',
      state: 'pending',
    });
    await source.recordCommitCheck(repo, sha, {
      name: 'build',
      kind: 'check-run',
      state: 'success',
    });
    await source.recordCommitCheck(repo, sha, {
      name: 'stage-validation',
      kind: 'status',
      state: 'failure',
    });
    await expect(source.listCommitChecks(repo, sha)).resolves.toEqual([
      { name: 'build', kind: 'check-run', state: 'success' },
      { name: 'stage-validation', kind: 'status', state: 'failure' },
    ]);
    // The note is git's own: `git notes` shows it.
    const note = await builder.git.output([
      'notes',
      '--ref=refs/notes/mainline-checks',
      'show',
      sha,
    ]);
    expect(note).toContain('"name":"stage-validation"');
    await expect(
      source.listCommitChecks(repo, fixture.mainFirstParent[1]),
    ).resolves.toEqual([]);
  });

  it('writes an annotated tag as a well-formed tag object with the tagger and message', async () => {
    const { refactor } = fixture.commits;
    await source.createTag(repo, {
      name: 'v2.0.0',
      sha: refactor.sha,
      annotated: true,
      message: 'Release v2.0.0\n\nPromoted from rc-1.\n',
      // A display name cannot break out of the tagger header.
      tagger: { name: 'Eve <x@y>\nobject 0', email: 'eve@example.com\n' },
    });

    const git = builder.git;
    expect(
      (await git.output(['cat-file', '-t', 'refs/tags/v2.0.0'])).trim(),
    ).toBe('tag');
    expect(await git.output(['cat-file', 'tag', 'refs/tags/v2.0.0'])).toMatch(
      new RegExp(
        `^object ${refactor.sha}\ntype commit\ntag v2.0.0\ntagger Eve x@yobject 0 <eve@example.com> \\d+ \\+0000\n\nRelease v2.0.0\n\nPromoted from rc-1.\n$`,
      ),
    );
    await git.output(['fsck', '--strict', '--no-dangling']);
  });

  it('points a lightweight tag straight at the commit', async () => {
    const { metrics } = fixture.commits;
    await source.createTag(repo, {
      name: 'rc-2',
      sha: metrics.sha,
      annotated: false,
      message: 'ignored',
      tagger: AUTHOR,
    });

    expect(
      (await builder.git.output(['cat-file', '-t', 'refs/tags/rc-2'])).trim(),
    ).toBe('commit');
    expect(
      (await builder.git.output(['rev-parse', 'refs/tags/rc-2'])).trim(),
    ).toBe(metrics.sha);
  });

  it('takes only a full sha', async () => {
    for (const sha of [fixture.commits.metrics.sha.slice(0, 7), 'main']) {
      await expect(
        source.createTag(repo, {
          name: 'rc-7',
          sha,
          annotated: false,
          message: '',
          tagger: AUTHOR,
        }),
      ).rejects.toMatchObject({ name: 'NotFoundError' });
    }
    await expect(source.resolveCommit(repo, 'rc-7')).resolves.toBeUndefined();
  });

  it('answers a tag blocked by an existing tag with a ConflictError saying why', async () => {
    // `refs/tags/rc-1` exists, so `refs/tags/rc-1/x` cannot.
    const result = source.createTag(repo, {
      name: 'rc-1/x',
      sha: fixture.commits.metrics.sha,
      annotated: false,
      message: '',
      tagger: AUTHOR,
    });
    await expect(result).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(result).rejects.toThrow(/rc-1\/x cannot be created/);
  });

  it('commits with the author as author and committer, leaving other branches', async () => {
    const release = await source.resolveCommit(repo, 'release/1.0');
    const { commitSha } = await source.commitFile(repo, {
      branch: 'main',
      path: 'deploy/values.yaml',
      content: 'image:\n  tag: rc-1\n',
      expectedBlobSha: undefined,
      message: 'stage: service rc-1',
      author: AUTHOR,
    });

    expect(
      await builder.git.output([
        'log',
        '-1',
        '--format=%an <%ae>%n%cn <%ce>',
        commitSha,
      ]),
    ).toBe(
      'Argo Deployer <deployer@example.com>\nArgo Deployer <deployer@example.com>\n',
    );
    expect(await builder.changedFiles(commitSha)).toEqual([
      'deploy/values.yaml',
    ]);
    await expect(source.resolveCommit(repo, 'release/1.0')).resolves.toBe(
      release,
    );
  });

  it('answers a branch moved between the read and the write with a ConflictError', async () => {
    const head = (await builder.head('main'))!;
    const original = await source.readFile(repo, 'main', 'README.md');
    // Another writer lands first; the builder's compare-and-swap against the head that was read
    // refuses to move the branch.
    const other = await builder.commit({
      branch: 'main',
      files: { 'other.txt': 'x\n' },
      message: 'Other',
      author: { ...AUTHOR, date: new Date() },
    });

    await expect(
      builder.commit({
        branch: 'main',
        files: { 'README.md': `${original!.content}more\n` },
        message: 'Stale',
        author: { ...AUTHOR, date: new Date() },
        parents: [head],
        expectedHead: head,
      }),
    ).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(builder.head('main')).resolves.toBe(other);
  });

  it('rejects an unknown branch with a NotFoundError', async () => {
    await expect(
      source.commitFile(repo, {
        branch: 'live',
        path: 'deploy/values.yaml',
        content: 'x\n',
        expectedBlobSha: undefined,
        message: 'x',
        author: AUTHOR,
      }),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(source.resolveCommit(repo, 'live')).resolves.toBeUndefined();
  });

  it.each([
    ['a bad branch name', 'main..x', 'a.yaml'],
    ['an empty branch name', '', 'a.yaml'],
    ['an absolute path', 'main', '/etc/passwd'],
    ['a path with ..', 'main', 'deploy/../../x'],
    ['a path into .git', 'main', '.git/config'],
    ['a directory path', 'main', 'deploy/'],
    ['an empty path', 'main', ''],
  ])('rejects %s with an InputError', async (_, branch, filePath) => {
    const before = await source.resolveCommit(repo, 'main');
    await expect(
      source.commitFile(repo, {
        branch,
        path: filePath,
        content: 'x\n',
        expectedBlobSha: undefined,
        message: 'x',
        author: AUTHOR,
      }),
    ).rejects.toMatchObject({ name: 'InputError' });
    await expect(source.resolveCommit(repo, 'main')).resolves.toBe(before);
  });
});

const silent: LoggerService = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child: () => silent,
};

describe('git processes as upstream answers (the promotion_upstream_requests metric)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-git-answers-'));
    await buildSourceControlFixture(path.join(dataDir, 'git'));
  }, 30_000);

  afterAll(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('tells of every git process the provider’s adapter starts, with its exit code', async () => {
    const answers: UpstreamAnswer[] = [];
    const source = localSourceControlProvider.create({
      config: new ConfigReader({ promotion: { local: { dataDir } } }),
      logger: silent,
      cache: memoryCache(),
      onUpstreamAnswer: answer => answers.push(answer),
    })!;
    const commits = await source.listCommits('acme/service', {
      ref: 'main',
      limit: 5,
    });
    expect(commits.length).toBeGreaterThan(0);
    expect(
      await source.resolveCommit('acme/service', 'no-such-ref'),
    ).toBeUndefined();
    expect(answers.every(a => a.system === 'git' && a.host === 'local')).toBe(
      true,
    );
    expect(answers.map(a => `${a.path} ${a.status}`)).toContain('log 0');
    // The unknown ref: git said so with a non-zero exit.
    expect(answers.some(a => a.status !== 0)).toBe(true);
  });
});
