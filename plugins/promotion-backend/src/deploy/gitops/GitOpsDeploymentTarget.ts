import { ForwardedError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import { SourceControl } from '../../source/SourceControl';
import { Deployment, DeploymentTarget } from '../DeploymentTarget';
import { readImageTag } from './manifestImage';

/**
 * Containers: what Argo CD deploys is what each environment's file in the manifest repository
 * pins. Works over any SourceControl (local git, GitHub).
 */
export class GitOpsDeploymentTarget implements DeploymentTarget {
  constructor(
    private readonly manifests: SourceControl,
    private readonly options: { branch: string } = { branch: 'main' },
  ) {}

  async current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>> {
    const { manifestRepo, manifestPath } = target;
    if (!manifestRepo || !manifestPath) {
      return Object.fromEntries(environments.map(e => [e, undefined]));
    }
    const entries = await Promise.all(
      environments.map(async environment => {
        const file = manifestPath.replace(/\{environment\}/g, environment);
        const [content, lastChange] = await Promise.all([
          this.manifests.readFile(manifestRepo, this.options.branch, file),
          this.manifests.lastCommitTouching(
            manifestRepo,
            this.options.branch,
            file,
          ),
        ]);
        if (!content || !lastChange) {
          return [environment, undefined] as const;
        }
        let version: string | undefined;
        try {
          version = readImageTag(content.content, target.artifactLocation);
        } catch (error) {
          throw new ForwardedError(
            `Cannot read the ${environment} image tag from ${manifestRepo}:${file}`,
            error,
          );
        }
        if (!version) {
          return [environment, undefined] as const;
        }
        const deployment: Deployment = {
          environment,
          version,
          deployedAt: lastChange.committedAt,
          deployedBy: lastChange.author.name,
          revision: lastChange.sha,
        };
        return [environment, deployment] as const;
      }),
    );
    return Object.fromEntries(entries);
  }
}
