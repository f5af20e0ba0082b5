import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { createRouter } from './service/router';
import { readEnvironments } from './service/environments';

/**
 * The Mainline promotion backend plugin: lineage and promotion APIs.
 *
 * @public
 */
export const promotionPlugin = createBackendPlugin({
  pluginId: 'promotion',
  register(env) {
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        catalog: catalogServiceRef,
      },
      async init({ httpRouter, httpAuth, logger, config, catalog }) {
        const environments = readEnvironments(config);
        httpRouter.use(await createRouter({ httpAuth, catalog, environments }));
        logger.info(
          `Promotion environments: ${environments
            .map(e => e.name)
            .join(' -> ')}`,
        );
      },
    });
  },
});
