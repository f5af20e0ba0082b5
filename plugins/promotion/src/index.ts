/**
 * The Mainline promotion frontend plugin: an Environments tab and card on catalog entities.
 *
 * @packageDocumentation
 */

export {
  promotionPlugin,
  EntityEnvironmentsContent,
  EntityEnvironmentsCard,
  EntityDoraCard,
  EntityReleaseBoardContent,
  ReleaseBoardPage,
  releaseBoardRouteRef,
} from './plugin';
export { promotionApiRef, PromotionClient } from './api';
export type {
  PromotionApi,
  PromoteRequest,
  BoardQuery,
  DoraScope,
} from './api';
export { DoraCard } from './components/DoraCard';
export type { DoraCardProps } from './components/DoraCard';
export { isPromotionAvailable } from '@mainline/plugin-promotion-common';
