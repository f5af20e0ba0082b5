import path from 'node:path';
import { Config } from '@backstage/config';
import { ServiceUnavailableError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  ArtifactLocation,
  ArtifactRegistry,
} from './artifacts/ArtifactRegistry';
import { LocalArtifactRegistry } from './artifacts/local/LocalArtifactRegistry';
import { DeploymentTarget } from './deploy/DeploymentTarget';
import { GitOpsDeploymentTarget } from './deploy/gitops/GitOpsDeploymentTarget';
import { LocalLambdaDeployments } from './deploy/local/LocalLambdaDeployments';
import { localLayout } from './local/layout';
import { SourceControl } from './source/SourceControl';
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

/**
 * The embedded default: local bare git repositories (services and the manifest repo), the
 * filesystem artifact registry, and recorded Serverless deploys, all under one data directory.
 */
export class LocalAdapterResolver implements AdapterResolver {
  readonly source: LocalGitSourceControl;
  readonly artifacts: LocalArtifactRegistry;
  readonly lambda: LocalLambdaDeployments;
  private readonly gitops: GitOpsDeploymentTarget;

  constructor(dataDir: string, options: { manifestBranch: string }) {
    const layout = localLayout(dataDir);
    this.source = new LocalGitSourceControl(layout.git);
    this.artifacts = new LocalArtifactRegistry(layout.artifacts);
    this.lambda = new LocalLambdaDeployments(layout.deployments);
    this.gitops = new GitOpsDeploymentTarget(this.source, {
      branch: options.manifestBranch,
    });
  }

  forTarget(target: PromotionTarget): PromotionAdapters {
    if (!/^local(\/|:\/\/)/.test(target.artifactLocation)) {
      throw new ServiceUnavailableError(
        `No artifact registry is configured for ${target.artifactLocation}; this backend serves local/ and local:// locations`,
      );
    }
    return {
      source: this.source,
      artifacts: this.artifacts,
      artifactLocation: {
        kind: target.artifactKind,
        location: target.artifactLocation,
      },
      deployments: target.artifactKind === 'image' ? this.gitops : this.lambda,
    };
  }
}

/** Used when nothing is configured: every entity gets a clear 503 naming the missing setting. */
export class UnconfiguredAdapterResolver implements AdapterResolver {
  forTarget(target: PromotionTarget): PromotionAdapters {
    throw new ServiceUnavailableError(
      `No source control is configured for ${target.sourceRepo}: set promotion.local.dataDir for the embedded default`,
    );
  }
}
