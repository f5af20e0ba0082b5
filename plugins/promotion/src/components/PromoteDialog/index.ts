export { PromoteDialog, nearestBuiltSha } from './PromoteDialog';
