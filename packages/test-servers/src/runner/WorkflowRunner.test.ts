import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import yaml from 'yaml';
import { GitHubTestServer, startGitHubTestServer } from '../github';
import { condition } from './expressions';
import { eventMatches, WorkflowRunner } from './WorkflowRunner';

const ADMIN = 'admin-token';
const run = promisify(execFile);

describe('eventMatches', () => {
  const push = (ref: string, changedFiles?: string[]) => ({
    name: 'push',
    ref,
    payload: {},
    changedFiles,
  });
  const on = {
    push: { branches: ['main'], 'paths-ignore': ['docs/**', '**/*.md'] },
  };

  it('applies branch and paths-ignore filters as GitHub does', () => {
    expect(eventMatches(on, push('refs/heads/main', ['index.js']))).toBe(true);
    expect(
      eventMatches(on, push('refs/heads/main', ['docs/a.md', 'README.md'])),
    ).toBe(false);
    expect(
      eventMatches(on, push('refs/heads/main', ['docs/a.md', 'src/x.js'])),
    ).toBe(true);
    expect(eventMatches(on, push('refs/heads/feature', ['index.js']))).toBe(
      false,
    );
  });

  it('tells tag pushes from branch pushes', () => {
    const tags = { push: { tags: ['rc-*', 'v*'] } };
    expect(eventMatches(tags, push('refs/tags/rc-1'))).toBe(true);
    expect(eventMatches(tags, push('refs/tags/other'))).toBe(false);
    expect(eventMatches(tags, push('refs/heads/main', ['a']))).toBe(false);
    expect(eventMatches(on, push('refs/tags/v1'))).toBe(false);
  });

  it('filters workflow_run by workflow name and type', () => {
    const runOn = {
      workflow_run: { workflows: ['Build'], types: ['completed'] },
    };
    const event = (name: string, action: string) => ({
      name: 'workflow_run',
      ref: 'refs/heads/main',
      payload: { action, workflow_run: { name, head_branch: 'main' } },
    });
    expect(eventMatches(runOn, event('Build', 'completed'))).toBe(true);
    expect(eventMatches(runOn, event('Build', 'requested'))).toBe(false);
    expect(eventMatches(runOn, event('Other', 'completed'))).toBe(false);
  });
});

describe('condition', () => {
  const green = { success: true, failure: false, cancelled: false };
  const red = { success: false, failure: true, cancelled: false };
  const context = {
    steps: { a: { outputs: { current: 'true' } } },
    needs: { pre: { outputs: { mainline: 'false' } } },
    github: { event: { workflow_run: { conclusion: 'success' } } },
  };

  it('adds success() unless a status function is named', () => {
    expect(condition("steps.a.outputs.current == 'true'", context, green)).toBe(
      true,
    );
    expect(condition("steps.a.outputs.current == 'true'", context, red)).toBe(
      false,
    );
    expect(
      condition("failure() && steps.a.outputs.current == 'true'", context, red),
    ).toBe(true);
    expect(condition('always()', context, red)).toBe(true);
    expect(
      condition(
        "${{ needs.pre.outputs.mainline != 'true' && github.event.workflow_run.conclusion == 'success' }}",
        context,
        green,
      ),
    ).toBe(true);
    expect(condition(undefined, context, red)).toBe(false);
  });
});

describe('WorkflowRunner', () => {
  let root: string;
  let github: GitHubTestServer;
  let runner: WorkflowRunner;
  let seed: string;

  const workflows = {
    'steps.yaml': {
      name: 'Steps',
      on: { push: { branches: ['main'] } },
      permissions: {},
      env: { GREETING: 'hello' },
      jobs: {
        first: {
          'runs-on': 'ubuntu-latest',
          permissions: { contents: 'read' },
          outputs: { word: '${{ steps.say.outputs.word }}' },
          steps: [
            {
              uses: 'actions/checkout@0000000000000000000000000000000000000000',
            },
            {
              id: 'say',
              'working-directory': 'sub',
              run: 'echo "word=$GREETING-$(cat file.txt)" >> "$GITHUB_OUTPUT"\necho "LATER=set" >> "$GITHUB_ENV"\n',
            },
            { id: 'later', run: 'test "$LATER" = set\n' },
            {
              name: 'Push with a read-only token',
              id: 'push',
              'continue-on-error': true,
              run: 'git -c user.name=x -c user.email=x@x commit --allow-empty -qm x\ngit push -q origin HEAD:refs/heads/main\n',
            },
            {
              if: "steps.push.outcome == 'failure'",
              run: 'echo "refused" >> "$GITHUB_STEP_SUMMARY"\n',
            },
          ],
        },
        second: {
          needs: 'first',
          'runs-on': 'ubuntu-latest',
          steps: [
            {
              env: { WORD: '${{ needs.first.outputs.word }}' },
              run: 'test "$WORD" = hello-content\n',
            },
            { uses: 'some/unknown-action@v1' },
            { if: 'failure()', id: 'after', run: 'true\n' },
          ],
        },
      },
    },
    'serial.yaml': {
      name: 'Serial',
      on: { push: { branches: ['main'] } },
      concurrency: { group: 'serial', 'cancel-in-progress': false },
      // The runner's clock waits a tenth of each `sleep`: this one takes a second.
      jobs: { slow: { 'runs-on': 'x', steps: [{ run: 'sleep 10\n' }] } },
    },
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
    github = await startGitHubTestServer({ root, token: ADMIN });
    const res = await fetch(`${github.baseUrl}/orgs/acme/repos`, {
      method: 'POST',
      headers: { authorization: `token ${ADMIN}` },
      body: JSON.stringify({ name: 'svc' }),
    });
    if (res.status !== 201) throw new Error(`repository: ${res.status}`);
    const dir = path.join(root, 'work');
    fs.mkdirSync(path.join(dir, '.github/workflows'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub/file.txt'), 'content');
    for (const [file, doc] of Object.entries(workflows)) {
      fs.writeFileSync(
        path.join(dir, '.github/workflows', file),
        yaml.stringify(doc),
      );
    }
    const git = (...args: string[]) =>
      run('git', args, {
        cwd: dir,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'a',
          GIT_AUTHOR_EMAIL: 'a@a',
          GIT_COMMITTER_NAME: 'a',
          GIT_COMMITTER_EMAIL: 'a@a',
        },
      });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('commit', '-qm', 'seed');
    await git(
      'push',
      '-q',
      github.gitUrl('acme', 'svc').replace('http://', `http://x:${ADMIN}@`),
      'HEAD:refs/heads/main',
    );
    seed = (await git('rev-parse', 'HEAD')).stdout.trim();
    runner = new WorkflowRunner({
      github,
      owner: 'acme',
      repo: 'svc',
      adminToken: ADMIN,
      workRoot: path.join(root, 'runner'),
    });
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('runs steps with outputs, env files, needs, least-privilege tokens and named failures', async () => {
    const runs = await runner.push({
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: seed,
    });
    const steps = runs.find(r => r.file === 'steps.yaml')!;
    expect(steps.jobs.first.result).toBe('success');
    expect(steps.jobs.first.outputs).toEqual({ word: 'hello-content' });
    // contents: read cannot push: the git server refused the job's token.
    const push = steps.jobs.first.steps.find(s => s.id === 'push')!;
    expect(push.outcome).toBe('failure');
    expect(steps.jobs.first.summary).toBe('refused\n');
    expect(steps.jobs.second.result).toBe('failure');
    expect(steps.jobs.second.steps.map(s => s.outcome)).toEqual([
      'success',
      'failure',
      'success',
    ]);
    expect(steps.jobs.second.steps[1].log).toContain(
      'no stand-in for the action some/unknown-action@v1',
    );
    const checks = await fetch(
      `${github.baseUrl}/repos/acme/svc/commits/${seed}/check-runs`,
      { headers: { authorization: `token ${ADMIN}` } },
    ).then(r => r.json());
    expect(
      checks.check_runs
        .filter((c: any) => c.name !== 'slow')
        .map((c: any) => [c.name, c.conclusion])
        .sort(),
    ).toEqual([
      ['first', 'success'],
      ['second', 'failure'],
    ]);
  });

  it('cancels a pending run that a newer one in its concurrency group replaces', async () => {
    const event = { ref: 'refs/heads/main', before: seed, after: seed };
    const all = (
      await Promise.all([
        runner.push(event),
        runner.push(event),
        runner.push(event),
      ])
    )
      .flat()
      .filter(r => r.file === 'serial.yaml');
    expect(all.map(r => r.conclusion).sort()).toEqual([
      'cancelled',
      'success',
      'success',
    ]);
  });
});
