import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { Entity } from '@backstage/catalog-model';
import { ConfigReader } from '@backstage/config';
import { Knex } from 'knex';
import { promotionWithAdapters } from './adapterModules';
import { WriteScope, readWriteScopeOptions } from '../service/WriteScope';
import { demoEntities, memoryCache } from '../testUtils';

/**
 * A cache of its own for one test backend (the default memory store is shared by every backend
 * in a process, so a second backend would read the first one's lineage).
 */
export function memoryCacheFactory() {
  return createServiceFactory({
    service: coreServices.cache,
    deps: {},
    factory: () => memoryCache(),
  });
}

/**
 * Tests read cold boards and assert every row; on a loaded CI machine one cold read can take
 * longer than the two seconds a board waits for it in production, so tests wait for all of them
 * unless they set `promotion.board.coldReadWaitSeconds` themselves.
 */
function coldBoardWait(promotion?: Record<string, unknown>) {
  return {
    coldReadWaitSeconds: 600,
    ...(promotion?.board as Record<string, unknown> | undefined),
  };
}

/**
 * The features of a test backend running the plugin on the embedded default's demo: the demo
 * catalog (or `entities`), the given database (the default test database otherwise), a cache of
 * its own (the default memory store is shared by every backend in a process), and the demo
 * generated into `dataDir`.
 */
export function demoBackendFeatures(options: {
  knex?: Knex;
  dataDir: string;
  entities?: Entity[];
  /** More config beside `promotion`. */
  config?: Record<string, unknown>;
  /** More config beside `promotion.local`. */
  promotion?: Record<string, unknown>;
  /** Record the demo's promotion history in the ledger (`promotion.local.demoHistory`). */
  demoHistory?: boolean;
}) {
  return [
    ...promotionWithAdapters,
    catalogServiceMock.factory({
      entities: options.entities ?? demoEntities(),
    }),
    ...(options.knex
      ? [mockServices.database.factory({ knex: options.knex })]
      : []),
    memoryCacheFactory(),
    mockServices.rootConfig.factory({
      data: {
        ...options.config,
        promotion: {
          ...options.promotion,
          board: coldBoardWait(options.promotion),
          local: {
            dataDir: options.dataDir,
            demoData: true,
            ...(options.demoHistory ? { demoHistory: true } : {}),
          },
        },
      },
    }),
  ];
}

/** The grant app-config.yaml gives the demo's owner. */
export const DEMO_WRITE_SCOPE_GRANT = {
  owners: ['group:default/payments'],
  repositories: ['mainline-demo/*'],
  manifests: [{ repository: 'mainline-demo/deployments', paths: ['apps/**'] }],
  artifactLocations: ['local/*', 'local://*'],
  serverlessServices: ['*'],
};

/**
 * The write-scope guard for a PromotionService built by hand: the demo owner's grant as
 * app-config.yaml configures it, and a catalog holding `entities`.
 */
export function demoWriteScope(entities: Entity[] = demoEntities()) {
  return new WriteScope({
    catalog: catalogServiceMock({ entities }),
    auth: mockServices.auth(),
    // Silent, and not a jest mock: the verify bench builds this outside jest.
    auditor: {
      createEvent: async () => ({
        success: async () => {},
        fail: async () => {},
      }),
    },
    environments: ['stage', 'demo', 'prod'],
    options: readWriteScopeOptions(
      new ConfigReader({
        promotion: { writeScope: { grants: [DEMO_WRITE_SCOPE_GRANT] } },
      }),
    ),
  });
}

/**
 * The config of GitHub mode on the demo over the GitHub test server (`server`, which serves the
 * demo's bare repositories in `dataDir`): its integration with `token`, lineage and writes through
 * its API with Lambda deploys recorded, and the demo's artifact store. `github` adds to
 * `promotion.github`, `promotion` to `promotion`.
 */
export function githubModeConfig(options: {
  server: { host: string; baseUrl: string };
  token: string;
  dataDir: string;
  github?: Record<string, unknown>;
  promotion?: Record<string, unknown>;
}) {
  const { server, token, dataDir } = options;
  return {
    integrations: {
      github: [{ host: server.host, apiBaseUrl: server.baseUrl, token }],
    },
    promotion: {
      source: { provider: 'github' },
      github: {
        host: server.host,
        lambdaDeploys: 'recorded',
        ...options.github,
      },
      local: { dataDir, demoData: true },
      ...options.promotion,
      board: coldBoardWait(options.promotion),
    },
  };
}
