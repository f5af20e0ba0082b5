export { RollbackDialog, rollbackCandidates } from './RollbackDialog';
