import path from 'node:path';
import { CacheService, LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { InputError, ServiceUnavailableError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  ArtifactLocation,
  ArtifactRegistry,
} from './artifacts/ArtifactRegistry';
import { LocalArtifactRegistry } from './artifacts/local/LocalArtifactRegistry';
import {
  ArtifactRegistries,
  awsRegistryEntries,
  localEntry,
  ociEntry,
  readOciRegistries,
} from './artifacts/ArtifactRegistries';
import { readOutboundHosts } from './artifacts/outbound';
import { DeploymentTarget } from './deploy/DeploymentTarget';
import { GitHubPullRequests } from './deploy/github/GitHubPullRequests';
import { GitHubWorkflowDeployments } from './deploy/github/GitHubWorkflowDeployments';
import { GitOpsDeploymentTarget } from './deploy/gitops/GitOpsDeploymentTarget';
import { LocalLambdaDeployments } from './deploy/local/LocalLambdaDeployments';
import { localLayout } from './local/layout';
import { SourceControl } from './source/SourceControl';
import { GitHubAnswer, GitHubClients } from './source/github/GitHubClients';
import { GitHubSourceControl } from './source/github/GitHubSourceControl';
import { LocalGitSourceControl } from './source/local/LocalGitSourceControl';

/** The adapters that serve one entity: where its code, artifacts and deployments live. */
export interface PromotionAdapters {
  source: SourceControl;
  artifacts: ArtifactRegistry;
  artifactLocation: ArtifactLocation;
  deployments: DeploymentTarget;
}

/** Chooses adapters for an entity from its annotations and the backend's configuration. */
export interface AdapterResolver {
  forTarget(target: PromotionTarget): PromotionAdapters;
}

/** `promotion.local.dataDir`, resolved against the backend's working directory. */
export function readLocalDataDir(config: Config): string | undefined {
  const dir = config.getOptionalString('promotion.local.dataDir');
  return dir === undefined ? undefined : path.resolve(dir);
}

/** Finds the registry serving an artifact location, or undefined when none is configured. */
export type ArtifactRegistryLookup = (
  location: ArtifactLocation,
) => ArtifactRegistry | undefined;

/**
 * One source of repositories (service and manifest repos alike), the artifact registries by
 * location, and the deployment mechanism per artifact kind.
 */
export class ComposedAdapterResolver implements AdapterResolver {
  constructor(
    private readonly parts: {
      source: SourceControl;
      artifacts: ArtifactRegistryLookup;
      images: DeploymentTarget;
      archives: DeploymentTarget;
    },
  ) {}

  forTarget(target: PromotionTarget): PromotionAdapters {
    const artifactLocation: ArtifactLocation = {
      kind: target.artifactKind,
      location: target.artifactLocation,
    };
    const artifacts = this.parts.artifacts(artifactLocation);
    if (!artifacts) {
      throw new ServiceUnavailableError(
        `No artifact registry is configured for ${target.artifactLocation}`,
      );
    }
    return {
      source: this.parts.source,
      artifacts,
      artifactLocation,
      deployments:
        target.artifactKind === 'image'
          ? this.parts.images
          : this.parts.archives,
    };
  }
}

/**
 * The embedded default: local bare git repositories (services and the manifest repo), the
 * filesystem artifact registry, and recorded Serverless deploys, all under one data directory.
 */
export class LocalAdapterResolver extends ComposedAdapterResolver {
  readonly source: LocalGitSourceControl;
  readonly artifacts: LocalArtifactRegistry;
  readonly lambda: LocalLambdaDeployments;
  readonly gitops: GitOpsDeploymentTarget;

  constructor(dataDir: string, options: { manifestBranch: string }) {
    const layout = localLayout(dataDir);
    const source = new LocalGitSourceControl(layout.git);
    const artifacts = new LocalArtifactRegistry(layout.artifacts);
    const lambda = new LocalLambdaDeployments(layout.deployments);
    const gitops = new GitOpsDeploymentTarget(source, {
      branch: options.manifestBranch,
    });
    const registries = new ArtifactRegistries([localEntry(artifacts)]);
    super({
      source,
      artifacts: location => registries.lookup(location),
      images: gitops,
      archives: lambda,
    });
    this.source = source;
    this.artifacts = artifacts;
    this.lambda = lambda;
    this.gitops = gitops;
  }
}

/** Used when nothing is configured: every entity gets a clear 503 naming the missing setting. */
export class UnconfiguredAdapterResolver implements AdapterResolver {
  forTarget(target: PromotionTarget): PromotionAdapters {
    throw new ServiceUnavailableError(
      `No source control is configured for ${target.sourceRepo}: set promotion.local.dataDir for the embedded default, or promotion.source.provider: github with an integrations.github entry`,
    );
  }
}

/** Refuses an entity whose deploys have no configured mechanism, naming the setting. */
class MissingDeployments implements DeploymentTarget {
  constructor(private readonly reason: string) {}
  async current(): Promise<never> {
    throw new ServiceUnavailableError(this.reason);
  }
  async deploy(): Promise<never> {
    throw new ServiceUnavailableError(this.reason);
  }
}

/**
 * Builds the resolver the configuration asks for: the embedded default, GitHub, or GitHub for
 * repositories with local artifacts (GitHub mode on a laptop). Artifact registries are chosen
 * by location: the embedded store when `promotion.local.dataDir` is set, ECR, S3 and OCI
 * registries from `promotion.artifacts`.
 */
export function createAdapterResolver(
  config: Config,
  deps: {
    cache: CacheService;
    logger: LoggerService;
    /** Every answer of the GitHub integration (`host`): the rate budget and metrics. */
    onGitHubResponse?: (host: string, answer: GitHubAnswer) => void;
  },
): AdapterResolver {
  const dataDir = readLocalDataDir(config);
  const manifestBranch =
    config.getOptionalString('promotion.manifestBranch') ?? 'main';
  const mainBranch = config.getOptionalString('promotion.mainBranch') ?? 'main';
  const provider =
    config.getOptionalString('promotion.source.provider') ??
    (dataDir ? 'local' : 'github');
  if (provider !== 'local' && provider !== 'github') {
    throw new InputError(
      `promotion.source.provider must be local or github, not "${provider}"`,
    );
  }
  const local = dataDir
    ? new LocalAdapterResolver(dataDir, { manifestBranch })
    : undefined;
  // ECR before OCI: an ECR repository is also an OCI image reference.
  const registries = new ArtifactRegistries([
    ...(local ? [localEntry(local.artifacts)] : []),
    ...awsRegistryEntries(config),
    ociEntry(readOciRegistries(config), readOutboundHosts(config)),
  ]);
  const artifacts: ArtifactRegistryLookup = location =>
    registries.lookup(location);

  if (provider === 'local') {
    if (!local) return new UnconfiguredAdapterResolver();
    return new ComposedAdapterResolver({
      source: local.source,
      artifacts,
      images: local.gitops,
      archives: local.lambda,
    });
  }

  const clients: GitHubClients = GitHubClients.fromConfig(config, {
    cache: deps.cache,
    logger: deps.logger,
    onResponse: deps.onGitHubResponse
      ? answer => deps.onGitHubResponse!(clients.host, answer)
      : undefined,
  });
  const source = new GitHubSourceControl(clients.forRepo, {
    webBaseUrl: clients.webBaseUrl,
  });
  const reviewEnvironments =
    config.getOptionalStringArray('promotion.github.manifestPullRequests') ??
    [];
  const lambdaDeploys =
    config.getOptionalString('promotion.github.lambdaDeploys') ?? 'workflow';
  let archives: DeploymentTarget;
  if (lambdaDeploys === 'recorded') {
    archives =
      local?.lambda ??
      new MissingDeployments(
        'promotion.github.lambdaDeploys is recorded, which needs promotion.local.dataDir',
      );
  } else {
    archives = new GitHubWorkflowDeployments(clients.forRepo, {
      workflow:
        config.getOptionalString('promotion.github.deployWorkflow') ??
        'mainline-deploy.yaml',
      ref: mainBranch,
      startTimeoutMs:
        (config.getOptionalNumber(
          'promotion.github.deployStartTimeoutMinutes',
        ) ?? 10) * 60_000,
    });
  }
  return new ComposedAdapterResolver({
    source,
    artifacts,
    images: new GitOpsDeploymentTarget(source, {
      branch: manifestBranch,
      reviewEnvironments,
      changeRequests: reviewEnvironments.length
        ? new GitHubPullRequests(clients.forRepo, source)
        : undefined,
    }),
    archives,
  });
}
