/**
 * The AWS artifact registries of the Mainline promotion backend: ECR images and S3 packages.
 *
 * @packageDocumentation
 */

export { promotionModuleAws as default } from './module';
export * from './module';
export * from './EcrArtifactRegistry';
export * from './S3PackageRegistry';
export * from './registries';
