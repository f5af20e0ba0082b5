import { components, paths } from './schema/openapi.generated';

type Schemas = components['schemas'];
type EntityPaths = '/v1/entities/{kind}/{namespace}/{name}';
type JsonBody<T> = T extends {
  requestBody: { content: { 'application/json': infer B } };
}
  ? B
  : never;

/**
 * Every path of the promotion backend's HTTP API, typed from its OpenAPI document.
 *
 * @public
 */
export type PromotionApiPaths = paths;

/** @public */
export type PromotionEnvironment = Schemas['Environment'];
/** @public */
export type EntityPromotionTarget = Schemas['PromotionTarget'];
/** @public */
export type Lineage = Schemas['Lineage'];
/** @public */
export type LineageCommit = Schemas['Commit'];
/** @public */
export type LineageArtifact = Schemas['Artifact'];
/** @public */
export type EnvironmentState = Schemas['EnvironmentState'];
/** @public */
export type Comparison = Schemas['Comparison'];
/** @public */
export type Promotion = Schemas['Promotion'];
/** @public */
export type PromotionStepState = Schemas['PromotionStep'];
/** @public */
export type PromotionPlan = Schemas['PromotionPlan'];
/**
 * A promotion's approvals: what it needs, who decided, who may still approve, and what the
 * caller may do.
 *
 * @public
 */
export type PromotionApprovals = Schemas['Approvals'];
/** @public */
export type ApprovalDecision = Schemas['ApprovalDecision'];
/**
 * One rule of a promotion with its outcome. Programs read `name` and `data`; `reason` is for
 * people.
 *
 * @public
 */
export type PromotionCheck = Schemas['Check'];
/** @public */
export type PromotionCheckData = Schemas['CheckData'];
/**
 * The error body of a refused request: Backstage's error envelope plus the checks that refused
 * it (a refused promotion's failed checks, or the `setup` check of an entity not set up).
 *
 * @public
 */
export type CheckedErrorBody = Schemas['CheckedError'];
/**
 * What to promote: the body of a promotion without `dryRun`.
 *
 * @public
 */
export type PromoteRequest = Omit<
  JsonBody<paths[`${EntityPaths}/promotions`]['post']>,
  'dryRun'
>;
/** @public */
export type RepositoryPromotionRequest = JsonBody<
  paths[`${EntityPaths}/repository-promotions`]['post']
>;
/** @public */
export type RollbackRequest = JsonBody<
  paths[`${EntityPaths}/rollbacks`]['post']
>;
/** @public */
export type YankRequest = JsonBody<paths[`${EntityPaths}/yanks`]['post']>;
/**
 * Which services the release board shows, and the tag whose contents it lists.
 *
 * @public
 */
export type ReleaseBoardQuery = NonNullable<
  paths['/v1/board']['get']['parameters']['query']
>;
/** @public */
export type ListPromotionsQuery = NonNullable<
  paths[`${EntityPaths}/promotions`]['get']['parameters']['query']
>;
/** @public */
export type Yank = Schemas['Yank'];
/** @public */
export type YankResult = Schemas['YankResult'];
/** @public */
export type ReleaseBoard =
  paths['/v1/board']['get']['responses']['200']['content']['application/json'];
/** @public */
export type ReleaseBoardRow = Schemas['BoardRow'];
/** @public */
export type ReleaseBoardCell = Schemas['BoardCell'];
/** @public */
export type ComponentOutcome = Schemas['ComponentOutcome'];
/** @public */
export type RepositoryPromotion =
  paths['/v1/entities/{kind}/{namespace}/{name}/repository-promotions']['post']['responses']['200']['content']['application/json'];
/** @public */
export type DoraReport = Schemas['DoraReport'];
/** @public */
export type DoraWeek = Schemas['DoraWeek'];
/** @public */
export type DoraFailureEvent = Schemas['DoraFailureEvent'];
/** The period of a DORA report: dates or ISO 8601 date-times, `to` exclusive. @public */
export interface DoraQuery {
  from?: string;
  to?: string;
}

/**
 * What runs in one environment, as the entity's runtime observer reports it.
 *
 * @public
 */
export type RuntimeEnvironmentState = Schemas['RuntimeState'];
/**
 * One environment's declared and running state, and whether they disagree.
 *
 * @public
 */
export type RuntimeEnvironment = Schemas['RuntimeEnvironment'];
/**
 * An entity's environments as declared and as running (`GET …/runtime`).
 *
 * @public
 */
export type RuntimeView = Schemas['RuntimeView'];
/**
 * The runtime views of several entities (`POST /v1/runtime/query`): those the caller may read,
 * in the order asked, and those whose runtime could not be read.
 *
 * @public
 */
export type RuntimeQueryResult =
  paths['/v1/runtime/query']['post']['responses']['200']['content']['application/json'];
/**
 * An entity of a runtime query whose runtime could not be read, with the error.
 *
 * @public
 */
export type RuntimeFailure = Schemas['RuntimeFailure'];
