/**
 * The OCI registry adapter of the Mainline promotion backend.
 *
 * @packageDocumentation
 */

export { promotionModuleOci as default } from './module';
export * from './module';
export * from './OciArtifactRegistry';
export * from './registries';
