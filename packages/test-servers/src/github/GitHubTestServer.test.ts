import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Octokit } from '@octokit/rest';
import { GitHubTestServer, startGitHubTestServer } from './GitHubTestServer';

const run = promisify(execFile);
const TOKEN = 'test-token';

async function git(
  args: string[],
  options: { cwd?: string; input?: string } = {},
) {
  const child = run('git', args, {
    cwd: options.cwd,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      HOME: os.tmpdir(),
      GIT_AUTHOR_NAME: 'Dev',
      GIT_AUTHOR_EMAIL: 'dev@example.com',
      GIT_COMMITTER_NAME: 'Dev',
      GIT_COMMITTER_EMAIL: 'dev@example.com',
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (options.input !== undefined) child.child.stdin?.end(options.input);
  return (await child).stdout.trim();
}

/**
 * Writes `<root>/acme/app.git` with `count` linear commits on main (each touching `count.txt`,
 * every tenth also `docs/notes.md`), a side branch merged in, a lightweight and an annotated tag.
 */
async function writeRepo(root: string, count: number) {
  const dir = path.join(root, 'acme', 'app.git');
  await fs.mkdir(dir, { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main', dir]);
  let script = '';
  for (let i = 1; i <= count; i++) {
    const content = `${i}\n`;
    const message = `commit ${i}\n`;
    script +=
      `commit refs/heads/main\nmark :${i}\n` +
      `committer Dev <dev@example.com> ${1700000000 + i * 60} +0000\n` +
      `data ${Buffer.byteLength(message)}\n${message}` +
      `M 100644 inline count.txt\ndata ${Buffer.byteLength(
        content,
      )}\n${content}\n`;
    if (i % 10 === 0) {
      script += `M 100644 inline docs/notes.md\ndata ${Buffer.byteLength(
        content,
      )}\n${content}\n`;
    }
  }
  await git(['--git-dir', dir, 'fast-import', '--quiet'], { input: script });
  await git(['--git-dir', dir, 'tag', 'v1', 'main~1']);
  await git(['--git-dir', dir, 'tag', '-a', '-m', 'Release 2', 'v2', 'main']);
  return dir;
}

describe('startGitHubTestServer', () => {
  let root: string;
  let repoDir: string;
  let server: GitHubTestServer;
  let octokit: Octokit;
  const repo = { owner: 'acme', repo: 'app' };

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'github-test-server-'));
    repoDir = await writeRepo(root, 250);
    server = await startGitHubTestServer({ root, token: TOKEN });
    octokit = new Octokit({ baseUrl: server.baseUrl, auth: TOKEN });
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  beforeEach(() => server.resetRequests());

  it('pages commits newest first with Link headers that octokit.paginate follows', async () => {
    const commits = await octokit.paginate(octokit.rest.repos.listCommits, {
      ...repo,
      sha: 'main',
      per_page: 100,
    });
    const expected = (
      await git(['--git-dir', repoDir, 'rev-list', 'main'])
    ).split('\n');
    expect(commits.map(c => c.sha)).toEqual(expected);
    expect(commits[0].commit.message).toBe('commit 250');
    expect(commits[0].parents).toEqual([
      expect.objectContaining({ sha: expected[1] }),
    ]);
    expect(server.requests.map(r => [r.path, r.query, r.status])).toEqual([
      ['/repos/acme/app/commits', 'sha=main&per_page=100', 200],
      ['/repos/acme/app/commits', 'sha=main&per_page=100&page=2', 200],
      ['/repos/acme/app/commits', 'sha=main&per_page=100&page=3', 200],
    ]);

    const docs = await octokit.paginate(octokit.rest.repos.listCommits, {
      ...repo,
      path: 'docs/notes.md',
      per_page: 100,
    });
    expect(docs.map(c => c.commit.message)).toEqual(
      Array.from({ length: 25 }, (_, i) => `commit ${250 - i * 10}`),
    );
  });

  it('answers an unchanged GET with 304 when the ETag matches, without using rate limit', async () => {
    const first = await octokit.rest.git.getRef({ ...repo, ref: 'heads/main' });
    const remaining = Number(first.headers['x-ratelimit-remaining']);
    expect(first.headers.etag).toMatch(/^W\/"[0-9a-f]{40}"$/);

    const again = await fetch(
      `${server.baseUrl}/repos/acme/app/git/ref/heads%2Fmain`,
      {
        headers: {
          authorization: `token ${TOKEN}`,
          'if-none-match': first.headers.etag!,
        },
      },
    );
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(Number(again.headers.get('x-ratelimit-remaining'))).toBe(remaining);

    await expect(
      octokit.rest.git.getRef({
        ...repo,
        ref: 'heads/main',
        headers: { 'if-none-match': first.headers.etag },
      }),
    ).rejects.toMatchObject({ status: 304 });
    expect(server.requests.map(r => r.conditional)).toEqual([
      false,
      true,
      true,
    ]);
  });

  it('resolves refs, peels tags, compares and reports GitHub-shaped errors', async () => {
    const head = await git(['--git-dir', repoDir, 'rev-parse', 'main']);
    const { data: tags } = await octokit.rest.repos.listTags({ ...repo });
    expect(tags.map(t => [t.name, t.commit.sha])).toEqual([
      ['v2', head],
      ['v1', await git(['--git-dir', repoDir, 'rev-parse', 'main~1'])],
    ]);
    const { data: byShort } = await octokit.rest.repos.getCommit({
      ...repo,
      ref: head.slice(0, 7),
    });
    expect(byShort.sha).toBe(head);
    const { data: byTag } = await octokit.rest.repos.getCommit({
      ...repo,
      ref: 'v2',
    });
    expect(byTag.sha).toBe(head);
    await expect(
      octokit.rest.repos.getCommit({ ...repo, ref: 'main~3' }),
    ).rejects.toMatchObject({ status: 422 });

    const { data: comparison } =
      await octokit.rest.repos.compareCommitsWithBasehead({
        ...repo,
        basehead: 'v1...main',
      });
    expect(comparison).toMatchObject({
      status: 'ahead',
      ahead_by: 1,
      behind_by: 0,
      total_commits: 1,
    });
    expect(comparison.commits.map(c => c.sha)).toEqual([head]);
    expect(comparison.files?.map(f => [f.filename, f.status])).toEqual([
      ['count.txt', 'modified'],
      ['docs/notes.md', 'modified'],
    ]);

    const missing = await fetch(
      `${server.baseUrl}/repos/acme/missing/commits`,
      {
        headers: { authorization: `Bearer ${TOKEN}` },
      },
    );
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      message: 'Not Found',
      documentation_url: expect.any(String),
    });
    const anonymous = await fetch(`${server.baseUrl}/repos/acme/app`);
    expect(anonymous.status).toBe(401);
  });

  it('creates refs create-only, moves them fast-forward only, and creates annotated tags', async () => {
    const [head, parent] = (
      await git(['--git-dir', repoDir, 'rev-list', '-n', '2', 'main'])
    ).split('\n');
    await octokit.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/release/1',
      sha: parent,
    });
    await expect(
      octokit.rest.git.createRef({
        ...repo,
        ref: 'refs/heads/release/1',
        sha: head,
      }),
    ).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('Reference already exists'),
    });

    await octokit.rest.git.updateRef({
      ...repo,
      ref: 'heads/release/1',
      sha: head,
    });
    await expect(
      octokit.rest.git.updateRef({
        ...repo,
        ref: 'heads/release/1',
        sha: parent,
      }),
    ).rejects.toMatchObject({ status: 422 });
    await octokit.rest.git.updateRef({
      ...repo,
      ref: 'heads/release/1',
      sha: parent,
      force: true,
    });

    const { data: matching } = await octokit.rest.git.listMatchingRefs({
      ...repo,
      ref: 'heads/rel',
    });
    expect(matching.map(r => [r.ref, r.object.sha])).toEqual([
      ['refs/heads/release/1', parent],
    ]);

    const { data: tag } = await octokit.rest.git.createTag({
      ...repo,
      tag: 'v3',
      message: 'Release 3',
      object: head,
      type: 'commit',
      tagger: {
        name: 'Ada',
        email: 'ada@example.com',
        date: '2024-05-01T10:00:00Z',
      },
    });
    await octokit.rest.git.createRef({
      ...repo,
      ref: 'refs/tags/v3',
      sha: tag.sha,
    });
    const { data: read } = await octokit.rest.git.getTag({
      ...repo,
      tag_sha: tag.sha,
    });
    expect(read).toMatchObject({
      tag: 'v3',
      message: 'Release 3\n',
      object: { sha: head, type: 'commit' },
      tagger: {
        name: 'Ada',
        email: 'ada@example.com',
        date: '2024-05-01T10:00:00Z',
      },
    });
    expect(await git(['--git-dir', repoDir, 'rev-parse', 'v3^{commit}'])).toBe(
      head,
    );

    await octokit.rest.git.deleteRef({ ...repo, ref: 'heads/release/1' });
    await expect(
      octokit.rest.git.getRef({ ...repo, ref: 'heads/release/1' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('writes files through the contents API with blob-sha concurrency', async () => {
    const put = (content: string, sha?: string) =>
      octokit.rest.repos.createOrUpdateFileContents({
        ...repo,
        path: 'deploy/stage/values.yaml',
        branch: 'main',
        message: `stage: ${content}`,
        content: Buffer.from(content).toString('base64'),
        sha,
        author: { name: 'Ada', email: 'ada@example.com' },
        committer: { name: 'Mainline', email: 'mainline@example.com' },
      });
    const created = await put('tag: a\n');
    expect(created.status).toBe(201);
    const blob = created.data.content!.sha!;
    await expect(put('tag: b\n')).rejects.toMatchObject({ status: 422 });
    const updated = await put('tag: b\n', blob);
    expect(updated.status).toBe(200);
    await expect(put('tag: c\n', blob)).rejects.toMatchObject({ status: 409 });

    const { data: file } = await octokit.rest.repos.getContent({
      ...repo,
      path: 'deploy/stage/values.yaml',
      ref: 'main',
    });
    expect(Array.isArray(file)).toBe(false);
    const single = file as { content: string; sha: string; encoding: string };
    expect(Buffer.from(single.content, 'base64').toString('utf8')).toBe(
      'tag: b\n',
    );
    expect(single.sha).toBe(updated.data.content!.sha);
    const log = await git([
      '--git-dir',
      repoDir,
      'log',
      '-1',
      '--format=%an|%cn|%s',
      'main',
    ]);
    expect(log).toBe('Ada|Mainline|stage: tag: b');

    const { data: dir } = await octokit.rest.repos.getContent({
      ...repo,
      path: 'deploy',
      ref: 'main',
    });
    expect(
      (dir as Array<{ name: string; type: string }>).map(e => [e.name, e.type]),
    ).toEqual([['stage', 'dir']]);
    await expect(
      octokit.rest.repos.getContent({
        ...repo,
        path: 'deploy/*.yaml',
        ref: 'main',
      }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('commits through the git data API on top of a base tree', async () => {
    const head = await git(['--git-dir', repoDir, 'rev-parse', 'main']);
    const { data: base } = await octokit.rest.git.getCommit({
      ...repo,
      commit_sha: head,
    });
    const { data: blob } = await octokit.rest.git.createBlob({
      ...repo,
      content: 'hello\n',
    });
    const { data: tree } = await octokit.rest.git.createTree({
      ...repo,
      base_tree: base.tree.sha,
      tree: [
        { path: 'new/hello.txt', mode: '100644', type: 'blob', sha: blob.sha },
      ],
    });
    const { data: commit } = await octokit.rest.git.createCommit({
      ...repo,
      message: 'Add hello',
      tree: tree.sha,
      parents: [head],
      author: {
        name: 'Ada',
        email: 'ada@example.com',
        date: '2024-06-01T00:00:00Z',
      },
    });
    await octokit.rest.git.updateRef({
      ...repo,
      ref: 'heads/main',
      sha: commit.sha,
    });
    const { data: listing } = await octokit.rest.git.getTree({
      ...repo,
      tree_sha: 'main',
      recursive: '1',
    });
    expect(listing.tree.map(e => e.path)).toEqual(
      expect.arrayContaining(['count.txt', 'new', 'new/hello.txt']),
    );
    const { data: readBlob } = await octokit.rest.git.getBlob({
      ...repo,
      file_sha: blob.sha,
    });
    expect(Buffer.from(readBlob.content, 'base64').toString()).toBe('hello\n');
  });

  it('serves clone and push over smart HTTP to the same repositories', async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'github-test-clone-'));
    try {
      const url = server
        .gitUrl('acme', 'app')
        .replace('http://', `http://x-access-token:${TOKEN}@`);
      await git(['clone', '--quiet', url, work]);
      await fs.writeFile(path.join(work, 'pushed.txt'), 'pushed\n');
      await git(['add', 'pushed.txt'], { cwd: work });
      await git(['commit', '--quiet', '-m', 'Pushed over HTTP'], { cwd: work });
      await git(
        ['push', '--quiet', 'origin', 'HEAD:refs/heads/feature/pushed'],
        { cwd: work },
      );
      const { data: branch } = await octokit.rest.repos.getBranch({
        ...repo,
        branch: 'feature/pushed',
      });
      expect(branch.commit.commit.message).toBe('Pushed over HTTP');

      await expect(
        git(['ls-remote', server.gitUrl('acme', 'app')]),
      ).rejects.toThrow();
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });

  it('opens and merges pull requests', async () => {
    const head = await git(['--git-dir', repoDir, 'rev-parse', 'main']);
    const { data: blob } = await octokit.rest.git.createBlob({
      ...repo,
      content: 'pr\n',
    });
    const { data: tree } = await octokit.rest.git.createTree({
      ...repo,
      base_tree: (
        await octokit.rest.git.getCommit({ ...repo, commit_sha: head })
      ).data.tree.sha,
      tree: [{ path: 'pr.txt', mode: '100644', type: 'blob', sha: blob.sha }],
    });
    const { data: commit } = await octokit.rest.git.createCommit({
      ...repo,
      message: 'PR change',
      tree: tree.sha,
      parents: [head],
    });
    await octokit.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/promote/prod',
      sha: commit.sha,
    });
    const { data: pull } = await octokit.rest.pulls.create({
      ...repo,
      title: 'prod: v3',
      head: 'promote/prod',
      base: 'main',
    });
    expect(pull).toMatchObject({ number: 1, state: 'open', merged: false });
    await expect(
      octokit.rest.pulls.create({
        ...repo,
        title: 'again',
        head: 'acme:promote/prod',
        base: 'main',
      }),
    ).rejects.toMatchObject({ status: 422 });
    const { data: open } = await octokit.rest.pulls.list({
      ...repo,
      head: 'acme:promote/prod',
    });
    expect(open.map(p => p.number)).toEqual([1]);

    const { sha } = await server.mergePullRequest('acme', 'app', 1);
    const { data: merged } = await octokit.rest.pulls.get({
      ...repo,
      pull_number: 1,
    });
    expect(merged).toMatchObject({
      state: 'closed',
      merged: true,
      merge_commit_sha: sha,
    });
    expect(await git(['--git-dir', repoDir, 'rev-parse', 'main^2'])).toBe(
      commit.sha,
    );
    await expect(
      octokit.rest.pulls.merge({ ...repo, pull_number: 1 }),
    ).rejects.toMatchObject({ status: 405 });
  });

  it('records workflow dispatches as runs that tests complete', async () => {
    const head = await git(['--git-dir', repoDir, 'rev-parse', 'main']);
    await octokit.rest.repos.createOrUpdateFileContents({
      ...repo,
      path: '.github/workflows/deploy.yaml',
      branch: 'main',
      message: 'Add deploy workflow',
      content: Buffer.from(
        'on:\n  workflow_dispatch:\n    inputs:\n      stage: {}\n',
      ).toString('base64'),
    });
    await expect(
      octokit.rest.actions.createWorkflowDispatch({
        ...repo,
        workflow_id: 'missing.yaml',
        ref: 'main',
      }),
    ).rejects.toMatchObject({ status: 404 });
    const since = new Date(Date.now() - 1000).toISOString();
    const dispatched = await octokit.rest.actions.createWorkflowDispatch({
      ...repo,
      workflow_id: 'deploy.yaml',
      ref: 'main',
      inputs: { stage: 'demo', sha: head },
    });
    expect(dispatched.status).toBe(204);
    const [recorded] = server.workflowRuns('acme', 'app');
    expect(recorded.inputs).toEqual({ stage: 'demo', sha: head });

    const { data: runs } = await octokit.rest.actions.listWorkflowRunsForRepo({
      ...repo,
      event: 'workflow_dispatch',
      branch: 'main',
      created: `>=${since}`,
    });
    expect(runs.total_count).toBe(1);
    expect(runs.workflow_runs[0]).toMatchObject({
      id: recorded.id,
      status: 'queued',
      conclusion: null,
    });

    server.completeWorkflowRun(recorded.id, 'failure');
    const { data: done } = await octokit.rest.actions.getWorkflowRun({
      ...repo,
      run_id: recorded.id,
    });
    expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(done.html_url).toBe(
      `${server.htmlUrl}/acme/app/actions/runs/${recorded.id}`,
    );
  });

  it("fails a dispatched run whose job's environment does not allow its ref, as GitHub's branch policies do", async () => {
    const dir = path.join(root, 'acme', 'envs.git');
    await git(['init', '--quiet', '--bare', '--initial-branch=main', dir]);
    const workflow = [
      'on:',
      '  workflow_dispatch:',
      '    inputs:',
      '      stage: {}',
      'jobs:',
      '  deploy:',
      '    runs-on: ubuntu-latest',
      '    environment: ${{ inputs.stage }}',
      '    steps: [{ run: echo }]',
      '',
    ].join('\n');
    await git(['--git-dir', dir, 'fast-import', '--quiet'], {
      input:
        'commit refs/heads/main\ncommitter Dev <dev@example.com> 1700000000 +0000\n' +
        `data 9\nworkflow\nM 100644 inline .github/workflows/deploy.yaml\ndata ${Buffer.byteLength(
          workflow,
        )}\n${workflow}\n`,
    });
    await git(['--git-dir', dir, 'tag', 'rc-1', 'main']);
    await git(['--git-dir', dir, 'tag', 'v1', 'main']);
    const envs = { owner: 'acme', repo: 'envs' };
    const custom = { protected_branches: false, custom_branch_policies: true };
    for (const [environment, policy] of [
      ['stage', { name: 'main', type: 'branch' }],
      ['demo', { name: 'rc-*', type: 'tag' }],
    ] as const) {
      await octokit.rest.repos.createOrUpdateEnvironment({
        ...envs,
        environment_name: environment,
        deployment_branch_policy: custom,
      });
      await octokit.rest.repos.createDeploymentBranchPolicy({
        ...envs,
        environment_name: environment,
        ...policy,
      });
    }
    await octokit.rest.repos.createOrUpdateEnvironment({
      ...envs,
      environment_name: 'prod',
      deployment_branch_policy: {
        protected_branches: true,
        custom_branch_policies: false,
      },
    });
    await octokit.rest.repos.createOrUpdateEnvironment({
      ...envs,
      environment_name: 'open',
    });

    const refusal = (environment: string, ref: string) =>
      server.deploymentRefusal('acme', 'envs', environment, ref);
    expect(refusal('demo', 'refs/tags/rc-1')).toBeUndefined();
    // A tag pattern does not let a branch of that name deploy, nor a branch pattern a tag.
    expect(refusal('demo', 'refs/heads/rc-1')).toBe(
      'Branch "rc-1" is not allowed to deploy to demo due to environment protection rules.',
    );
    expect(refusal('stage', 'refs/heads/main')).toBeUndefined();
    expect(refusal('stage', 'refs/tags/main')).toBe(
      'Tag "main" is not allowed to deploy to stage due to environment protection rules.',
    );
    // `*` stays within one segment, as fnmatch matches names.
    expect(refusal('demo', 'refs/tags/rc-1/x')).toBeDefined();
    // Protected branches only: main is not protected yet, and tags never pass.
    expect(refusal('prod', 'refs/heads/main')).toBeDefined();
    await octokit.rest.repos.updateBranchProtection({
      ...envs,
      branch: 'main',
      required_status_checks: null,
      enforce_admins: null,
      required_pull_request_reviews: null,
      restrictions: null,
    });
    expect(refusal('prod', 'refs/heads/main')).toBeUndefined();
    expect(refusal('prod', 'refs/tags/v1')).toBeDefined();
    // No policy, or an environment the repository does not have: every ref deploys.
    expect(refusal('open', 'refs/tags/v1')).toBeUndefined();
    expect(refusal('preview', 'refs/heads/main')).toBeUndefined();

    for (const [stage, ref] of [
      ['demo', 'main'],
      ['demo', 'refs/tags/rc-1'],
      ['stage', 'main'],
    ]) {
      await octokit.rest.actions.createWorkflowDispatch({
        ...envs,
        workflow_id: 'deploy.yaml',
        ref,
        inputs: { stage },
      });
    }
    expect(
      server
        .workflowRuns('acme', 'envs')
        .map(r => [r.inputs.stage, r.ref, r.refType, r.refusal]),
    ).toEqual([
      [
        'demo',
        'main',
        'branch',
        'Branch "main" is not allowed to deploy to demo due to environment protection rules.',
      ],
      ['demo', 'rc-1', 'tag', undefined],
      ['stage', 'main', 'branch', undefined],
    ]);
  });

  it('creates repositories and stores the settings the scaffolder writes', async () => {
    const { data: created } = await octokit.rest.repos.createInOrg({
      org: 'acme',
      name: 'fresh',
      private: true,
    });
    expect(created).toMatchObject({
      full_name: 'acme/fresh',
      clone_url: server.gitUrl('acme', 'fresh'),
      default_branch: 'main',
      private: true,
    });
    await expect(
      octokit.rest.repos.createInOrg({ org: 'acme', name: 'fresh' }),
    ).rejects.toMatchObject({ status: 422 });

    const ruleset = {
      ...repo,
      name: 'release tags',
      target: 'tag' as const,
      enforcement: 'active' as const,
      conditions: { ref_name: { include: ['refs/tags/v*'], exclude: [] } },
      rules: [{ type: 'update' as const }, { type: 'deletion' as const }],
    };
    const { data: stored } = await octokit.rest.repos.createRepoRuleset(
      ruleset,
    );
    expect(stored.id).toEqual(expect.any(Number));
    const { data: read } = await octokit.rest.repos.getRepoRuleset({
      ...repo,
      ruleset_id: stored.id,
    });
    expect(read.rules).toEqual(ruleset.rules);
    await expect(
      octokit.rest.repos.createRepoRuleset({
        ...ruleset,
        name: 'other',
        enforcement: 'sometimes' as any,
      }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      octokit.rest.repos.createRepoRuleset(ruleset),
    ).rejects.toMatchObject({ status: 422 });

    await octokit.rest.repos.createOrUpdateEnvironment({
      ...repo,
      environment_name: 'prod',
      wait_timer: 5,
    });
    const { data: envs } = await octokit.rest.repos.getAllEnvironments({
      ...repo,
    });
    expect(envs.environments?.map(e => e.name)).toEqual(['prod']);
    await expect(
      octokit.rest.repos.updateBranchProtection({
        ...repo,
        branch: 'main',
      } as any),
    ).rejects.toMatchObject({ status: 422 });
  });

  it('creates organization teams that environment reviewers are looked up by', async () => {
    await expect(
      octokit.rest.teams.getByName({ org: 'acme', team_slug: 'payments-core' }),
    ).rejects.toMatchObject({ status: 404 });
    const { data: created } = await octokit.rest.teams.create({
      org: 'acme',
      name: 'Payments Core',
    });
    expect(created).toMatchObject({ slug: 'payments-core', privacy: 'secret' });
    const { data: read } = await octokit.rest.teams.getByName({
      org: 'acme',
      team_slug: 'payments-core',
    });
    expect(read.id).toBe(created.id);
    await expect(
      octokit.rest.teams.create({ org: 'acme', name: 'payments core' }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      octokit.rest.teams.getByName({
        org: 'other',
        team_slug: 'payments-core',
      }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('answers 403 with rate-limit headers when the budget is spent', async () => {
    server.setRateLimitRemaining(0);
    try {
      const response = await fetch(`${server.baseUrl}/repos/acme/app`, {
        headers: { authorization: `token ${TOKEN}` },
      });
      expect(response.status).toBe(403);
      expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(response.headers.get('x-ratelimit-reset'))).toBeGreaterThan(
        Date.now() / 1000,
      );
    } finally {
      server.setRateLimitRemaining(5000);
    }
  });
});
