import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  ArtifactRegistryProvider,
  promotionArtifactRegistryExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { awsRegistryEntries } from './registries';

/**
 * ECR image repositories and S3 package prefixes, with credentials from `aws.accounts`.
 *
 * @public
 */
export const awsArtifactRegistryProvider: ArtifactRegistryProvider = {
  name: 'aws',
  create: ({ config }) => awsRegistryEntries(config),
};

/**
 * The promotion plugin's AWS artifact registries: ECR and S3.
 *
 * @public
 */
export const promotionModuleAws = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'aws',
  register(env) {
    env.registerInit({
      deps: { registries: promotionArtifactRegistryExtensionPoint },
      async init({ registries }) {
        registries.addArtifactRegistryProvider(awsArtifactRegistryProvider);
      },
    });
  },
});
