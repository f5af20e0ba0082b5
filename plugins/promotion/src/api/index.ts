export { promotionApiRef } from './PromotionApi';
export type { PromotionApi, PromoteRequest } from './PromotionApi';
export { PromotionClient } from './PromotionClient';
