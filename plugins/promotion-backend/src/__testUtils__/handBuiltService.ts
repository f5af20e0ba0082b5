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
import {
  AdapterResolver,
  ComposedAdapterResolver,
  LocalAdapterResolver,
} from '../adapters';
import { LocalArtifactRegistry } from '../artifacts/local/LocalArtifactRegistry';
import { openDatabase } from '../database/migrations';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { GitHubWorkflowDeployments } from '../deploy/github/GitHubWorkflowDeployments';
import { GitOpsDeploymentTarget } from '../deploy/gitops/GitOpsDeploymentTarget';
import { LineageService } from '../lineage/LineageService';
import { localLayout } from '../local/layout';
import { PromotionService } from '../promotion/PromotionService';
import { EntityContext, WriteContext } from '../promotion/types';
import { createGitHubClient } from '../source/github/GitHubClients';
import { GitHubSourceControl } from '../source/github/GitHubSourceControl';
import { memoryCache } from '../testUtils';
import { demoWriteScope } from './demoBackend';
import { demoDataDir } from './demoData';

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
    permissions: mockServices.permissions.mock({
      authorize: async requests =>
        requests.map(() => ({ result: AuthorizeResult.ALLOW })),
    }),
    auditor: {
      createEvent: async () => ({
        success: async () => {},
        fail: async () => {},
      }),
    },
    logger: mockServices.logger.mock(),
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
