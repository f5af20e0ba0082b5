import path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
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
import { LocalArtifactRegistry } from '../artifacts/local/LocalArtifactRegistry';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { GitHubWorkflowDeployments } from '../deploy/github/GitHubWorkflowDeployments';
import { GitOpsDeploymentTarget } from '../deploy/gitops/GitOpsDeploymentTarget';
import { LineageService } from '../lineage/LineageService';
import { localLayout } from '../local/layout';
import { PromotionService } from '../promotion/PromotionService';
import { createGitHubClient } from '../source/github/GitHubClients';
import { GitHubSourceControl } from '../source/github/GitHubSourceControl';
import { memoryCache } from '../testUtils';
import { demoWriteScope } from './demoBackend';

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
