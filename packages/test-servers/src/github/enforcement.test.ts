import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { GitHubTestServer, startGitHubTestServer } from './GitHubTestServer';
import { BEHIND_BASE, rulesetMessage } from './rules';

const OWNER_TOKEN = 'owner-token';
const MAINLINE_APP_ID = 4242;

/** Runs git; resolves with its exit code and output instead of throwing on a refusal. */
function git(
  args: string[],
  cwd?: string,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    const child = execFile(
      'git',
      args,
      {
        cwd,
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
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number((error as any).code) || 1 : 0,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
        }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function must(args: string[], cwd?: string, input?: string) {
  const result = await git(args, cwd, input);
  if (result.code !== 0) {
    throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
  }
  return result.stdout.trim();
}

/** GitHub's REST body for a refused change, as Octokit's RequestError carries it. */
async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error: any) {
    return { status: error.status, message: error.response?.data?.message };
  }
  throw new Error('expected GitHub to refuse');
}

describe('GitHub test server enforcement', () => {
  let root: string;
  let server: GitHubTestServer;
  const repo = { owner: 'acme', repo: 'svc' };
  const client = (token: string) =>
    new Octokit({ baseUrl: server.baseUrl, auth: token });
  let owner: Octokit;
  let mainline: Octokit;
  let dev: Octokit;
  let base: string;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'github-enforce-'));
    const dir = path.join(root, 'acme', 'svc.git');
    await fs.mkdir(dir, { recursive: true });
    await must(['init', '--quiet', '--bare', '--initial-branch=main', dir]);
    let script = '';
    for (let i = 1; i <= 3; i++) {
      const message = `commit ${i}\n`;
      script +=
        `commit refs/heads/main\nmark :${i}\n` +
        `committer Dev <dev@example.com> ${1700000000 + i * 60} +0000\n` +
        `data ${message.length}\n${message}` +
        `M 100644 inline file.txt\ndata ${String(i).length + 1}\n${i}\n\n`;
    }
    await must(['--git-dir', dir, 'fast-import', '--quiet'], undefined, script);
    base = await must(['--git-dir', dir, 'rev-parse', 'main']);
    server = await startGitHubTestServer({
      root,
      token: OWNER_TOKEN,
      tokens: {
        'mainline-app': {
          login: 'mainline',
          appId: MAINLINE_APP_ID,
          permissions: {
            contents: 'write',
            pull_requests: 'write',
            metadata: 'read',
          },
        },
        'ci-app': {
          login: 'ci',
          appId: 77,
          permissions: { checks: 'write', contents: 'read' },
        },
        'other-app': {
          login: 'other',
          appId: 99,
          permissions: { contents: 'write' },
        },
        'read-only-app': {
          login: 'reader',
          appId: 5,
          permissions: { contents: 'read', metadata: 'read' },
        },
        'dev-token': { login: 'dev', role: 'write' },
        'reviewer-token': { login: 'reviewer', role: 'write' },
      },
    });
    owner = client(OWNER_TOKEN);
    mainline = client('mainline-app');
    dev = client('dev-token');
    await owner.rest.repos.createRepoRuleset({
      ...repo,
      name: 'release tags are created by the release actors',
      target: 'tag',
      enforcement: 'active',
      conditions: {
        ref_name: { include: ['refs/tags/rc-*', 'refs/tags/v*'], exclude: [] },
      },
      rules: [{ type: 'creation' }],
      bypass_actors: [
        {
          actor_id: MAINLINE_APP_ID,
          actor_type: 'Integration',
          bypass_mode: 'always',
        },
      ],
    });
    await owner.rest.repos.createRepoRuleset({
      ...repo,
      name: 'release tags are never moved or deleted',
      target: 'tag',
      enforcement: 'active',
      conditions: {
        ref_name: { include: ['refs/tags/rc-*', 'refs/tags/v*'], exclude: [] },
      },
      rules: [{ type: 'update' }, { type: 'deletion' }],
      bypass_actors: [],
    });
    await owner.rest.repos.createRepoRuleset({
      ...repo,
      name: 'main',
      target: 'branch',
      enforcement: 'active',
      conditions: { ref_name: { include: ['~DEFAULT_BRANCH'], exclude: [] } },
      rules: [
        { type: 'deletion' },
        { type: 'non_fast_forward' },
        {
          type: 'pull_request',
          parameters: {
            required_approving_review_count: 1,
            dismiss_stale_reviews_on_push: true,
            require_code_owner_review: false,
            require_last_push_approval: false,
            required_review_thread_resolution: false,
          },
        },
        {
          type: 'required_status_checks',
          parameters: {
            strict_required_status_checks_policy: false,
            required_status_checks: [{ context: 'build' }],
          },
        },
      ],
      bypass_actors: [],
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('lets only the bypass actor create release tags through the refs API, and nobody move or delete them', async () => {
    const created = await mainline.rest.git.createRef({
      ...repo,
      ref: 'refs/tags/rc-1',
      sha: base,
    });
    expect(created.status).toBe(201);

    for (const other of [dev, client('other-app')]) {
      expect(
        await refusal(
          other.rest.git.createRef({
            ...repo,
            ref: 'refs/tags/rc-2',
            sha: base,
          }),
        ),
      ).toEqual({
        status: 422,
        message:
          'Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n',
      });
    }
    // Names outside the ruleset's patterns are anyone's.
    expect(
      (
        await dev.rest.git.createRef({
          ...repo,
          ref: 'refs/tags/nightly',
          sha: base,
        })
      ).status,
    ).toBe(201);

    const parent = await must([
      '--git-dir',
      path.join(root, 'acme', 'svc.git'),
      'rev-parse',
      'main~1',
    ]);
    expect(
      await refusal(
        mainline.rest.git.updateRef({
          ...repo,
          ref: 'tags/rc-1',
          sha: parent,
          force: true,
        }),
      ),
    ).toEqual({
      status: 422,
      message:
        'Repository rule violations found\n\nCannot update this protected ref.\n\n',
    });
    expect(
      await refusal(owner.rest.git.deleteRef({ ...repo, ref: 'tags/rc-1' })),
    ).toEqual({
      status: 422,
      message:
        'Repository rule violations found\n\nCannot delete this protected ref.\n\n',
    });
    expect(
      (await owner.rest.git.getRef({ ...repo, ref: 'tags/rc-1' })).data.object
        .sha,
    ).toBe(base);
  });

  it('does not enforce rulesets in evaluate or disabled mode', async () => {
    const ids = [];
    for (const enforcement of ['evaluate', 'disabled'] as const) {
      const { data } = await owner.rest.repos.createRepoRuleset({
        ...repo,
        name: `no branches (${enforcement})`,
        target: 'branch',
        enforcement,
        conditions: { ref_name: { include: ['~ALL'], exclude: [] } },
        rules: [{ type: 'creation' }],
      });
      ids.push(data.id);
    }
    expect(
      (
        await dev.rest.git.createRef({
          ...repo,
          ref: 'refs/heads/feat/evaluated',
          sha: base,
        })
      ).status,
    ).toBe(201);
    for (const id of ids) {
      await owner.rest.repos.deleteRepoRuleset({ ...repo, ruleset_id: id });
    }
  });

  it('judges every ref of a git push and reports GitHub’s reason per ref', async () => {
    const work = await fs.mkdtemp(
      path.join(os.tmpdir(), 'github-enforce-push-'),
    );
    const url = (token: string) =>
      server.gitUrl('acme', 'svc').replace('//', `//x-access-token:${token}@`);
    await must(['clone', '--quiet', url('dev-token'), work]);
    await must(['tag', 'rc-2'], work);
    await must(['checkout', '--quiet', '-b', 'feat/push'], work);
    await fs.writeFile(path.join(work, 'file.txt'), 'feature\n');
    await must(['commit', '--quiet', '-am', 'feature'], work);

    const pushed = await git(
      ['push', 'origin', 'refs/tags/rc-2', 'feat/push'],
      work,
    );
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toContain(
      'remote: error: GH013: Repository rule violations found for refs/tags/rc-2.',
    );
    expect(pushed.stderr).toContain(
      'remote: - Cannot create ref due to creations being restricted.',
    );
    expect(pushed.stderr).toMatch(
      /! \[remote rejected\] +rc-2 -> rc-2 \(push declined due to repository rule violations\)/,
    );
    // The branch in the same push is not a release tag: it went through.
    expect(pushed.stderr).toMatch(
      /\* \[new branch\] +feat\/push -> feat\/push/,
    );

    await must(['remote', 'set-url', 'origin', url('mainline-app')], work);
    const bypassed = await git(['push', 'origin', 'refs/tags/rc-2'], work);
    expect(bypassed.code).toBe(0);
    expect(bypassed.stderr).toContain(
      'remote: Bypassed rule violations for refs/tags/rc-2:',
    );

    // Rewriting main is refused for everyone, by the same rules.
    await must(['remote', 'set-url', 'origin', url(OWNER_TOKEN)], work);
    await must(['checkout', '--quiet', '-b', 'rewrite', 'origin/main~1'], work);
    await must(['commit', '--quiet', '--allow-empty', '-m', 'rewrite'], work);
    const forced = await git(['push', '--force', 'origin', 'HEAD:main'], work);
    expect(forced.stderr).not.toContain('hook declined');
    expect(forced.code).not.toBe(0);
    expect(forced.stderr).toContain(
      'remote: - Cannot force-push to this branch',
    );
    expect(forced.stderr).toContain(
      'remote: - Changes must be made through a pull request.',
    );
    expect(
      (await owner.rest.git.getRef({ ...repo, ref: 'heads/main' })).data.object
        .sha,
    ).toBe(base);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('merges a pull request only once its build check is green and it is approved', async () => {
    const { data: commit } = await owner.rest.repos.getCommit({
      ...repo,
      ref: 'feat/push',
    });
    // A direct commit to main is refused with both of main's rules.
    expect(
      await refusal(
        dev.rest.repos.createOrUpdateFileContents({
          ...repo,
          path: 'direct.txt',
          message: 'direct',
          content: Buffer.from('x').toString('base64'),
          branch: 'main',
        }),
      ),
    ).toEqual({
      status: 409,
      message:
        'Repository rule violations found\n\nChanges must be made through a pull request.\n\nRequired status check "build" is expected.\n\n',
    });

    const { data: pull } = await dev.rest.pulls.create({
      ...repo,
      title: 'Feature',
      head: 'feat/push',
      base: 'main',
    });
    const merge = () =>
      dev.rest.pulls.merge({ ...repo, pull_number: pull.number });
    expect(await refusal(merge())).toEqual({
      status: 405,
      message:
        'Repository rule violations found\n\nAt least 1 approving review is required by reviewers with write access.\n\nRequired status check "build" is expected.\n\n',
    });

    expect(
      await refusal(
        dev.rest.pulls.createReview({
          ...repo,
          pull_number: pull.number,
          event: 'APPROVE',
        }),
      ),
    ).toMatchObject({ status: 422 });
    await client('reviewer-token').rest.pulls.createReview({
      ...repo,
      pull_number: pull.number,
      event: 'APPROVE',
    });

    const ci = client('ci-app');
    expect(
      await refusal(
        dev.rest.checks.create({
          ...repo,
          name: 'build',
          head_sha: commit.sha,
        }),
      ),
    ).toMatchObject({ status: 403 });
    const { data: run } = await ci.rest.checks.create({
      ...repo,
      name: 'build',
      head_sha: commit.sha,
      status: 'in_progress',
    });
    expect((await refusal(merge())).message).toBe(
      'Repository rule violations found\n\nRequired status check "build" is in progress.\n\n',
    );
    await ci.rest.checks.update({
      ...repo,
      check_run_id: run.id,
      conclusion: 'failure',
    });
    expect((await refusal(merge())).message).toBe(
      'Repository rule violations found\n\nRequired status check "build" is failing.\n\n',
    );
    await ci.rest.checks.create({
      ...repo,
      name: 'build',
      head_sha: commit.sha,
      conclusion: 'success',
    });
    const merged = await merge();
    expect(merged.data.merged).toBe(true);
    expect(
      (await owner.rest.git.getRef({ ...repo, ref: 'heads/main' })).data.object
        .sha,
    ).toBe(merged.data.sha);
  });

  it('counts a commit status as a check, and pull_request bypass actors may merge past the rules but not push', async () => {
    const { data: ruleset } = await owner.rest.repos.createRepoRuleset({
      ...repo,
      name: 'release branches',
      target: 'branch',
      enforcement: 'active',
      conditions: {
        ref_name: { include: ['refs/heads/release/**'], exclude: [] },
      },
      rules: [
        {
          type: 'required_status_checks',
          parameters: {
            strict_required_status_checks_policy: false,
            required_status_checks: [{ context: 'build' }],
          },
        },
      ],
      bypass_actors: [
        {
          actor_id: 2,
          actor_type: 'RepositoryRole',
          bypass_mode: 'pull_request',
        },
      ],
    });
    const main = (await owner.rest.git.getRef({ ...repo, ref: 'heads/main' }))
      .data.object.sha;
    await owner.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/release/1.x',
      sha: base,
    });
    // A maintainer-or-above (the owner, an admin) bypasses on pull requests only.
    expect(
      await refusal(
        owner.rest.git.updateRef({
          ...repo,
          ref: 'heads/release/1.x',
          sha: main,
        }),
      ),
    ).toEqual({
      status: 422,
      message:
        'Repository rule violations found\n\nRequired status check "build" is expected.\n\n',
    });
    await owner.rest.repos.createCommitStatus({
      ...repo,
      sha: main,
      state: 'success',
      context: 'build',
    });
    expect(
      (
        await dev.rest.git.updateRef({
          ...repo,
          ref: 'heads/release/1.x',
          sha: main,
        })
      ).status,
    ).toBe(200);
    await owner.rest.repos.deleteRepoRuleset({
      ...repo,
      ruleset_id: ruleset.id,
    });
  });

  it('lets a Team and organization owners bypass when the ruleset names them', async () => {
    const { data: team } = await owner.request('POST /orgs/{org}/teams', {
      org: 'acme',
      name: 'Release',
    });
    server.addToken('release-member', {
      login: 'rel',
      role: 'write',
      teams: ['acme/release'],
    });
    server.addToken('org-owner', {
      login: 'boss',
      role: 'read',
      orgAdmin: true,
    });
    const { data: ruleset } = await owner.rest.repos.createRepoRuleset({
      ...repo,
      name: 'hotfix tags',
      target: 'tag',
      enforcement: 'active',
      conditions: {
        ref_name: { include: ['refs/tags/hotfix-*'], exclude: [] },
      },
      rules: [{ type: 'creation' }],
      bypass_actors: [
        { actor_id: team.id, actor_type: 'Team', bypass_mode: 'always' },
        { actor_id: 1, actor_type: 'OrganizationAdmin', bypass_mode: 'always' },
      ],
    });
    const create = (token: string, name: string) =>
      client(token).rest.git.createRef({
        ...repo,
        ref: `refs/tags/${name}`,
        sha: base,
      });
    expect((await create('release-member', 'hotfix-1')).status).toBe(201);
    expect((await create('org-owner', 'hotfix-2')).status).toBe(201);
    expect((await refusal(create('dev-token', 'hotfix-3'))).status).toBe(422);
    await owner.rest.repos.deleteRepoRuleset({
      ...repo,
      ruleset_id: ruleset.id,
    });
  });

  it('answers a token without contents: write 403 on writes and pushes', async () => {
    const reader = client('read-only-app');
    expect(
      (await reader.rest.repos.getCommit({ ...repo, ref: 'main' })).status,
    ).toBe(200);
    expect(
      await refusal(
        reader.rest.git.createRef({
          ...repo,
          ref: 'refs/heads/feat/read-only',
          sha: base,
        }),
      ),
    ).toEqual({
      status: 403,
      message: 'Resource not accessible by integration',
    });
    expect(
      await refusal(
        reader.rest.repos.createOrUpdateFileContents({
          ...repo,
          path: 'x.txt',
          message: 'x',
          content: '',
          branch: 'feat/push',
        }),
      ),
    ).toEqual({
      status: 403,
      message: 'Resource not accessible by integration',
    });
    expect(await refusal(reader.rest.users.getAuthenticated())).toMatchObject({
      status: 403,
    });
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'github-enforce-ro-'));
    const url = server
      .gitUrl('acme', 'svc')
      .replace('//', '//x-access-token:read-only-app@');
    await must(['clone', '--quiet', url, work]);
    const pushed = await git(
      ['push', 'origin', 'HEAD:refs/heads/feat/ro'],
      work,
    );
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toContain(
      'Permission to acme/svc.git denied to reader[bot].',
    );
    await fs.rm(work, { recursive: true, force: true });
  });

  it('enforces classic branch protection, which admins bypass unless enforce_admins', async () => {
    await owner.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/protected',
      sha: base,
    });
    const protect = (enforceAdmins: boolean) =>
      owner.rest.repos.updateBranchProtection({
        ...repo,
        branch: 'protected',
        required_status_checks: { strict: false, contexts: ['build'] },
        enforce_admins: enforceAdmins,
        required_pull_request_reviews: null,
        restrictions: null,
      });
    await protect(false);
    const main = (await owner.rest.git.getRef({ ...repo, ref: 'heads/main' }))
      .data.object.sha;
    const { data: next } = await owner.rest.git.createCommit({
      ...repo,
      message: 'next',
      tree: (
        await owner.rest.git.getCommit({ ...repo, commit_sha: main })
      ).data.tree.sha,
      parents: [base],
    });
    expect(
      await refusal(
        dev.rest.git.updateRef({
          ...repo,
          ref: 'heads/protected',
          sha: next.sha,
        }),
      ),
    ).toEqual({
      status: 422,
      message:
        'Protected branch update failed for refs/heads/protected.\n\nRequired status check "build" is expected.',
    });
    await protect(true);
    expect(
      (
        await refusal(
          owner.rest.git.updateRef({
            ...repo,
            ref: 'heads/protected',
            sha: next.sha,
          }),
        )
      ).status,
    ).toBe(422);
    await protect(false);
    expect(
      (
        await owner.rest.git.updateRef({
          ...repo,
          ref: 'heads/protected',
          sha: next.sha,
        })
      ).status,
    ).toBe(200);
    // Deleting a protected branch is refused to admins too.
    expect(
      await refusal(
        owner.rest.git.deleteRef({ ...repo, ref: 'heads/protected' }),
      ),
    ).toMatchObject({ status: 422 });
  });

  it('merges into a classically protected branch only with the required review', async () => {
    const main = (await owner.rest.git.getRef({ ...repo, ref: 'heads/main' }))
      .data.object.sha;
    await owner.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/reviewed',
      sha: base,
    });
    await owner.rest.git.createRef({
      ...repo,
      ref: 'refs/heads/feat/reviewed',
      sha: main,
    });
    await owner.rest.repos.updateBranchProtection({
      ...repo,
      branch: 'reviewed',
      required_status_checks: null,
      enforce_admins: true,
      required_pull_request_reviews: { required_approving_review_count: 1 },
      restrictions: null,
    });
    const { data: pull } = await dev.rest.pulls.create({
      ...repo,
      title: 'Reviewed',
      head: 'feat/reviewed',
      base: 'reviewed',
    });
    const merge = () =>
      owner.rest.pulls.merge({ ...repo, pull_number: pull.number });
    expect(await refusal(merge())).toEqual({
      status: 405,
      message:
        'At least 1 approving review is required by reviewers with write access.',
    });
    await client('reviewer-token').rest.pulls.createReview({
      ...repo,
      pull_number: pull.number,
      event: 'APPROVE',
    });
    expect((await merge()).data.merged).toBe(true);
  });

  it('answers 409 Git Repository is empty where GitHub does, and lets the contents API make the first commit', async () => {
    await owner.rest.repos.createForAuthenticatedUser({ name: 'empty' });
    const empty = { owner: 'mainline-bot', repo: 'empty' };
    const conflict = { status: 409, message: 'Git Repository is empty.' };
    expect(await refusal(owner.rest.repos.listCommits(empty))).toEqual(
      conflict,
    );
    expect(
      await refusal(owner.rest.git.getRef({ ...empty, ref: 'heads/main' })),
    ).toEqual(conflict);
    expect(
      await refusal(
        owner.rest.git.listMatchingRefs({ ...empty, ref: 'tags/' }),
      ),
    ).toEqual(conflict);
    expect(
      await refusal(
        owner.rest.git.createBlob({
          ...empty,
          content: 'x',
          encoding: 'utf-8',
        }),
      ),
    ).toEqual(conflict);
    expect(
      await refusal(
        owner.rest.git.createRef({
          ...empty,
          ref: 'refs/heads/main',
          sha: base,
        }),
      ),
    ).toEqual(conflict);
    expect(
      await refusal(
        owner.rest.repos.getContent({ ...empty, path: 'README.md' }),
      ),
    ).toEqual({ status: 404, message: 'This repository is empty.' });
    const { status } = await owner.rest.repos.createOrUpdateFileContents({
      ...empty,
      path: 'README.md',
      message: 'first',
      content: Buffer.from('# empty\n').toString('base64'),
    });
    expect(status).toBe(201);
    expect((await owner.rest.repos.listCommits(empty)).data).toHaveLength(1);
  });

  it('with strict required checks, merges only a pull request that is up to date with its base', async () => {
    await owner.rest.repos.createForAuthenticatedUser({ name: 'strict' });
    const strict = { owner: 'mainline-bot', repo: 'strict' };
    const write = (branch: string, file: string) =>
      owner.rest.repos.createOrUpdateFileContents({
        ...strict,
        branch,
        path: file,
        message: file,
        content: Buffer.from(`${file}\n`).toString('base64'),
      });
    const branchFromMain = async (branch: string) => {
      const { data: main } = await owner.rest.git.getRef({
        ...strict,
        ref: 'heads/main',
      });
      await owner.rest.git.createRef({
        ...strict,
        ref: `refs/heads/${branch}`,
        sha: main.object.sha,
      });
      const { data } = await write(branch, `${branch}.txt`);
      return data.commit.sha!;
    };
    /** A pull request of `branch` whose head has a green `build` check. */
    const checkedPull = async (branch: string, head: string) => {
      await client('ci-app').rest.checks.create({
        ...strict,
        name: 'build',
        head_sha: head,
        conclusion: 'success',
      });
      const { data } = await owner.rest.pulls.create({
        ...strict,
        title: branch,
        head: branch,
        base: 'main',
      });
      return () =>
        owner.rest.pulls.merge({ ...strict, pull_number: data.number });
    };
    await write('main', 'README.md');
    const behindHead = await branchFromMain('feat/behind');
    // main moves on after the branch was cut.
    await write('main', 'later.txt');
    await owner.rest.repos.createRepoRuleset({
      ...strict,
      name: 'main',
      target: 'branch',
      enforcement: 'active',
      conditions: { ref_name: { include: ['refs/heads/main'], exclude: [] } },
      rules: [
        {
          type: 'required_status_checks',
          parameters: {
            strict_required_status_checks_policy: true,
            required_status_checks: [{ context: 'build' }],
          },
        },
      ],
      bypass_actors: [],
    });
    const mergeBehind = await checkedPull('feat/behind', behindHead);
    expect(await refusal(mergeBehind())).toEqual({
      status: 405,
      message: rulesetMessage([BEHIND_BASE]),
    });
    // A branch cut from main's tip, its check green, merges.
    const currentHead = await branchFromMain('feat/current');
    const mergeCurrent = await checkedPull('feat/current', currentHead);
    expect((await mergeCurrent()).data.merged).toBe(true);
    // And the earlier one stays refused: main moved again.
    expect((await refusal(mergeBehind())).status).toBe(405);
  });
});
