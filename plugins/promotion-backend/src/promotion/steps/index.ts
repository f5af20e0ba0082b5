import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { PromotionStore, StepName } from '../../database/PromotionStore';
import { deployStep } from './deploy';
import { retagStep } from './retag';
import { TagStep } from './tag';
import { PromotionStepRunner } from './types';
import { RuntimeVerification, VerifyStep } from './verify';

export { promotionStepDetails } from './tag';
export type { StepContext, StepOutcome, UpstreamState } from './types';

/**
 * The steps of promotions and rollbacks by name. `checks` is recorded when the promotion is
 * created (its rules ran before), so running it again (a resume) has nothing to do.
 */
export function promotionSteps(options: {
  store: PromotionStore;
  environments: EnvironmentDefinition[];
  annotatedTags: boolean;
  runtime?: RuntimeVerification;
}): Record<StepName, PromotionStepRunner> & { verify: VerifyStep } {
  return {
    checks: {
      run: async () => ({ detail: 'passed' }),
      inspect: async () => ({ state: 'todo', detail: 'checks' }),
    },
    // Recorded as done by the approvals before the runner gets here: a promotion whose approvals
    // are not complete is `awaiting-approval` and never runs.
    approval: {
      run: async () => {
        throw new Error('the promotion has not got its approvals');
      },
      inspect: async () => ({ state: 'todo', detail: 'awaits approvals' }),
    },
    tag: new TagStep(options),
    retag: retagStep,
    deploy: deployStep,
    verify: new VerifyStep(options.runtime),
  };
}
