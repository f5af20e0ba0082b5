/**
 * The ports of the Mainline promotion plugin (source control, artifact registries, deployment
 * targets, change requests), the extension points that backend modules add adapters through, and
 * helpers adapters share.
 *
 * @packageDocumentation
 */

export * from './ports/SourceControl';
export * from './ports/ArtifactRegistry';
export * from './ports/DeploymentTarget';
export * from './ports/ChangeRequests';
export * from './ports/RuntimeObserver';
export * from './extensions';
export * from './sourceEvents';
export * from './patchId';
export * from './outbound';
export * from './config';
export * from './git/git';
export * from './git/BareRepoBuilder';
export * from './ArtifactRegistries';
