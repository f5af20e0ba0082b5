export { promotionApiRef } from './PromotionApi';
export type { PromotionApi, EntityPromotionTarget } from './PromotionApi';
export { PromotionClient } from './PromotionClient';
