import { components, paths } from './schema/openapi.generated';

type Schemas = components['schemas'];

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
