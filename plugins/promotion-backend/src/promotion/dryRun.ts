import { PromotionPlan } from '@mainline/plugin-promotion-common';
import { artifactMatchesCommit } from '@mainline/plugin-promotion-node';
import { PromotionKind } from '../database/PromotionStore';
import { Facts } from './facts';
import { short } from './rules';
import { PolicyCheck } from './types';

/** A dry run's answer: what would be done, and each check with its outcome and data. */
export function dryRunPlan(
  kind: PromotionKind,
  environment: string,
  facts: Pick<Facts, 'sha' | 'artifacts'>,
  tag: string | null,
  version: string,
  checks: PolicyCheck[],
): PromotionPlan {
  const artifact = facts.artifacts.find(a =>
    artifactMatchesCommit(a, facts.sha),
  );
  return {
    dryRun: true,
    kind,
    environment,
    sha: facts.sha,
    tag,
    version,
    checks,
    steps: [
      ...(tag
        ? [
            {
              name: 'tag',
              status: 'planned' as const,
              detail: `create tag ${tag} on ${short(facts.sha)}`,
            },
            {
              name: 'retag',
              status: 'planned' as const,
              detail: artifact
                ? `add ${tag} to ${artifact.uri} (digest ${artifact.digest} unchanged)`
                : 'no artifact to tag',
            },
          ]
        : []),
      {
        name: 'deploy',
        status: 'planned' as const,
        detail: `point ${environment} at ${version}`,
      },
    ],
  };
}
