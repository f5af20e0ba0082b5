import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  Deployment,
  DeploymentRequest,
  DeploymentResult,
  DeploymentTarget,
} from '@mainline/plugin-promotion-node';

const SERVICE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * One `sls deploy -s <environment> -p <sha>` as the embedded default records it.
 *
 * @public
 */
export interface LambdaDeploymentRecord {
  environment: string;
  sha: string;
  /** The release tag the deploy was for (`rc-*`, `v*`), when there was one. */
  tag?: string;
  deployedAt: string;
  deployedBy: string;
}

/**
 * Lambda on the embedded default: each deploy of a Serverless service is appended to
 * `<root>/<service>.jsonl`; the last line per environment is what runs there.
 *
 * @public
 */
export class LocalLambdaDeployments implements DeploymentTarget {
  constructor(private readonly root: string) {}

  private file(service: string): string {
    if (!SERVICE.test(service)) {
      throw new InputError(
        `"${service}" is not a valid Serverless service name`,
      );
    }
    return path.join(this.root, `${service}.jsonl`);
  }

  async history(service: string): Promise<LambdaDeploymentRecord[]> {
    try {
      const text = await fs.readFile(this.file(service), 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line) as LambdaDeploymentRecord);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async record(service: string, record: LambdaDeploymentRecord): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    await fs.appendFile(this.file(service), `${JSON.stringify(record)}\n`);
  }

  async current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>> {
    const history = target.serverlessService
      ? await this.history(target.serverlessService)
      : [];
    return Object.fromEntries(
      environments.map(environment => {
        const last = history.filter(r => r.environment === environment).pop();
        const deployment: Deployment | undefined = last && {
          environment,
          version: last.tag ?? last.sha,
          sha: last.sha,
          deployedAt: last.deployedAt,
          deployedBy: last.deployedBy,
        };
        return [environment, deployment];
      }),
    );
  }

  /** `sls deploy -s <environment> -p <sha>` on the embedded default: recorded, not run. */
  async deploy(
    target: PromotionTarget,
    request: DeploymentRequest,
  ): Promise<DeploymentResult> {
    const service = target.serverlessService;
    if (!service) {
      throw new InputError('This entity has no Serverless service to deploy');
    }
    const command = `sls deploy -s ${request.environment} -p ${request.sha}`;
    const last = (await this.history(service))
      .filter(r => r.environment === request.environment)
      .pop();
    if (last && last.sha === request.sha && last.tag === request.tag) {
      return {
        changed: false,
        detail: `${command} had already run (recorded ${last.deployedAt})`,
      };
    }
    await this.record(service, {
      environment: request.environment,
      sha: request.sha,
      tag: request.tag,
      deployedAt: new Date().toISOString(),
      deployedBy: request.actor.entityRef,
    });
    return {
      changed: true,
      detail: `${command} for ${request.version} (recorded by the embedded default)`,
    };
  }
}
