/**
 * The embedded default of the Mainline promotion backend: local git, local artifacts and recorded
 * Serverless deploys under `promotion.local.dataDir`.
 *
 * @packageDocumentation
 */

export { promotionModuleLocal as default } from './module';
export * from './module';
export * from './LocalGitSourceControl';
export * from './LocalArtifactRegistry';
export * from './LocalLambdaDeployments';
export * from './layout';
export * from './registries';
export * from './LocalRuntime';
