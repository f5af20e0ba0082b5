import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  promotionPreparationExtensionPoint,
  readLocalDataDir,
} from '@mainline/plugin-promotion-node';
import { demoPreparation } from './ensureDemoData';

/**
 * Demo data for the embedded default: with `promotion.local.demoData: true` it generates the demo
 * services' repositories, artifacts and deploys under `promotion.local.dataDir` once (kept across
 * restarts), in the background, and records their tombstones. A production backend does not
 * install it.
 *
 * @public
 */
export const promotionModuleDemo = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'demo',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        preparations: promotionPreparationExtensionPoint,
      },
      async init({ config, logger, preparations }) {
        const dataDir = readLocalDataDir(config);
        if (
          !dataDir ||
          !config.getOptionalBoolean('promotion.local.demoData')
        ) {
          return;
        }
        preparations.addPreparation(
          await demoPreparation({
            dataDir,
            logger,
            history:
              config.getOptionalBoolean('promotion.local.demoHistory') ?? false,
          }),
        );
      },
    });
  },
});
