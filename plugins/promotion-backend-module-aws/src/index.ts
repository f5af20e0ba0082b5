/**
 * The AWS adapters of the Mainline promotion backend: ECR images and S3 packages (artifact
 * registries), and the Lambda functions that run the packages (a runtime observer).
 *
 * @packageDocumentation
 */

export { promotionModuleAws as default } from './module';
export * from './module';
export * from './EcrArtifactRegistry';
export * from './S3PackageRegistry';
export * from './registries';
export * from './LambdaRuntimeObserver';
export * from './S3PackageCodeHashes';
export * from './lambda';
