import { PromotionTarget } from '@mainline/plugin-promotion-common';

/**
 * What runs in one environment, as the deployment mechanism records it.
 *
 * @public
 */
export interface Deployment {
  environment: string;
  /**
   * The version the environment points at: the image tag in the manifest (short sha, `rc-*`,
   * `v*`), or the sha/tag recorded for a Serverless deploy.
   */
  version: string;
  /** The full commit sha, when the mechanism recorded it. */
  sha?: string;
  /** ISO 8601 time the environment was last changed. */
  deployedAt: string;
  /** Who changed it (manifest commit author, or the recorded deployer). */
  deployedBy?: string;
  /** The manifest-repo commit that set this version (containers). */
  revision?: string;
}

/**
 * Where a service is deployed. For containers, the environment files of the GitOps manifest
 * repository; for Lambda, the recorded deployments of the service's package.
 */
/**
 * What to deploy to one environment.
 *
 * @public
 */
export interface DeploymentRequest {
  environment: string;
  /** The full sha of the commit whose artifact is deployed. */
  sha: string;
  /** What the environment should pin: the release tag, or the short sha when there is none. */
  version: string;
  /** The release tag, when the deploy is for one. */
  tag?: string;
  /** Who asked, for the manifest commit or deploy record (user entity ref and display name). */
  actor: { entityRef: string; name: string; email: string };
  /** One line saying why, for the manifest commit message. */
  reason: string;
  /**
   * The promotion this deploy belongs to: lets an adapter find again what it started (the pull
   * request, the workflow run) when the deploy is retried.
   */
  requestId?: string;
}

/**
 * How a deploy went, as a promotion step shows it.
 *
 * @public
 */
export interface DeploymentResult {
  /** False when the environment already pinned the version (a retried deploy). */
  changed: boolean;
  /** E.g. the manifest commit, or the recorded Serverless deploy. */
  detail: string;
  /** Manifest-repository commit that made the change (containers). */
  revision?: string;
  /** A link to what the deploy changed or started (commit, pull request, workflow run). */
  url?: string;
  /**
   * Set when the deploy completes outside this call, e.g. a manifest pull request waiting for
   * review or a deploy workflow run: the adapter's reference, handed to `followUp` until done.
   */
  pending?: string;
}

/**
 * Where a deploy that completes outside the request has got to.
 *
 * @public
 */
export interface DeploymentProgress {
  state: 'pending' | 'succeeded' | 'failed';
  /** What a user should read on the step, e.g. "waiting for review of #12". */
  detail: string;
  url?: string;
  revision?: string;
}

/**
 * Whether a deploy could be made as asked, found without changing anything.
 *
 * @public
 */
export interface DeployCheck {
  passed: boolean;
  /** What was checked, or what stands in the way. */
  reason: string;
}

/**
 * How a service is deployed to its environments.
 *
 * @public
 */
export interface DeploymentTarget {
  /**
   * For adapters whose deploy can fail on what the environment's configuration holds (a manifest
   * file without the entry to rewrite): whether deploying `version` would work, from reads only.
   * Asked in a promotion's checks, before the release tag or anything else is written.
   */
  checkDeploy?(
    target: PromotionTarget,
    request: { environment: string; version: string },
  ): Promise<DeployCheck>;
  /**
   * Points the environment at the artifact: for containers one commit to the manifest repository
   * rewriting the environment's image tag (retried once on a concurrent change, then a
   * ConflictError); for Lambda a Serverless deploy of the sha's package. Deploying what the
   * environment already runs changes nothing and succeeds.
   */
  deploy(
    target: PromotionTarget,
    request: DeploymentRequest,
  ): Promise<DeploymentResult>;
  /**
   * For adapters whose deploys can be `pending`: where the deploy named by `pending` has got to.
   * Called by the promotion follower (on a schedule, and when a webhook says something changed).
   */
  followUp?(
    target: PromotionTarget,
    pending: string,
  ): Promise<DeploymentProgress>;
  /** The current deployment of each named environment (undefined where nothing is deployed). */
  current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>>;
}
