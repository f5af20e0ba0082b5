import { ApiRef, createApiRef } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import {
  Comparison,
  DoraQuery,
  DoraReport,
  EntityPromotionTarget,
  Lineage,
  ListPromotionsQuery,
  PromoteRequest,
  Promotion,
  PromotionApprovals,
  PromotionEnvironment,
  PromotionPlan,
  ReleaseBoard,
  ReleaseBoardQuery,
  RepositoryPromotion,
  RepositoryPromotionRequest,
  RollbackRequest,
  RuntimeQueryResult,
  RuntimeView,
  Yank,
  YankRequest,
  YankResult,
} from '@mainline/plugin-promotion-common';

/**
 * Client of the promotion backend; every type comes from its OpenAPI document. A refused request
 * rejects with a `ResponseError` whose body carries the checks that refused it (see
 * `refusedChecks`).
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
  /** Newest first; `limit` 1 to 200 (the backend's default is 50). */
  listPromotions(
    entity: CompoundEntityRef,
    options?: ListPromotionsQuery,
  ): Promise<Promotion[]>;
  getPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion>;
  retryPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion>;
  /** What a promotion awaiting approvals needs, who decided, and what the caller may do. */
  getApprovals(
    entity: CompoundEntityRef,
    id: string,
  ): Promise<PromotionApprovals>;
  /** Approves; the approval that completes the count carries the promotion on. */
  approvePromotion(
    entity: CompoundEntityRef,
    id: string,
    comment?: string,
  ): Promise<PromotionApprovals>;
  /** Rejects: the promotion ends failed at its approval step. */
  rejectPromotion(
    entity: CompoundEntityRef,
    id: string,
    comment?: string,
  ): Promise<PromotionApprovals>;
  /** Withdraws the caller's approval or rejection while the promotion still waits. */
  withdrawApproval(
    entity: CompoundEntityRef,
    id: string,
  ): Promise<PromotionApprovals>;
  rollback(
    entity: CompoundEntityRef,
    request: RollbackRequest,
    idempotencyKey: string,
  ): Promise<Promotion>;
  yank(entity: CompoundEntityRef, request: YankRequest): Promise<YankResult>;
  listYanks(entity: CompoundEntityRef): Promise<Yank[]>;
  /**
   * What each environment declares and what its runtime reports running, with drift. Optional,
   * so clients written before it keep compiling; the lanes show nothing of the runtime without it.
   */
  getRuntime?(entity: CompoundEntityRef): Promise<RuntimeView>;
  /**
   * The runtime views of up to 100 entities in one request (the release board), from
   * observations a few seconds old at most; entities the caller may not read are left out.
   * Optional like `getRuntime`: the board shows nothing of the runtime without it.
   */
  queryRuntime?(entityRefs: string[]): Promise<RuntimeQueryResult>;
  /**
   * A monorepo commit released in every component of the repository that built it. With
   * `dryRun`, each component is answered planned, unchanged or refused and nothing changes;
   * `idempotencyKey` matters only for a real release.
   */
  promoteRepository(
    entity: CompoundEntityRef,
    request: RepositoryPromotionRequest,
    idempotencyKey?: string,
  ): Promise<RepositoryPromotion>;
  getBoard(query?: BoardQuery): Promise<ReleaseBoard>;
  /** The promotion history of the board's services, as a file to download. */
  exportPromotions(
    query: Omit<BoardQuery, 'tag'> & { format: 'csv' | 'json' },
  ): Promise<Blob>;
  /**
   * The DORA metrics of one entity (`entity`), or of the board's services of a system and/or
   * owner, over a period (default the last twelve weeks).
   */
  getDora(scope: DoraScope, period?: DoraQuery): Promise<DoraReport>;
  /** The events behind a DORA report, as a CSV file. */
  exportDora(scope: DoraScope, period?: DoraQuery): Promise<Blob>;
}

/**
 * What a DORA report adds up: one entity, or the services of a system and/or owner.
 *
 * @public
 */
export type DoraScope =
  | { entity: CompoundEntityRef }
  | { system?: string; owner?: string };

/**
 * Which services the release board shows, and the tag whose contents it lists.
 *
 * @public
 */
export type BoardQuery = ReleaseBoardQuery;

/** @public */
export const promotionApiRef: ApiRef<PromotionApi> = createApiRef<PromotionApi>(
  {
    id: 'plugin.promotion.service',
  },
);
