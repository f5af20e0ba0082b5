import { PromotionEnvironment } from '@mainline/plugin-promotion-common';

/** How an artifact reaches an environment, in the words of the workflow. */
export function triggerLabel(trigger: PromotionEnvironment['trigger']): string {
  return trigger.type === 'branch'
    ? `every merge to ${trigger.branch}`
    : `tag ${trigger.pattern} on a main commit`;
}
