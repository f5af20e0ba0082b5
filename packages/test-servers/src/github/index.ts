export { startGitHubTestServer } from './GitHubTestServer';
export type {
  GitHubTestServer,
  GitHubTestServerOptions,
  GitHubTestRequest,
  GitHubTestPullRequest,
  GitHubTestWorkflowRun,
  GitHubTestWorkflowConclusion,
} from './GitHubTestServer';
