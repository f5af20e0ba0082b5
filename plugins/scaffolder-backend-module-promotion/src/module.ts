import {
  BackendFeature,
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createAnnotationsRenderAction } from './actions/annotationsRender';
import { createWorkflowsRenderAction } from './actions/workflowsRender';
import { createGithubRulesetsAction } from './actions/githubRulesetsCreate';
import { createAwsEcrCreateAction } from './actions/awsEcrCreate';
import { createGitopsRegisterAction } from './actions/gitopsRegister';
import { createPipelineReadAction } from './actions/pipelineRead';

// Annotated, not inferred: the declaration file then names only backend-plugin-api, whichever copy
// of scaffolder-node the adopter's app resolves (TS2742).
/**
 * Scaffolder actions that start new services on the main/rc/v release workflow.
 *
 * @public
 */
export const scaffolderModulePromotion: BackendFeature = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'promotion',
  register(env) {
    env.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        config: coreServices.rootConfig,
      },
      async init({ scaffolder, config }) {
        scaffolder.addActions(
          createAnnotationsRenderAction(),
          createWorkflowsRenderAction({ config }),
          createGithubRulesetsAction({ config }),
          createAwsEcrCreateAction({ config }),
          createGitopsRegisterAction({ config }),
          createPipelineReadAction({ config }),
        );
      },
    });
  },
});
