/**
 * The Mainline promotion frontend plugin: an Environments tab and card on catalog entities.
 *
 * @packageDocumentation
 */

export {
  promotionPlugin,
  EntityEnvironmentsContent,
  EntityEnvironmentsCard,
  EntityReleaseBoardContent,
  ReleaseBoardPage,
  releaseBoardRouteRef,
} from './plugin';
export { promotionApiRef, PromotionClient } from './api';
export type { PromotionApi, PromoteRequest, BoardQuery } from './api';
export { isPromotionAvailable } from '@mainline/plugin-promotion-common';
