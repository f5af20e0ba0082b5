import {
  ArtifactRegistryProvider,
  ChangeRequestsProvider,
  DeploymentTargetProvider,
  SourceControlProvider,
  readLocalDataDir,
  readOutboundHosts,
  unavailableDeploymentTarget,
} from '@mainline/plugin-promotion-node';
import { Config } from '@backstage/config';
import { CacheService, LoggerService } from '@backstage/backend-plugin-api';
import {
  awsRegistryEntries,
  localEntry,
  ociEntry,
  readOciRegistries,
} from './artifacts/ArtifactRegistries';
import { LocalArtifactRegistry } from './artifacts/local/LocalArtifactRegistry';
import { GitHubPullRequests } from './deploy/github/GitHubPullRequests';
import { GitHubWorkflowDeployments } from './deploy/github/GitHubWorkflowDeployments';
import { GitOpsDeploymentTarget } from './deploy/gitops/GitOpsDeploymentTarget';
import { LocalLambdaDeployments } from './deploy/local/LocalLambdaDeployments';
import { localLayout } from './local/layout';
import { GitHubClients } from './source/github/GitHubClients';
import { GitHubSourceControl } from './source/github/GitHubSourceControl';
import { LocalGitSourceControl } from './source/local/LocalGitSourceControl';
import { PromotionAdapterProviders } from './adapters';

const githubClients = new WeakMap<Config, GitHubClients>();

/** One set of clients (and so one rate budget) per backend for source, pull requests and runs. */
function clientsFor(context: {
  config: Config;
  cache: CacheService;
  logger: LoggerService;
}): GitHubClients {
  let clients = githubClients.get(context.config);
  if (!clients) {
    clients = GitHubClients.fromConfig(context.config, {
      cache: context.cache,
      logger: context.logger,
    });
    githubClients.set(context.config, clients);
  }
  return clients;
}

export const builtinSourceControlProviders: SourceControlProvider[] = [
  {
    name: 'local',
    create({ config }) {
      const dataDir = readLocalDataDir(config);
      return dataDir
        ? new LocalGitSourceControl(localLayout(dataDir).git)
        : undefined;
    },
  },
  {
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
  },
];

export const builtinChangeRequestsProviders: ChangeRequestsProvider[] = [
  {
    name: 'github',
    create(context) {
      return new GitHubPullRequests(
        clientsFor(context).forRepo,
        context.source,
      );
    },
  },
];

export const builtinArtifactRegistryProviders: ArtifactRegistryProvider[] = [
  {
    name: 'local',
    create({ config }) {
      const dataDir = readLocalDataDir(config);
      return dataDir
        ? [
            localEntry(
              new LocalArtifactRegistry(localLayout(dataDir).artifacts),
            ),
          ]
        : [];
    },
  },
  { name: 'aws', create: ({ config }) => awsRegistryEntries(config) },
  {
    name: 'oci',
    create: ({ config }) => [
      ociEntry(readOciRegistries(config), readOutboundHosts(config)),
    ],
  },
];

export const builtinDeploymentTargetProviders: DeploymentTargetProvider[] = [
  {
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
  },
  {
    name: 'recorded',
    create({ config }) {
      const dataDir = readLocalDataDir(config);
      return dataDir
        ? new LocalLambdaDeployments(localLayout(dataDir).deployments)
        : unavailableDeploymentTarget(
            'promotion.github.lambdaDeploys is recorded, which needs promotion.local.dataDir',
          );
    },
  },
  {
    name: 'workflow',
    create(context) {
      const { config } = context;
      return new GitHubWorkflowDeployments(clientsFor(context).forRepo, {
        workflow:
          config.getOptionalString('promotion.github.deployWorkflow') ??
          'mainline-deploy.yaml',
        ref: config.getOptionalString('promotion.mainBranch') ?? 'main',
        startTimeoutMs:
          (config.getOptionalNumber(
            'promotion.github.deployStartTimeoutMinutes',
          ) ?? 10) * 60_000,
      });
    },
  },
];

/** Adds the built-in adapters for the names no module provided. */
export function withBuiltinProviders(
  providers: PromotionAdapterProviders = new PromotionAdapterProviders(),
): PromotionAdapterProviders {
  for (const p of builtinSourceControlProviders) {
    if (!providers.sources.has(p.name)) providers.addSourceControlProvider(p);
  }
  for (const p of builtinChangeRequestsProviders) {
    if (!providers.changeRequests.has(p.name)) {
      providers.addChangeRequestsProvider(p);
    }
  }
  for (const p of builtinArtifactRegistryProviders) {
    if (!providers.registries.has(p.name)) {
      providers.addArtifactRegistryProvider(p);
    }
  }
  for (const p of builtinDeploymentTargetProviders) {
    if (!providers.deployments.has(p.name)) {
      providers.addDeploymentTargetProvider(p);
    }
  }
  return providers;
}
