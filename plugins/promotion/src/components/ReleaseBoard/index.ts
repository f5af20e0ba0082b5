export { ReleaseBoard } from './ReleaseBoard';
export type { ReleaseBoardProps } from './ReleaseBoard';
export { ReleaseBoardPage } from './ReleaseBoardPage';
export { SystemReleaseBoardContent } from './SystemReleaseBoardContent';
