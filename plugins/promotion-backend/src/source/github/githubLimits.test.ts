import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import {
  DEPLOY_WORKFLOW_RUN_NAME,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { BareRepoBuilder, Signature } from '@mainline/plugin-promotion-node';
import { memoryCache } from '../../testUtils';
import { GitOpsDeploymentTarget } from '@mainline/plugin-promotion-backend-module-gitops';
import {
  GitHubWorkflowDeployments,
  createGitHubClient,
  GitHubSourceControl,
} from '@mainline/plugin-promotion-backend-module-github';

jest.setTimeout(120_000);

/*
 * Limits real GitHub imposes, produced by the GitHub test server and met by the adapters through
 * the real Octokit client: secondary rate limits, GraphQL errors answered 200, truncated blobs,
 * paged workflow runs and commit files, renamed repositories and 403s naming a permission.
 */

const TOKEN = 'limits-token';
const APP_TOKEN = 'ghs_readonlyinstallation';
const AUTHOR: Signature = {
  name: 'Dev',
  email: 'dev@example.com',
  date: new Date('2024-05-01T00:00:00Z'),
};

let root: string;
let server: GitHubTestServer;
let svc: BareRepoBuilder;

const newSource = (token = TOKEN, waitUnitMs = 1) =>
  GitHubSourceControl.fromToken({
    baseUrl: server.baseUrl,
    token,
    cache: memoryCache(),
    writeSpacingMs: 0,
    waitUnitMs,
    webBaseUrl: server.htmlUrl,
  });

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'github-limits-'));
  server = await startGitHubTestServer({ root, token: TOKEN });
  server.addToken(APP_TOKEN, {
    login: 'mainline',
    appId: 42,
    permissions: { contents: 'read', actions: 'read' },
  });
  svc = await BareRepoBuilder.open(path.join(root, 'acme', 'svc.git'));
  await svc.commit({
    branch: 'main',
    files: { 'README.md': 'hello\n' },
    message: 'Start',
    author: AUTHOR,
  });
});

afterEach(() => {
  server.setLimits({
    secondaryRateLimit: undefined,
    graphqlErrors: undefined,
    blobTextBytes: undefined,
    commitFilesPerPage: undefined,
    patchBytes: undefined,
  });
});

afterAll(async () => {
  await server?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const statuses = (since: number) =>
  server.requests.slice(since).map(r => r.status);

describe('secondary rate limits', () => {
  it.each([403, 429] as const)(
    'a read answered %i with retry-after waits as told and succeeds',
    async status => {
      const before = server.requests.length;
      server.setLimits({
        secondaryRateLimit: { count: 1, retryAfterSeconds: 2, status },
      });
      // Seconds shrunk to 50 ms: the repeat comes at least `retry-after` units later.
      const file = await newSource(TOKEN, 50).readFile(
        'acme/svc',
        'main',
        'README.md',
      );
      expect(file?.content).toBe('hello\n');
      expect(statuses(before)).toEqual([status, 200]);
      const [refused, repeated] = server.requests.slice(before);
      expect(repeated.startedAt - refused.finishedAt).toBeGreaterThanOrEqual(
        95,
      );
    },
  );

  it('a read that cannot wait that long fails as 503-like, naming the limit', async () => {
    server.setLimits({
      secondaryRateLimit: { count: 5, retryAfterSeconds: 3600, status: 429 },
    });
    const error = await newSource()
      .readFile('acme/svc', 'main', 'README.md')
      .catch(e => e);
    expect(error.name).toBe('ServiceUnavailableError');
    expect(error.message).toContain(
      'a secondary rate limit, retry after 3600s',
    );
    // Nothing of GitHub's body is repeated.
    expect(error.message).not.toContain('Please wait');
  });

  it('a write refused by a secondary rate limit is repeated once and lands once', async () => {
    const before = server.requests.length;
    const fresh = newSource();
    server.setLimits({
      secondaryRateLimit: {
        count: 1,
        retryAfterSeconds: 1,
        status: 403,
        path: /\/contents\/NOTES/,
      },
    });
    await fresh.commitFile('acme/svc', {
      path: 'NOTES.md',
      branch: 'main',
      content: 'note\n',
      message: 'Add notes',
      author: { name: 'Dev', email: 'dev@example.com' },
      expectedBlobSha: undefined,
    });
    const puts = server.requests
      .slice(before)
      .filter(r => r.method === 'PUT')
      .map(r => r.status);
    expect(puts).toEqual([403, 201]);
    const log = await svc.git.output(['log', '--format=%s', 'main']);
    expect(log.split('\n').filter(l => l === 'Add notes')).toHaveLength(1);
  });
});

describe('GraphQL answered 200 with errors', () => {
  it('a rate-limited GraphQL read falls back to REST and still gives files and last changes', async () => {
    server.setLimits({ graphqlErrors: { count: 1, type: 'RATE_LIMITED' } });
    const before = server.requests.length;
    const [read] = await newSource().readFilesWithLastChange(
      'acme/svc',
      'main',
      ['README.md'],
    );
    expect(read.file?.content).toBe('hello\n');
    expect(read.lastChange?.subject).toBeDefined();
    // The GraphQL answer, then the file and its history through REST.
    const paths = server.requests.slice(before).map(r => r.path);
    expect(paths).toEqual([
      '/graphql',
      ...(paths[1].includes('/contents/')
        ? ['/repos/acme/svc/contents/README.md', '/repos/acme/svc/commits']
        : ['/repos/acme/svc/commits', '/repos/acme/svc/contents/README.md']),
    ]);
  });

  it('a GraphQL error the REST API cannot stand in for is a named error, not a crash', async () => {
    server.setLimits({
      graphqlErrors: { count: 1, type: 'RATE_LIMITED' },
      secondaryRateLimit: {
        count: 10,
        retryAfterSeconds: 3600,
        status: 429,
        path: /^\/repos\//,
      },
    });
    const before = server.requests.length;
    const error = await newSource()
      .readFilesWithLastChange('acme/svc', 'main', ['README.md'])
      .catch(e => e);
    expect(error.name).toBe('ServiceUnavailableError');
    // GraphQL answered 200 with RATE_LIMITED, the REST fallback 429 with an hour to wait.
    const answered = server.requests.slice(before);
    expect(answered[0]).toMatchObject({ path: '/graphql', status: 200 });
    expect(answered.slice(1).every(r => r.status === 429)).toBe(true);
  });
});

const KUSTOMIZATION = (tag: string, padding: number) =>
  [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'images:',
    '  - name: ghcr.io/acme/svc',
    `    newTag: ${tag}`,
    'configMapGenerator:',
    '  - name: settings',
    '    literals:',
    ...Array.from(
      { length: padding },
      (_, i) => `      - KEY_${i}=${'v'.repeat(40)}`,
    ),
    '',
  ].join('\n');

describe('truncated blobs', () => {
  it('a big manifest read through GraphQL is promoted and stays complete', async () => {
    const deployments = await BareRepoBuilder.open(
      path.join(root, 'acme', 'deployments.git'),
    );
    const file = 'apps/svc/overlays/prod/kustomization.yaml';
    const before = KUSTOMIZATION('1.0.0', 3000);
    expect(before.length).toBeGreaterThan(100_000);
    await deployments.commit({
      branch: 'main',
      files: { [file]: before },
      message: 'Deploy 1.0.0 to prod',
      author: AUTHOR,
    });
    server.setLimits({ blobTextBytes: 10_000 });
    const target: PromotionTarget = {
      sourceRepo: 'acme/svc',
      artifactKind: 'image',
      artifactLocation: 'ghcr.io/acme/svc',
      manifestRepo: 'acme/deployments',
      manifestPath: 'apps/svc/overlays/{environment}/kustomization.yaml',
      versioning: 'semver',
      releaseBranches: false,
    };
    const gitops = new GitOpsDeploymentTarget(newSource());
    // The lanes' read (GraphQL, cut at 10 kB) is what the deploy writes back from.
    const sent = server.requests.length;
    const current = await gitops.current(target, ['prod']);
    expect(current.prod?.version).toBe('1.0.0');
    // One GraphQL read, and the cut blob once more, whole, through the git data API.
    expect(server.requests.slice(sent).map(r => r.path)).toEqual([
      '/graphql',
      expect.stringMatching(/^\/repos\/acme\/deployments\/git\/blobs\//),
    ]);
    await gitops.deploy(target, {
      environment: 'prod',
      sha: '0123456789abcdef0123456789abcdef01234567',
      version: '1.1.0',
      tag: 'v1.1.0',
      reason: 'a big manifest',
      actor: {
        entityRef: 'user:default/ada',
        name: 'Ada',
        email: 'ada@example.com',
      },
    });
    const after = await deployments.git.output(['show', `main:${file}`]);
    expect(after).toBe(before.replace('newTag: 1.0.0', 'newTag: 1.1.0'));
  });
});

const DEPLOY_WORKFLOW = [
  'name: Deploy',
  `run-name: ${DEPLOY_WORKFLOW_RUN_NAME}`,
  'on:',
  '  workflow_dispatch:',
  '    inputs:',
  '      stage: { required: true }',
  '      sha: { required: true }',
  '      version: { required: true }',
  '      request: { required: true }',
  '      actor: { required: true }',
  'jobs: {}',
  '',
].join('\n');

describe('paged workflow runs', () => {
  it('finds prod behind 150 newer stage deploys', async () => {
    const lambda = await BareRepoBuilder.open(
      path.join(root, 'acme', 'fn.git'),
    );
    await lambda.commit({
      branch: 'main',
      files: { '.github/workflows/mainline-deploy.yaml': DEPLOY_WORKFLOW },
      message: 'Deploy workflow',
      author: AUTHOR,
    });
    const seed = (stage: string, version: string, minute: number) =>
      server.seedWorkflowRun({
        owner: 'acme',
        name: 'fn',
        workflow: 'mainline-deploy.yaml',
        inputs: {
          stage,
          sha: 'a'.repeat(40),
          version,
          request: `seed-${stage}-${minute}`,
          actor: 'user:default/ada',
        },
        createdAt: new Date(Date.UTC(2024, 4, 1, 0, minute)),
        conclusion: 'success',
      });
    await seed('prod', 'v1.0.0', 0);
    for (let i = 1; i <= 150; i++) await seed('stage', `2024.5.${i}`, i);
    const client = createGitHubClient({
      baseUrl: server.baseUrl,
      token: TOKEN,
      writeSpacingMs: 0,
      waitUnitMs: 1,
    });
    const before = server.requests.length;
    const deployments = new GitHubWorkflowDeployments(async () => client);
    const fn: PromotionTarget = {
      sourceRepo: 'acme/fn',
      artifactKind: 'archive',
      artifactLocation: 's3://artifacts/fn',
      serverlessService: 'fn',
      versioning: 'calver',
      releaseBranches: false,
    };
    const current = await deployments.current(fn, ['stage', 'prod']);
    expect(current.stage?.version).toBe('2024.5.150');
    expect(current.prod?.version).toBe('v1.0.0');
    // Two pages of 100, no more.
    expect(server.requests.length - before).toBe(2);
    // Promoting what prod already runs is recognised behind the 150 newer runs: no dispatch.
    const again = await deployments.deploy(fn, {
      environment: 'prod',
      sha: 'a'.repeat(40),
      version: 'v1.0.0',
      reason: 'again',
      actor: {
        entityRef: 'user:default/ada',
        name: 'Ada',
        email: 'ada@example.com',
      },
    });
    expect(again.changed).toBe(false);
    expect(server.workflowRuns('acme', 'fn')).toHaveLength(151);
  });
});

describe('paged commit files', () => {
  const bigChange = (from: string) =>
    Object.fromEntries(
      Array.from({ length: 350 }, (_, i) => [
        `src/module${i}.ts`,
        `export const value${i} = '${from}';\n`,
      ]),
    );

  it('a cherry-pick of a 350-file commit gets the patch id of its main commit, from every page', async () => {
    // One git fast-import, not a process per file: five commits of up to 350 files each.
    const repo = await BareRepoBuilder.open(
      path.join(root, 'acme', 'wide.git'),
    );
    const modify = (files: Record<string, string>) =>
      Object.entries(files).map(
        ([name, content]) =>
          `M 100644 inline ${name}\ndata ${Buffer.byteLength(
            content,
          )}\n${content}`,
      );
    const commit = (
      ref: string,
      mark: number,
      message: string,
      from: number | undefined,
      files: string[],
    ) => [
      `commit ${ref}`,
      `mark :${mark}`,
      `committer Dev <dev@example.com> ${1_714_521_600 + mark * 60} +0000`,
      `data ${Buffer.byteLength(message)}`,
      message,
      ...(from ? [`from :${from}`] : []),
      ...files,
      '',
    ];
    const partialFiles = Object.fromEntries(
      Object.entries(bigChange('newer')).slice(0, 300),
    );
    await repo.git.output(['fast-import', '--quiet'], {
      input: [
        ...commit(
          'refs/heads/main',
          1,
          'Start',
          undefined,
          modify(bigChange('old')),
        ),
        ...commit(
          'refs/heads/main',
          2,
          'Main moves on',
          1,
          modify({ 'main-only.txt': 'x\n' }),
        ),
        ...commit(
          'refs/heads/main',
          3,
          'Rename the value everywhere',
          2,
          modify(bigChange('new')),
        ),
        ...commit(
          'refs/heads/release',
          4,
          'Rename the value everywhere',
          1,
          modify(bigChange('new')),
        ),
        // Touching only the first 300 files: its id from page one alone would be the same.
        ...commit('refs/heads/release', 5, 'Partial', 4, modify(partialFiles)),
        '',
      ].join('\n'),
    });
    const [onMain, picked, partial] = (
      await repo.git.output(['rev-parse', 'main', 'release~1', 'release'])
    )
      .trim()
      .split('\n');
    server.setLimits({ commitFilesPerPage: 300 });
    const ids = await newSource().patchIds('acme/wide', [
      onMain,
      picked,
      partial,
    ]);
    expect(ids.get(onMain)).toBeDefined();
    expect(ids.get(picked)).toBe(ids.get(onMain));
    expect(ids.get(partial)).not.toBe(ids.get(onMain));
    const pages = server.requests.filter(
      r => r.path === `/repos/acme/wide/commits/${onMain}`,
    );
    expect(pages.map(r => r.query)).toEqual(['', 'page=2']);
  });

  it('a commit whose large diff comes without a patch gets no patch id rather than a wrong one', async () => {
    const repo = await BareRepoBuilder.open(
      path.join(root, 'acme', 'huge.git'),
    );
    await repo.commit({
      branch: 'main',
      files: { 'a.txt': 'a\n', 'b.txt': 'b\n' },
      message: 'Start',
      author: AUTHOR,
    });
    const sha = await repo.commit({
      branch: 'main',
      files: { 'a.txt': 'A\n', 'b.txt': `${'B'.repeat(5000)}\n` },
      message: 'Big',
      author: AUTHOR,
    });
    server.setLimits({ patchBytes: 1000 });
    const ids = await newSource().patchIds('acme/huge', [sha]);
    expect(ids.has(sha)).toBe(false);
    server.setLimits({ patchBytes: undefined });
    expect((await newSource().patchIds('acme/huge', [sha])).has(sha)).toBe(
      true,
    );
  });
});

describe('renamed repositories', () => {
  it('reads under the old name follow the 301, writes are refused naming the redirect', async () => {
    const repo = await BareRepoBuilder.open(path.join(root, 'acme', 'old.git'));
    await repo.commit({
      branch: 'main',
      files: { 'README.md': 'moved\n' },
      message: 'Start',
      author: AUTHOR,
    });
    await server.renameRepository('acme', 'old', 'new');
    const reader = newSource();
    const before = server.requests.length;
    expect(
      (await reader.readFile('acme/old', 'main', 'README.md'))?.content,
    ).toBe('moved\n');
    expect(statuses(before)).toEqual([301, 200]);
    const error = await reader
      .commitFile('acme/old', {
        path: 'NOTES.md',
        branch: 'main',
        content: 'x\n',
        message: 'Write',
        author: { name: 'Dev', email: 'dev@example.com' },
        expectedBlobSha: undefined,
      })
      .catch(e => e);
    expect(error.message).toContain('HTTP 301');
  });
});

describe('a 403 for a missing permission', () => {
  it('names the permission GitHub says is needed', async () => {
    const error = await newSource(APP_TOKEN)
      .commitFile('acme/svc', {
        path: 'DENIED.md',
        branch: 'main',
        content: 'x\n',
        message: 'Write',
        author: { name: 'Dev', email: 'dev@example.com' },
        expectedBlobSha: undefined,
      })
      .catch(e => e);
    expect(error.name).toBe('NotAllowedError');
    expect(error.message).toContain(
      'the configured credentials lack the contents: write permission',
    );
  });
});
