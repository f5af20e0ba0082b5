export { createAnnotationsRenderAction } from './annotationsRender';
export { createAwsEcrCreateAction } from './awsEcrCreate';
export { createGithubRulesetsAction } from './githubRulesetsCreate';
export {
  createGitopsRegisterAction,
  type GitopsPublishMode,
  type GitopsRegisterInput,
  type GitopsRegisterOutput,
} from './gitopsRegister';
export { createWorkflowsRenderAction } from './workflowsRender';
export {
  createPipelineReadAction,
  type EnvironmentSettings,
  type PipelineReadOutput,
} from './pipelineRead';
