import { short } from '../rules';
import { PromotionStepRunner } from './types';

/**
 * Points the environment at the version through its deployment adapter. A deploy that completes
 * outside the request (a manifest pull request, a workflow run) answers `pending`, which the
 * follower polls.
 */
export const deployStep: PromotionStepRunner = {
  async run({ entity, record, adapters, actor }) {
    const result = await adapters.deployments.deploy(entity.target, {
      environment: record.environment,
      sha: record.sha,
      version: record.version,
      tag: record.tag ?? undefined,
      actor,
      reason:
        record.kind === 'rollback'
          ? `Roll back ${record.environment} to ${record.version}`
          : `Promote ${short(record.sha)} as ${record.version}`,
      requestId: record.id,
    });
    return { detail: result.detail, url: result.url, pending: result.pending };
  },

  async inspect({ entity, record, adapters }) {
    const deployment = (
      await adapters.deployments.current(entity.target, [record.environment])
    )[record.environment];
    return deployment?.version === record.version
      ? {
          state: 'done',
          detail: `${record.environment} runs ${record.version}`,
        }
      : { state: 'todo', detail: `${record.environment} runs another version` };
  },
};
