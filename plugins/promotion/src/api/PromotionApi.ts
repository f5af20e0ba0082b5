import { ApiRef, createApiRef } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import {
  Comparison,
  EntityPromotionTarget,
  Lineage,
  Promotion,
  PromotionEnvironment,
  PromotionPlan,
  ReleaseBoard,
  RepositoryPromotion,
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
  /**
   * A monorepo commit released in every component of the repository that built it. With
   * `dryRun`, each component is answered planned, unchanged or refused and nothing changes;
   * `idempotencyKey` matters only for a real release.
   */
  promoteRepository(
    entity: CompoundEntityRef,
    request: PromoteRequest & { dryRun?: boolean },
    idempotencyKey?: string,
  ): Promise<RepositoryPromotion>;
  getBoard(query?: BoardQuery): Promise<ReleaseBoard>;
  /** The promotion history of the board's services, as a file to download. */
  exportPromotions(
    query: Omit<BoardQuery, 'tag'> & { format: 'csv' | 'json' },
  ): Promise<Blob>;
}

/** Which services the release board shows, and the tag whose contents it lists. */
export interface BoardQuery {
  owner?: string;
  system?: string;
  tag?: string;
}

/** @public */
export const promotionApiRef: ApiRef<PromotionApi> = createApiRef<PromotionApi>(
  {
    id: 'plugin.promotion.service',
  },
);
