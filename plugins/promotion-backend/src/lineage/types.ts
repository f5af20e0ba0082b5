// The lineage's shapes are the API's: one definition, from the OpenAPI document.
export type {
  Comparison,
  EnvironmentState as LineageEnvironment,
  Lineage,
  LineageArtifact,
  LineageCommit,
} from '@mainline/plugin-promotion-common';
