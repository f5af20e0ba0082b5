export { ReleaseBoard } from './ReleaseBoard';
export type { ReleaseBoardProps } from './ReleaseBoard';
export { ReleaseBoardPage } from './ReleaseBoardPage';
export { RateBudgetCard } from './RateBudgetCard';
export { SystemReleaseBoardContent } from './SystemReleaseBoardContent';
