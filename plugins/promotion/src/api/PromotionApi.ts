import { createApiRef } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import {
  EnvironmentDefinition,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';

/** An entity's promotion settings, as the backend read them from its annotations. */
export type EntityPromotionTarget = PromotionTarget & { entityRef: string };

/**
 * Client of the promotion backend.
 *
 * @public
 */
export interface PromotionApi {
  listEnvironments(): Promise<EnvironmentDefinition[]>;
  getPromotionTarget(entity: CompoundEntityRef): Promise<EntityPromotionTarget>;
}

/** @public */
export const promotionApiRef = createApiRef<PromotionApi>({
  id: 'plugin.promotion.service',
});
