import path from 'node:path';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { CacheService } from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import {
  GitHubTestServer,
  GitHubTestServerOptions,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Knex } from 'knex';
import { AdapterResolver, ComposedAdapterResolver } from '../adapters';
import {
  LocalArtifactRegistry,
  LocalGitSourceControl,
  LocalLambdaDeployments,
  localEntry,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import { ArtifactRegistries } from '@mainline/plugin-promotion-node';
import { openDatabase } from '../database/migrations';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import {
  GitHubWorkflowDeployments,
  createGitHubClient,
  GitHubSourceControl,
} from '@mainline/plugin-promotion-backend-module-github';
import { GitOpsDeploymentTarget } from '@mainline/plugin-promotion-backend-module-gitops';
import { LineageService } from '../lineage/LineageService';
import { PromotionService } from '../promotion/PromotionService';
import { RuntimeVerification } from '../promotion/steps/verify';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { EntityContext, WriteContext } from '../promotion/types';
import { memoryCache } from '../testUtils';
import { demoWriteScope } from './demoBackend';
import { demoDataDir } from './demoData';

/**
 * The embedded default: local bare git repositories (services and the manifest repo), the
 * filesystem artifact registry, and recorded Serverless deploys, all under one data directory.
 */
export class LocalAdapterResolver extends ComposedAdapterResolver {
  readonly source: LocalGitSourceControl;
  readonly artifacts: LocalArtifactRegistry;
  readonly lambda: LocalLambdaDeployments;
  readonly gitops: GitOpsDeploymentTarget;

  constructor(dataDir: string, options: { manifestBranch: string }) {
    const layout = localLayout(dataDir);
    const source = new LocalGitSourceControl(layout.git);
    const artifacts = new LocalArtifactRegistry(layout.artifacts);
    const lambda = new LocalLambdaDeployments(layout.deployments);
    const gitops = new GitOpsDeploymentTarget(source, {
      branch: options.manifestBranch,
    });
    const registries = new ArtifactRegistries([localEntry(artifacts)]);
    super({
      source,
      artifacts: location => registries.lookup(location),
      images: gitops,
      archives: lambda,
    });
    this.source = source;
    this.artifacts = artifacts;
    this.lambda = lambda;
    this.gitops = gitops;
  }
}

/** Ada of the demo's payments team, writing through the API. */
export const adaWriteContext: WriteContext = {
  credentials: mockCredentials.user('user:default/ada'),
  actor: {
    entityRef: 'user:default/ada',
    name: 'Ada',
    email: 'ada@example.com',
  },
};

/** The demo's checkout service, as the catalog describes it. */
export const demoCheckout: EntityContext = {
  entityRef: 'component:default/checkout',
  owners: ['group:default/payments'],
  target: {
    sourceRepo: 'mainline-demo/checkout',
    artifactKind: 'image',
    artifactLocation: 'local/checkout',
    manifestRepo: 'mainline-demo/deployments',
    manifestPath: 'apps/checkout/overlays/{environment}/kustomization.yaml',
    versioning: 'semver',
    releaseBranches: false,
  },
};

/**
 * A fresh copy of the demo (see demoData.ts) with `client` migrated and holding the demo's
 * tombstones, as a backend's first start would leave them, and the local adapters over the copy.
 */
export async function handBuiltDemo(prefix: string, client: Knex) {
  const { dataDir, manifest } = await demoDataDir(prefix);
  const knex = await openDatabase({ getClient: async () => client });
  const yanks = new YankStore(knex);
  for (const yank of manifest.yanks) await yanks.record(yank);
  const local = new LocalAdapterResolver(dataDir, { manifestBranch: 'main' });
  return { dataDir, knex, yanks, local };
}

/**
 * A lineage and a promotion service wired by hand as plugin.ts wires them, for tests that put a
 * wrapper (an injected fault, a racing sibling) between the service and its upstream: the demo
 * environments, every permission allowed, the demo owner's write scope and a silent auditor.
 */
export function handBuiltService(options: {
  knex: Knex;
  yanks: YankStore;
  /** What the lineage reads through. */
  adapters: AdapterResolver;
  /** What promotions write through; `adapters` unless the test wraps them. */
  writeAdapters?: AdapterResolver;
  /** A cache several replicas share; a fresh one otherwise. */
  cache?: CacheService;
  cacheTtlMs?: number;
  /** The runtime observers and settings (the verify step, requireRunningIn). */
  runtime?: RuntimeVerification;
  notifications?: NotificationService;
}): { lineage: LineageService; service: PromotionService } {
  const lineage = new LineageService({
    adapters: options.adapters,
    yanks: options.yanks,
    cache: options.cache ?? memoryCache(),
    environments: DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
    mainBranch: 'main',
    cacheTtlMs: options.cacheTtlMs ?? 60_000,
  });
  const service = new PromotionService({
    adapters: options.writeAdapters ?? options.adapters,
    store: new PromotionStore(options.knex),
    yanks: options.yanks,
    lineage,
    environments: DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
    mainBranch: 'main',
    annotatedTags: true,
    writeScope: demoWriteScope(),
    // Not the jest mocks: the verify bench (scripts/lib/verifyBench.ts) builds it outside jest.
    permissions: mockServices.permissions({ result: AuthorizeResult.ALLOW }),
    auditor: {
      createEvent: async () => ({
        success: async () => {},
        fail: async () => {},
      }),
    },
    logger: mockServices.rootLogger({ level: 'none' }),
    runtime: options.runtime,
    notifications: options.notifications,
  });
  return { lineage, service };
}

/**
 * The demo's repositories in `dataDir` through the GitHub API: the GitHub test server over the
 * same bare repositories, the real client and adapters on it (manifests committed to main,
 * archives deployed by workflow runs), and the local artifact store. The caller closes `server`.
 */
export async function overGitHubTestServer(
  dataDir: string,
  options: Pick<GitHubTestServerOptions, 'autoCompleteRuns'> & {
    token: string;
  },
): Promise<{
  server: GitHubTestServer;
  source: GitHubSourceControl;
  adapters: AdapterResolver;
}> {
  const server = await startGitHubTestServer({
    root: path.join(dataDir, 'git'),
    token: options.token,
    autoCompleteRuns: options.autoCompleteRuns,
  });
  const client = createGitHubClient({
    baseUrl: server.baseUrl,
    token: options.token,
    writeSpacingMs: 0,
    waitUnitMs: 1,
  });
  const source = new GitHubSourceControl(async () => client, {
    webBaseUrl: server.htmlUrl,
  });
  const artifacts = new LocalArtifactRegistry(localLayout(dataDir).artifacts);
  const adapters = new ComposedAdapterResolver({
    source,
    artifacts: () => artifacts,
    images: new GitOpsDeploymentTarget(source, { branch: 'main' }),
    archives: new GitHubWorkflowDeployments(async () => client),
  });
  return { server, source, adapters };
}
