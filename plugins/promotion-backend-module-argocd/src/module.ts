import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  RuntimeObserverProvider,
  promotionRuntimeObserverExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { ArgoCdRuntimeObserver } from './ArgoCdRuntimeObserver';
import { readArgoCdOptions } from './config';

/**
 * The Argo CD instances of `promotion.argocd.instances`; none configured, no observer.
 *
 * @public
 */
export const argoCdRuntimeObserverProvider: RuntimeObserverProvider = {
  name: 'argocd',
  create: ({ config }) => {
    const options = readArgoCdOptions(config);
    return options && new ArgoCdRuntimeObserver(options);
  },
};

/**
 * The promotion plugin's Argo CD runtime observer.
 *
 * @public
 */
export const promotionModuleArgoCd = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'argocd',
  register(env) {
    env.registerInit({
      deps: { runtime: promotionRuntimeObserverExtensionPoint },
      async init({ runtime }) {
        runtime.addRuntimeObserverProvider(argoCdRuntimeObserverProvider);
      },
    });
  },
});
