import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { summarize } from './checks';
import { FactReader, Facts } from './facts';
import { releaseTagRule, rollbackRules, short } from './rules';
import { PlannedPromotion } from './StepRunner';
import { EntityContext, PolicyCheck } from './types';

/**
 * The checks of a rollback of `environment` to `sha` (an earlier artifact that still exists,
 * released there as `requestedTag` when given): one piece for the rollback a person asks for and
 * the automatic one after a failed verification.
 */
export async function checkRollback(
  facts: FactReader,
  entity: EntityContext,
  environment: EnvironmentDefinition,
  sha: string,
  requestedTag: string | undefined,
  mainBranch: string,
): Promise<{ facts: Facts; version: string; checks: PolicyCheck[] }> {
  const read = await facts.read(entity, sha);
  const { version } = releaseTagRule(read, environment, requestedTag);
  const { checks } = rollbackRules({
    facts: read,
    environment,
    mainBranch,
    releaseBranches: entity.target.releaseBranches,
    requestedTag,
    deploy: await facts.deployVerdict(entity, environment.name, version),
  });
  return { facts: read, version, checks };
}

/** What a checked rollback records: the row and its steps (deploy, and verify when observed). */
export function plannedRollback(
  checked: { facts: Facts; version: string; checks: PolicyCheck[] },
  environment: string,
  options: { verify?: { detail: string }; idempotencyKey: string | null },
): PlannedPromotion {
  const { facts, version, checks } = checked;
  return {
    record: {
      kind: 'rollback' as const,
      sha: facts.sha,
      tag: version === short(facts.sha) ? null : version,
      tagAutomatic: false,
      version,
      idempotencyKey: options.idempotencyKey,
    },
    steps: [
      { name: 'checks', status: 'succeeded', detail: summarize(checks) },
      {
        name: 'deploy',
        status: 'pending',
        detail: `point ${environment} back at ${version}`,
      },
      ...(options.verify
        ? [
            {
              name: 'verify' as const,
              status: 'pending' as const,
              detail: options.verify.detail,
            },
          ]
        : []),
    ],
  };
}

/** What a verify step says it waits for. */
export function verifyDetail(environment: string, version: string) {
  return `wait until ${environment} runs ${version}, synced and healthy`;
}
