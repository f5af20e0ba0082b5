import {
  CacheService,
  LoggerService,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import {
  ChangeRequestsProvider,
  DeploymentTargetProvider,
  SourceControlProvider,
  UpstreamAnswer,
  promotionChangeRequestsExtensionPoint,
  promotionDeploymentTargetExtensionPoint,
  promotionSourceControlExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { GitHubClients } from './GitHubClients';
import { GitHubPullRequests } from './GitHubPullRequests';
import { GitHubSourceControl } from './GitHubSourceControl';
import { GitHubWorkflowDeployments } from './GitHubWorkflowDeployments';

const clientsByConfig = new WeakMap<Config, GitHubClients>();

/** One set of clients (one rate budget) per backend for source, pull requests and workflow runs. */
function clientsFor(context: {
  config: Config;
  cache: CacheService;
  logger: LoggerService;
  onUpstreamAnswer?: (answer: UpstreamAnswer) => void;
}): GitHubClients {
  let clients = clientsByConfig.get(context.config);
  if (!clients) {
    const report = context.onUpstreamAnswer;
    const created: GitHubClients = GitHubClients.fromConfig(context.config, {
      cache: context.cache,
      logger: context.logger,
      onResponse: report
        ? answer => report({ system: 'github', host: created.host, ...answer })
        : undefined,
    });
    clients = created;
    clientsByConfig.set(context.config, clients);
  }
  return clients;
}

/**
 * `promotion.source.provider: github` (the default without `promotion.local.dataDir`): the
 * repositories on `promotion.github.host` through its `integrations.github` entry. Archives
 * deploy through the deploy workflow unless `promotion.github.lambdaDeploys` says `recorded`.
 *
 * @public
 */
export const githubSourceControlProvider: SourceControlProvider = {
  name: 'github',
  create(context) {
    const clients = clientsFor(context);
    return new GitHubSourceControl(clients.forRepo, {
      webBaseUrl: clients.webBaseUrl,
    });
  },
  deploymentTargets({ config }) {
    return {
      archive:
        config.getOptionalString('promotion.github.lambdaDeploys') ??
        'workflow',
    };
  },
};

/**
 * Pull requests on the manifest repository, for the environments in
 * `promotion.github.manifestPullRequests`.
 *
 * @public
 */
export const githubChangeRequestsProvider: ChangeRequestsProvider = {
  name: 'github',
  create(context) {
    return new GitHubPullRequests(clientsFor(context).forRepo, context.source);
  },
};

/** The branch of each environment `promotion.environments` deploys from a branch. */
function environmentBranches(config: Config): Record<string, string> {
  const branches: Record<string, string> = {};
  for (const entry of config.getOptionalConfigArray('promotion.environments') ??
    []) {
    const branch = entry.getOptionalString('branch');
    if (branch) branches[entry.getString('name')] = branch;
  }
  return branches;
}

/**
 * Serverless deploys as runs of the service repository's deploy workflow
 * (`promotion.github.deployWorkflow`), dispatched on the release tag a promotion deploys, or on
 * the environment's branch (`promotion.mainBranch` by default) for a deploy without one.
 *
 * @public
 */
export const githubWorkflowDeploymentTargetProvider: DeploymentTargetProvider =
  {
    name: 'workflow',
    create(context) {
      const { config } = context;
      return new GitHubWorkflowDeployments(clientsFor(context).forRepo, {
        workflow:
          config.getOptionalString('promotion.github.deployWorkflow') ??
          'mainline-deploy.yaml',
        ref: config.getOptionalString('promotion.mainBranch') ?? 'main',
        branches: environmentBranches(config),
        startTimeoutMs:
          (config.getOptionalNumber(
            'promotion.github.deployStartTimeoutMinutes',
          ) ?? 10) * 60_000,
      });
    },
  };

/**
 * The promotion plugin's GitHub adapters: source control, manifest pull requests and deploy
 * workflow runs.
 *
 * @public
 */
export const promotionModuleGithub = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'github',
  register(env) {
    env.registerInit({
      deps: {
        sources: promotionSourceControlExtensionPoint,
        changeRequests: promotionChangeRequestsExtensionPoint,
        deployments: promotionDeploymentTargetExtensionPoint,
      },
      async init({ sources, changeRequests, deployments }) {
        sources.addSourceControlProvider(githubSourceControlProvider);
        changeRequests.addChangeRequestsProvider(githubChangeRequestsProvider);
        deployments.addDeploymentTargetProvider(
          githubWorkflowDeploymentTargetProvider,
        );
      },
    });
  },
});
