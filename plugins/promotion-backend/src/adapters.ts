import { CacheService, LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { InputError, ServiceUnavailableError } from '@backstage/errors';
import {
  ArtifactKind,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import {
  ArtifactLocation,
  ArtifactRegistry,
  ArtifactRegistryProvider,
  ChangeRequestsProvider,
  DeploymentTarget,
  DeploymentTargetProvider,
  PromotionArtifactRegistryExtensionPoint,
  PromotionChangeRequestsExtensionPoint,
  PromotionDeploymentTargetExtensionPoint,
  PromotionSourceControlExtensionPoint,
  SourceControl,
  SourceControlProvider,
  readLocalDataDir,
  unavailableDeploymentTarget,
  ArtifactRegistries,
  UpstreamAnswer,
} from '@mainline/plugin-promotion-node';

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

export { readLocalDataDir };

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

/** Used when nothing is configured: every entity gets a clear 503 naming the missing setting. */
export class UnconfiguredAdapterResolver implements AdapterResolver {
  forTarget(target: PromotionTarget): PromotionAdapters {
    throw new ServiceUnavailableError(
      `No source control is configured for ${target.sourceRepo}: set promotion.local.dataDir for the embedded default, or promotion.source.provider: github with an integrations.github entry`,
    );
  }
}

/**
 * The adapter providers backend modules registered through the extension points, each by its
 * name: the core plugin composes the backend's adapters from them.
 */
export class PromotionAdapterProviders
  implements
    PromotionSourceControlExtensionPoint,
    PromotionChangeRequestsExtensionPoint,
    PromotionArtifactRegistryExtensionPoint,
    PromotionDeploymentTargetExtensionPoint
{
  readonly sources = new Map<string, SourceControlProvider>();
  readonly changeRequests = new Map<string, ChangeRequestsProvider>();
  readonly registries = new Map<string, ArtifactRegistryProvider>();
  readonly deployments = new Map<string, DeploymentTargetProvider>();

  addSourceControlProvider(provider: SourceControlProvider) {
    add(this.sources, 'source control', provider);
  }

  addChangeRequestsProvider(provider: ChangeRequestsProvider) {
    add(this.changeRequests, 'change requests', provider);
  }

  addArtifactRegistryProvider(provider: ArtifactRegistryProvider) {
    add(this.registries, 'artifact registry', provider);
  }

  addDeploymentTargetProvider(provider: DeploymentTargetProvider) {
    add(this.deployments, 'deployment target', provider);
  }
}

/** Two modules claiming one name would make the choice depend on their start order. */
function add<T extends { name: string }>(
  map: Map<string, T>,
  what: string,
  provider: T,
) {
  if (map.has(provider.name)) {
    throw new Error(
      `Two modules add a promotion ${what} provider named "${provider.name}"`,
    );
  }
  map.set(provider.name, provider);
}

/** What each artifact kind deploys through unless the source control provider says otherwise. */
const DEFAULT_DEPLOYMENT_TARGETS: Record<ArtifactKind, string> = {
  image: 'gitops',
  archive: 'recorded',
};

function names(map: Map<string, unknown>): string {
  return map.size ? [...map.keys()].sort().join(', ') : 'none';
}

/**
 * Builds the resolver the configuration asks for from the registered providers: the source
 * control `promotion.source.provider` names (the embedded default `local` when
 * `promotion.local.dataDir` is set, `github` otherwise), the change requests of the same name,
 * the deployment target of each artifact kind, and every artifact registry, chosen by location.
 */
export function createAdapterResolver(
  config: Config,
  deps: {
    cache: CacheService;
    logger: LoggerService;
    /** Every answer of an upstream integration: the rate budget and metrics. */
    onUpstreamAnswer?: (answer: UpstreamAnswer) => void;
  },
  providers: PromotionAdapterProviders,
): AdapterResolver {
  const context = { config, ...deps };
  const configured = config.getOptionalString('promotion.source.provider');
  const name = configured ?? (readLocalDataDir(config) ? 'local' : 'github');
  const sourceProvider = providers.sources.get(name);
  if (!sourceProvider) {
    throw new InputError(
      `promotion.source.provider is "${name}"${
        configured ? '' : ' (the default without promotion.local.dataDir)'
      }, which no installed backend module provides; installed source control providers: ${names(
        providers.sources,
      )}`,
    );
  }
  // Read before anything else, so that a mistake in any registry's configuration stops the start.
  const entries = [...providers.registries.values()].flatMap(p =>
    p.create(context),
  );
  const registries = new ArtifactRegistries([
    ...entries.filter(e => !e.generic),
    ...entries.filter(e => e.generic),
  ]);
  const source = sourceProvider.create(context);
  if (!source) return new UnconfiguredAdapterResolver();

  const changeRequests = providers.changeRequests
    .get(name)
    ?.create({ ...context, source });
  const kinds = {
    ...DEFAULT_DEPLOYMENT_TARGETS,
    ...sourceProvider.deploymentTargets?.(context),
  };
  const deployments = (kind: ArtifactKind): DeploymentTarget => {
    const provider = providers.deployments.get(kinds[kind]);
    if (!provider) {
      return unavailableDeploymentTarget(
        `No deployment target "${
          kinds[kind]
        }" is installed for ${kind} artifacts (installed: ${names(
          providers.deployments,
        )}); add its backend module`,
      );
    }
    return provider.create({ ...context, source, changeRequests });
  };
  return new ComposedAdapterResolver({
    source,
    artifacts: location => registries.lookup(location),
    images: deployments('image'),
    archives: deployments('archive'),
  });
}
