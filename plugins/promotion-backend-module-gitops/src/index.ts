/**
 * The GitOps manifest deployment target of the Mainline promotion backend.
 *
 * @packageDocumentation
 */

export { promotionModuleGitops as default } from './module';
export * from './module';
export * from './GitOpsDeploymentTarget';
export * from './manifestImage';
