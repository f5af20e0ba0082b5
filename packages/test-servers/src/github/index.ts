export { startGitHubTestServer } from './GitHubTestServer';
export { seedRepository } from './seedRepository';
export type {
  GitHubTestServer,
  GitHubTestServerOptions,
  GitHubTestRequest,
  GitHubTestPullRequest,
  GitHubTestWorkflowRun,
  GitHubTestWorkflowConclusion,
  GitHubTestWebhook,
  GitHubTestWebhookDelivery,
} from './GitHubTestServer';
export {
  githubWebhookModules,
  githubWebhookEventsConfig,
  githubWebhookSignature,
} from './webhooks';
