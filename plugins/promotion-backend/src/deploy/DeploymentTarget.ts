import { PromotionTarget } from '@mainline/plugin-promotion-common';

/** What runs in one environment, as the deployment mechanism records it. */
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
export interface DeploymentTarget {
  /** The current deployment of each named environment (undefined where nothing is deployed). */
  current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>>;
}
