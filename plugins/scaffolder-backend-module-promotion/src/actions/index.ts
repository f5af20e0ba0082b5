export { createAnnotationsRenderAction } from './annotationsRender';
export { createAwsEcrCreateAction } from './awsEcrCreate';
export { createGithubRulesetsAction } from './githubRulesetsCreate';
export { createGitopsRegisterAction } from './gitopsRegister';
export { createWorkflowsRenderAction } from './workflowsRender';
