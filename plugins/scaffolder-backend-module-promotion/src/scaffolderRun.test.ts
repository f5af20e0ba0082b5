import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import scaffolderPlugin from '@backstage/plugin-scaffolder-backend';
import githubModule from '@backstage/plugin-scaffolder-backend-module-github';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  EcrTestServer,
  GitHubTestServer,
  startEcrTestServer,
  seedRepository,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Octokit } from '@octokit/rest';
import request from 'supertest';
import yaml from 'yaml';
import { JsonObject } from '@backstage/types';
// A test backend composing both, as packages/backend does: the module never imports the plugin.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import promotionPlugin from '@mainline/plugin-promotion-backend';
import promotionModuleLocal from '@mainline/plugin-promotion-backend-module-local';
import promotionModuleGithub from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleGitops from '@mainline/plugin-promotion-backend-module-gitops';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleOci from '@mainline/plugin-promotion-backend-module-oci';
import promotionModule from './index';

/*
 * The "Service with build-once promotion" template, run by the real scaffolder backend (the
 * scaffolder plugin, its GitHub module and our module) against the GitHub and ECR test servers.
 */

const TOKEN = 'scaffolder-run-token';
const templateDir = path.resolve(__dirname, '../templates/build-once-service');
const templateFile = path.join(templateDir, 'template.yaml');

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory()
      ? listFiles(full, base)
      : [path.relative(base, full).split(path.sep).join('/')];
  });
}

/**
 * A scaffolder backend with the promotion backend beside it (`promotion` merged into its
 * config), on GitHub and ECR test servers started before the suite's tests; the template's
 * values name the service `name`.
 */
function useScaffolder(name: string, promotion: JsonObject = {}) {
  let root = '';
  let github!: GitHubTestServer;
  let ecr!: EcrTestServer;
  let backend!: Awaited<ReturnType<typeof startTestBackend>>;
  let paymentsTeamId = 0;
  /** Locations catalog:register added, with the entities read from them. */
  const registered: Array<{ target: string; dryRun: boolean }> = [];
  /** What the catalog holds after registration: the new service's entities. */
  const registeredEntities: Array<Record<string, any>> = [];

  const git = (repo: string, ...args: string[]) =>
    execFileSync('git', ['--git-dir', path.join(root, repo), ...args], {
      encoding: 'utf8',
    }).trim();

  const template = yaml.parse(fs.readFileSync(templateFile, 'utf8'));
  const values = () => ({
    name,
    owner: 'group:default/payments',
    kind: 'container',
    repoUrl: `${github.host}?owner=acme&repo=${name}`,
    manifestRepo: 'acme/deployments',
    awsAccountId: ecr.accountId,
    awsRegion: ecr.region,
    mainlineUrl: 'https://backstage.example.com',
    manifestBranch: 'main',
    argocdUrl: 'https://argocd.example.com',
  });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'scaffolder-run-'));
    // The GitOps manifest repository the template registers the service in.
    seedRepository(root, 'acme/deployments', {
      'README.md': '# Deployments\n',
    });
    github = await startGitHubTestServer({ root, token: TOKEN });
    // The owner group's team in the organization: prod's reviewers.
    const { data: team } = await new Octokit({
      baseUrl: github.baseUrl,
      auth: TOKEN,
    }).rest.teams.create({ org: 'acme', name: 'payments' });
    paymentsTeamId = team.id;
    ecr = await startEcrTestServer();

    // The catalog: the template (registered from a file location, so that fetch:template reads
    // the skeleton next to it) and the owner group. catalog:register reads the new repository's
    // catalog-info.yaml from the test server's git data, as the catalog would.
    const catalog = catalogServiceMock({
      entities: [
        {
          ...template,
          metadata: {
            ...template.metadata,
            namespace: 'default',
            annotations: {
              'backstage.io/managed-by-location': `file:${templateFile}`,
            },
          },
        },
        {
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Group',
          metadata: { name: 'payments', namespace: 'default' },
          spec: { type: 'team', children: [] },
        },
      ],
    });
    catalog.addLocation = async location => {
      registered.push({ target: location.target, dryRun: !!location.dryRun });
      const match =
        /^https?:\/\/[^/]+\/([^/]+)\/([^/]+)\/(?:blob|tree)\/([^/]+)\/(.+)$/.exec(
          location.target,
        );
      if (!match) throw new Error(`Unexpected location ${location.target}`);
      const [, owner, repo, ref, file] = match;
      const text = git(`${owner}/${repo}.git`, 'show', `${ref}:${file}`);
      const entities = yaml.parseAllDocuments(text).map(d => d.toJSON());
      if (!location.dryRun) {
        registeredEntities.push(
          ...entities.map(e => ({
            ...e,
            metadata: { namespace: 'default', ...e.metadata },
          })),
        );
      }
      return {
        location: {
          id: `location-${registered.length}`,
          type: location.type ?? 'url',
          target: location.target,
          entityRef: `location:default/generated-${registered.length}`,
        },
        entities,
        exists: false,
      };
    };

    // The promotion backend reads registered entities like any other.
    const getEntityByRef = catalog.getEntityByRef.bind(catalog);
    catalog.getEntityByRef = async (ref, options) =>
      (registeredEntities.find(
        e =>
          `${e.kind}:${e.metadata.namespace}/${e.metadata.name}`.toLowerCase() ===
          String(ref).toLowerCase(),
      ) as any) ?? getEntityByRef(ref, options);

    backend = await startTestBackend({
      features: [
        scaffolderPlugin,
        promotionPlugin,
        promotionModuleLocal,
        promotionModuleGithub,
        promotionModuleGitops,
        promotionModuleAws,
        promotionModuleOci,
        githubModule,
        promotionModule,
        createServiceFactory({
          service: catalogServiceRef,
          deps: {},
          factory: () => catalog,
        }),
        mockServices.rootConfig.factory({
          data: {
            backend: { baseUrl: 'http://localhost:7007' },
            integrations: {
              github: [
                {
                  host: github.host,
                  apiBaseUrl: github.baseUrl,
                  token: TOKEN,
                },
                // The gitops step names no host, so it uses github.com: send that here too.
                {
                  host: 'github.com',
                  apiBaseUrl: github.baseUrl,
                  token: TOKEN,
                },
              ],
            },
            aws: {
              accounts: [
                {
                  accountId: ecr.accountId,
                  accessKeyId: 'AKIDTEST',
                  secretAccessKey: 'test',
                },
              ],
            },
            promotion: {
              scaffolder: { ecrEndpoint: ecr.endpoint },
              // The promotion backend in GitHub mode, reading what the template created.
              source: { provider: 'github' },
              github: { host: github.host },
              artifacts: { ecr: { endpoint: ecr.endpoint } },
              local: { dataDir: path.join(root, 'promotion'), demoData: false },
              ...promotion,
            },
          },
        }),
      ],
    });
  }, 30_000);

  afterAll(async () => {
    await backend?.stop();
    await github?.close();
    await ecr?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Runs the template with `values()` as a scaffolder task; resolves to the task's log. */
  async function run() {
    const auth = mockCredentials.user.header();
    const created = await request(backend.server)
      .post('/api/scaffolder/v2/tasks')
      .set('Authorization', auth)
      .send({
        templateRef: 'template:default/build-once-service',
        values: values(),
        secrets: {},
      });
    expect(created.status).toBe(201);
    const taskId = created.body.id;
    let status = 'open';
    const deadline = Date.now() + 45_000;
    while (!['completed', 'failed', 'cancelled'].includes(status)) {
      if (Date.now() > deadline) throw new Error(`Task still ${status}`);
      await new Promise(r => setTimeout(r, 250));
      const task = await request(backend.server)
        .get(`/api/scaffolder/v2/tasks/${taskId}`)
        .set('Authorization', auth);
      status = task.body.status;
    }
    const events = await request(backend.server)
      .get(`/api/scaffolder/v2/tasks/${taskId}/events`)
      .set('Authorization', auth);
    const log = events.body as Array<{
      type: string;
      body: { message?: string; output?: Record<string, any> };
    }>;
    if (status !== 'completed') {
      throw new Error(
        `Task ${status}:\n${log
          .map(e => e.body.message)
          .filter(Boolean)
          .join('\n')}`,
      );
    }
    return log;
  }

  /** The new entity's lineage (its Environments tab), which lists `environments`. */
  async function lineageWith(environments: string[]) {
    const lineage = await request(backend.server)
      .get(`/api/promotion/v1/entities/component/default/${name}/lineage`)
      .set('Authorization', mockCredentials.user.header());
    expect({
      status: lineage.status,
      error: lineage.body.error?.message,
    }).toEqual({ status: 200, error: undefined });
    expect(
      lineage.body.environments.map((e: { name: string }) => e.name),
    ).toEqual(environments);
    return lineage;
  }

  return {
    get root() {
      return root;
    },
    get github() {
      return github;
    },
    get ecr() {
      return ecr;
    },
    get backend() {
      return backend;
    },
    get paymentsTeamId() {
      return paymentsTeamId;
    },
    registered,
    git,
    template,
    values,
    run,
    lineageWith,
  };
}

describe('the build-once-service template in the scaffolder backend', () => {
  const s = useScaffolder('new-service');

  it('dry-runs every step and shows the files the repository would get', async () => {
    const directoryContents = listFiles(templateDir).map(file => ({
      path: file,
      base64Content: fs
        .readFileSync(path.join(templateDir, file))
        .toString('base64'),
    }));
    const res = await request(s.backend.server)
      .post('/api/scaffolder/v2/dry-run')
      .set('Authorization', mockCredentials.user.header())
      .send({
        template: s.template,
        values: s.values(),
        secrets: {},
        directoryContents,
      });
    expect(res.status).toBe(200);
    expect(res.body.steps.map((step: { id: string }) => step.id)).toEqual(
      s.template.spec.steps.map((step: { id: string }) => step.id),
    );
    const files: string[] = res.body.directoryContents.map(
      (f: { path: string }) => f.path,
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'catalog-info.yaml',
        expect.stringMatching(/^\.github\/workflows\/.+\.ya?ml$/),
      ]),
    );
    // Nothing was created.
    expect(fs.existsSync(path.join(s.root, 'acme', 'new-service.git'))).toBe(
      false,
    );
    expect(s.ecr.repository('new-service')).toBeUndefined();
  });

  it('creates the repository, its rules, environments, image repository and manifests', async () => {
    const log = await s.run();

    // The repository, with the rendered workflows and catalog-info.yaml on main.
    const repo = 'acme/new-service.git';
    const tree = s
      .git(repo, 'ls-tree', '-r', '--name-only', 'main')
      .split('\n');
    expect(tree).toEqual(
      expect.arrayContaining([
        'catalog-info.yaml',
        expect.stringMatching(/^\.github\/workflows\/.+\.ya?ml$/),
      ]),
    );
    const info = yaml.parse(s.git(repo, 'show', 'main:catalog-info.yaml'));
    expect(info.metadata.name).toBe('new-service');
    expect(info.spec.owner).toBe('group:default/payments');

    // Rulesets for main and the release tags.
    const rulesets = s.github.rulesets('acme', 'new-service') as Array<{
      target: string;
      conditions: { ref_name: { include: string[] } };
      rules: Array<{ type: string; parameters?: Record<string, any> }>;
    }>;
    const main = rulesets.find(r => r.target === 'branch');
    expect(main?.conditions.ref_name.include).toEqual(['refs/heads/main']);
    const rule = (type: string) =>
      main?.rules.find(r => r.type === type)?.parameters;
    expect(rule('pull_request')).toMatchObject({
      required_approving_review_count: 1,
    });
    expect(rule('required_status_checks')).toMatchObject({
      required_status_checks: [{ context: 'build' }],
    });
    const tags = rulesets.filter(r => r.target === 'tag');
    expect(tags.length).toBeGreaterThan(0);
    for (const ruleset of tags) {
      expect(ruleset.conditions.ref_name.include).toEqual([
        'refs/tags/rc-*',
        'refs/tags/v*',
      ]);
    }

    // Mainline (the integration's token user, admin of the repository it created) may create a
    // release tag under those rulesets; a developer with write access is refused as GitHub would.
    s.github.addToken('developer-token', { login: 'dev', role: 'write' });
    const head = s.git(repo, 'rev-parse', 'main');
    const tag = (token: string, name: string) =>
      new Octokit({
        baseUrl: s.github.baseUrl,
        auth: token,
      }).rest.git.createRef({
        owner: 'acme',
        repo: 'new-service',
        ref: `refs/tags/${name}`,
        sha: head,
      });
    expect((await tag(TOKEN, 'rc-1')).status).toBe(201);
    await expect(tag('developer-token', 'rc-2')).rejects.toMatchObject({
      status: 422,
      response: {
        data: {
          message:
            'Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n',
        },
      },
    });

    // Environments with their deployment policies.
    const environments = s.github.environments('acme', 'new-service');
    expect(environments.map(e => e.name).sort()).toEqual([
      'demo',
      'prod',
      'stage',
    ]);
    const policies = Object.fromEntries(
      environments.map(e => [
        e.name,
        e.branchPolicies.map(p => `${p.type}:${p.name}`),
      ]),
    );
    expect(policies).toEqual({
      stage: ['branch:main'],
      demo: ['tag:rc-*'],
      prod: ['tag:v*'],
    });

    // prod is reviewed by the owner group's team.
    expect(environments.find(e => e.name === 'prod')?.body.reviewers).toEqual([
      { type: 'Team', id: s.paymentsTeamId },
    ]);

    // The image repository, with the action's defaults.
    const image = s.ecr.repository('new-service');
    expect(image).toMatchObject({
      tagMutability: 'IMMUTABLE',
      scanOnPush: true,
    });
    const builds = JSON.parse(image!.lifecyclePolicy!).rules.find(
      (r: any) => r.selection.tagStatus === 'any',
    );
    expect(builds.selection.countNumber).toBe(200);

    // The service's overlays in the manifest repository.
    const manifests = 'acme/deployments.git';
    for (const environment of ['stage', 'demo', 'prod']) {
      const overlay = yaml.parse(
        s.git(
          manifests,
          'show',
          `main:apps/new-service/overlays/${environment}/kustomization.yaml`,
        ),
      );
      expect(overlay.images).toEqual([
        {
          name: `${s.ecr.accountId}.dkr.ecr.${s.ecr.region}.amazonaws.com/new-service`,
          newTag: 'latest',
        },
      ]);
    }

    // Registered in the catalog from the new repository's catalog-info.yaml.
    expect(s.registered.map(r => r.target)).toEqual([
      expect.stringMatching(
        /\/acme\/new-service\/(blob|tree)\/main\/catalog-info\.yaml$/,
      ),
      expect.stringMatching(
        /\/acme\/new-service\/(blob|tree)\/main\/catalog-info\.yaml$/,
      ),
    ]);
    // The new entity's Environments tab: its three environments, its first commit on main.
    const lineage = await s.lineageWith(['stage', 'demo', 'prod']);
    expect(lineage.body.commits.length).toBeGreaterThan(0);
    expect(
      lineage.body.environments.map(
        (e: { current: { version: string } | null }) => e.current?.version,
      ),
    ).toEqual(['latest', 'latest', 'latest']);

    const completion = log.find(e => e.type === 'completion');
    expect(completion?.body.output?.links).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ entityRef: 'component:default/new-service' }),
        expect.objectContaining({
          url: s.github.gitUrl('acme', 'new-service'),
        }),
      ]),
    );
  }, 50_000);
});

describe('the template with other environments configured (qa from trunk, uat-* to uat, release-* to live)', () => {
  const s = useScaffolder('ledger', {
    mainBranch: 'trunk',
    environments: [
      { name: 'qa', branch: 'trunk' },
      { name: 'uat', tagPattern: 'uat-*' },
      { name: 'live', tagPattern: 'release-*' },
    ],
  });

  it('creates the configured branch, environments, rulesets, workflows and overlays, and none of the defaults', async () => {
    await s.run();
    const repo = 'acme/ledger.git';
    // Published on the configured branch; there is no main.
    expect(s.git(repo, 'rev-parse', '--verify', 'refs/heads/trunk')).toMatch(
      /^[0-9a-f]{40}$/,
    );
    expect(() =>
      s.git(repo, 'rev-parse', '--verify', 'refs/heads/main'),
    ).toThrow();

    const environments = s.github.environments('acme', 'ledger');
    expect(
      Object.fromEntries(
        environments.map(e => [
          e.name,
          e.branchPolicies.map(p => `${p.type}:${p.name}`),
        ]),
      ),
    ).toEqual({
      qa: ['branch:trunk'],
      uat: ['tag:uat-*'],
      live: ['tag:release-*'],
    });
    // The last environment is the reviewed one.
    expect(environments.find(e => e.name === 'live')?.body.reviewers).toEqual([
      { type: 'Team', id: s.paymentsTeamId },
    ]);
    expect(environments.find(e => e.name === 'qa')?.body.reviewers).toBeFalsy();

    const rulesets = s.github.rulesets('acme', 'ledger') as Array<{
      target: string;
      conditions: { ref_name: { include: string[] } };
    }>;
    expect(
      rulesets.map(r => [r.target, r.conditions.ref_name.include]),
    ).toEqual([
      ['branch', ['refs/heads/trunk']],
      ['tag', ['refs/tags/uat-*', 'refs/tags/release-*']],
      ['tag', ['refs/tags/uat-*', 'refs/tags/release-*']],
    ]);

    // The workflows build from trunk and deploy to qa.
    const build = yaml.parse(
      s.git(repo, 'show', 'trunk:.github/workflows/mainline-build.yaml'),
    );
    expect(build.on.push.branches).toEqual(['trunk', 'release/*']);
    expect(build.jobs['deploy-stage'].environment).toBe('qa');
    const pr = yaml.parse(
      s.git(repo, 'show', 'trunk:.github/workflows/mainline-pr.yaml'),
    );
    expect(pr.on.pull_request.branches).toEqual(['trunk']);

    // One overlay per configured environment in the manifest repository.
    const overlays = s
      .git(
        'acme/deployments.git',
        'ls-tree',
        '--name-only',
        'main:apps/ledger/overlays',
      )
      .split('\n');
    expect(overlays.sort()).toEqual(['live', 'qa', 'uat']);

    // The promotion backend reads the same pipeline for the new entity.
    await s.lineageWith(['qa', 'uat', 'live']);
  }, 50_000);
});
