export { promotionApiRef } from './PromotionApi';
export type { PromotionApi, BoardQuery, DoraScope } from './PromotionApi';
// The request type is the backend's, generated from its OpenAPI document; re-exported for callers.
export type { PromoteRequest } from '@mainline/plugin-promotion-common';
export { PromotionClient } from './PromotionClient';
export { refusedChecks, checkData } from './checks';
