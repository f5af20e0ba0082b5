import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  mockServices,
  registerMswTestHooks,
} from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Octokit } from '@octokit/rest';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { GitRunner } from '@mainline/plugin-promotion-node';
import {
  buildSourceControlFixture,
  runSourceControlContract,
  SOURCE_FIXTURE_REPO,
  memoryCache,
} from '@mainline/plugin-promotion-node/testUtils';
import { commitPageBound, GitHubSourceControl } from './GitHubSourceControl';

const TOKEN = 'contract-token';
const servers: GitHubTestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
});

async function serve(root: string) {
  const server = await startGitHubTestServer({ root, token: TOKEN });
  servers.push(server);
  return server;
}

runSourceControlContract('GitHubSourceControl', async ({ root }) => {
  const server = await serve(root);
  return GitHubSourceControl.fromToken({
    baseUrl: server.baseUrl,
    token: TOKEN,
    cache: memoryCache(),
    writeSpacingMs: 0,
    waitUnitMs: 1,
  });
});

/**
 * `<root>/acme/big.git`: `merges` first-parent merge commits on main, each merging a one-commit
 * side branch (2 × merges + 1 commits); every 100th side commit touches `docs/`.
 */
async function writeBigRepo(root: string, merges: number): Promise<GitRunner> {
  const dir = path.join(root, 'acme', 'big.git');
  await fs.mkdir(dir, { recursive: true });
  const git = new GitRunner(dir);
  await git.output(['init', '--quiet', '--bare', '--initial-branch=main']);
  const lines: string[] = [];
  const file = (name: string, content: string) =>
    `M 100644 inline ${name}\ndata ${Buffer.byteLength(content)}\n${content}`;
  const commit = (
    ref: string,
    mark: number,
    time: number,
    message: string,
    parents: number[],
    files: string[],
  ) => {
    lines.push(
      `commit ${ref}`,
      `mark :${mark}`,
      `committer Dev <dev@example.com> ${1_700_000_000 + time * 60} +0000`,
      `data ${Buffer.byteLength(message)}`,
      message,
      ...(parents[0] ? [`from :${parents[0]}`] : []),
      ...parents.slice(1).map(p => `merge :${p}`),
      ...files,
      '',
    );
  };
  commit('refs/heads/main', 1, 0, 'Initial', [], [file('main.txt', '0\n')]);
  for (let i = 1; i <= merges; i++) {
    const main = 2 * i + 1;
    const side = 2 * i;
    const previous = i === 1 ? 1 : main - 2;
    const sideFiles = [
      file('side.txt', `${i}\n`),
      ...(i % 100 === 0 ? [file('docs/notes.md', `${i}\n`)] : []),
    ];
    commit(
      `refs/heads/feature/${i}`,
      side,
      2 * i,
      `Feature ${i}`,
      [previous],
      sideFiles,
    );
    // fast-import does not merge trees: the merge commit carries the side branch's files itself.
    commit(
      'refs/heads/main',
      main,
      2 * i + 1,
      `Merge feature ${i}`,
      [previous, side],
      [file('main.txt', `${i}\n`), ...sideFiles],
    );
  }
  await git.output(['fast-import', '--quiet'], { input: lines.join('\n') });
  return git;
}

describe('GitHubSourceControl upstream costs', () => {
  let root: string;
  let server: GitHubTestServer;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'github-source-costs-'));
    await buildSourceControlFixture(root);
    server = await serve(root);
  }, 30_000);

  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const adapter = () =>
    GitHubSourceControl.fromToken({
      baseUrl: server.baseUrl,
      token: TOKEN,
      cache: memoryCache(),
      writeSpacingMs: 0,
    });

  it('answers a second read of unchanged data with 304s only', async () => {
    const source = adapter();
    const readLineage = () =>
      Promise.all([
        source.listCommits(SOURCE_FIXTURE_REPO, { ref: 'main', limit: 50 }),
        source.listTags(SOURCE_FIXTURE_REPO),
        source.listBranches(SOURCE_FIXTURE_REPO, { prefix: 'release/' }),
        source.readFile(SOURCE_FIXTURE_REPO, 'main', 'docs/README.md'),
        source.compare(SOURCE_FIXTURE_REPO, 'rc-1', 'main'),
      ]);

    server.resetRequests();
    const first = await readLineage();
    const firstRound = [...server.requests];
    expect(firstRound.length).toBeGreaterThan(0);
    expect(firstRound.every(r => r.status === 200)).toBe(true);

    server.resetRequests();
    const second = await readLineage();
    expect(second).toEqual(first);
    // The reads run concurrently, so compare the requests regardless of order.
    const calls = (requests: typeof firstRound) =>
      requests.map(r => `${r.kind} ${r.path}?${r.query}`).sort();
    expect(calls(server.requests)).toEqual(calls(firstRound));
    // Every API read is a 304; tags come from git's ref advertisement (one request, outside the
    // API's rate limit, and never conditional).
    const api = server.requests.filter(r => r.kind === 'api');
    expect(api.map(r => r.status)).toEqual(api.map(() => 304));
    expect(api.every(r => r.conditional)).toBe(true);
    expect(server.requests.filter(r => r.kind === 'git')).toHaveLength(1);

    // A write changes what the next read sees, through a fresh 200.
    await source.commitFile(SOURCE_FIXTURE_REPO, {
      branch: 'main',
      path: 'deploy/stage.yaml',
      content: 'tag: x\n',
      expectedBlobSha: undefined,
      message: 'stage: x',
      author: { name: 'Ada', email: 'ada@example.com' },
    });
    server.resetRequests();
    const [commits] = await readLineage();
    expect(commits[0].subject).toBe('stage: x');
    expect(server.requests.some(r => r.status === 200)).toBe(true);
  });

  it('lists 500 tags, annotated ones peeled, in one request', async () => {
    const git = await writeBigRepo(root, 300);
    const shas = (await git.output(['rev-list', '--first-parent', 'main']))
      .trim()
      .split('\n');
    for (let i = 0; i < 500; i++) {
      const sha = shas[i % shas.length];
      if (i % 2) {
        await git.output(['tag', `rc-${i}`, sha]);
      } else {
        await git.output(['tag', '-a', '-m', `v${i}`, `v0.${i}.0`, sha], {
          env: {
            GIT_COMMITTER_NAME: 'Rel',
            GIT_COMMITTER_EMAIL: 'rel@example.com',
          },
        });
      }
    }
    const source = adapter();
    server.resetRequests();
    const tags = await source.listTags('acme/big');
    expect(tags).toHaveLength(500);
    expect(tags.find(t => t.name === 'v0.2.0')?.sha).toBe(shas[2]);
    expect(tags.find(t => t.name === 'rc-3')?.sha).toBe(shas[3]);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ kind: 'git', status: 200 });
  }, 120_000);

  it('reads a first-parent lineage of a 10,001-commit repository in a bounded number of requests', async () => {
    const git = await writeBigRepo(root, 5000);
    const source = adapter();
    const repo = 'acme/big';

    server.resetRequests();
    const commits = await source.listCommits(repo, { ref: 'main', limit: 50 });
    const expected = (
      await git.output(['rev-list', '--first-parent', '-n', '50', 'main'])
    )
      .trim()
      .split('\n');
    expect(commits.map(c => c.sha)).toEqual(expected);
    expect(commits[0].parents).toHaveLength(2);
    // One to resolve the ref, one or two pages of 100 commits: not one per commit.
    expect(server.requests.length).toBeLessThanOrEqual(3);
    expect(server.requests.length).toBeLessThanOrEqual(1 + commitPageBound(50));

    server.resetRequests();
    const longer = await source.listCommits(repo, {
      ref: 'main',
      limit: 400,
    });
    expect(longer.map(c => c.sha)).toEqual(
      (await git.output(['rev-list', '--first-parent', '-n', '400', 'main']))
        .trim()
        .split('\n'),
    );
    expect(server.requests.length).toBeLessThanOrEqual(1 + 8);

    server.resetRequests();
    const docs = await source.listCommits(repo, {
      ref: 'main',
      limit: 3,
      path: 'docs',
    });
    expect(docs.map(c => c.sha)).toEqual(
      (
        await git.output([
          'log',
          '--first-parent',
          '--format=%H',
          '-n',
          '3',
          'main',
          '--',
          'docs',
        ])
      )
        .trim()
        .split('\n'),
    );
    expect(docs.map(c => c.subject)).toEqual([
      'Merge feature 5000',
      'Merge feature 4900',
      'Merge feature 4800',
    ]);
    expect(server.requests.length).toBeLessThanOrEqual(
      1 + commitPageBound(3) + 10,
    );
  }, 60_000);
});

describe('GitHubSourceControl upstream failures', () => {
  const msw = setupServer();
  registerMswTestHooks(msw);
  const api = 'https://api.github.example';
  const tagsUrl = `${api}/repos/acme/service/tags`;
  const tags = [{ name: 'v1.0.0', commit: { sha: 'a'.repeat(40), url: '' } }];

  const source = () =>
    GitHubSourceControl.fromToken({
      baseUrl: api,
      token: 'msw-token',
      // Waits the plugins compute in seconds become milliseconds.
      waitUnitMs: 1,
    });

  it('waits for a rate-limit reset and retries once', async () => {
    let calls = 0;
    msw.use(
      http.get(tagsUrl, () => {
        calls += 1;
        if (calls === 1) {
          return HttpResponse.json(
            { message: 'API rate limit exceeded for user ID 1.' },
            {
              status: 403,
              headers: {
                'x-ratelimit-limit': '5000',
                'x-ratelimit-remaining': '0',
                'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 2),
              },
            },
          );
        }
        return HttpResponse.json(tags);
      }),
    );
    await expect(source().listTags('acme/service')).resolves.toEqual([
      { name: 'v1.0.0', sha: 'a'.repeat(40) },
    ]);
    expect(calls).toBe(2);
  });

  it('fails clearly instead of waiting an hour for the rate limit', async () => {
    let calls = 0;
    msw.use(
      http.get(tagsUrl, () => {
        calls += 1;
        return HttpResponse.json(
          { message: 'API rate limit exceeded for user ID 1.' },
          {
            status: 403,
            headers: {
              'x-ratelimit-remaining': '0',
              'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
            },
          },
        );
      }),
    );
    const read = source().listTags('acme/service');
    await expect(read).rejects.toThrow(
      /Could not list tags in acme\/service on GitHub.*rate limit/,
    );
    expect(calls).toBe(1);
  });

  it('retries server errors and succeeds when GitHub recovers', async () => {
    let calls = 0;
    msw.use(
      http.get(tagsUrl, () => {
        calls += 1;
        return calls <= 2
          ? HttpResponse.json({ message: 'Server Error' }, { status: 502 })
          : HttpResponse.json(tags);
      }),
    );
    await expect(source().listTags('acme/service')).resolves.toHaveLength(1);
    expect(calls).toBe(3);
  });

  it('names the repository and the operation when GitHub keeps failing', async () => {
    let calls = 0;
    msw.use(
      http.get(tagsUrl, () => {
        calls += 1;
        return HttpResponse.json({ message: 'Server Error' }, { status: 500 });
      }),
    );
    await expect(source().listTags('acme/service')).rejects.toThrow(
      'Could not list tags in acme/service on GitHub',
    );
    expect(calls).toBe(4);
  });

  it('does not repeat a rejected write', async () => {
    let calls = 0;
    msw.use(
      // Octokit sends the path as one percent-encoded segment.
      http.put(`${api}/repos/acme/service/contents/:path`, () => {
        calls += 1;
        return HttpResponse.json(
          { message: 'deploy/stage.yaml does not match abc' },
          { status: 409 },
        );
      }),
    );
    await expect(
      source().commitFile('acme/service', {
        branch: 'main',
        path: 'deploy/stage.yaml',
        content: 'tag: b\n',
        expectedBlobSha: 'abc',
        message: 'stage: b',
        author: { name: 'Ada', email: 'ada@example.com' },
      }),
    ).rejects.toMatchObject({ name: 'ConflictError' });
    expect(calls).toBe(1);
  });
});

describe('GitHubSourceControl.fromConfig', () => {
  it('reads repositories through the integrations.github entry of the configured host', async () => {
    const root = await fs.mkdtemp(
      path.join(os.tmpdir(), 'github-source-config-'),
    );
    try {
      const fixture = await buildSourceControlFixture(root);
      const server = await serve(root);
      const config = new ConfigReader({
        integrations: {
          github: [
            { host: server.host, apiBaseUrl: server.baseUrl, token: TOKEN },
          ],
        },
        promotion: { github: { host: server.host } },
      });
      const source = GitHubSourceControl.fromConfig(config, {
        cache: memoryCache(),
        logger: mockServices.logger.mock(),
      });
      await expect(
        source.resolveCommit(SOURCE_FIXTURE_REPO, 'main'),
      ).resolves.toBe(fixture.mainFirstParent[0]);
      // The API is served on the web host, so links keep its origin (as on GitHub Enterprise).
      expect(source.webUrl(SOURCE_FIXTURE_REPO, 'pull/12')).toBe(
        `${server.baseUrl}/acme/service/pull/12`,
      );
      expect(() =>
        GitHubSourceControl.fromConfig(new ConfigReader({}), {
          cache: memoryCache(),
          logger: mockServices.logger.mock(),
          host: 'ghe.example.com',
        }),
      ).toThrow(/integrations.github entry for host ghe.example.com/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('GitHubSourceControl release tags under rulesets', () => {
  it('creates a tag as the bypass actor and reports a refusal with GitHub’s message', async () => {
    const root = await fs.mkdtemp(
      path.join(os.tmpdir(), 'github-source-rules-'),
    );
    try {
      const fixture = await buildSourceControlFixture(root);
      const server = await startGitHubTestServer({
        root,
        token: TOKEN,
        tokens: {
          'mainline-app': {
            login: 'mainline',
            appId: 4242,
            permissions: { contents: 'write' },
          },
          'other-app': {
            login: 'other',
            appId: 7,
            permissions: { contents: 'write' },
          },
          'read-only-app': {
            login: 'reader',
            appId: 8,
            permissions: { contents: 'read' },
          },
        },
      });
      servers.push(server);
      await new Octokit({
        baseUrl: server.baseUrl,
        auth: TOKEN,
      }).rest.repos.createRepoRuleset({
        owner: 'acme',
        repo: 'service',
        name: 'release tags are created by the release actors',
        target: 'tag',
        enforcement: 'active',
        conditions: { ref_name: { include: ['refs/tags/rc-*'], exclude: [] } },
        rules: [{ type: 'creation' }],
        bypass_actors: [
          { actor_id: 4242, actor_type: 'Integration', bypass_mode: 'always' },
        ],
      });
      const as = (token: string) =>
        GitHubSourceControl.fromToken({
          baseUrl: server.baseUrl,
          token,
          cache: memoryCache(),
          writeSpacingMs: 0,
          waitUnitMs: 1,
        });
      const sha = fixture.mainFirstParent[0];
      const tag = (name: string, annotated: boolean) => ({
        name,
        sha,
        annotated,
        message: `Promote ${sha.slice(0, 7)}`,
        tagger: { name: 'Ada', email: 'ada@example.com' },
      });

      await expect(
        as('mainline-app').createTag(SOURCE_FIXTURE_REPO, tag('rc-100', true)),
      ).resolves.toEqual({ created: true });
      const refused = as('other-app').createTag(
        SOURCE_FIXTURE_REPO,
        tag('rc-103', false),
      );
      await expect(refused).rejects.toMatchObject({
        name: 'NotAllowedError',
        message:
          'GitHub refused tag rc-103: Repository rule violations found: Cannot create ref due to creations being restricted.',
      });
      await expect(
        as('read-only-app').createTag(SOURCE_FIXTURE_REPO, tag('rc-104', true)),
      ).rejects.toMatchObject({
        name: 'NotAllowedError',
        message:
          'GitHub refused tag rc-104: Resource not accessible by integration (needs contents: write)',
      });
      await expect(
        as(TOKEN).resolveCommit(SOURCE_FIXTURE_REPO, 'rc-103'),
      ).resolves.toBeUndefined();
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('GitHubSourceControl commit checks', () => {
  it('lists the newest check run of each name and the newest status of each context', async () => {
    const root = await fs.mkdtemp(
      path.join(os.tmpdir(), 'github-source-checks-'),
    );
    try {
      const fixture = await buildSourceControlFixture(root);
      const server = await startGitHubTestServer({
        root,
        token: TOKEN,
        tokens: {
          'ci-app': {
            login: 'ci',
            appId: 99,
            permissions: { checks: 'write', statuses: 'write' },
          },
          'contents-only-app': {
            login: 'reader',
            appId: 98,
            permissions: { contents: 'read' },
          },
        },
      });
      servers.push(server);
      const ci = new Octokit({ baseUrl: server.baseUrl, auth: 'ci-app' });
      const [owner, repo] = SOURCE_FIXTURE_REPO.split('/');
      const sha = fixture.mainFirstParent[0];
      // The build ran twice (a re-run): its newest run is the one that counts.
      const first = await ci.rest.checks.create({
        owner,
        repo,
        name: 'build',
        head_sha: sha,
        status: 'completed',
        conclusion: 'failure',
      });
      await ci.rest.checks.create({
        owner,
        repo,
        name: 'build',
        head_sha: sha,
        status: 'completed',
        conclusion: 'success',
      });
      await ci.rest.checks.create({
        owner,
        repo,
        name: 'e2e',
        head_sha: sha,
        status: 'in_progress',
      });
      await ci.rest.checks.create({
        owner,
        repo,
        name: 'docs',
        head_sha: sha,
        status: 'completed',
        conclusion: 'skipped',
      });
      for (const state of ['pending', 'failure'] as const) {
        await ci.rest.repos.createCommitStatus({
          owner,
          repo,
          sha,
          state,
          context: 'stage-validation',
        });
      }
      expect(first.status).toBe(201);
      const source = (token: string) =>
        GitHubSourceControl.fromToken({
          baseUrl: server.baseUrl,
          token,
          cache: memoryCache(),
          writeSpacingMs: 0,
          waitUnitMs: 1,
        });
      const checks = await source(TOKEN).listCommitChecks(
        SOURCE_FIXTURE_REPO,
        sha,
      );
      expect(
        checks
          .map(c => `${c.kind} ${c.name} ${c.state}`)
          .sort((a, b) => a.localeCompare(b)),
      ).toEqual([
        'check-run build success',
        'check-run docs success',
        'check-run e2e pending',
        'status stage-validation failure',
      ]);
      await expect(
        source(TOKEN).listCommitChecks(
          SOURCE_FIXTURE_REPO,
          fixture.mainFirstParent[1],
        ),
      ).resolves.toEqual([]);
      await expect(
        source('contents-only-app').listCommitChecks(SOURCE_FIXTURE_REPO, sha),
      ).rejects.toMatchObject({ name: 'NotAllowedError' });
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
  it('names who opened the pull requests associated with a commit: the merged one on main, the open one elsewhere', async () => {
    const root = await fs.mkdtemp(
      path.join(os.tmpdir(), 'github-source-pulls-'),
    );
    try {
      const fixture = await buildSourceControlFixture(root);
      const server = await startGitHubTestServer({
        root,
        token: TOKEN,
        tokens: {
          'pat-token': { login: 'pat', role: 'write' },
          'olga-token': { login: 'olga', role: 'write' },
        },
      });
      servers.push(server);
      const admin = new Octokit({ baseUrl: server.baseUrl, auth: TOKEN });
      const [owner, repo] = SOURCE_FIXTURE_REPO.split('/');
      const propose = async (token: string, branch: string, title: string) => {
        const octokit = new Octokit({ baseUrl: server.baseUrl, auth: token });
        const { data: main } = await admin.rest.git.getRef({
          owner,
          repo,
          ref: 'heads/main',
        });
        await admin.rest.git.createRef({
          owner,
          repo,
          ref: `refs/heads/${branch}`,
          sha: main.object.sha,
        });
        const { data: change } =
          await octokit.rest.repos.createOrUpdateFileContents({
            owner,
            repo,
            path: `${branch}.txt`,
            message: title,
            content: Buffer.from(`${title}\n`).toString('base64'),
            branch,
          });
        const { data: pull } = await octokit.rest.pulls.create({
          owner,
          repo,
          title,
          head: branch,
          base: 'main',
        });
        return { head: change.commit.sha!, number: pull.number };
      };
      const before = fixture.mainFirstParent[0];
      const merged = await propose('pat-token', 'feat-retry', 'Retry');
      const { data: merge } = await admin.rest.pulls.merge({
        owner,
        repo,
        pull_number: merged.number,
      });
      const open = await propose('olga-token', 'feat-cache', 'Cache');

      const source = GitHubSourceControl.fromToken({
        baseUrl: server.baseUrl,
        token: TOKEN,
        cache: memoryCache(),
        writeSpacingMs: 0,
        waitUnitMs: 1,
      });
      const byMerge = {
        number: merged.number,
        authorLogin: 'pat',
        state: 'merged',
        url: expect.stringContaining(`/pull/${merged.number}`),
      };
      // The merge commit and the commit it brought in both came with pat's pull request.
      await expect(
        source.listCommitPullRequests(SOURCE_FIXTURE_REPO, merge.sha),
      ).resolves.toEqual([byMerge]);
      await expect(
        source.listCommitPullRequests(SOURCE_FIXTURE_REPO, merged.head),
      ).resolves.toEqual([byMerge]);
      // A commit only on olga's branch: her open pull request.
      await expect(
        source.listCommitPullRequests(SOURCE_FIXTURE_REPO, open.head),
      ).resolves.toEqual([
        expect.objectContaining({
          number: open.number,
          authorLogin: 'olga',
          state: 'open',
        }),
      ]);
      // Main's commits from before, and a commit GitHub does not know, have none.
      await expect(
        source.listCommitPullRequests(SOURCE_FIXTURE_REPO, before),
      ).resolves.toEqual([]);
      await expect(
        source.listCommitPullRequests(SOURCE_FIXTURE_REPO, 'f'.repeat(40)),
      ).resolves.toEqual([]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
