import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  ArtifactRegistryProvider,
  RuntimeObserverProvider,
  promotionArtifactRegistryExtensionPoint,
  promotionRuntimeObserverExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { createLambdaRuntimeObserver } from './lambda';
import { awsRegistryEntries } from './registries';

/**
 * ECR image repositories and S3 package prefixes, with credentials from `aws.accounts`.
 *
 * @public
 */
export const awsArtifactRegistryProvider: ArtifactRegistryProvider = {
  name: 'aws',
  create: ({ config, onUpstreamAnswer }) =>
    awsRegistryEntries(config, onUpstreamAnswer),
};

/**
 * The Lambda functions of `promotion.runtime.lambda`; not configured, no observer.
 *
 * @public
 */
export const lambdaRuntimeObserverProvider: RuntimeObserverProvider = {
  name: 'lambda',
  create: ({ config }) => createLambdaRuntimeObserver(config),
};

/**
 * The promotion plugin's AWS artifact registries (ECR and S3) and its Lambda runtime observer.
 *
 * @public
 */
export const promotionModuleAws = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'aws',
  register(env) {
    env.registerInit({
      deps: {
        registries: promotionArtifactRegistryExtensionPoint,
        runtime: promotionRuntimeObserverExtensionPoint,
      },
      async init({ registries, runtime }) {
        registries.addArtifactRegistryProvider(awsArtifactRegistryProvider);
        runtime.addRuntimeObserverProvider(lambdaRuntimeObserverProvider);
      },
    });
  },
});
