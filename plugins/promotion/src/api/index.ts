export { promotionApiRef } from './PromotionApi';
export type { PromotionApi, PromoteRequest, BoardQuery } from './PromotionApi';
export { PromotionClient } from './PromotionClient';
