import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  ArtifactRegistryProvider,
  promotionArtifactRegistryExtensionPoint,
  readOutboundHosts,
} from '@mainline/plugin-promotion-node';
import { ociEntry, readOciRegistries } from './registries';

/**
 * OCI distribution registries (GHCR, Harbor, Docker Hub): those in
 * `promotion.artifacts.oci.registries` with their credentials, and the hosts allowed without any.
 *
 * @public
 */
export const ociArtifactRegistryProvider: ArtifactRegistryProvider = {
  name: 'oci',
  create: ({ config, onUpstreamAnswer }) => [
    ociEntry(
      readOciRegistries(config),
      readOutboundHosts(config),
      onUpstreamAnswer,
    ),
  ],
};

/**
 * The promotion plugin's OCI registry adapter.
 *
 * @public
 */
export const promotionModuleOci = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'oci',
  register(env) {
    env.registerInit({
      deps: { registries: promotionArtifactRegistryExtensionPoint },
      async init({ registries }) {
        registries.addArtifactRegistryProvider(ociArtifactRegistryProvider);
      },
    });
  },
});
