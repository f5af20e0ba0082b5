/**
 * The GitHub adapters of the Mainline promotion backend: source control, manifest pull requests,
 * deploy workflow runs, and the webhooks that keep lineage fresh.
 *
 * @packageDocumentation
 */

export { promotionModuleGithub as default } from './module';
export * from './module';
export {
  ThrottledOctokit,
  GitHubClients,
  createGitHubClient,
} from './GitHubClients';
export type {
  GitHubAnswer,
  GitHubClient,
  GitHubClientForRepo,
  GitHubClientOptions,
} from './GitHubClients';
export { GitHubSourceControl } from './GitHubSourceControl';
export { GitHubPullRequests } from './GitHubPullRequests';
export { GitHubWorkflowDeployments } from './GitHubWorkflowDeployments';
export type {
  GitHubWorkflowDeploymentsOptions,
  OctokitForRepo,
} from './GitHubWorkflowDeployments';
