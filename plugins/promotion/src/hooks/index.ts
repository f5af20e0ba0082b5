export { usePromotionPlan } from './usePromotionPlan';
export type { PromotionPlanState } from './usePromotionPlan';
export { usePromotionProgress } from './usePromotionProgress';
