/**
 * The GitHub adapters of the Mainline promotion backend: source control, manifest pull requests
 * and deploy workflow runs.
 *
 * @packageDocumentation
 */

export { promotionModuleGithub as default } from './module';
export * from './module';
export * from './GitHubClients';
export * from './GitHubSourceControl';
export * from './GitHubPullRequests';
export * from './GitHubWorkflowDeployments';
