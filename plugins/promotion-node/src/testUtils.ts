/**
 * The contract suites every adapter passes: the acceptance tests a backend module runs against
 * its own adapter, over whatever real protocol the adapter speaks.
 *
 * @packageDocumentation
 */

export * from './testUtils/SourceControl.contract';
export * from './testUtils/ArtifactRegistry.contract';
export * from './testUtils/DeploymentTarget.contract';
export * from './testUtils/RuntimeObserver.contract';
export * from './testUtils/memoryCache';
