import {
  CacheService,
  LoggerService,
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import {
  ChangeRequestsProvider,
  DeploymentTargetProvider,
  SourceControlProvider,
  UpstreamAnswer,
  promotionChangeRequestsExtensionPoint,
  promotionDeploymentTargetExtensionPoint,
  promotionSourceControlExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { GitHubEvents } from './events/GitHubEvents';
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
 * workflow runs; and its GitHub webhooks (as `@backstage/plugin-events-backend-module-github`
 * delivers them on the events service): each refreshes the lineage of the entities whose
 * repository it is about, wakes the promotions waiting for a run or a pull request, and hands
 * pushed release tags to the plugin.
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
        sourceEvents: promotionSourceEventsExtensionPoint,
        events: eventsServiceRef,
        cache: coreServices.cache,
      },
      async init({
        sources,
        changeRequests,
        deployments,
        sourceEvents,
        events,
        cache,
      }) {
        sources.addSourceControlProvider(githubSourceControlProvider);
        changeRequests.addChangeRequestsProvider(githubChangeRequestsProvider);
        deployments.addDeploymentTargetProvider(
          githubWorkflowDeploymentTargetProvider,
        );
        const webhooks = new GitHubEvents({ events, cache });
        sourceEvents.addSourceEventsHandler({
          name: 'github',
          start: promotion => webhooks.subscribe(promotion),
        });
      },
    });
  },
});
