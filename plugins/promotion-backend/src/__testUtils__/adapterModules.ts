import promotionModuleDemo from '@mainline/plugin-promotion-backend-module-demo';
import promotionModuleAws, {
  awsArtifactRegistryProvider,
} from '@mainline/plugin-promotion-backend-module-aws';
import promotionModuleGithub, {
  githubChangeRequestsProvider,
  githubSourceControlProvider,
  githubWorkflowDeploymentTargetProvider,
} from '@mainline/plugin-promotion-backend-module-github';
import promotionModuleGitops, {
  gitopsDeploymentTargetProvider,
} from '@mainline/plugin-promotion-backend-module-gitops';
import promotionModuleLocal, {
  localArtifactRegistryProvider,
  localSourceControlProvider,
  recordedDeploymentTargetProvider,
} from '@mainline/plugin-promotion-backend-module-local';
import promotionModuleOci, {
  ociArtifactRegistryProvider,
} from '@mainline/plugin-promotion-backend-module-oci';
import { PromotionAdapterProviders } from '../adapters';
import { promotionPlugin } from '../plugin';

/** The adapter modules packages/backend installs: the embedded default, GitHub, AWS, OCI, GitOps. */
export const promotionAdapterModules = [
  promotionModuleLocal,
  promotionModuleGithub,
  promotionModuleGitops,
  promotionModuleAws,
  promotionModuleOci,
];

/**
 * The promotion plugin with the modules packages/backend installs for a development start: the
 * adapter modules and the demo data (which acts only with `promotion.local.demoData`).
 */
export const promotionWithAdapters = [
  promotionPlugin,
  ...promotionAdapterModules,
  promotionModuleDemo,
];

/** What those modules register, for code that composes adapters without a backend. */
export function adapterProviders(): PromotionAdapterProviders {
  const providers = new PromotionAdapterProviders();
  providers.addSourceControlProvider(localSourceControlProvider);
  providers.addSourceControlProvider(githubSourceControlProvider);
  providers.addChangeRequestsProvider(githubChangeRequestsProvider);
  providers.addArtifactRegistryProvider(localArtifactRegistryProvider);
  providers.addArtifactRegistryProvider(awsArtifactRegistryProvider);
  providers.addArtifactRegistryProvider(ociArtifactRegistryProvider);
  providers.addDeploymentTargetProvider(gitopsDeploymentTargetProvider);
  providers.addDeploymentTargetProvider(recordedDeploymentTargetProvider);
  providers.addDeploymentTargetProvider(githubWorkflowDeploymentTargetProvider);
  return providers;
}
