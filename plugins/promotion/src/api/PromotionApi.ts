import { createApiRef } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import {
  Comparison,
  EntityPromotionTarget,
  Lineage,
  Promotion,
  PromotionEnvironment,
  PromotionPlan,
  Yank,
  YankResult,
} from '@mainline/plugin-promotion-common';

/** What to promote. */
export interface PromoteRequest {
  environment: string;
  sha: string;
  tag?: string;
}

/**
 * Client of the promotion backend; every type comes from its OpenAPI document.
 *
 * @public
 */
export interface PromotionApi {
  listEnvironments(): Promise<PromotionEnvironment[]>;
  getPromotionTarget(entity: CompoundEntityRef): Promise<EntityPromotionTarget>;
  getLineage(
    entity: CompoundEntityRef,
    options?: { limit?: number; branch?: string },
  ): Promise<Lineage>;
  compare(
    entity: CompoundEntityRef,
    from: string,
    to: string,
  ): Promise<Comparison>;
  planPromotion(
    entity: CompoundEntityRef,
    request: PromoteRequest,
  ): Promise<PromotionPlan>;
  /** `idempotencyKey` makes a repeated submit (double click, retry) return the first promotion. */
  promote(
    entity: CompoundEntityRef,
    request: PromoteRequest,
    idempotencyKey: string,
  ): Promise<Promotion>;
  listPromotions(entity: CompoundEntityRef): Promise<Promotion[]>;
  getPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion>;
  retryPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion>;
  rollback(
    entity: CompoundEntityRef,
    request: { environment: string; sha?: string; tag?: string },
    idempotencyKey: string,
  ): Promise<Promotion>;
  yank(
    entity: CompoundEntityRef,
    request: { sha: string; reason: string; force?: boolean },
  ): Promise<YankResult>;
  listYanks(entity: CompoundEntityRef): Promise<Yank[]>;
}

/** @public */
export const promotionApiRef = createApiRef<PromotionApi>({
  id: 'plugin.promotion.service',
});
