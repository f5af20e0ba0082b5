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

// The ports the suites take, so the testUtils entry point names every type it uses.
export type {
  Artifact,
  ArtifactLocation,
  ArtifactQuery,
  ArtifactRegistry,
  PendingArtifactQuery,
} from './ports/ArtifactRegistry';
export type {
  DeployCheck,
  Deployment,
  DeploymentProgress,
  DeploymentRequest,
  DeploymentResult,
  DeploymentTarget,
} from './ports/DeploymentTarget';
export type {
  CommitCheck,
  CommitPullRequest,
  CommitStatus,
  FileChange,
  NewTag,
  SourceCommit,
  SourceComparison,
  SourceControl,
  SourceFile,
  SourceRef,
} from './ports/SourceControl';
export type {
  RuntimeFunctionState,
  RuntimeHealthStatus,
  RuntimeObserver,
  RuntimeOperationPhase,
  RuntimeState,
  RuntimeSubject,
  RuntimeSyncStatus,
} from './ports/RuntimeObserver';
