import {
  CacheService,
  LoggerService,
  RootConfigService,
  createExtensionPoint,
} from '@backstage/backend-plugin-api';
import { ArtifactKind, Yank } from '@mainline/plugin-promotion-common';
import { ServiceUnavailableError } from '@backstage/errors';
import { ArtifactLocation, ArtifactRegistry } from './ports/ArtifactRegistry';
import { ChangeRequests } from './ports/ChangeRequests';
import { DeploymentTarget } from './ports/DeploymentTarget';
import { RuntimeObserver } from './ports/RuntimeObserver';
import { SourceControl } from './ports/SourceControl';

/**
 * What a provider builds its adapter from: the backend's configuration and the promotion plugin's
 * logger and cache. A provider reads only its own configuration keys.
 *
 * @public
 */
export interface PromotionAdapterContext {
  config: RootConfigService;
  logger: LoggerService;
  cache: CacheService;
  /**
   * Told of every answer an adapter gets from its upstream (retries, rate-limit refusals and 304s
   * included): how the core plugin's rate budget and upstream-request metrics see each request.
   * Optional for adapters; the GitHub, AWS (ECR, S3), OCI and local git adapters report every
   * answer.
   */
  onUpstreamAnswer?: (answer: UpstreamAnswer) => void;
}

/**
 * One HTTP answer from an upstream system, as an adapter reports it (status 0: no answer).
 *
 * @public
 */
export interface UpstreamAnswer {
  /**
   * The upstream system: `github`, `ecr`, `s3`, `oci` (HTTP: `status` is the HTTP status, 0 when
   * there was no answer), or `git` (the local git adapter: `status` is the exit code of the git
   * process, 0 for success, -1 when it could not be started).
   */
  system: string;
  /** The host the integration talks to, e.g. `api.github.com` or a GitHub Enterprise host. */
  host: string;
  status: number;
  headers: Record<string, string>;
  path: string;
}

/**
 * A source control provider: where services' repositories (and the GitOps manifest repository)
 * live. `promotion.source.provider` names the one the backend uses.
 *
 * @public
 */
export interface SourceControlProvider {
  /** The value of `promotion.source.provider` that selects it, e.g. `github` or `local`. */
  name: string;
  /**
   * The adapter, or undefined when the configuration it needs is missing (the plugin then
   * answers every entity with a 503 naming the missing setting).
   */
  create(context: PromotionAdapterContext): SourceControl | undefined;
  /**
   * The deployment target provider each artifact kind deploys through with this source control,
   * when it differs from the default (`gitops` for images, `recorded` for archives).
   */
  deploymentTargets?(
    context: PromotionAdapterContext,
  ): Partial<Record<ArtifactKind, string>>;
}

/**
 * Adds source control providers to the promotion plugin.
 *
 * @public
 */
export interface PromotionSourceControlExtensionPoint {
  addSourceControlProvider(provider: SourceControlProvider): void;
}

/**
 * Extension point for source control providers (GitHub, local git, ...).
 *
 * @public
 */
export const promotionSourceControlExtensionPoint =
  createExtensionPoint<PromotionSourceControlExtensionPoint>({
    id: 'promotion.source-control',
  });

/**
 * Change requests (pull requests, merge requests) on the repositories of the source control
 * provider of the same name, for manifest changes that land through review.
 *
 * @public
 */
export interface ChangeRequestsProvider {
  /** The source control provider whose repositories it opens change requests on. */
  name: string;
  create(
    context: PromotionAdapterContext & { source: SourceControl },
  ): ChangeRequests;
}

/**
 * Adds change request providers to the promotion plugin.
 *
 * @public
 */
export interface PromotionChangeRequestsExtensionPoint {
  addChangeRequestsProvider(provider: ChangeRequestsProvider): void;
}

/**
 * Extension point for change request providers (GitHub pull requests, ...).
 *
 * @public
 */
export const promotionChangeRequestsExtensionPoint =
  createExtensionPoint<PromotionChangeRequestsExtensionPoint>({
    id: 'promotion.change-requests',
  });

/**
 * One artifact registry and the artifact locations (`mainline.dev/artifact-location`) it serves.
 *
 * @public
 */
export interface ArtifactRegistryEntry {
  /** E.g. `ECR`, for messages. */
  name: string;
  serves(location: ArtifactLocation): boolean;
  registry: ArtifactRegistry;
  /**
   * Set for a registry that serves any location of a generic shape (OCI: any
   * `<host>/<repository>`): it is asked after the specific ones, so an ECR repository, which is
   * also an OCI reference, goes to ECR.
   */
  generic?: boolean;
}

/**
 * An artifact registry provider: the registries it serves from the configuration.
 *
 * @public
 */
export interface ArtifactRegistryProvider {
  /** E.g. `aws`, for messages. */
  name: string;
  /** The configured registries; none when the provider is not configured. */
  create(context: PromotionAdapterContext): ArtifactRegistryEntry[];
}

/**
 * Adds artifact registry providers to the promotion plugin.
 *
 * @public
 */
export interface PromotionArtifactRegistryExtensionPoint {
  addArtifactRegistryProvider(provider: ArtifactRegistryProvider): void;
}

/**
 * Extension point for artifact registry providers (ECR, S3, OCI registries, ...).
 *
 * @public
 */
export const promotionArtifactRegistryExtensionPoint =
  createExtensionPoint<PromotionArtifactRegistryExtensionPoint>({
    id: 'promotion.artifact-registry',
  });

/**
 * A deployment target provider: how one kind of artifact reaches an environment.
 *
 * @public
 */
export interface DeploymentTargetProvider {
  /**
   * The name a source control provider's `deploymentTargets` (or the default: `gitops` for
   * images, `recorded` for archives) selects.
   */
  name: string;
  create(
    context: PromotionAdapterContext & {
      /** The backend's source control (for GitOps: where the manifest repository lives). */
      source: SourceControl;
      /** Change requests on that source control, when a provider for it is installed. */
      changeRequests?: ChangeRequests;
    },
  ): DeploymentTarget;
}

/**
 * Adds deployment target providers to the promotion plugin.
 *
 * @public
 */
export interface PromotionDeploymentTargetExtensionPoint {
  addDeploymentTargetProvider(provider: DeploymentTargetProvider): void;
}

/**
 * Extension point for deployment target providers (GitOps manifests, deploy workflows, ...).
 *
 * @public
 */
export const promotionDeploymentTargetExtensionPoint =
  createExtensionPoint<PromotionDeploymentTargetExtensionPoint>({
    id: 'promotion.deployment-target',
  });

/**
 * A runtime observer provider: where an entity's environments actually run (an Argo CD, a
 * Lambda account). Every installed provider is asked; the first whose observer `serves` the
 * entity observes it.
 *
 * @public
 */
export interface RuntimeObserverProvider {
  /** E.g. `argocd`, for messages. Unique among runtime observer providers. */
  name: string;
  /** The observer, or undefined when the provider is not configured. */
  create(context: PromotionAdapterContext): RuntimeObserver | undefined;
}

/**
 * Adds runtime observer providers to the promotion plugin.
 *
 * @public
 */
export interface PromotionRuntimeObserverExtensionPoint {
  addRuntimeObserverProvider(provider: RuntimeObserverProvider): void;
}

/**
 * Extension point for runtime observers (Argo CD, Lambda, ...).
 *
 * @public
 */
export const promotionRuntimeObserverExtensionPoint =
  createExtensionPoint<PromotionRuntimeObserverExtensionPoint>({
    id: 'promotion.runtime-observer',
  });

/**
 * A yanked commit's tombstone, as a preparation records it and the plugin stores it: the API's
 * `Yank` (who yanked the commit, when and why) and the entity it belongs to.
 *
 * @public
 */
export interface PreparedYank extends Yank {
  entityRef: string;
}

/**
 * A finished promotion or rollback a preparation records in the ledger (a demo's history).
 *
 * @public
 */
export interface PreparedPromotion {
  /** A UUID derived from what it did: recording the same promotion again changes nothing. */
  id: string;
  entityRef: string;
  kind: 'promotion' | 'rollback';
  environment: string;
  sha: string;
  tag: string | null;
  version: string;
  /** User entity ref. */
  requestedBy: string;
  /** ISO 8601: when it ran and succeeded. */
  at: string;
}

/**
 * Work that readies the adapters' data after the plugin starts, e.g. generating demo
 * repositories. While it runs, lineage and promotions answer 503 naming it.
 *
 * @public
 */
export interface PromotionPreparation {
  /** What is prepared, as the 503 names it: e.g. `demo data`. */
  description: string;
  /**
   * Whether the plugin's start waits for it: for quick work, so that the first request finds it
   * done. Otherwise it runs in the background once the plugin has started.
   */
  awaitOnStart?: boolean;
  run(context: {
    recordYank(yank: PreparedYank): Promise<void>;
    /** Records a finished promotion in the ledger, once (absent on older plugins). */
    recordPromotion?(promotion: PreparedPromotion): Promise<void>;
  }): Promise<void>;
}

/**
 * Adds preparations to the promotion plugin.
 *
 * @public
 */
export interface PromotionPreparationExtensionPoint {
  addPreparation(preparation: PromotionPreparation): void;
}

/**
 * Extension point for work that readies data before lineage answers (demo data).
 *
 * @public
 */
export const promotionPreparationExtensionPoint =
  createExtensionPoint<PromotionPreparationExtensionPoint>({
    id: 'promotion.preparation',
  });

/**
 * A deployment target that refuses every call with a 503 naming `reason`: for an artifact kind
 * whose deployment mechanism is not configured, so that other entities keep working.
 *
 * @public
 */
export function unavailableDeploymentTarget(reason: string): DeploymentTarget {
  const refuse = async (): Promise<never> => {
    throw new ServiceUnavailableError(reason);
  };
  return { current: refuse, deploy: refuse };
}
