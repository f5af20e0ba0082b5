import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  DeploymentTargetProvider,
  promotionDeploymentTargetExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { GitOpsDeploymentTarget } from './GitOpsDeploymentTarget';

/**
 * Container deploys as commits to the GitOps manifest repository (`gitops`, what images deploy
 * through by default), on `promotion.manifestBranch`; the environments in
 * `promotion.github.manifestPullRequests` go through a change request where the source control
 * has them.
 *
 * @public
 */
export const gitopsDeploymentTargetProvider: DeploymentTargetProvider = {
  name: 'gitops',
  create({ config, source, changeRequests }) {
    return new GitOpsDeploymentTarget(source, {
      branch: config.getOptionalString('promotion.manifestBranch') ?? 'main',
      reviewEnvironments: changeRequests
        ? config.getOptionalStringArray(
            'promotion.github.manifestPullRequests',
          ) ?? []
        : [],
      changeRequests,
    });
  },
};

/**
 * The promotion plugin's GitOps deployment target: image tags rewritten in the manifest
 * repository that Argo CD (or Flux) watches.
 *
 * @public
 */
export const promotionModuleGitops = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'gitops',
  register(env) {
    env.registerInit({
      deps: { deployments: promotionDeploymentTargetExtensionPoint },
      async init({ deployments }) {
        deployments.addDeploymentTargetProvider(gitopsDeploymentTargetProvider);
      },
    });
  },
});
