export {
  WorkflowRunner,
  eventMatches,
  tokenPermissions,
  parseKeyValues,
  GITHUB_ACTIONS_APP_ID,
} from './WorkflowRunner';
export type {
  WorkflowRunnerOptions,
  WorkflowRun,
  JobRun,
  StepRun,
  JobResult,
} from './WorkflowRunner';
export { evaluate, condition, interpolate } from './expressions';
export type { StatusState } from './expressions';
export { startArgoCdStub, startRecordingServer } from './stubs';
export type { ArgoCdStub, RecordingServer, RecordedRequest } from './stubs';
